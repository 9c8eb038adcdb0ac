#include <algorithm>
#include <cstdio>

#include "analytic/training_estimate.hpp"
#include "core/units.hpp"

namespace fleetsim {
namespace {

// Bytes per parameter by role, with the precisions of V3 §3.3: BF16 working weights, FP32 gradients, FP32
// master weights with BF16 Adam moments.
constexpr double kWeightBytes = 2;
constexpr double kGradientBytes = 4;
constexpr double kOptimizerBytes = 4 + 2 + 2;
// Held back from HBM for the CUDA context, NCCL/DeepEP buffers and allocator fragmentation. An assumption, not a
// measurement (docs/validation.md lists it): 5% of HBM.
constexpr double kReservedFraction = 0.05;

}  // namespace

std::vector<MemoryBreakdown> device_memory(const Scenario& scenario, const std::vector<StageCost>& stages) {
  const auto& job = *scenario.training;
  const auto& plan = job.parallelism;
  const PipelineSchedule schedule = schedule_of(job);
  MemoryBreakdown common;
  const std::int64_t micro_batches = job.global_batch / (plan.dp * job.micro_batch);
  common.peak_activation_chunks = schedule.peak_activation_chunks(plan.pp, micro_batches, schedule.stages_per_device);
  // Pairing each backward with the forward after it runs one more forward before the first backward.
  if (job.overlap_moe_all_to_all)
    common.peak_activation_chunks =
        std::min(common.peak_activation_chunks + 1, static_cast<double>(micro_batches * schedule.stages_per_device));
  common.capacity_bytes = scenario.cluster.gpu.hbm_bytes;
  common.reserved_bytes = kReservedFraction * common.capacity_bytes;
  // Dense parameters are replicated over dp x cp ranks, routed experts over dp*tp*cp/ep: ZeRO shards over those.
  const double dense_ranks = static_cast<double>(data_parallel_ranks(plan, false));
  const double expert_ranks = static_cast<double>(data_parallel_ranks(plan, true));

  std::vector<MemoryBreakdown> devices;
  for (const auto& device : device_loads(schedule, stages, plan.pp)) {
    MemoryBreakdown memory = common;
    auto bytes = [&](double bytes_per_param, bool shard) {
      return shard ? device.dense_params * bytes_per_param / dense_ranks +
                         device.expert_params * bytes_per_param / expert_ranks
                   : (device.dense_params + device.expert_params) * bytes_per_param;
    };
    memory.weights_bytes = bytes(kWeightBytes, plan.zero >= 3);
    memory.gradients_bytes = bytes(kGradientBytes, plan.zero >= 2);
    memory.optimizer_bytes = bytes(kOptimizerBytes, plan.zero >= 1);
    memory.activations_bytes = device.activation_chunk_bytes * memory.peak_activation_chunks;
    memory.total_bytes = memory.weights_bytes + memory.gradients_bytes + memory.optimizer_bytes +
                         memory.activations_bytes + memory.reserved_bytes;
    devices.push_back(memory);
  }
  return devices;
}

MemoryBreakdown estimate_memory(const Scenario& scenario, const std::vector<StageCost>& stages) {
  // The device with the most bytes in total is the one that must fit (the first of equals).
  const std::vector<MemoryBreakdown> devices = device_memory(scenario, stages);
  MemoryBreakdown fullest = devices.front();
  for (const MemoryBreakdown& device : devices)
    if (device.total_bytes > fullest.total_bytes) fullest = device;
  return fullest;
}

std::string describe_memory(const MemoryBreakdown& memory) {
  char line[512];
  std::snprintf(line, sizeof line,
                "needs %s per GPU but the GPU has %s: weights %s, gradients %s, optimizer states %s, activations %s "
                "(%.0f micro-batch chunks in flight), reserved %s",
                format_bytes(memory.total_bytes).c_str(), format_bytes(memory.capacity_bytes).c_str(),
                format_bytes(memory.weights_bytes).c_str(), format_bytes(memory.gradients_bytes).c_str(),
                format_bytes(memory.optimizer_bytes).c_str(), format_bytes(memory.activations_bytes).c_str(),
                memory.peak_activation_chunks, format_bytes(memory.reserved_bytes).c_str());
  return line;
}

}  // namespace fleetsim
