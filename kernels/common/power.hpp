// Board power during a timed loop, through NVML loaded at run time (dlopen of libnvidia-ml.so.1: no NVML header
// or stub library is needed to build, and a machine without a driver simply reports "unknown").
//
// While a loop runs, a background thread samples nvmlDeviceGetPowerUsage every 2 ms; the board's total-energy
// counter is read at start and stop. The average power is energy / wall time when the counter is available and the
// loop lasted at least 100 ms (the counter's update interval is coarse); otherwise the mean of the samples. Note
// that on recent drivers GetPowerUsage itself is averaged over about one second, so the samples of a short loop
// lag; the energy counter has no such lag.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace fleetsim::kernels {

struct PowerReading {
  double average_w = -1.0;  // < 0: unknown
  double energy_j = -1.0;   // over the loop; < 0: unknown
  double seconds = 0.0;     // wall time of the loop
  int samples = 0;
  std::string method;       // "energy-counter", "samples" or "unavailable"
};

class PowerSampler {
 public:
  explicit PowerSampler(int cuda_device);  // never throws: unavailable() tells
  ~PowerSampler();
  PowerSampler(const PowerSampler&) = delete;
  PowerSampler& operator=(const PowerSampler&) = delete;

  bool available() const;
  void start();
  PowerReading stop();
  // Facts for MANIFEST-style reports (empty when unknown).
  std::string gpu_name() const;
  double power_limit_w() const;  // < 0: unknown

 private:
  struct Nvml;
  std::unique_ptr<Nvml> nvml_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::vector<double> samples_w_;
  double start_time_ = 0.0;
  unsigned long long start_energy_mj_ = 0;
  bool energy_ok_ = false;
};

}  // namespace fleetsim::kernels
