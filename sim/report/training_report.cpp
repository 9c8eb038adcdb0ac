#include "report/training_report.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

#include "core/units.hpp"
#include "report/json_writer.hpp"

namespace fleetsim {
namespace {

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::fp8: return "fp8";
    case Precision::bf16: return "bf16";
    case Precision::fp16: return "fp16";
  }
  return "bf16";
}

const char* recompute_name(Recompute recompute) {
  switch (recompute) {
    case Recompute::none:
      return "none";
    case Recompute::selective:
      return "selective";
    case Recompute::full:
      return "full";
  }
  return "none";
}

const char* deferred_weight_gradients_name(DeferredWeightGradients deferred) {
  return deferred == DeferredWeightGradients::all ? "all" : "except_high_precision";
}

// The phase keys `breakdown_s` and each `breakdown_by_device_s` entry share, in the contract's order.
JsonWriter& write_phase_keys(JsonWriter& json, const PhaseTotals& phases) {
  return json.number("forward_chunk", phases.forward_s)
      .number("backward_input_chunk", phases.backward_input_s)
      .number("backward_weight_chunk", phases.backward_weight_s)
      .number("bubble", phases.bubble_s)
      .number("optimizer", phases.update_s);
}

void write_cost_sources(JsonWriter& json, const CostSourceCounts& counts) {
  json.begin_object("cost_sources");
  for (std::size_t i = 0; i < kCostSourceCount; ++i) {
    json.begin_object(to_string(static_cast<CostSource>(i)));
    json.integer("ops", counts.ops[i]);
    json.number("seconds_per_micro_batch", counts.seconds[i]);
    json.end_object();
  }
  json.end_object();
}

}  // namespace

std::string training_report_json(const Scenario& scenario, const TrainingEstimate& e, const Provenance& provenance) {
  const auto& job = *scenario.training;
  const auto& step = e.step;
  JsonWriter json;
  json.begin_object();
  json.string("fleetsim_version", provenance.version);
  json.string("scenario", scenario.name);
  json.begin_object("provenance")
      .string("profile", scenario.cluster.profile)
      .string("network_backend", provenance.network_backend)
      .integer("seed", static_cast<long long>(provenance.seed))
      .string("gpu", scenario.cluster.gpu.name)
      .string("model", scenario.model.name)
      .end_object();

  json.begin_object("training");
  json.number("step_time_s", step.step_s);
  // The contract's phases (as ISCA Table 4 reports them, on the GPU that finishes last) add up to the step with
  // overlapped_forward_backward; the per-micro-batch chunk costs and the communication figures are parts of them.
  const PhaseTotals& phases = step.phases;
  json.begin_object("breakdown_s");
  write_phase_keys(json, phases)
      .number("exposed_communication", step.exposed_communication_s + step.data_parallel_s)
      .number("overlapped_forward_backward", phases.overlapped_s)
      .integer("phase_device", phases.device)
      .number("forward_chunk_per_micro_batch", step.forward_chunk_s)
      .number("backward_input_chunk_per_micro_batch", step.backward_input_chunk_s)
      .number("backward_weight_chunk_per_micro_batch", step.backward_weight_chunk_s)
      .number("overlapped_forward_backward_chunk", step.overlapped_chunk_s)
      .number("steady_state", step.steady_s)
      .number("optimizer_step", step.optimizer_s)
      .number("data_parallel_exposed", step.data_parallel_s)
      .number("pipeline_exposed_communication", step.exposed_communication_s)
      .end_object();
  // The same phases on each pipeline device (an extension: ISCA does not say which GPU its table was read on).
  json.begin_array("breakdown_by_device_s");
  for (const PhaseTotals& device : step.device_phases) {
    json.begin_object().integer("device", device.device);
    write_phase_keys(json, device).number("overlapped_forward_backward", device.overlapped_s).end_object();
  }
  json.end_array();
  json.number("tokens_per_day", e.tokens_per_day);
  json.number("tflops_per_gpu", e.tflops_per_gpu);
  json.number("mfu", e.mfu);
  json.number("memory_per_gpu_bytes", e.memory.total_bytes);
  json.integer("steps", e.steps);
  json.number("wall_time_days", e.wall_time_s / 86400.0);
  json.number("gpu_hours", e.gpu_hours);
  json.number("gpu_hours_per_trillion_tokens", e.gpu_hours_per_trillion_tokens);
  json.number("model_flops_per_token", e.model_flops_per_token);
  json.integer("micro_batches_per_step", step.micro_batches);
  json.number("batch_ramp_steps", e.ramp_steps);
  json.string("schedule", job.schedule);
  json.begin_object("parallelism")  // the plan that ran (dp resolved when the scenario says auto)
      .integer("tp", job.parallelism.tp)
      .integer("pp", job.parallelism.pp)
      .integer("ep", job.parallelism.ep)
      .integer("dp", job.parallelism.dp)
      .integer("cp", job.parallelism.cp)
      .integer("zero", job.parallelism.zero)
      .end_object();
  json.string("precision", precision_name(job.precision));
  // The split the step was costed with: training.stage_layers, or split_into_stages' balance when not given.
  json.begin_array("stage_layers");
  for (const std::int64_t layers : stage_layer_counts(e.stages)) json.integer({}, layers);
  json.end_array();
  json.string("stage_split", e.stage_split);  // given | balanced | memory
  json.string("recompute", recompute_name(job.recompute));
  if (job.recompute == Recompute::selective) {
    const SelectiveRecompute& modules = job.selective_recompute;
    json.begin_array("recompute_modules");
    if (modules.layernorm) json.string({}, "layernorm");
    if (modules.mla_up_proj) json.string({}, "mla_up_proj");
    if (modules.core_attn) json.string({}, "core_attn");
    if (modules.moe_act) json.string({}, "moe_act");
    if (modules.mlp) json.string({}, "mlp");
    if (modules.moe) json.string({}, "moe");
    if (modules.shared_experts) json.string({}, "shared_experts");
    json.end_array();
  }
  if (job.recompute_layers > 0) json.integer("recompute_layers", job.recompute_layers);
  json.integer("gemm_sms", gemm_sm_count(scenario));
  json.string("deferred_weight_gradients", deferred_weight_gradients_name(job.deferred_weight_gradients));
  json.number("busiest_gpu_expert_load", busiest_gpu_expert_load(scenario));
  json.string("moe_dispatcher", job.moe_dispatcher == MoeDispatcher::deepep ? "deepep" : "all_to_all");
  json.string("embedding_gradient", job.embedding_gradient == EmbeddingGradient::dense ? "dense" : "rows");
  json.boolean("overlap_moe_all_to_all", job.overlap_moe_all_to_all);
  json.begin_object("memory_breakdown_bytes")
      .number("weights", e.memory.weights_bytes)
      .number("gradients", e.memory.gradients_bytes)
      .number("optimizer_states", e.memory.optimizer_bytes)
      .number("activations", e.memory.activations_bytes)
      .number("reserved", e.memory.reserved_bytes)
      .number("capacity", e.memory.capacity_bytes)
      .end_object();
  write_cost_sources(json, e.cost_sources);
  if (e.backend == "simgrid")
    json.begin_object("engine")
        .string("mode", scenario.engine.mode)
        .integer("simulated_gpus", e.engine_actors)
        .integer("activities", e.engine_activities)
        .number("expert_skew", scenario.engine.expert_skew)
        .boolean("routing_fluctuation", scenario.engine.routing_fluctuation)
        .number("slow_gpu_factor", scenario.engine.slow_gpu_factor)
        .number("gpu_speed_spread", scenario.engine.gpu_speed_spread)
        .string("p2p", e.engine_p2p)
        .end_object();
  json.end_object();

  json.begin_object("power")
      .number("gpu_average_w", e.gpu_average_w)
      .number("facility_average_kw", e.facility_average_kw)
      .number("energy_mwh", e.energy_mwh)
      .end_object();
  json.begin_object("cost")
      .number("total_usd", e.total_usd)
      .number("compute_usd", e.compute_usd)
      .number("energy_usd", e.energy_usd)
      .number("per_day_usd", e.per_day_usd)
      .end_object();
  json.end_object();
  return json.text();
}

std::string training_report_text(const Scenario& scenario, const TrainingEstimate& e, const Provenance& provenance) {
  const auto& job = *scenario.training;
  const auto& plan = job.parallelism;
  const auto& step = e.step;
  std::string out;
  char line[1024];  // the plan's header line grows with every option it names
  auto add = [&](const char* format, auto... values) {
    std::snprintf(line, sizeof line, format, values...);
    out += line;
  };
  add("fleetsim %s  scenario %s  (%s backend, profile %s, seed %llu)\n", provenance.version.c_str(),
      scenario.name.c_str(), provenance.network_backend.c_str(), scenario.cluster.profile.c_str(),
      static_cast<unsigned long long>(provenance.seed));
  const std::string context = plan.cp > 1 ? " CP" + std::to_string(plan.cp) : "";
  // The schedule as run: interleaved with its virtual stages; the overlaps that change the step when switched on.
  std::string schedule = job.schedule;
  if (job.schedule == "interleaved") schedule += " x" + std::to_string(job.virtual_stages);
  if (job.dp_comm_overlap) schedule += ", DP overlap";
  if (job.tp_comm_overlap) schedule += ", TP overlap";
  if (const auto gemm_sms = gemm_sm_count(scenario); gemm_sms < scenario.cluster.gpu.sm_count)
    schedule += ", GEMMs on " + std::to_string(gemm_sms) + " SMs";
  if (job.deferred_weight_gradients == DeferredWeightGradients::except_high_precision)
    schedule += ", BF16-module dW in B";
  if (scenario.model.kind == ModelKind::moe && job.moe_dispatcher == MoeDispatcher::all_to_all)
    schedule += ", plain all-to-all dispatcher";
  if (job.overlap_moe_all_to_all) schedule += ", all-to-all overlapped in F&B pairs";
  if (job.recompute_layers > 0)
    schedule += ", full recompute of " + std::to_string(job.recompute_layers) + " layers per chunk";
  if (const double load = busiest_gpu_expert_load(scenario); load != 1) {
    char routed[64];
    std::snprintf(routed, sizeof routed, ", busiest EP GPU's expert load x%.4f", load);
    schedule += routed;
  }
  if (scenario.engine.gpu_speed_spread > 0) {
    char spread[48];
    std::snprintf(spread, sizeof spread, ", GPU speed spread %.3g%%", 100 * scenario.engine.gpu_speed_spread);
    schedule += spread;
  }
  add("  %s on %lld x %s: TP%lld PP%lld EP%lld DP%lld%s, ZeRO-%lld, %s, %s, %lld-token sequences\n",
      scenario.model.name.c_str(), static_cast<long long>(scenario.cluster.gpus), scenario.cluster.gpu.name.c_str(),
      static_cast<long long>(plan.tp), static_cast<long long>(plan.pp), static_cast<long long>(plan.ep),
      static_cast<long long>(plan.dp), context.c_str(), static_cast<long long>(plan.zero), schedule.c_str(),
      precision_name(job.precision), static_cast<long long>(job.seq_len));
  if (e.stage_split == "memory") {
    std::string counts;
    for (const std::int64_t layers : stage_layer_counts(e.stages))
      counts += (counts.empty() ? "" : ",") + std::to_string(layers);
    out += "  layers per stage [" + counts + "]: moved off the fullest devices, as the time-balanced split does not " +
           "fit in GPU memory\n";
  }
  out += "\nStep (" + std::to_string(job.global_batch) + " sequences, " + std::to_string(step.micro_batches) +
         " micro-batches per pipeline)\n";
  add("  step time               %10.3f s\n", step.step_s);
  const PhaseTotals& phases = step.phases;
  add("    forward chunks        %10.3f s   (stand-alone F; %.4f s of compute per micro-batch)\n", phases.forward_s,
      step.forward_chunk_s);
  add("    backward chunks       %10.3f s   (stand-alone B or B+W; %.4f s per micro-batch)\n",
      phases.backward_input_s, step.backward_input_chunk_s);
  add("    weight chunks         %10.3f s   (stand-alone W; %.4f s per micro-batch)\n", phases.backward_weight_s,
      step.backward_weight_chunk_s);
  if (phases.overlapped_s > 0)
    add("    overlapped F&B chunks %10.3f s   (%.4f s per pair)\n", phases.overlapped_s, step.overlapped_chunk_s);
  add("    pipeline bubble       %10.3f s\n", phases.bubble_s);
  // The update's own collectives (after the last chunk); DP waits inside the chunks (ZeRO-3, a stage's parameter
  // all-gather under dp_comm_overlap) count in the total on the next line.
  add("    parameter update      %10.3f s   (optimizer %.3f s, exposed DP collectives %.3f s)\n", phases.update_s,
      step.optimizer_s, std::max(0.0, phases.update_s - step.optimizer_s));
  add("    (exposed communication %.3f s inside the above: all-to-all and pipeline %.3f s, DP %.3f s)\n",
      step.exposed_communication_s + step.data_parallel_s, step.exposed_communication_s, step.data_parallel_s);
  add("  throughput              %10.1f TFLOPS/GPU   MFU %.1f%% of BF16 peak\n", e.tflops_per_gpu, e.mfu * 100.0);
  add("  tokens per day          %10s\n", format_si(e.tokens_per_day).c_str());
  add("  memory per GPU          %10s of %s (weights %s, grads %s, optimizer %s, activations %s)\n",
      format_bytes(e.memory.total_bytes).c_str(), format_bytes(e.memory.capacity_bytes).c_str(),
      format_bytes(e.memory.weights_bytes).c_str(), format_bytes(e.memory.gradients_bytes).c_str(),
      format_bytes(e.memory.optimizer_bytes).c_str(), format_bytes(e.memory.activations_bytes).c_str());
  add("\nWhole run (%s tokens)\n", format_si(job.tokens).c_str());
  add("  steps                   %10lld   (%.0f in the batch ramp)\n", static_cast<long long>(e.steps), e.ramp_steps);
  add("  wall-clock              %10.1f days\n", e.wall_time_s / 86400.0);
  add("  GPU-hours               %10s   (%s per trillion tokens)\n", format_si(e.gpu_hours).c_str(),
      format_si(e.gpu_hours_per_trillion_tokens).c_str());
  add("  energy                  %10.0f MWh   (GPU %.0f W average, facility %.0f kW)\n", e.energy_mwh,
      e.gpu_average_w, e.facility_average_kw);
  add("  cost                    %10s   (compute $%s + energy $%s; $%s per day)\n",
      ("$" + format_si(e.total_usd)).c_str(), format_si(e.compute_usd).c_str(), format_si(e.energy_usd).c_str(),
      format_si(e.per_day_usd).c_str());
  const auto& counts = e.cost_sources;
  add("\nOps costed: %lld from the profile, %lld transferred from another GPU/dtype, %lld by roofline, %lld "
      "communication\n",
      static_cast<long long>(counts.ops[0]), static_cast<long long>(counts.ops[1]),
      static_cast<long long>(counts.ops[2]), static_cast<long long>(counts.ops[3]));
  return out;
}

}  // namespace fleetsim
