#include "common/sm90_sm_hold.hpp"

#include <chrono>
#include <thread>

#include "common/cuda_util.hpp"

namespace fleetsim::kernels {
namespace {

constexpr int kThreads = 1024;      // two blocks fill an SM's 2,048 threads (Hopper)
constexpr int kBlocksPerSm = 2;
constexpr unsigned kPollNs = 2000;  // between two looks at the host flag

// Flags live in mapped pinned host memory: the host reads and writes them while the kernel runs, without a device
// call (a cudaMemcpy would queue behind nothing, but a device-wide sync would wait for the holder forever).
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    hold_sms(volatile int* release, volatile int* arrived, int sms, unsigned long long timeout_ns) {
  unsigned smid;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
  if (smid >= static_cast<unsigned>(sms)) return;
  if (threadIdx.x == 0) {
    arrived[blockIdx.x] = 1;
    __threadfence_system();
    unsigned long long start, now;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
    do {
      __nanosleep(kPollNs);
      asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    } while (*release == 0 && now - start < timeout_ns);
  }
  __syncthreads();  // the block's other threads stay resident until thread 0 is released
}

}  // namespace

SmHold::SmHold(int sms, int device_sms, double timeout_s) {
  if (sms <= 0 || sms >= device_sms) throw CudaError("SmHold: hold between 1 and the device's SMs - 1");
  const int blocks = device_sms * kBlocksPerSm;
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  int* host = nullptr;
  CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host), sizeof(int) * (1 + blocks), cudaHostAllocMapped));
  for (int i = 0; i <= blocks; ++i) host[i] = 0;
  host_ = host;
  int* device = nullptr;
  CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&device), const_cast<int*>(host_), 0));
  CUDA_CHECK(cudaDeviceSynchronize());  // the GPU must be idle for every SM to take two blocks
  hold_sms<<<blocks, kThreads, 0, stream_>>>(device, device + 1, sms, static_cast<unsigned long long>(timeout_s * 1e9));
  CUDA_CHECK(cudaGetLastError());
  // The spinning blocks check in within microseconds of the launch; allow a second.
  int arrived = 0;
  for (int tries = 0; tries < 1000 && arrived < sms * kBlocksPerSm; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    arrived = 0;
    for (int i = 1; i <= blocks; ++i) arrived += host_[i];
  }
  held_ = arrived / kBlocksPerSm;
}

SmHold::~SmHold() {
  if (host_) host_[0] = 1;
  if (stream_) {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
  if (host_) cudaFreeHost(const_cast<int*>(host_));
}

}  // namespace fleetsim::kernels
