// Internal to sim/schedule: the builder of each schedule (one file each) and the checks they share.
#pragma once

#include <string>
#include <string_view>

#include "schedule/schedule.hpp"

namespace fleetsim::schedule {

PipelineProgram build_1f1b(int pp_devices, int micro_batches);
PipelineProgram build_interleaved(int pp_devices, int micro_batches, int virtual_stages = 2);
PipelineProgram build_zb1p(int pp_devices, int micro_batches);
PipelineProgram build_dualpipe(int pp_devices, int micro_batches);
PipelineProgram build_dualpipev(int pp_devices, int micro_batches);

namespace detail {

// Throws std::invalid_argument("schedule '<name>': <what>") unless ok.
void require(bool ok, std::string_view schedule_name, const std::string& what);

// A program with `stages` stages on `devices` devices, every micro-batch in direction 0, and empty chunk lists;
// device_of_stage is left for the caller to fill.
PipelineProgram empty_program(std::string_view schedule_name, int devices, int stages, int micro_batches);

// The common arguments check: pp_devices >= 1 and micro_batches >= 1.
void require_positive(std::string_view schedule_name, int pp_devices, int micro_batches);

// The one-stage-per-device 1F1B skeleton that 1F1B and ZB-H1 share: stage d on device d; device d runs pp-1-d
// warm-up forwards, then one forward and one backward at a time, then the remaining backwards.
// `emit_backward(chunks, device, micro_batch)` writes one backward: the full one (1F1B) or an input backward with
// a delayed weight backward (ZB-H1).
template <class EmitBackward>
PipelineProgram one_forward_one_backward(std::string_view schedule_name, int pp_devices, int micro_batches,
                                         EmitBackward emit_backward) {
  require_positive(schedule_name, pp_devices, micro_batches);
  PipelineProgram program = empty_program(schedule_name, pp_devices, pp_devices, micro_batches);
  program.models_rendezvous = true;
  for (int s = 0; s < pp_devices; ++s) program.device_of_stage[static_cast<std::size_t>(s)] = s;
  for (int d = 0; d < pp_devices; ++d) {
    auto& chunks = program.per_device[static_cast<std::size_t>(d)];
    const int warmup = pp_devices - 1 - d < micro_batches ? pp_devices - 1 - d : micro_batches;
    int next_forward = 0;
    int next_backward = 0;
    for (; next_forward < warmup; ++next_forward) chunks.push_back({ChunkKind::forward, next_forward, d});
    while (next_forward < micro_batches) {  // steady state: one forward, one backward
      chunks.push_back({ChunkKind::forward, next_forward++, d});
      emit_backward(chunks, d, next_backward++);
    }
    while (next_backward < micro_batches) emit_backward(chunks, d, next_backward++);
  }
  return program;
}

}  // namespace detail
}  // namespace fleetsim::schedule
