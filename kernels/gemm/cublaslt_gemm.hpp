// cuBLASLt baselines beside the sm90 kernels: BF16 GEMM and FP8 E4M3 GEMM with per-tensor scales.
// Layout as the sm90 kernels: A is M x K and B is N x K, both row-major (K contiguous), D is M x N BF16
// row-major. (cuBLASLt is column-major: this is D^T = B * A^T with op(A) = T, the "TN" form FP8 requires.)
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace fleetsim::kernels {

class CublasLt {
 public:
  // False when the build found no cuBLASLt (the constructor then throws).
  static bool available();
  CublasLt();  // creates the handle and a 64 MiB workspace; throws CudaError if cuBLASLt is unusable
  ~CublasLt();
  CublasLt(const CublasLt&) = delete;
  CublasLt& operator=(const CublasLt&) = delete;

  // D = A * B^T, BF16 in and out, FP32 accumulation.
  void bf16_gemm(const void* a, const void* b, void* d, int m, int n, int k, cudaStream_t stream);
  // D = scale_a * scale_b * A * B^T, FP8 E4M3 in, BF16 out; the scales are device pointers to one float each.
  void fp8_gemm_per_tensor(const void* a, const float* scale_a, const void* b, const float* scale_b, void* d, int m,
                           int n, int k, cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fleetsim::kernels
