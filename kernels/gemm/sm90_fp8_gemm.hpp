// FP8 E4M3 GEMM with DeepSeek-V3's fine-grained scaling on Hopper (sm_90a): declarations.
//
//   D (bf16, rows x N) = sum over 128-wide K blocks kb of (A_kb * B_kb^T) * sfa[row][kb] * sfb[n/128][kb]
//
// A: activations, FP8, K contiguous ("1x128" scales: one float per row per 128 K).
// B: weights, FP8, N x K with K contiguous ("128x128" scales: one float per 128 x 128 block).
// The partial sums of each 128-K block are promoted to FP32 registers with their scales (the V3 report's
// "increasing accumulation precision", section 3.3.2).
//
// Two implementations compute the same function:
//   kWgmma   - TMA loads into 128B-swizzled shared memory, an mbarrier pipeline, one producer warpgroup and
//              one or two wgmma consumer warpgroups (the structure of DeepGEMM's sm90 kernel; SASS shows QGMMA).
//   kMmaSync - cp.async + warp-level mma.sync.m16n8k32 (simpler; a fallback and a cross-check; SASS shows HMMA
//              or QMMA, not QGMMA).
// Layouts (DeepGEMM's three kinds):
//   kNormal            one GEMM, A is m x K.
//   kGroupedContiguous A is m_total x K with rows grouped by expert, each expert's segment starting at a multiple
//                      of 128 rows; m_indices[row] = expert or -1 (padding). B is groups x N x K.
//   kGroupedMasked     A is groups x m_max x K; group g uses only its first masked_m[g] rows. B is groups x N x K.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fleetsim::kernels {

enum class GemmLayout { kNormal, kGroupedContiguous, kGroupedMasked };
enum class Fp8GemmImpl { kWgmma, kMmaSync };

struct Fp8GemmArgs {
  GemmLayout layout = GemmLayout::kNormal;
  int m = 0;       // rows of A: M (normal), m_total (contiguous), m_max per group (masked)
  int n = 0;       // multiple of 8
  int k = 0;       // multiple of 128
  int groups = 1;  // experts held by this GPU (1 for kNormal)
  const std::uint8_t* a = nullptr;  // fp8: m x K (masked: groups * m_max x K)
  const float* sfa = nullptr;       // (K/128) x sfa_ld floats, "MN-major": sfa[kb * sfa_ld + row]
  const std::uint8_t* b = nullptr;  // fp8: groups x N x K
  const float* sfb = nullptr;       // groups x ceil(N/128) x (K/128)
  std::uint16_t* d = nullptr;       // bf16: rows of A x N
  const int* m_indices = nullptr;   // kGroupedContiguous: m_total entries
  const int* masked_m = nullptr;    // kGroupedMasked: groups entries
};

// Leading dimension of sfa for `rows` rows of A (TMA needs 16-byte row strides: a multiple of 4 floats).
inline int sfa_leading_dim(int rows) { return (rows + 3) / 4 * 4; }
// Total rows of A for the arguments' layout.
inline int gemm_a_rows(const Fp8GemmArgs& args) {
  return args.layout == GemmLayout::kGroupedMasked ? args.groups * args.m : args.m;
}

// Enqueues the GEMM on `stream`; throws CudaError on a bad configuration or launch failure.
void sm90_fp8_gemm(const Fp8GemmArgs& args, Fp8GemmImpl impl, cudaStream_t stream);

const char* to_string(Fp8GemmImpl impl);
const char* to_string(GemmLayout layout);

}  // namespace fleetsim::kernels
