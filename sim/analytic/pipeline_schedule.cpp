#include "analytic/pipeline_schedule.hpp"

#include <algorithm>
#include <stdexcept>

#include "core/error.hpp"

namespace fleetsim {
namespace {

double full_backward(const ChunkTimes& c) { return c.backward_input + c.backward_weight; }
double as_double(std::int64_t value) { return static_cast<double>(value); }

// 1F1B (PipeDream-flush / Megatron): (PP-1)(F+B).
double bubble_1f1b(const ChunkTimes& c, std::int64_t pp) { return as_double(pp - 1) * (c.forward + full_backward(c)); }
// Interleaved 1F1B with v chunks per device (Megatron-LM, Narayanan et al. 2021): the 1F1B bubble divided by v.
double bubble_interleaved(const ChunkTimes& c, std::int64_t pp) {
  // c holds the times of one of the v smaller chunks, so (PP-1)(F+B) of a chunk is already the 1F1B bubble / v.
  return as_double(pp - 1) * (c.forward + full_backward(c));
}
// ZB1P (zero-bubble, Qi et al. 2023): (PP-1)(F+B-2W).
double bubble_zb1p(const ChunkTimes& c, std::int64_t pp) {
  return as_double(pp - 1) * std::max(0.0, c.forward + full_backward(c) - 2.0 * c.backward_weight);
}
// DualPipe: (PP/2-1)(F&B+B-3W).
double bubble_dualpipe(const ChunkTimes& c, std::int64_t pp) {
  return as_double(pp / 2 - 1) *
         std::max(0.0, c.overlapped_forward_backward + full_backward(c) - 3.0 * c.backward_weight);
}
// DualPipeV: DualPipe's bubble with 2*pp stages on pp devices, i.e. (2pp/2 - 1) = pp-1 chunk terms.
double bubble_dualpipev(const ChunkTimes& c, std::int64_t pp) {
  return as_double(pp - 1) *
         std::max(0.0, c.overlapped_forward_backward + full_backward(c) - 3.0 * c.backward_weight);
}

// 1F1B: the first stage holds PP micro-batches in flight (fewer when the step has fewer).
double peak_1f1b(std::int64_t pp, std::int64_t mb, std::int64_t) { return as_double(std::min(pp, mb)); }
// Interleaved, in chunks of 1/v of a device's layers: Megatron-LM's first device runs 2(PP-1) + (v-1)PP warm-up
// forwards before its first backward and holds one more, v*PP + PP - 1 (every forward, v*mb, when mb <= PP).
double peak_interleaved(std::int64_t pp, std::int64_t mb, std::int64_t v) {
  return as_double(std::min(v * pp + pp - 1, v * mb));
}
// DualPipe: PP+1 (DualPipe README).
double peak_dualpipe(std::int64_t pp, std::int64_t mb, std::int64_t) { return as_double(std::min(pp + 1, mb)); }
// DualPipeV: PP+1 where PP counts its 2*pp stages, each chunk half a DualPipe stage.
double peak_dualpipev(std::int64_t pp, std::int64_t mb, std::int64_t) {
  return as_double(std::min(2 * pp + 1, 2 * mb));
}

// Stage placement. 1F1B-like: device d holds stage d. Interleaved: d, d + pp, d + 2pp, ... (Megatron's
// round-robin chunks).
// DualPipe: d and pp-1-d, one per direction (V3 §3.2.1; the shallowest and deepest stages share a device).
// DualPipeV: d and 2pp-1-d of 2pp stages (the V shape).
std::int64_t stage_single(std::int64_t device, std::int64_t, std::int64_t) { return device; }
std::int64_t stage_interleaved(std::int64_t device, std::int64_t slot, std::int64_t pp) { return device + slot * pp; }
std::int64_t stage_dualpipe(std::int64_t device, std::int64_t slot, std::int64_t pp) {
  return slot == 0 ? device : pp - 1 - device;
}
std::int64_t stage_dualpipev(std::int64_t device, std::int64_t slot, std::int64_t pp) {
  return slot == 0 ? device : 2 * pp - 1 - device;
}

}  // namespace

const std::vector<PipelineSchedule>& pipeline_schedules() {
  // name, description, stage multiplier, stages per device, visits per micro-batch, placement, overlaps all-to-all, even pp,
  // bubble, peak activations.
  static const std::vector<PipelineSchedule> registry{
      {"1f1b", "one forward, one backward (PipeDream-flush)", 1, 1, 1, stage_single, false, false, bubble_1f1b,
       peak_1f1b},
      {"interleaved", "interleaved 1F1B, v model chunks per device (2 unless training.virtual_stages)", 2, 2, 2,
       stage_interleaved, false, false,
       bubble_interleaved, peak_interleaved},
      {"zb1p", "zero-bubble 1F1B: weight gradients fill the bubble", 1, 1, 1, stage_single, false, false, bubble_zb1p,
       peak_1f1b},
      {"dualpipe", "DualPipe: bidirectional, overlaps forward/backward compute with all-to-all", 1, 2, 1,
       stage_dualpipe, true, true, bubble_dualpipe, peak_dualpipe},
      {"dualpipev", "DualPipeV: DualPipe folded onto half the devices (V-shape)", 2, 2, 2, stage_dualpipev, true, false,
       bubble_dualpipev, peak_dualpipev},
  };
  return registry;
}

const PipelineSchedule& find_schedule(std::string_view name) {
  for (const auto& schedule : pipeline_schedules())
    if (schedule.name == name) return schedule;
  throw std::out_of_range("unknown pipeline schedule '" + std::string(name) + "'");
}

PipelineSchedule schedule_of(const TrainingJob& job) {
  PipelineSchedule schedule = find_schedule(job.schedule);
  if (schedule.name == "interleaved") {
    schedule.stage_multiplier = job.virtual_stages;
    schedule.stages_per_device = job.virtual_stages;
    schedule.visits_per_micro_batch = job.virtual_stages;
  }
  return schedule;
}

std::vector<std::vector<std::int64_t>> device_stage_lists(const PipelineSchedule& schedule, std::int64_t pp) {
  std::vector<std::vector<std::int64_t>> lists(static_cast<std::size_t>(pp));
  for (std::int64_t d = 0; d < pp; ++d)
    for (std::int64_t slot = 0; slot < schedule.stages_per_device; ++slot)
      lists[static_cast<std::size_t>(d)].push_back(schedule.stage_of(d, slot, pp));
  return lists;
}

schedule::PipelineProgram training_program(const TrainingJob& job, std::int64_t micro_batches) {
  schedule::PipelineProgram program =
      schedule::build_schedule(job.schedule, static_cast<int>(job.parallelism.pp), static_cast<int>(micro_batches),
                               static_cast<int>(job.virtual_stages));
  return job.overlap_moe_all_to_all ? schedule::pair_backwards_with_next_forwards(std::move(program)) : program;
}

schedule::PipelineProgram checked_training_program(const Scenario& scenario, std::int64_t global_batch) {
  const TrainingJob& job = *scenario.training;
  const std::int64_t micro_batches = global_batch / (job.parallelism.dp * job.micro_batch);
  try {
    return training_program(job, micro_batches);
  } catch (const std::invalid_argument& error) {
    const auto where = scenario.key_locations.find("training.schedule");
    throw InputError(where == scenario.key_locations.end() ? SourceLocation{scenario.source_file, 0} : where->second,
                     "training.schedule",
                     std::string(error.what()) + " (a step of " + std::to_string(global_batch) + " sequences gives " +
                         std::to_string(micro_batches) + " micro-batches per pipeline)");
  }
}

}  // namespace fleetsim
