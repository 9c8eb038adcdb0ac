// Device-side random fills and NaN counters for the benchmark inputs (see cuda_util.hpp).
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "common/cuda_util.hpp"

namespace fleetsim::kernels {
namespace {

__device__ __forceinline__ unsigned long long mix64(unsigned long long z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Approximately normal: sum of four uniforms, centred and scaled to unit variance (cheap and never exactly 0
// for more than a vanishing fraction of elements).
__device__ __forceinline__ float approx_normal(unsigned long long seed, unsigned long long i) {
  const unsigned long long h1 = mix64(seed + 0x9E3779B97F4A7C15ull * (2 * i + 1));
  const unsigned long long h2 = mix64(h1 ^ 0xD1B54A32D192ED03ull);
  const float u = (static_cast<float>(h1 & 0xFFFFFFFFu) + static_cast<float>(h1 >> 32) +
                   static_cast<float>(h2 & 0xFFFFFFFFu) + static_cast<float>(h2 >> 32)) * (1.0f / 4294967296.0f);
  return (u - 2.0f) * 1.7320508f;  // variance of the sum of 4 U(0,1) is 1/3
}

__global__ void fill_bf16_kernel(__nv_bfloat16* out, std::size_t n, unsigned long long seed, float stddev) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16(approx_normal(seed, i) * stddev);
}
__global__ void fill_fp8_kernel(__nv_fp8_e4m3* out, std::size_t n, unsigned long long seed, float scale) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    out[i] = __nv_fp8_e4m3(fminf(fmaxf(approx_normal(seed, i) * scale, -448.0f), 448.0f));
}
__global__ void fill_f32_kernel(float* out, std::size_t n, unsigned long long seed, float lo, float hi) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    out[i] = lo + (hi - lo) * static_cast<float>(mix64(seed + 0x9E3779B97F4A7C15ull * (i + 1)) >> 40) * (1.0f / 16777216.0f);
}
__global__ void fill_i32_kernel(int* out, std::size_t n, unsigned long long seed, int lo, int hi) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    out[i] = lo + static_cast<int>(mix64(seed + 0x9E3779B97F4A7C15ull * (i + 1)) % static_cast<unsigned long long>(hi - lo));
}
template <typename T>
__global__ void count_nan_kernel(const T* in, std::size_t n, unsigned long long* count) {
  unsigned long long local = 0;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const float v = static_cast<float>(in[i]);
    local += isfinite(v) ? 0 : 1;
  }
  if (local) atomicAdd(count, local);
}

constexpr int kFillThreads = 256;
unsigned grid_for(std::size_t n) {
  const std::size_t blocks = (n + kFillThreads - 1) / kFillThreads;
  return static_cast<unsigned>(blocks < 132 * 16 ? (blocks ? blocks : 1) : 132 * 16);
}

template <typename T>
std::size_t count_nan(const T* device, std::size_t n) {
  DeviceBuffer counter(sizeof(unsigned long long));
  CUDA_CHECK(cudaMemset(counter.as(), 0, sizeof(unsigned long long)));
  count_nan_kernel<T><<<grid_for(n), kFillThreads>>>(device, n, counter.as<unsigned long long>());
  CUDA_CHECK_LAUNCH();
  unsigned long long host = 0;
  CUDA_CHECK(cudaMemcpy(&host, counter.as(), sizeof host, cudaMemcpyDeviceToHost));
  return static_cast<std::size_t>(host);
}

}  // namespace

void fill_random_bf16(void* device, std::size_t count, std::uint64_t seed, float stddev, cudaStream_t stream) {
  fill_bf16_kernel<<<grid_for(count), kFillThreads, 0, stream>>>(static_cast<__nv_bfloat16*>(device), count, seed, stddev);
  CUDA_CHECK_LAUNCH();
}
void fill_random_fp8(void* device, std::size_t count, std::uint64_t seed, float scale, cudaStream_t stream) {
  fill_fp8_kernel<<<grid_for(count), kFillThreads, 0, stream>>>(static_cast<__nv_fp8_e4m3*>(device), count, seed, scale);
  CUDA_CHECK_LAUNCH();
}
void fill_random_f32(float* device, std::size_t count, std::uint64_t seed, float lo, float hi, cudaStream_t stream) {
  fill_f32_kernel<<<grid_for(count), kFillThreads, 0, stream>>>(device, count, seed, lo, hi);
  CUDA_CHECK_LAUNCH();
}
void fill_random_i32(int* device, std::size_t count, std::uint64_t seed, int lo, int hi, cudaStream_t stream) {
  fill_i32_kernel<<<grid_for(count), kFillThreads, 0, stream>>>(device, count, seed, lo, hi);
  CUDA_CHECK_LAUNCH();
}
std::size_t count_nan_bf16(const void* device, std::size_t count) {
  return count_nan(static_cast<const __nv_bfloat16*>(device), count);
}
std::size_t count_nan_f32(const float* device, std::size_t count) { return count_nan(device, count); }

}  // namespace fleetsim::kernels
