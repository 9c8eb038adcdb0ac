// Host-side CUDA helpers shared by the driver and the launchers: error checks that throw, a device arena with
// 256-byte aligned sub-allocations, and device-side fills (random inputs, NaN poison). C++17, host compiler or nvcc.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace fleetsim::kernels {

struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void cuda_check(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess)
    throw CudaError(std::string(what) + " failed at " + file + ":" + std::to_string(line) + ": " +
                    cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
}

}  // namespace fleetsim::kernels

#define CUDA_CHECK(expr) ::fleetsim::kernels::cuda_check((expr), #expr, __FILE__, __LINE__)
// After a kernel launch: catches launch-configuration errors at once (execution errors surface at the next sync).
#define CUDA_CHECK_LAUNCH() ::fleetsim::kernels::cuda_check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

namespace fleetsim::kernels {

// Owns one cudaMalloc'd buffer; move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    if (bytes) CUDA_CHECK(cudaMalloc(&ptr_, bytes));
  }
  ~DeviceBuffer() { if (ptr_) cudaFree(ptr_); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr; o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) { if (ptr_) cudaFree(ptr_); ptr_ = o.ptr_; bytes_ = o.bytes_; o.ptr_ = nullptr; o.bytes_ = 0; }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T = void> T* as() const { return static_cast<T*>(ptr_); }
  std::size_t bytes() const { return bytes_; }
 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

template <typename T>
DeviceBuffer to_device(const std::vector<T>& host) {
  DeviceBuffer buf(host.size() * sizeof(T));
  if (!host.empty()) CUDA_CHECK(cudaMemcpy(buf.as(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return buf;
}
template <typename T>
std::vector<T> to_host(const void* device, std::size_t count) {
  std::vector<T> host(count);
  if (count) CUDA_CHECK(cudaMemcpy(host.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost));
  return host;
}

// Poison: every byte 0xFF, which is NaN in float, BF16 and FP8 E4M3, and -1 in int32. A check that finds a NaN
// (or a -1 index) in an output knows that element was never written.
inline void poison(void* device, std::size_t bytes, cudaStream_t stream = nullptr) {
  CUDA_CHECK(cudaMemsetAsync(device, 0xFF, bytes, stream));
}

// Device-side random fills (counter-based hash, so any size fills in one pass at HBM speed; never zeros).
// Values: bf16 ~ N(0, stddev^2); fp8 e4m3 ~ N(0,1) scaled into [-448, 448] by `scale`, never NaN;
// f32 uniform in [lo, hi); int32 uniform in [lo, hi).
void fill_random_bf16(void* device, std::size_t count, std::uint64_t seed, float stddev, cudaStream_t stream = nullptr);
void fill_random_fp8(void* device, std::size_t count, std::uint64_t seed, float scale, cudaStream_t stream = nullptr);
void fill_random_f32(float* device, std::size_t count, std::uint64_t seed, float lo, float hi, cudaStream_t stream = nullptr);
void fill_random_i32(int* device, std::size_t count, std::uint64_t seed, int lo, int hi, cudaStream_t stream = nullptr);
// Counts elements that are NaN/inf (BF16 or float) or equal to -1 (int32) on the device; one blocking call.
std::size_t count_nan_bf16(const void* device, std::size_t count);
std::size_t count_nan_f32(const float* device, std::size_t count);

}  // namespace fleetsim::kernels
