#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>

#include "analytic/training_estimate.hpp"
#include "cost/expert_load.hpp"
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

// Bytes a forward op keeps in HBM until its backward runs (the tensors autograd would save), by kind:
// - a GEMM keeps its activation input for the weight gradient, at the GEMM's input precision (DeepSeek-V3 caches
//   these in FP8, V3 §3.3.3); under FP8 training the SwiGLU output is recomputed from its cached input (V3 §3.3.3),
//   so the down projections keep nothing;
//   under BF16 the output projection's input is the attention core's output, which the core already keeps (one
//   tensor, counted once; under FP8 the projection keeps its own FP8 copy);
// - the attention core keeps its output and softmax statistics (never the score matrix: the FlashAttention
//   backward recomputes it), plus Q, K and V (the GPU's own tokens; K and V per KV head) unless they come back from
//   MLA's recomputed up-projections (selective); GQA and MHA have no up-projection to recompute, so they keep them;
// - an RMSNorm keeps its input unless it is recomputed; the FFN activation (SwiGLU, GeLU, ...) keeps its input
//   (FP8 under FP8 training);
// - the router keeps its scores;
// - the combine keeps only the routing weights: the gradient of a routing weight p_i is <g_i, y_i> with
//   y_i = W_down s_i, which equals <W_down^T g_i, s_i> and is formed from the down projection's backward, so the
//   expert outputs need not be kept;
// - residual adds, RoPE, permutes and all-to-alls keep nothing of their own.
// With tensor parallelism, sequence parallelism (Korthikanti et al. 2022) keeps a column-parallel GEMM's input,
// the full hidden-wide activation, as a 1/tp shard and all-gathers it again for the weight gradient.
double sequence_parallel_shards(const Op& op, const TrainingJob& job, std::int64_t hidden) {
  const bool column_parallel_input = op.kind == OpKind::gemm && op.gemm.k == hidden;
  return column_parallel_input ? static_cast<double>(job.parallelism.tp) : 1.0;
}

double saved_activation_bytes(const Op& op, const TrainingJob& job, std::int64_t hidden) {
  if (op.phase != Phase::forward || !op.model_flops) return 0.0;
  if (op.recomputed_in_full) return 0.0;  // its layer keeps only its input (counted per layer by the caller)
  const bool selective = job.recompute == Recompute::selective;
  const SelectiveRecompute& modules = job.selective_recompute;
  // Recomputed norms and MLA up-projections keep nothing; a recomputed attention core or experts' activation still
  // keeps its inputs, which its recomputation reads (below).
  if (selective && recomputed_in_selective_mode(op, modules) && op.kind != OpKind::attention && !ffn_activation_of(op))
    return 0.0;
  const bool fp8 = job.precision == Precision::fp8;
  const bool is_down_projection = op.name.find("down.") != std::string::npos && op.block != "mla";
  // moe_act: the routed experts' down projection gets its input from the recomputed activation.
  const bool input_recomputed = selective && modules.moe_act && op.name.find(".experts_down.") != std::string::npos;
  const bool is_attention_output_projection =
      (op.block == "mla" || op.block == "gqa") && op.name.find(".o_proj.") != std::string::npos;
  switch (op.kind) {
    case OpKind::gemm:
    case OpKind::grouped_gemm:
      if ((fp8 && is_down_projection) || input_recomputed) return 0.0;
      if (!fp8 && is_attention_output_projection) return 0.0;
      return static_cast<double>(op.gemm.m * op.gemm.groups) * static_cast<double>(op.gemm.k) *
             (op.dtype == DataType::fp8 ? 1.0 : 2.0) / sequence_parallel_shards(op, job, hidden);
    case OpKind::attention: {
      const auto& a = op.attention;
      const double rows = static_cast<double>(a.batch * a.q_len * a.heads);
      // core_attn recomputation drops the softmax statistics; the output stays, as the output projection's input.
      const double stats = selective && modules.core_attn ? 0.0 : rows * 4.0;
      const double output_and_stats = rows * static_cast<double>(a.v_head_dim) * 2.0 + stats;
      if (selective && modules.mla_up_proj && op.block == "mla") return output_and_stats;
      // K and V of the GPU's own q_len tokens (under context parallelism the others' pass by and are not kept).
      const double kv_rows = static_cast<double>(a.batch * a.q_len * a.kv_heads);
      return output_and_stats + rows * static_cast<double>(a.qk_head_dim) * 2.0 +
             kv_rows * static_cast<double>(a.qk_head_dim + a.v_head_dim) * 2.0;
    }
    case OpKind::norm: return op.bytes_written;
    case OpKind::elementwise:
      // The activation keeps its input (the gate and up halves when gated), in FP8 under FP8 training.
      return ffn_activation_of(op) ? op.bytes_read / 2.0 * (fp8 ? 1.0 : 2.0) : 0.0;
    case OpKind::router: return op.bytes_written;
    default: return 0.0;
  }
}

}  // namespace

namespace {

// The stages cost_stages costs: training.stage_layers, or the balance over the schedule's devices.
std::vector<StageSlice> stage_slices(const Scenario& scenario) {
  const auto& job = *scenario.training;
  const PipelineSchedule schedule = schedule_of(job);
  const std::int64_t stage_count = job.parallelism.pp * schedule.stage_multiplier;
  // The scenario parser counts the chunks of a given split by the same rule as the schedule registry.
  if (!job.stage_layers.empty() && std::ssize(job.stage_layers) != stage_count)
    throw std::logic_error("cost_stages: training.stage_layers has " + std::to_string(job.stage_layers.size()) +
                           " chunks, the schedule " + std::to_string(stage_count));
  // Balanced over the pipeline devices as the schedule places the stages on them, weighed at the job's context.
  return job.stage_layers.empty() ? split_into_stages(scenario.model, stage_count, job.seq_len,
                                                      device_stage_lists(schedule, job.parallelism.pp))
                                  : stages_of_split(scenario.model, job.stage_layers);
}

}  // namespace

std::vector<StageCost> cost_stages(const Scenario& scenario, const KernelCostModel& kernels, const CommModel& comm,
                                   CostSourceCounts& sources, const OpCostVisitor& visit) {
  return cost_slices(scenario, stage_slices(scenario), kernels, comm, sources, visit);
}

std::vector<StageCost> cost_slices(const Scenario& scenario, const std::vector<StageSlice>& slices,
                                   const KernelCostModel& kernels, const CommModel& comm, CostSourceCounts& sources,
                                   const OpCostVisitor& visit) {
  const auto& job = *scenario.training;
  MicroBatchWork work;
  work.sequences = job.micro_batch;
  work.seq_len = job.seq_len;
  work.precision = job.precision;
  work.parallelism = job.parallelism;
  work.recompute = job.recompute;
  work.selective_recompute = job.selective_recompute;
  work.recompute_layers = job.recompute_layers;
  work.deferred_weight_gradients = job.deferred_weight_gradients;
  work.moe_dispatcher = job.moe_dispatcher;
  work.embedding_gradient = job.embedding_gradient;
  work.tp_comm_overlap = job.tp_comm_overlap;
  work.cp_all_gather = job.cp_comm_type == TrainingJob::CpCommType::all_gather;

  const double gemm_stretch = gemm_sm_stretch(scenario);
  const double routed_load = busiest_gpu_expert_load(scenario);
  std::vector<StageCost> stages;
  for (const auto& slice : slices) {
    StageCost stage;
    stage.slice = slice;
    const OpGraph graph = build_training_graph(scenario.model, slice, work);
    std::set<int> recomputed_groups;  // one per layer: the layer (full) or one block of it (selective)
    for (auto vertex : boost::make_iterator_range(boost::vertices(graph))) {
      const Op& op = graph[vertex];
      if (op.recomputed_in_full) recomputed_groups.insert(op.layer);
      if (op.kind == OpKind::all_to_all) {
        OpCost cost{comm.moe_all_to_all_seconds(op), CostSource::comm_model};
        sources.add(cost);
        if (visit) visit(stages.size(), op, cost);
        (op.phase == Phase::forward ? stage.forward_comm_s : stage.backward_comm_s) += cost.seconds;
        continue;
      }
      // Tensor-parallel collectives run as NCCL kernels on the compute stream: they count as the chunk's compute.
      OpCost cost = op.kind == OpKind::tensor_parallel
                        ? OpCost{op.overlapped ? 0.0 : comm.tensor_parallel_seconds(op), CostSource::comm_model}
                        : kernels.compute_op(op);
      // Ring attention: each block's transfer overlaps the previous block's attention; the slower one sets the pace.
      // All-gather context parallelism waits for its K/V before the attention (and its gradients after).
      if (op.kind == OpKind::attention && op.comm_bytes > 0) {
        const double exchange = comm.context_parallel_seconds(op);
        cost.seconds = op.overlapped ? std::max(cost.seconds, exchange) : cost.seconds + exchange;
      }
      // A GEMM's own kernel runs on training.gemm_sms SMs; its FP8 casts, like every other kernel, on all of them.
      double gemm_s = 0;
      if (op.kind == OpKind::grouped_gemm || op.kind == OpKind::gemm) {
        gemm_s = (cost.seconds - cost.cast_seconds) * gemm_stretch;
        cost.seconds = gemm_s + cost.cast_seconds;
      }
      if (visit) visit(stages.size(), op, cost);  // the kernel at the mean load, as a profile times it
      if (works_on_routed_copies(op)) {
        cost.seconds *= routed_load;
        gemm_s *= routed_load;
      }
      sources.add(cost);
      switch (op.phase) {
        case Phase::forward:
          stage.forward_compute_s += cost.seconds;
          stage.forward_gemm_s += gemm_s;
          break;
        case Phase::backward_input:
          stage.backward_input_compute_s += cost.seconds;
          stage.backward_input_gemm_s += gemm_s;
          break;
        case Phase::backward_weight:
          stage.backward_weight_compute_s += cost.seconds;
          stage.backward_weight_gemm_s += gemm_s;
          break;
      }
      if (op.model_flops) stage.model_flops += op.flops;
      stage.activation_bytes += saved_activation_bytes(op, job, scenario.model.hidden);
      // Parameters are the weight-gradient GEMMs' outputs: dW[K x N] (per expert group).
      if (op.weight_gradient && op.kind == OpKind::gemm)
        stage.dense_params += static_cast<double>(op.gemm.m) * static_cast<double>(op.gemm.n);
      if (op.weight_gradient && op.kind == OpKind::grouped_gemm)
        stage.expert_params +=
            static_cast<double>(op.gemm.m) * static_cast<double>(op.gemm.n) * static_cast<double>(op.gemm.groups);
    }
    stage.boundary_bytes = static_cast<double>(job.micro_batch * job.seq_len / job.parallelism.cp) *
                           static_cast<double>(scenario.model.hidden) * kActivationBytesPerElement /
                           static_cast<double>(job.parallelism.tp);
    if (slice.has_embedding)
      stage.dense_params += static_cast<double>(scenario.model.vocab * scenario.model.hidden) /
                            static_cast<double>(job.parallelism.tp);
    // Under full recomputation a layer keeps only its input, this GPU's share of the tokens: seq_len / cp of each
    // sequence, sharded again over tp by sequence parallelism (the embedding, the head and the layers
    // training.recompute_layers leaves out keep what they keep without recomputation). A block recomputed under
    // selective recomputation reads the output of the norm before it, which the norm keeps, or, when the norms are
    // recomputed too, runs again first (Megatron frees a recomputed norm's output and rebuilds it for every reader):
    // nothing more to keep.
    if (job.recompute == Recompute::full) {
      const double input_bytes = static_cast<double>(job.micro_batch * job.seq_len) /
                                 static_cast<double>(job.parallelism.cp * job.parallelism.tp) *
                                 static_cast<double>(scenario.model.hidden) * kActivationBytesPerElement;
      stage.activation_bytes += input_bytes * static_cast<double>(recomputed_groups.size());
    }
    stages.push_back(stage);
  }
  return stages;
}

double busiest_gpu_expert_load(const Scenario& scenario) {
  const double skew = 1.0 + scenario.engine.expert_skew;
  if (scenario.model.kind != ModelKind::moe || !scenario.engine.routing_fluctuation) return skew;
  const auto& job = *scenario.training;
  const auto& plan = job.parallelism;
  const auto& moe = scenario.model.moe;
  RoutingShape shape;
  shape.experts = moe.routed_experts;
  shape.top_k = moe.top_k;
  shape.groups = moe.groups;
  shape.groups_per_token = moe.groups_per_token;
  shape.gpus = plan.ep;
  // Every GPU of the EP group routes its own tokens: its sequences' seq_len / cp, sharded over tp (GraphBuilder).
  shape.tokens = static_cast<double>(plan.ep) * static_cast<double>(job.micro_batch) *
                 static_cast<double>(job.seq_len / plan.cp) / static_cast<double>(plan.tp);
  return skew * busiest_gpu_load_ratio(shape);
}

bool overlaps_expert_communication(const Scenario& scenario) {
  const auto& job = *scenario.training;
  return (find_schedule(job.schedule).overlaps_expert_communication || job.overlap_moe_all_to_all) &&
         job.parallelism.ep > 1;
}

bool shards_parameters(const Scenario& scenario) {
  const auto& plan = scenario.training->parallelism;
  return plan.zero >= 3 && data_parallel_ranks(plan, false) > 1;
}

double sharded_parameter_traffic_s(const schedule::Chunk& chunk, const std::vector<UpdateCost>& stage_update) {
  using schedule::ChunkKind;
  const UpdateCost& own = stage_update.at(static_cast<std::size_t>(chunk.stage));
  switch (chunk.kind) {
    case ChunkKind::forward:
    case ChunkKind::backward_input: return own.all_gather_s;
    case ChunkKind::backward_weight: return own.reduce_scatter_s;
    case ChunkKind::backward: return own.all_gather_s + own.reduce_scatter_s;
    case ChunkKind::forward_backward: {
      const UpdateCost& paired = stage_update.at(static_cast<std::size_t>(chunk.paired_stage));
      return own.all_gather_s + paired.all_gather_s + paired.reduce_scatter_s;
    }
  }
  return 0;
}

double sharded_unhidden_s(double compute_s, double traffic_s, std::int64_t layers) {
  return std::min(compute_s, traffic_s) / static_cast<double>(std::max<std::int64_t>(1, layers));
}

double sharded_chunk_wait_s(double compute_s, double traffic_s, std::int64_t layers, bool prefetch) {
  if (traffic_s <= 0) return 0.0;
  if (!prefetch) return traffic_s;
  return std::max(compute_s, traffic_s) + sharded_unhidden_s(compute_s, traffic_s, layers) - compute_s;
}

std::int64_t sharded_units(const StageCost& stage) {
  return std::max<std::int64_t>(1, stage.slice.last_layer - stage.slice.first_layer);
}

namespace {

// The SMs compute keeps while DeepEP's all-to-all overlaps it (it holds kCommunicationSms); all of them where the
// schedule overlaps nothing.
std::int64_t sms_beside_communication(const Scenario& scenario) {
  const auto sms = scenario.cluster.gpu.sm_count;
  return overlaps_expert_communication(scenario) && sms > kCommunicationSms ? sms - kCommunicationSms : sms;
}

}  // namespace

std::int64_t gemm_sm_count(const Scenario& scenario) {
  const auto sms = scenario.cluster.gpu.sm_count;
  const auto gemm_sms = scenario.training->gemm_sms;
  if (gemm_sms == TrainingJob::kGemmSmsFree) return sms_beside_communication(scenario);
  return gemm_sms > 0 ? std::min(gemm_sms, sms) : sms;
}

double gemm_sm_stretch(const Scenario& scenario) {
  // A GEMM's time scales with the SMs it is launched on: its tiles are spread over them, each SM's tensor cores
  // working alone (DeepGEMM's persistent kernels, one CTA per SM).
  return static_cast<double>(scenario.cluster.gpu.sm_count) / static_cast<double>(gemm_sm_count(scenario));
}

ComputeStretch overlapped_compute_stretch(const Scenario& scenario) {
  const auto sms = scenario.cluster.gpu.sm_count;
  const auto free_sms = sms_beside_communication(scenario);
  if (free_sms == sms) return {};
  const double free = static_cast<double>(free_sms);
  return {static_cast<double>(sms) / free, std::max(1.0, static_cast<double>(gemm_sm_count(scenario)) / free)};
}

UpdateCost parameter_update_cost(const Scenario& scenario, const DeviceLoad& device, const KernelCostModel& kernels,
                                 const CommModel& comm) {
  const auto& plan = scenario.training->parallelism;
  UpdateCost cost;
  // ZeRO >= 1: reduce-scatter FP32 gradients, all-gather BF16 parameters. ZeRO 0: an all-reduce of FP32 gradients
  // (= reduce-scatter + all-gather of the same bytes).
  const double gather_bytes = plan.zero >= 1 ? kParameterCommBytesPerParam : kGradientCommBytesPerParam;
  cost.reduce_scatter_s =
      comm.data_parallel_reduce_scatter_seconds(device.dense_params * kGradientCommBytesPerParam, false) +
      comm.data_parallel_reduce_scatter_seconds(device.expert_params * kGradientCommBytesPerParam, true);
  cost.all_gather_s = comm.data_parallel_all_gather_seconds(device.dense_params * gather_bytes, false) +
                      comm.data_parallel_all_gather_seconds(device.expert_params * gather_bytes, true);
  // AdamW on the local shard, bound by HBM bandwidth.
  const double shard =
      device.dense_params / static_cast<double>(plan.zero >= 1 ? data_parallel_ranks(plan, false) : 1) +
      device.expert_params / static_cast<double>(plan.zero >= 1 ? data_parallel_ranks(plan, true) : 1);
  cost.optimizer_s = shard > 0 ? shard * kOptimizerBytesPerParam /
                                      (kernels.target().hbm_bandwidth_bytes_per_s * roofline::kMemoryEfficiency)
                                : 0.0;
  return cost;
}

UpdateCost stage_update_cost(const Scenario& scenario, const StageCost& stage, const KernelCostModel& kernels,
                             const CommModel& comm) {
  DeviceLoad alone;
  alone.dense_params = stage.dense_params;
  alone.expert_params = stage.expert_params;
  return parameter_update_cost(scenario, alone, kernels, comm);
}

std::vector<DeviceLoad> device_loads(const PipelineSchedule& schedule, const std::vector<StageCost>& stages,
                                     std::int64_t pp) {
  std::vector<DeviceLoad> devices(static_cast<std::size_t>(pp));
  const double share = 1.0 / static_cast<double>(schedule.stages_per_device);
  for (std::int64_t d = 0; d < pp; ++d) {
    DeviceLoad& device = devices[static_cast<std::size_t>(d)];
    for (std::int64_t slot = 0; slot < schedule.stages_per_device; ++slot) {
      const std::int64_t index = schedule.stage_of(d, slot, pp);
      const StageCost& stage = stages.at(static_cast<std::size_t>(index));
      device.stages.push_back(index);
      device.forward_compute_s += share * stage.forward_compute_s;
      device.backward_input_compute_s += share * stage.backward_input_compute_s;
      device.backward_weight_compute_s += share * stage.backward_weight_compute_s;
      device.forward_comm_s += share * stage.forward_comm_s;
      device.backward_comm_s += share * stage.backward_comm_s;
      device.forward_gemm_s += share * stage.forward_gemm_s;
      device.backward_input_gemm_s += share * stage.backward_input_gemm_s;
      device.backward_weight_gemm_s += share * stage.backward_weight_gemm_s;
      device.dense_params += stage.dense_params;
      device.expert_params += stage.expert_params;
      device.activation_chunk_bytes = std::max(device.activation_chunk_bytes, stage.activation_bytes);
    }
  }
  return devices;
}

void add_chunk_time(PhaseTotals& phases, schedule::ChunkKind kind, double seconds) {
  switch (kind) {
    case schedule::ChunkKind::forward: phases.forward_s += seconds; break;
    case schedule::ChunkKind::backward_input:
    case schedule::ChunkKind::backward: phases.backward_input_s += seconds; break;
    case schedule::ChunkKind::backward_weight: phases.backward_weight_s += seconds; break;
    case schedule::ChunkKind::forward_backward: phases.overlapped_s += seconds; break;
  }
}

StepBreakdown estimate_step(const Scenario& scenario, const std::vector<StageCost>& stages,
                            const KernelCostModel& kernels, const CommModel& comm, std::int64_t global_batch) {
  const auto& job = *scenario.training;
  const auto& plan = job.parallelism;
  const PipelineSchedule schedule = schedule_of(job);
  StepBreakdown step;
  step.micro_batches = global_batch / (plan.dp * job.micro_batch);
  const double micro_batches = static_cast<double>(step.micro_batches);
  const double visits = static_cast<double>(schedule.visits_per_micro_batch);

  const bool overlap = overlaps_expert_communication(scenario);
  const ComputeStretch stretch = overlapped_compute_stretch(scenario);

  // The slowest device sets the pace of the whole pipeline: overlapped communication costs only what outlasts
  // the compute beside it, otherwise it adds to it.
  const auto devices = device_loads(schedule, stages, plan.pp);
  auto chunk_time = [&](const DeviceLoad& device) {
    const double compute =
        stretch.apply(device.forward_compute_s + device.backward_input_compute_s + device.backward_weight_compute_s,
                      device.forward_gemm_s + device.backward_input_gemm_s + device.backward_weight_gemm_s);
    const double communication = device.forward_comm_s + device.backward_comm_s;
    return overlap ? std::max(compute, communication) : compute + communication;
  };
  // ZeRO-3: per micro-batch and visit, what a device's forward and backward chunks wait for their stages'
  // parameter all-gathers and gradient reduce-scatters beyond their compute (sharded_chunk_wait_s): {forward,
  // backward}.
  const bool sharded = shards_parameters(scenario);
  // Each stage's own collectives, for ZeRO-3's per-chunk traffic and for dp_comm_overlap's per-stage timing.
  std::vector<UpdateCost> stage_updates;
  if (sharded || job.dp_comm_overlap)
    for (const auto& stage : stages) stage_updates.push_back(stage_update_cost(scenario, stage, kernels, comm));
  auto sharded_wait = [&](const DeviceLoad& device) -> std::pair<double, double> {
    if (!sharded) return {0.0, 0.0};
    const double share = 1.0 / static_cast<double>(schedule.stages_per_device);
    double gather = 0, reduce = 0;
    for (const std::int64_t index : device.stages) {
      gather += share * stage_updates.at(static_cast<std::size_t>(index)).all_gather_s;
      reduce += share * stage_updates.at(static_cast<std::size_t>(index)).reduce_scatter_s;
    }
    const std::int64_t units = sharded_units(stages.at(static_cast<std::size_t>(device.stages.front())));
    const double forward = stretch.apply(device.forward_compute_s, device.forward_gemm_s);
    const double backward = stretch.apply(device.backward_input_compute_s + device.backward_weight_compute_s,
                                          device.backward_input_gemm_s + device.backward_weight_gemm_s);
    return {sharded_chunk_wait_s(forward, gather, units, job.dp_comm_overlap),
            sharded_chunk_wait_s(backward, gather + reduce, units, job.dp_comm_overlap)};
  };
  auto paced_time = [&](const DeviceLoad& device) {
    const auto [forward, backward] = sharded_wait(device);
    return chunk_time(device) + forward + backward;
  };
  const DeviceLoad* slowest = &devices.front();
  for (const auto& device : devices)
    if (paced_time(device) > paced_time(*slowest)) slowest = &device;
  const auto [sharded_forward_wait, sharded_backward_wait] = sharded_wait(*slowest);

  step.forward_chunk_s = stretch.apply(slowest->forward_compute_s, slowest->forward_gemm_s);
  step.backward_input_chunk_s = stretch.apply(slowest->backward_input_compute_s, slowest->backward_input_gemm_s);
  step.backward_weight_chunk_s = stretch.apply(slowest->backward_weight_compute_s, slowest->backward_weight_gemm_s);
  const double chunk_compute = step.forward_chunk_s + step.backward_input_chunk_s + step.backward_weight_chunk_s;
  const double chunk_comm = slowest->forward_comm_s + slowest->backward_comm_s;

  ChunkTimes times;
  double exposed_per_chunk = 0;
  if (overlap) {
    // A forward chunk of one micro-batch and a backward chunk of another share the GPU: compute serialises, the
    // two directions' all-to-all run beside it; whatever communication outlasts the compute is exposed. Where only
    // the steady state is paired (TrainingJob::overlap_moe_all_to_all on 1F1B-family schedules), the fill and
    // drain chunks the bubble formula counts run alone, their all-to-all on their critical path.
    const bool fill_alone = !find_schedule(job.schedule).overlaps_expert_communication;
    times = {step.forward_chunk_s + (fill_alone ? slowest->forward_comm_s : 0.0),
             step.backward_input_chunk_s + (fill_alone ? slowest->backward_comm_s : 0.0),
             step.backward_weight_chunk_s, std::max(chunk_compute, chunk_comm)};
    exposed_per_chunk = std::max(0.0, chunk_comm - chunk_compute);
  } else {
    // Without overlap every all-to-all sits on the critical path of its chunk.
    times = {step.forward_chunk_s + slowest->forward_comm_s, step.backward_input_chunk_s + slowest->backward_comm_s,
             step.backward_weight_chunk_s, 0.0};
    times.overlapped_forward_backward = times.forward + times.backward_input + times.backward_weight;
    exposed_per_chunk = chunk_comm;
  }
  // ZeRO-3's waits lengthen the chunks they belong to (and so the fill and drain the bubble formula counts).
  times.forward += sharded_forward_wait;
  times.backward_input += sharded_backward_wait;
  times.overlapped_forward_backward += sharded_forward_wait + sharded_backward_wait;
  step.overlapped_chunk_s = times.overlapped_forward_backward;
  step.steady_s = micro_batches * visits * chunk_compute;
  step.bubble_s = plan.pp > 1 ? schedule.bubble_seconds(times, plan.pp) : 0.0;
  step.exposed_communication_s = micro_batches * visits * exposed_per_chunk;

  // Stage-to-stage activations on the fill and drain path (steady-state transfers overlap compute).
  if (plan.pp > 1)
    step.exposed_communication_s +=
        2.0 * static_cast<double>(plan.pp - 1) * comm.p2p_seconds(stages.front().boundary_bytes);

  // The GPU that finishes a step last is the first pipeline device: its gradients are complete only at the very
  // end and its first chunk of the next step needs the gathered parameters, so nothing hides its reduce-scatter
  // and all-gather (the event-driven engine shows the same on its timeline), unless the job overlaps them
  // (dp_comm_overlap).
  UpdateCost update;
  for (const auto& device : devices) {
    UpdateCost cost = parameter_update_cost(scenario, device, kernels, comm);
    if (sharded) {
      cost.reduce_scatter_s = cost.all_gather_s = 0;  // chunk by chunk instead (above)
    } else if (job.dp_comm_overlap) {
      // Each stage's reduce-scatter starts with its last backward chunk, so only what outlasts that chunk shows;
      // the all-gathers run under the first chunks, and only the first stage's holds the device back.
      cost.reduce_scatter_s = 0;
      for (const std::int64_t index : device.stages) {
        const StageCost& stage = stages.at(static_cast<std::size_t>(index));
        const double backward = stretch.apply(stage.backward_input_compute_s + stage.backward_weight_compute_s,
                                              stage.backward_input_gemm_s + stage.backward_weight_gemm_s);
        cost.reduce_scatter_s = std::max(
            cost.reduce_scatter_s, stage_updates.at(static_cast<std::size_t>(index)).reduce_scatter_s - backward);
      }
      cost.all_gather_s = stage_updates.at(static_cast<std::size_t>(device.stages.front())).all_gather_s;
    }
    update.reduce_scatter_s = std::max(update.reduce_scatter_s, cost.reduce_scatter_s);
    update.all_gather_s = std::max(update.all_gather_s, cost.all_gather_s);
    update.optimizer_s = std::max(update.optimizer_s, cost.optimizer_s);
  }
  step.data_parallel_s = update.reduce_scatter_s + update.all_gather_s +
                         micro_batches * visits * (sharded_forward_wait + sharded_backward_wait);
  step.optimizer_s = update.optimizer_s;

  step.step_s = step.steady_s + step.bubble_s + step.exposed_communication_s + step.data_parallel_s +
                step.optimizer_s;

  // Phase totals on the slowest device: the stand-alone duration of each chunk of its program (its stage's compute
  // on all SMs plus its all-to-all) or, for F&B, the overlapped one, summed by kind. The bubble is the formula's;
  // the event-driven engine reads all of them off its timeline instead, waits included.
  PhaseTotals& phases = step.phases;
  phases.device = static_cast<int>(slowest - devices.data());
  phases.bubble_s = step.bubble_s;
  phases.update_s = update.reduce_scatter_s + update.all_gather_s + step.optimizer_s;
  // ZeRO-3: what a chunk of `duration` (compute and all-to-all) waits for its gathers and reduce-scatters
  // (sharded_chunk_wait_s); part of the chunk's wall time, as on the engine's timeline.
  auto sharded_chunk_wait = [&](const schedule::Chunk& chunk, double duration) {
    if (!sharded) return 0.0;
    return sharded_chunk_wait_s(duration, sharded_parameter_traffic_s(chunk, stage_updates),
                                sharded_units(stages.at(static_cast<std::size_t>(chunk.stage))), job.dp_comm_overlap);
  };
  if (step.micro_batches <= std::numeric_limits<int>::max()) {
    try {
      const auto program = training_program(job, step.micro_batches);
      for (std::size_t d = 0; d < program.per_device.size(); ++d) {
        PhaseTotals totals;
        totals.device = static_cast<int>(d);
        for (const auto& chunk : program.per_device[d]) {
          const StageCost& stage = stages.at(static_cast<std::size_t>(chunk.stage));
          double seconds = 0;
          switch (chunk.kind) {
            case schedule::ChunkKind::forward: seconds = stage.forward_compute_s + stage.forward_comm_s; break;
            case schedule::ChunkKind::backward_input:
              seconds = stage.backward_input_compute_s + stage.backward_comm_s;
              break;
            case schedule::ChunkKind::backward:
              seconds = stage.backward_input_compute_s + stage.backward_weight_compute_s + stage.backward_comm_s;
              break;
            case schedule::ChunkKind::backward_weight: seconds = stage.backward_weight_compute_s; break;
            case schedule::ChunkKind::forward_backward: {
              const StageCost& paired = stages.at(static_cast<std::size_t>(chunk.paired_stage));
              const double compute = stretch.apply(
                  stage.forward_compute_s + paired.backward_input_compute_s + paired.backward_weight_compute_s,
                  stage.forward_gemm_s + paired.backward_input_gemm_s + paired.backward_weight_gemm_s);
              const double communication = stage.forward_comm_s + paired.backward_comm_s;
              seconds = overlap ? std::max(compute, communication) : compute + communication;
              break;
            }
          }
          seconds += sharded_chunk_wait(chunk, seconds);
          add_chunk_time(totals, chunk.kind, seconds);
        }
        // The update as on the slowest device; what is left of the step is this device's bubble.
        totals.update_s = phases.update_s;
        totals.bubble_s = std::max(0.0, step.step_s - totals.forward_s - totals.backward_input_s -
                                            totals.backward_weight_s - totals.overlapped_s - totals.update_s);
        step.device_phases.push_back(totals);
      }
      const PhaseTotals& slowest_totals = step.device_phases.at(static_cast<std::size_t>(phases.device));
      phases.forward_s = slowest_totals.forward_s;
      phases.backward_input_s = slowest_totals.backward_input_s;
      phases.backward_weight_s = slowest_totals.backward_weight_s;
      phases.overlapped_s = slowest_totals.overlapped_s;
    } catch (const std::invalid_argument&) {
      // A batch the schedule cannot run as a program (e.g. DualPipe below 2 x pp micro-batches): totals only.
      step.device_phases.clear();
    }
  }
  step.compute_busy_s = step.steady_s + step.optimizer_s;
  return step;
}

}  // namespace fleetsim
