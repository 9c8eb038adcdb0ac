#include "common/timing.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/cuda_util.hpp"
#include "common/stats.hpp"

namespace fleetsim::kernels {
namespace {

struct Events {
  std::vector<cudaEvent_t> ev;
  explicit Events(std::size_t n) : ev(n) {
    for (auto& e : ev) CUDA_CHECK(cudaEventCreate(&e));
  }
  ~Events() {
    for (auto& e : ev) cudaEventDestroy(e);
  }
};

}  // namespace

Timing time_calls(const std::function<void(int)>& launch, int rotations, cudaStream_t stream, const TimingOptions& options,
                  PowerSampler* power) {
  rotations = std::max(rotations, 1);
  int call = 0;
  for (int i = 0; i < options.warmup; ++i) launch(call++);
  CUDA_CHECK(cudaStreamSynchronize(stream));
  // One call alone, to size the loop.
  float single_ms = 0.0f;
  {
    Events e(2);
    CUDA_CHECK(cudaEventRecord(e.ev[0], stream));
    launch(call++);
    CUDA_CHECK(cudaEventRecord(e.ev[1], stream));
    CUDA_CHECK(cudaEventSynchronize(e.ev[1]));
    CUDA_CHECK(cudaEventElapsedTime(&single_ms, e.ev[0], e.ev[1]));
  }
  const double single_us = std::max(1e-3, static_cast<double>(single_ms) * 1e3);

  Timing result;
  cudaGraphExec_t graph_exec = nullptr;
  cudaGraph_t graph = nullptr;
  if (single_us < options.graph_below_us) {
    int calls = static_cast<int>(std::ceil(options.graph_below_us * 4 / single_us));
    calls = std::min(std::max(calls, rotations), options.max_graph_calls);
    CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    {
      bool ok = true;
      try {
        for (int i = 0; i < calls; ++i) launch(call + i);
      } catch (const CudaError&) {
        ok = false;
      }
      const cudaError_t end = cudaStreamEndCapture(stream, &graph);
      if (ok && end == cudaSuccess && cudaGraphInstantiate(&graph_exec, graph, 0) == cudaSuccess) {
        result.graph = true;
        result.calls_per_sample = calls;
      } else {
        cudaGetLastError();  // clear a capture error; fall back to plain launches
        if (graph) cudaGraphDestroy(graph);
        graph = nullptr;
        graph_exec = nullptr;
      }
    }
    if (result.graph) {  // warm the graph once
      CUDA_CHECK(cudaGraphLaunch(graph_exec, stream));
      CUDA_CHECK(cudaStreamSynchronize(stream));
    }
  }
  const double sample_us = single_us * result.calls_per_sample;
  int samples = static_cast<int>(std::ceil(options.min_loop_ms * 1e3 / sample_us));
  samples = std::min(std::max(samples, options.min_samples), options.max_samples);

  Events e(static_cast<std::size_t>(samples) + 1);
  if (power) power->start();
  CUDA_CHECK(cudaEventRecord(e.ev[0], stream));
  for (int s = 0; s < samples; ++s) {
    if (result.graph) CUDA_CHECK(cudaGraphLaunch(graph_exec, stream));
    else launch(call++);
    CUDA_CHECK(cudaEventRecord(e.ev[static_cast<std::size_t>(s) + 1], stream));
  }
  CUDA_CHECK(cudaEventSynchronize(e.ev[static_cast<std::size_t>(samples)]));
  if (power) result.power = power->stop();
  std::vector<double> per_call(static_cast<std::size_t>(samples));
  for (int s = 0; s < samples; ++s) {
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, e.ev[static_cast<std::size_t>(s)], e.ev[static_cast<std::size_t>(s) + 1]));
    per_call[static_cast<std::size_t>(s)] = static_cast<double>(ms) * 1e3 / result.calls_per_sample;
  }
  if (graph_exec) cudaGraphExecDestroy(graph_exec);
  if (graph) cudaGraphDestroy(graph);
  result.samples = samples;
  result.median_us = median(per_call);
  result.p10_us = percentile(per_call, 0.1);
  result.p90_us = percentile(per_call, 0.9);
  // Energy of one call: the loop's average board power over the call's median time.
  if (result.power.average_w >= 0) result.joules_per_call = result.power.average_w * result.median_us * 1e-6;
  return result;
}

}  // namespace fleetsim::kernels
