// MLA prefill forward on sm_90: flash-attention-2 style with mma.sync m16n8k16 BF16 (see sm90_mla.hpp).
//
// CTA: 4 warps, 64 query rows of one (batch, head); each warp owns 16 rows. Key/value tiles of 64 rows are
// double-buffered in shared memory with cp.async. S = Q K^T and O += P V run on tensor cores; the online
// softmax (running max m and sum l per row) runs in registers in the log2 domain.
#include <cuda_bf16.h>

#include <cfloat>

#include "attention/online_softmax.cuh"
#include "attention/sm90_mla.hpp"
#include "common/cuda_util.hpp"
#include "common/sm90_ptx.cuh"

namespace fleetsim::kernels {
namespace {

constexpr int kDqk = 192, kDv = 128, kTile = 64, kThreads = 128;
constexpr int kQkStride = kDqk + 8;  // bf16 per smem row: 400 bytes, conflict-free fragment loads
constexpr int kVStride = kDv + 8;    // 272 bytes: conflict-free ldmatrix
constexpr int kQBytes = kTile * kQkStride * 2;
constexpr int kKBytes = kTile * kQkStride * 2;
constexpr int kVBytes = kTile * kVStride * 2;
constexpr int kSmemBytes = kQBytes + 2 * (kKBytes + kVBytes);

__device__ __forceinline__ std::uint32_t ld32(const __nv_bfloat16* p) { return *reinterpret_cast<const std::uint32_t*>(p); }

// Copies `rows` x `cols` bf16 (cols % 8 == 0) from global rows `row_stride` apart into smem rows `smem_stride`
// apart; rows at or past `valid_rows` are zero-filled.
template <int kCols, int kSmemStride>
__device__ __forceinline__ void load_tile(__nv_bfloat16* smem, const __nv_bfloat16* gmem, long long row_stride, int valid_rows) {
  constexpr int kChunks = kTile * kCols / 8;
  for (int c = threadIdx.x; c < kChunks; c += kThreads) {
    const int row = c / (kCols / 8), col = (c % (kCols / 8)) * 8;
    const bool ok = row < valid_rows;
    ptx::cp_async_16(smem + row * kSmemStride + col, ok ? gmem + row * row_stride + col : gmem, ok ? 16 : 0);
  }
}

__global__ void __launch_bounds__(kThreads, 2)
    mla_prefill_kernel(const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                       const __nv_bfloat16* __restrict__ v, __nv_bfloat16* __restrict__ out, int seq, int heads,
                       float scale_log2, int causal) {
  extern __shared__ __align__(16) std::uint8_t smem[];
  __nv_bfloat16* sq = reinterpret_cast<__nv_bfloat16*>(smem);
  // Buffer i of K at smem + kQBytes + i * (kKBytes + kVBytes), its V right after it.
  auto sk = [&](int i) { return reinterpret_cast<__nv_bfloat16*>(smem + kQBytes + i * (kKBytes + kVBytes)); };
  auto sv = [&](int i) { return reinterpret_cast<__nv_bfloat16*>(smem + kQBytes + i * (kKBytes + kVBytes) + kKBytes); };

  const int q_tile = static_cast<int>(gridDim.x - 1 - blockIdx.x);  // heaviest (latest) query tiles first
  const int h = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const long long qk_row = static_cast<long long>(heads) * kDqk;  // stride between sequence positions
  const long long v_row = static_cast<long long>(heads) * kDv;
  const long long base_qk = static_cast<long long>(b) * seq * qk_row + static_cast<long long>(h) * kDqk;
  const long long base_v = static_cast<long long>(b) * seq * v_row + static_cast<long long>(h) * kDv;
  const int q0 = q_tile * kTile;
  const int kv_tiles = causal ? q_tile + 1 : (seq + kTile - 1) / kTile;

  load_tile<kDqk, kQkStride>(sq, q + base_qk + q0 * qk_row, qk_row, seq - q0);
  load_tile<kDqk, kQkStride>(sk(0), k + base_qk, qk_row, seq);
  load_tile<kDv, kVStride>(sv(0), v + base_v, v_row, seq);
  ptx::cp_async_commit();

  float o[kDv / 8][4];
#pragma unroll
  for (int i = 0; i < kDv / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m_run[2] = {-FLT_MAX, -FLT_MAX}, l_run[2] = {0.0f, 0.0f};
  std::uint32_t qf[kDqk / 16][4];
  const int row_a = q0 + warp * 16 + g;  // this thread's query rows: row_a and row_a + 8

  for (int j = 0; j < kv_tiles; ++j) {
    const int buf = j & 1;
    if (j + 1 < kv_tiles) {
      const int kv1 = (j + 1) * kTile;
      load_tile<kDqk, kQkStride>(sk(buf ^ 1), k + base_qk + kv1 * qk_row, qk_row, seq - kv1);
      load_tile<kDv, kVStride>(sv(buf ^ 1), v + base_v + kv1 * v_row, v_row, seq - kv1);
      ptx::cp_async_commit();
      ptx::cp_async_wait<1>();
    } else {
      ptx::cp_async_wait<0>();
    }
    __syncthreads();
    if (j == 0) {
#pragma unroll
      for (int ks = 0; ks < kDqk / 16; ++ks) {
        const __nv_bfloat16* p = sq + (warp * 16 + g) * kQkStride + ks * 16 + 2 * t;
        qf[ks][0] = ld32(p);
        qf[ks][1] = ld32(p + 8 * kQkStride);
        qf[ks][2] = ld32(p + 8);
        qf[ks][3] = ld32(p + 8 * kQkStride + 8);
      }
    }
    // S = Q K^T for 16 rows x 64 keys.
    float s[kTile / 8][4];
#pragma unroll
    for (int n = 0; n < kTile / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < kDqk / 16; ++ks)
#pragma unroll
      for (int n = 0; n < kTile / 8; ++n) {
        const __nv_bfloat16* p = sk(buf) + (n * 8 + g) * kQkStride + ks * 16 + 2 * t;
        const std::uint32_t bf[2] = {ld32(p), ld32(p + 8)};
        ptx::mma_bf16_16816(s[n], qf[ks], bf);
      }
    // Scale (log2 domain), causal / length mask, online softmax.
    const int kv0 = j * kTile;
    float tile_max[2] = {-FLT_MAX, -FLT_MAX};
#pragma unroll
    for (int n = 0; n < kTile / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = kv0 + n * 8 + 2 * t + (e & 1);
        const int row = row_a + 8 * (e >> 1);
        const bool visible = key < seq && (!causal || key <= row);
        s[n][e] = visible ? s[n][e] * scale_log2 : -FLT_MAX;
        tile_max[e >> 1] = fmaxf(tile_max[e >> 1], s[n][e]);
      }
    float corr[2], row_sum[2] = {0.0f, 0.0f};
    attention_detail::update_running_max(tile_max, m_run, corr);
    std::uint32_t pf[kTile / 16][4];
#pragma unroll
    for (int n = 0; n < kTile / 8; ++n) {
      const float p0 = s[n][0] == -FLT_MAX ? 0.0f : exp2f(s[n][0] - m_run[0]);
      const float p1 = s[n][1] == -FLT_MAX ? 0.0f : exp2f(s[n][1] - m_run[0]);
      const float p2 = s[n][2] == -FLT_MAX ? 0.0f : exp2f(s[n][2] - m_run[1]);
      const float p3 = s[n][3] == -FLT_MAX ? 0.0f : exp2f(s[n][3] - m_run[1]);
      row_sum[0] += p0 + p1;
      row_sum[1] += p2 + p3;
      // C fragments of key tiles 2kk and 2kk+1 form the A fragment of k-step kk.
      pf[n / 2][(n % 2) * 2 + 0] = ptx::pack_bf16x2(p0, p1);
      pf[n / 2][(n % 2) * 2 + 1] = ptx::pack_bf16x2(p2, p3);
    }
    attention_detail::rescale_running_sums(row_sum, corr, l_run, o);
    // O += P V: V fragments through ldmatrix.trans, two 8-wide column tiles per x4 load.
#pragma unroll
    for (int kk = 0; kk < kTile / 16; ++kk)
#pragma unroll
      for (int d = 0; d < kDv / 16; ++d) {
        const int mat = lane / 8;
        const __nv_bfloat16* p = sv(buf) + (kk * 16 + (mat % 2) * 8 + lane % 8) * kVStride + d * 16 + (mat / 2) * 8;
        std::uint32_t vf[4];
        ptx::ldmatrix_x4_trans(vf, p);
        ptx::mma_bf16_16816(o[2 * d], pf[kk], vf);
        ptx::mma_bf16_16816(o[2 * d + 1], pf[kk], vf + 2);
      }
    __syncthreads();  // the next iteration's loads overwrite this buffer
  }
  const float inv[2] = {l_run[0] > 0.0f ? 1.0f / l_run[0] : 0.0f, l_run[1] > 0.0f ? 1.0f / l_run[1] : 0.0f};
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row_a + 8 * r;
    if (row >= seq) continue;
    __nv_bfloat16* dst = out + static_cast<long long>(b) * seq * v_row + row * v_row + static_cast<long long>(h) * kDv;
#pragma unroll
    for (int i = 0; i < kDv / 8; ++i)
      *reinterpret_cast<__nv_bfloat162*>(dst + i * 8 + 2 * t) =
          __floats2bfloat162_rn(o[i][2 * r] * inv[r], o[i][2 * r + 1] * inv[r]);
  }
}

}  // namespace

void sm90_mla_prefill_fwd(const std::uint16_t* q, const std::uint16_t* k, const std::uint16_t* v, std::uint16_t* out,
                          int batch, int seq, int heads, float scale, bool causal, cudaStream_t stream) {
  if (seq % kTile != 0) throw CudaError("sm90_mla_prefill_fwd: seq must be a multiple of 64");
  static bool configured = false;  // once, outside any graph capture (the first call is a warm-up)
  if (!configured) {
    CUDA_CHECK(cudaFuncSetAttribute(mla_prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
    configured = true;
  }
  const dim3 grid(static_cast<unsigned>(seq / kTile), static_cast<unsigned>(heads), static_cast<unsigned>(batch));
  mla_prefill_kernel<<<grid, kThreads, kSmemBytes, stream>>>(
      reinterpret_cast<const __nv_bfloat16*>(q), reinterpret_cast<const __nv_bfloat16*>(k),
      reinterpret_cast<const __nv_bfloat16*>(v), reinterpret_cast<__nv_bfloat16*>(out), seq, heads,
      scale * 1.4426950408889634f, causal ? 1 : 0);
  CUDA_CHECK_LAUNCH();
}

}  // namespace fleetsim::kernels
