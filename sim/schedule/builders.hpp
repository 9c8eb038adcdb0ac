// Internal to sim/schedule: the builder of each schedule (one file each) and the checks they share.
#pragma once

#include <string>
#include <string_view>

#include "schedule/schedule.hpp"

namespace fleetsim::schedule {

PipelineProgram build_1f1b(int pp_devices, int micro_batches);
PipelineProgram build_interleaved(int pp_devices, int micro_batches);
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

}  // namespace detail
}  // namespace fleetsim::schedule
