// 1F1B, the non-interleaved schedule of PipeDream-flush (Narayanan et al. 2021, "Memory-Efficient Pipeline-Parallel
// DNN Training") and Megatron-LM: device d runs pp-1-d warm-up forwards, then alternates one forward and one full
// backward, then drains the remaining backwards. Device d never holds more than pp-d micro-batches of activations.
// With zero communication its bubble is (pp-1)(F+B), B the full backward (DualPipe README; checked in tests).
#include "schedule/builders.hpp"

#include <algorithm>

namespace fleetsim::schedule {

PipelineProgram build_1f1b(int pp_devices, int micro_batches) {
  constexpr std::string_view kName = "1f1b";
  detail::require_positive(kName, pp_devices, micro_batches);
  PipelineProgram program = detail::empty_program(kName, pp_devices, pp_devices, micro_batches);
  for (int s = 0; s < pp_devices; ++s) program.device_of_stage[static_cast<std::size_t>(s)] = s;

  for (int d = 0; d < pp_devices; ++d) {
    auto& chunks = program.per_device[static_cast<std::size_t>(d)];
    const int warmup = std::min(pp_devices - 1 - d, micro_batches);
    int next_forward = 0;
    int next_backward = 0;
    for (; next_forward < warmup; ++next_forward) chunks.push_back({ChunkKind::forward, next_forward, d});
    while (next_forward < micro_batches) {  // steady state: one forward, one backward
      chunks.push_back({ChunkKind::forward, next_forward++, d});
      chunks.push_back({ChunkKind::backward, next_backward++, d});
    }
    while (next_backward < micro_batches) chunks.push_back({ChunkKind::backward, next_backward++, d});
  }
  return program;
}

}  // namespace fleetsim::schedule
