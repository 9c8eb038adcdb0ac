// Timing of GPU calls (the method documented in docs/calibration.md):
//  - warm-up calls first (module load, cuBLASLt heuristics, first-touch), then one call timed alone to size the loop;
//  - calls shorter than `graph_below_us` are captured as a CUDA graph of several consecutive calls (at least one per
//    rotating input set), so launch gaps do not count; a sample is then one graph replay divided by its calls;
//  - CUDA events around every sample, samples back to back, at least `min_samples` of them and at least
//    `min_loop_ms` of GPU time (long enough for a power reading); the result is the median per-call time;
//  - the caller's launch(i) must use input set i % rotations, with rotating sets that together exceed the L2;
//  - board power is sampled during the loop (PowerSampler), giving watts and joules per call.
#pragma once

#include <cuda_runtime.h>

#include <functional>

#include "common/power.hpp"

namespace fleetsim::kernels {

struct TimingOptions {
  int warmup = 3;
  double min_loop_ms = 200.0;
  int min_samples = 15;
  int max_samples = 2000;
  double graph_below_us = 40.0;
  int max_graph_calls = 256;
};

struct Timing {
  double median_us = 0, p10_us = 0, p90_us = 0;
  int samples = 0, calls_per_sample = 1;
  bool graph = false;
  PowerReading power;
  double joules_per_call = -1.0;  // < 0: unknown
};

// `launch(i)` enqueues call number i on `stream` (it must not synchronize). `power` may be null.
Timing time_calls(const std::function<void(int)>& launch, int rotations, cudaStream_t stream, const TimingOptions& options,
                  PowerSampler* power);

}  // namespace fleetsim::kernels
