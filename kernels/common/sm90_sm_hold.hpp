// Holds some of the GPU's SMs busy while other kernels run, as DeepEP's communication kernels hold 20 of the
// H800's 132 SMs during DualPipe's overlapped chunks (V3 §3.2.2). fleetsim assumes a kernel that spreads over every
// SM runs SMs / (SMs - held) times longer then; `fleetsim-kernels sm-share` measures it (docs/calibration.md).
//
// How: a kernel of two 1,024-thread blocks per SM (2,048 threads: an SM's whole thread budget, so nothing else can
// join them) is launched on its own stream while the GPU is idle, so every SM takes two of its blocks; the blocks on
// SMs whose %smid is below the count asked for spin until released, the others return at once and leave their SMs
// free. The spinning blocks poll a host flag every few microseconds (no HBM traffic to speak of) and give up after
// `timeout_s` whatever happens. The timed kernels, on another stream, then have the other SMs only.
#pragma once

#include <cuda_runtime.h>

namespace fleetsim::kernels {

class SmHold {
 public:
  // Holds `sms` SMs (those with %smid < sms); waits until they are held. Allocate every buffer the timed work needs
  // before, and free none while holding: cudaFree waits for the whole device, the holder included.
  SmHold(int sms, int device_sms, double timeout_s = 60.0);
  ~SmHold();  // releases the SMs and waits for the holder
  SmHold(const SmHold&) = delete;
  SmHold& operator=(const SmHold&) = delete;
  // SMs actually held (blocks spinning / 2): fewer than asked where %smid numbering has gaps.
  int held() const { return held_; }

 private:
  cudaStream_t stream_ = nullptr;
  volatile int* host_ = nullptr;  // mapped pinned host memory: [0] the release flag, [1 + block] block arrived
  int held_ = 0;
};

}  // namespace fleetsim::kernels
