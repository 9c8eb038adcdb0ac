#include "schedule/schedule.hpp"

#include <stdexcept>

#include "schedule/builders.hpp"

namespace fleetsim::schedule {

const std::vector<ScheduleInfo>& schedule_registry() {
  // One line per schedule. The descriptions state each schedule's constraints; the builders enforce them. Only
  // interleaved has virtual stages.
  static const std::vector<ScheduleInfo> registry{
      {"1f1b", "1F1B (PipeDream-flush): pp stages, one per device; any pp >= 1, micro-batches >= 1",
       [](int pp, int micro_batches, int) { return build_1f1b(pp, micro_batches); }},
      {"interleaved",
       "interleaved 1F1B (Megatron-LM): v >= 2 virtual stages per device (v*pp stages); micro-batches a multiple of "
       "pp",
       build_interleaved},
      {"zb1p", "ZB-H1 (Qi et al. 2023): 1F1B with B and W split, W delayed into the bubble, 1F1B's memory; any pp, "
       "micro-batches >= 1",
       [](int pp, int micro_batches, int) { return build_zb1p(pp, micro_batches); }},
      {"dualpipe",
       "DualPipe (DeepSeek-V3): pp stages fed from both ends, device i holds stages i and pp-1-i; even pp >= 2, "
       "even micro-batches >= 2*pp",
       [](int pp, int micro_batches, int) { return build_dualpipe(pp, micro_batches); }},
      {"dualpipev",
       "DualPipeV (cut-in-half DualPipe): 2*pp stages in a V, device i holds stages i and 2pp-1-i; "
       "micro-batches >= 2*pp",
       [](int pp, int micro_batches, int) { return build_dualpipev(pp, micro_batches); }},
  };
  return registry;
}

PipelineProgram build_schedule(std::string_view name, int pp_devices, int micro_batches, int virtual_stages) {
  std::string known;
  for (const auto& info : schedule_registry()) {
    if (info.name == name) return info.build(pp_devices, micro_batches, virtual_stages);
    known += (known.empty() ? "" : ", ") + std::string(info.name);
  }
  throw std::invalid_argument("unknown pipeline schedule '" + std::string(name) + "' (known: " + known + ")");
}

PipelineProgram pair_backwards_with_next_forwards(PipelineProgram program) {
  for (auto& chunks : program.per_device) {
    std::vector<Chunk> paired;
    paired.reserve(chunks.size());
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      const Chunk& chunk = chunks[i];
      if (chunk.kind == ChunkKind::backward && i + 1 < chunks.size() && chunks[i + 1].kind == ChunkKind::forward) {
        Chunk pair = chunks[i + 1];
        pair.kind = ChunkKind::forward_backward;
        pair.paired_micro_batch = chunk.micro_batch;
        pair.paired_stage = chunk.stage;
        paired.push_back(pair);
        ++i;
        continue;
      }
      paired.push_back(chunk);
    }
    chunks = std::move(paired);
  }
  program.models_rendezvous = false;
  return program;
}

int device_of(const PipelineProgram& program, int micro_batch, int stage) {
  const int device = program.device_of_stage.at(static_cast<std::size_t>(stage));
  return program.direction_of_micro_batch.at(static_cast<std::size_t>(micro_batch)) == 0
             ? device
             : program.devices - 1 - device;
}

std::string_view to_string(ChunkKind kind) {
  switch (kind) {
    case ChunkKind::forward: return "forward";
    case ChunkKind::backward_input: return "backward_input";
    case ChunkKind::backward_weight: return "backward_weight";
    case ChunkKind::backward: return "backward";
    case ChunkKind::forward_backward: return "forward_backward";
  }
  return "?";
}

std::string to_string(const Chunk& chunk, bool with_stage) {
  auto one = [with_stage](std::string_view prefix, int micro_batch, int stage) {
    std::string text = std::string(prefix) + std::to_string(micro_batch);
    if (with_stage) text += ".s" + std::to_string(stage);
    return text;
  };
  switch (chunk.kind) {
    case ChunkKind::forward: return one("F", chunk.micro_batch, chunk.stage);
    case ChunkKind::backward_input: return one("Bi", chunk.micro_batch, chunk.stage);
    case ChunkKind::backward_weight: return one("W", chunk.micro_batch, chunk.stage);
    case ChunkKind::backward: return one("B", chunk.micro_batch, chunk.stage);
    case ChunkKind::forward_backward:
      return one("F", chunk.micro_batch, chunk.stage) + "&" +
             one("B", chunk.paired_micro_batch, chunk.paired_stage);
  }
  return "?";
}

namespace detail {

void require(bool ok, std::string_view schedule_name, const std::string& what) {
  if (!ok) throw std::invalid_argument("schedule '" + std::string(schedule_name) + "': " + what);
}

void require_positive(std::string_view schedule_name, int pp_devices, int micro_batches) {
  require(pp_devices >= 1, schedule_name, "needs at least 1 pipeline device; got pp = " + std::to_string(pp_devices));
  require(micro_batches >= 1, schedule_name,
          "needs at least 1 micro-batch; got " + std::to_string(micro_batches));
}

PipelineProgram empty_program(std::string_view schedule_name, int devices, int stages, int micro_batches) {
  PipelineProgram program;
  program.schedule = std::string(schedule_name);
  program.devices = devices;
  program.stages = stages;
  program.micro_batches = micro_batches;
  program.device_of_stage.assign(static_cast<std::size_t>(stages), 0);
  program.direction_of_micro_batch.assign(static_cast<std::size_t>(micro_batches), 0);
  program.per_device.resize(static_cast<std::size_t>(devices));
  return program;
}

}  // namespace detail
}  // namespace fleetsim::schedule
