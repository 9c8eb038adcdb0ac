#include <algorithm>
#include <cmath>

#include "analytic/training_estimate.hpp"
#include "cost/roofline.hpp"

namespace fleetsim {
namespace {

// AdamW over one parameter of the local ZeRO shard, in HBM bytes: read FP32 master (4), FP32 gradient (4), BF16
// first and second moments (2 + 2); write master (4), moments (2 + 2) and the BF16 working weight (2); plus one
// more read of the gradient for the global-norm clip (4). Precisions from V3 §3.3.
constexpr double kOptimizerBytesPerParam = 4 + 4 + 2 + 2 + 4 + 2 + 2 + 2 + 4;
// Gradients are reduce-scattered in FP32 (V3 §3.3 keeps weight gradients in FP32); updated parameters are
// all-gathered in BF16.
constexpr double kGradientCommBytesPerParam = 4;
constexpr double kParameterCommBytesPerParam = 2;
// Pipeline activations between stages travel in BF16.
constexpr double kActivationBytesPerElement = 2;

bool is_layer_boundary_op(const Op& op) { return op.phase == Phase::forward && op.model_flops; }

}  // namespace

std::vector<StageCost> cost_stages(const Scenario& scenario, const KernelCostModel& kernels, const CommModel& comm,
                                   CostSourceCounts& sources) {
  const auto& job = *scenario.training;
  const auto& schedule = find_schedule(job.schedule);
  const std::int64_t stage_count = job.parallelism.pp * schedule.chunks_per_device;
  MicroBatchWork work;
  work.sequences = job.micro_batch;
  work.seq_len = job.seq_len;
  work.precision = job.precision;
  work.parallelism = job.parallelism;
  work.recompute = job.recompute;

  std::vector<StageCost> stages;
  for (const auto& slice : split_into_stages(scenario.model, stage_count)) {
    StageCost stage;
    stage.slice = slice;
    const OpGraph graph = build_training_graph(scenario.model, slice, work);
    for (auto vertex : boost::make_iterator_range(boost::vertices(graph))) {
      const Op& op = graph[vertex];
      if (op.kind == OpKind::all_to_all) {
        OpCost cost{comm.moe_all_to_all_seconds(op), CostSource::comm_model};
        sources.add(cost);
        (op.phase == Phase::forward ? stage.forward_comm_s : stage.backward_comm_s) += cost.seconds;
        continue;
      }
      OpCost cost = kernels.compute_op(op);
      sources.add(cost);
      switch (op.phase) {
        case Phase::forward: stage.forward_compute_s += cost.seconds; break;
        case Phase::backward_input: stage.backward_input_compute_s += cost.seconds; break;
        case Phase::backward_weight: stage.backward_weight_compute_s += cost.seconds; break;
      }
      if (op.model_flops) stage.model_flops += op.flops;
      if (is_layer_boundary_op(op)) stage.activation_bytes += op.bytes_written;
      // Parameters are the weight-gradient GEMMs' outputs: dW[K x N] (per expert group).
      if (op.phase == Phase::backward_weight && op.kind == OpKind::gemm)
        stage.dense_params += static_cast<double>(op.gemm.m) * static_cast<double>(op.gemm.n);
      if (op.phase == Phase::backward_weight && op.kind == OpKind::grouped_gemm)
        stage.expert_params +=
            static_cast<double>(op.gemm.m) * static_cast<double>(op.gemm.n) * static_cast<double>(op.gemm.groups);
    }
    if (slice.has_embedding)
      stage.dense_params += static_cast<double>(scenario.model.vocab * scenario.model.hidden) /
                            static_cast<double>(job.parallelism.tp);
    if (job.recompute == Recompute::full) {
      // Only each layer's input is kept; the rest is recomputed in the backward pass.
      double tokens = static_cast<double>(job.micro_batch * job.seq_len);
      stage.activation_bytes = tokens * static_cast<double>(scenario.model.hidden) * kActivationBytesPerElement *
                               static_cast<double>(slice.last_layer - slice.first_layer + 1);
    }
    stages.push_back(stage);
  }
  return stages;
}

StepBreakdown estimate_step(const Scenario& scenario, const std::vector<StageCost>& stages,
                            const KernelCostModel& kernels, const CommModel& comm, std::int64_t global_batch) {
  const auto& job = *scenario.training;
  const auto& plan = job.parallelism;
  const auto& schedule = find_schedule(job.schedule);
  const auto& gpu = scenario.cluster.gpu;
  StepBreakdown step;
  step.micro_batches = global_batch / (plan.dp * job.micro_batch);
  const double micro_batches = static_cast<double>(step.micro_batches);
  const double chunks = static_cast<double>(schedule.chunks_per_device);

  // The slowest stage chunk sets the pace of the whole pipeline.
  const StageCost* slowest = &stages.front();
  for (const auto& stage : stages) {
    double work = stage.forward_compute_s + stage.backward_input_compute_s + stage.backward_weight_compute_s +
                  stage.forward_comm_s + stage.backward_comm_s;
    double slowest_work = slowest->forward_compute_s + slowest->backward_input_compute_s +
                          slowest->backward_weight_compute_s + slowest->forward_comm_s + slowest->backward_comm_s;
    if (work > slowest_work) slowest = &stage;
  }

  // When all-to-all overlaps compute, DeepEP's kernels hold kCommunicationSms SMs and the GEMMs run on the rest.
  const bool overlap = schedule.overlaps_expert_communication && plan.ep > 1;
  double compute_scale = 1.0;
  if (overlap && gpu.sm_count > kCommunicationSms)
    compute_scale = static_cast<double>(gpu.sm_count) / static_cast<double>(gpu.sm_count - kCommunicationSms);

  step.forward_chunk_s = slowest->forward_compute_s * compute_scale;
  step.backward_input_chunk_s = slowest->backward_input_compute_s * compute_scale;
  step.backward_weight_chunk_s = slowest->backward_weight_compute_s * compute_scale;
  const double chunk_compute = step.forward_chunk_s + step.backward_input_chunk_s + step.backward_weight_chunk_s;
  const double chunk_comm = slowest->forward_comm_s + slowest->backward_comm_s;

  ChunkTimes times;
  double exposed_per_chunk = 0;
  if (overlap) {
    // A forward chunk of one micro-batch and a backward chunk of another share the GPU: compute serialises, the
    // two directions' all-to-all run beside it; whatever communication outlasts the compute is exposed.
    times = {step.forward_chunk_s, step.backward_input_chunk_s, step.backward_weight_chunk_s,
             std::max(chunk_compute, chunk_comm)};
    exposed_per_chunk = std::max(0.0, chunk_comm - chunk_compute);
  } else {
    // Without overlap every all-to-all sits on the critical path of its chunk.
    times = {step.forward_chunk_s + slowest->forward_comm_s, step.backward_input_chunk_s + slowest->backward_comm_s,
             step.backward_weight_chunk_s, 0.0};
    times.overlapped_forward_backward = times.forward + times.backward_input + times.backward_weight;
    exposed_per_chunk = chunk_comm;
  }
  step.overlapped_chunk_s = times.overlapped_forward_backward;
  step.steady_s = micro_batches * chunks * chunk_compute;
  step.bubble_s = plan.pp > 1 ? schedule.bubble_seconds(times, plan.pp) : 0.0;
  step.exposed_communication_s = micro_batches * chunks * exposed_per_chunk;

  // Stage-to-stage activations on the fill and drain path (steady-state transfers overlap compute).
  if (plan.pp > 1) {
    double boundary_bytes = static_cast<double>(job.micro_batch * job.seq_len / plan.cp) *
                            static_cast<double>(scenario.model.hidden) * kActivationBytesPerElement /
                            static_cast<double>(plan.tp);
    step.exposed_communication_s += 2.0 * static_cast<double>(plan.pp - 1) * comm.p2p_seconds(boundary_bytes);
  }

  // Data parallelism: dense parameters are replicated over dp x cp ranks, routed experts over dp*tp*cp/ep.
  double dense = 0, experts = 0;
  for (const auto& stage : stages) {
    dense = std::max(dense, stage.dense_params);
    experts = std::max(experts, stage.expert_params);
  }
  const double copies = static_cast<double>(schedule.parameter_copies * schedule.chunks_per_device);
  dense *= copies;
  experts *= copies;
  const std::int64_t dense_ranks = plan.dp * plan.cp;
  const std::int64_t expert_ranks = std::max<std::int64_t>(1, plan.dp * plan.tp * plan.cp / plan.ep);
  const double per_param = plan.zero >= 1 ? kGradientCommBytesPerParam + kParameterCommBytesPerParam
                                          : 2.0 * kGradientCommBytesPerParam;  // all-reduce = RS + AG of FP32
  const double dp_time = comm.ring_shard_collective_seconds(dense * per_param, dense_ranks) +
                         comm.ring_shard_collective_seconds(experts * per_param, expert_ranks);
  // Gradient reduce-scatter overlaps the pipeline drain and the all-gather the next fill: only the excess shows.
  step.data_parallel_s = std::max(0.0, dp_time - step.bubble_s);

  // Optimizer on the local shard.
  const double shard = dense / static_cast<double>(plan.zero >= 1 ? dense_ranks : 1) +
                       experts / static_cast<double>(plan.zero >= 1 ? expert_ranks : 1);
  step.optimizer_s = shard * kOptimizerBytesPerParam /
                     (kernels.target().hbm_bandwidth_bytes_per_s * roofline::kMemoryEfficiency);

  step.step_s = step.steady_s + step.bubble_s + step.exposed_communication_s + step.data_parallel_s +
                step.optimizer_s;
  step.compute_busy_s = step.steady_s + step.optimizer_s;
  return step;
}

}  // namespace fleetsim
