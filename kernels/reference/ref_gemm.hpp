// CPU references for the GEMMs (plain C++17, no CUDA). All matrices are row-major; B is stored N x K
// ("NT": K contiguous for both operands, the layout DeepGEMM and the sm90 kernels use). FP8 and BF16 values
// are raw bits (see common/numeric.hpp). Outputs are float; a GPU's BF16 output is compared after widening.
#pragma once

#include <cstdint>
#include <vector>

namespace fleetsim::kernels::ref {

// One output row of the DeepSeek fine-grained FP8 GEMM:
//   d[n] = sum_kb ( sum_{k in block kb} a[k] * b[n][k] ) * sa[kb] * sb[n / 128][kb]
// a: K fp8 values of one activation row, sa: its K/128 scales; b: N x K fp8, sb: ceil(N/128) x (K/128).
// The inner sums are exact in double (FP8 products are exact), the promotion by scales is per 128-K block,
// which is what the GPU kernel does in FP32.
void fp8_gemm_row(const std::uint8_t* a, const float* sa, const std::uint8_t* b, const float* sb, int n, int k,
                  float* d);

// Whole GEMM D (M x N) = A (M x K) * B^T with 1x128 activation and 128x128 weight scales.
// sa: M x (K/128) row-major. `rows` (optional) restricts the output to those rows of D, in that order.
std::vector<float> fp8_gemm(const std::vector<std::uint8_t>& a, const std::vector<float>& sa,
                            const std::vector<std::uint8_t>& b, const std::vector<float>& sb, int m, int n, int k,
                            const std::vector<int>& rows = {});

// Per-tensor scaled FP8 GEMM (the cuBLASLt baseline): D = scale_a * scale_b * A * B^T.
std::vector<float> fp8_gemm_per_tensor(const std::vector<std::uint8_t>& a, float scale_a,
                                       const std::vector<std::uint8_t>& b, float scale_b, int m, int n, int k,
                                       const std::vector<int>& rows = {});

// BF16 GEMM: D = A * B^T with A (M x K) and B (N x K) in BF16 bits, accumulated in double.
std::vector<float> bf16_gemm(const std::vector<std::uint16_t>& a, const std::vector<std::uint16_t>& b, int m, int n,
                             int k, const std::vector<int>& rows = {});

// Grouped GEMM, contiguous layout (training / prefill): rows of A are grouped by expert; m_indices[row] is the
// expert of that row or -1 for a padding row (whose output is left as 0). B is G x N x K, sb G x ceil(N/128) x K/128.
std::vector<float> fp8_grouped_contiguous(const std::vector<std::uint8_t>& a, const std::vector<float>& sa,
                                          const std::vector<int>& m_indices, const std::vector<std::uint8_t>& b,
                                          const std::vector<float>& sb, int m_total, int n, int k,
                                          const std::vector<int>& rows = {});

// Grouped GEMM, masked layout (decode): A is G x M_max x K; only the first masked_m[g] rows of group g are
// valid; D is G x M_max x N with rows past masked_m[g] left as 0. `rows` index the flattened G * M_max rows.
std::vector<float> fp8_grouped_masked(const std::vector<std::uint8_t>& a, const std::vector<float>& sa,
                                      const std::vector<int>& masked_m, const std::vector<std::uint8_t>& b,
                                      const std::vector<float>& sb, int groups, int m_max, int n, int k,
                                      const std::vector<int>& rows = {});

}  // namespace fleetsim::kernels::ref
