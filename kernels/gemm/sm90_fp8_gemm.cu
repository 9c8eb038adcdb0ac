// Host launchers and the instantiations of the FP8 GEMM kernels (see sm90_fp8_gemm.hpp).
#include <cuda.h>
#include <cudaTypedefs.h>

#include <algorithm>
#include <string>

#include "common/cuda_util.hpp"
#include "gemm/sm90_fp8_gemm.hpp"
#include "gemm/sm90_fp8_gemm_1d2d.cuh"
#include "gemm/sm90_fp8_gemm_mma.cuh"

namespace fleetsim::kernels {
namespace {

constexpr int kStages = 5;

PFN_cuTensorMapEncodeTiled_v12000 encode_fn() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* ptr = nullptr;
    cudaDriverEntryPointQueryResult status{};
    CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &ptr, 12000, cudaEnableDefault, &status));
    if (status != cudaDriverEntryPointSuccess || !ptr) throw CudaError("cuTensorMapEncodeTiled is not available");
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(ptr);
  }();
  return fn;
}

// Row-major 2-D tensor of `rows` x `cols` elements with a row stride of `row_bytes`; box of box_rows x box_cols.
CUtensorMap make_map(const void* base, CUtensorMapDataType type, std::uint64_t rows, std::uint64_t cols,
                     std::uint64_t row_bytes, std::uint32_t box_rows, std::uint32_t box_cols, CUtensorMapSwizzle swizzle) {
  CUtensorMap map{};
  const cuuint64_t dims[2] = {cols, rows};
  const cuuint64_t strides[1] = {row_bytes};
  const cuuint32_t box[2] = {box_cols, box_rows};
  const cuuint32_t elem_strides[2] = {1, 1};
  const CUresult r = encode_fn()(&map, type, 2, const_cast<void*>(base), dims, strides, box, elem_strides,
                                 CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                                 CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) throw CudaError("cuTensorMapEncodeTiled failed with CUresult " + std::to_string(static_cast<int>(r)));
  return map;
}

gemm::GemmParams make_params(const Fp8GemmArgs& args, int block_m) {
  if (args.n % 8 != 0 || args.k % gemm::kBlockK != 0 || args.m <= 0 || args.n <= 0 || args.k <= 0)
    throw CudaError("sm90_fp8_gemm: need N % 8 == 0 and K % 128 == 0 (got M=" + std::to_string(args.m) +
                    " N=" + std::to_string(args.n) + " K=" + std::to_string(args.k) + ")");
  if (args.layout == GemmLayout::kGroupedContiguous && args.m % 128 != 0)
    throw CudaError("sm90_fp8_gemm: the contiguous layout needs m_total % 128 == 0");
  gemm::GemmParams p{};
  p.layout = static_cast<int>(args.layout);
  p.m = args.m;
  p.n = args.n;
  p.k = args.k;
  p.groups = args.layout == GemmLayout::kNormal ? 1 : args.groups;
  p.m_blocks = (args.m + block_m - 1) / block_m;
  p.n_blocks = (args.n + gemm::kBlockN - 1) / gemm::kBlockN;
  p.k_blocks = args.k / gemm::kBlockK;
  p.sfa_ld = sfa_leading_dim(gemm_a_rows(args));
  p.a = args.a;
  p.sfa = args.sfa;
  p.b = args.b;
  p.sfb = args.sfb;
  p.d = reinterpret_cast<__nv_bfloat16*>(args.d);
  p.m_indices = args.m_indices;
  p.masked_m = args.masked_m;
  return p;
}

// The wgmma kernel is persistent: one CTA per SM at most (it needs one SM's shared memory), each walking its tiles.
int persistent_grid_size(const gemm::GemmParams& p) {
  static const int sms = [] {  // read once, on the first (warm-up) call, never inside a graph capture
    int device = 0, count = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    return count;
  }();
  return std::min(gemm::tile_count(p), sms);
}

template <int kBlockM, bool kSfaTma>
void launch_wgmma(const Fp8GemmArgs& args, cudaStream_t stream) {
  using Cfg = gemm::WgmmaConfig<kBlockM, kStages>;
  const gemm::GemmParams p = make_params(args, kBlockM);
  const std::uint64_t a_rows = static_cast<std::uint64_t>(gemm_a_rows(args));
  const std::uint64_t b_rows = static_cast<std::uint64_t>(p.groups) * args.n;
  const CUtensorMap map_a = make_map(args.a, CU_TENSOR_MAP_DATA_TYPE_UINT8, a_rows, args.k, args.k, kBlockM,
                                     gemm::kBlockK, CU_TENSOR_MAP_SWIZZLE_128B);
  const CUtensorMap map_b = make_map(args.b, CU_TENSOR_MAP_DATA_TYPE_UINT8, b_rows, args.k, args.k, gemm::kBlockN,
                                     gemm::kBlockK, CU_TENSOR_MAP_SWIZZLE_128B);
  const CUtensorMap map_sfa = make_map(args.sfa, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, p.k_blocks, p.sfa_ld,
                                       static_cast<std::uint64_t>(p.sfa_ld) * 4, 1, kBlockM, CU_TENSOR_MAP_SWIZZLE_NONE);
  auto kernel = gemm::sm90_fp8_gemm_1d2d_kernel<kBlockM, kStages, kSfaTma>;
  static bool configured = false;  // once, outside any graph capture (the first call is a warm-up)
  if (!configured) {
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kSmemBytes));
    configured = true;
  }
  kernel<<<persistent_grid_size(p), Cfg::kThreads, Cfg::kSmemBytes, stream>>>(map_a, map_b, map_sfa, p);
  CUDA_CHECK_LAUNCH();
}

void launch_mma(const Fp8GemmArgs& args, cudaStream_t stream) {
  const gemm::GemmParams p = make_params(args, gemm::MmaConfig::kBlockM);
  static bool configured = false;
  if (!configured) {
    CUDA_CHECK(cudaFuncSetAttribute(gemm::sm90_fp8_gemm_mma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    gemm::MmaConfig::kSmemBytes));
    configured = true;
  }
  gemm::sm90_fp8_gemm_mma_kernel<<<gemm::tile_count(p), gemm::MmaConfig::kThreads, gemm::MmaConfig::kSmemBytes,
                                   stream>>>(p);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void sm90_fp8_gemm(const Fp8GemmArgs& args, Fp8GemmImpl impl, cudaStream_t stream) {
  if (impl == Fp8GemmImpl::kMmaSync) return launch_mma(args, stream);
  // BLOCK_M 64 when a group has at most 64 rows (decode, small M): half the wasted rows of a 128-row tile.
  const bool small = args.layout != GemmLayout::kGroupedContiguous && args.m <= 64;
  // Scales by TMA when every tile's first row is a multiple of 4 (see sm90_fp8_gemm_1d2d.cuh): tiles start at
  // multiples of BLOCK_M, groups (masked layout) at multiples of m.
  const bool sfa_tma = args.layout != GemmLayout::kGroupedMasked || args.m % 4 == 0;
  if (small)
    sfa_tma ? launch_wgmma<64, true>(args, stream) : launch_wgmma<64, false>(args, stream);
  else
    sfa_tma ? launch_wgmma<128, true>(args, stream) : launch_wgmma<128, false>(args, stream);
}

const char* to_string(Fp8GemmImpl impl) { return impl == Fp8GemmImpl::kWgmma ? "wgmma" : "mma_sync"; }
const char* to_string(GemmLayout layout) {
  switch (layout) {
    case GemmLayout::kNormal: return "gemm";
    case GemmLayout::kGroupedContiguous: return "grouped_contiguous";
    case GemmLayout::kGroupedMasked: return "grouped_masked";
  }
  return "?";
}

}  // namespace fleetsim::kernels
