// `training:` — one pre-training run, and the checks that its plan can run on the cluster.
#include <iomanip>
#include <sstream>

#include "scenario/sections.hpp"

namespace fleetsim::scenario {
namespace {

std::string str(std::int64_t n) { return std::to_string(n); }

ParallelPlan parse_training_plan(const Value& value, const ModelSpec& model, const ClusterSpec& cluster) {
  const Map m = value.map({"tp", "pp", "ep", "dp", "cp", "zero", "order"});
  // pp and dp shape the whole run, so they are never left to a default; tp, ep and cp default to 1.
  if (!m.has("pp")) m.missing("pp", "give the pipeline-parallel degree, 1 for none");
  ParallelPlan plan = parse_degrees(m, cluster.gpus, "cluster.gpus", model);
  plan.zero = m.get_or("zero", 0, read::non_negative_int);
  if (plan.zero > 3) m.fail("zero", "must be a ZeRO stage 0, 1, 2 or 3; got " + str(plan.zero));
  plan.order = m.get_or("order", RankOrder::tp_cp_ep_dp_pp, [](const Value& order) {
    return order.choice<RankOrder>(
        {{"tp-cp-ep-dp-pp", RankOrder::tp_cp_ep_dp_pp}, {"tp-cp-ep-pp-dp", RankOrder::tp_cp_ep_pp_dp}});
  });
  // With the stage inside the data-parallel coordinate, a stage's consecutive ranks beyond tp x cp sit pp x tp x cp
  // GPUs apart: an EP group would be one GPU on each of many nodes, which DeepEP's routing (NVLink inside a node,
  // one IB hop to the same-index GPU of each other node) cannot serve.
  if (plan.order == RankOrder::tp_cp_ep_pp_dp && plan.ep > 1 && plan.pp > 1 &&
      plan.tp * plan.cp < cluster.gpus_per_node)
    m.fail("order", "tp-cp-ep-pp-dp spreads an expert-parallel group over the nodes one GPU at a time when tp x cp (" +
                        str(plan.tp * plan.cp) + ") is smaller than a node (" + str(cluster.gpus_per_node) +
                        " GPUs) and pp > 1; DeepEP's all-to-all needs whole nodes: use tp-cp-ep-dp-pp");
  // Training shards every expert exactly once over an EP group (no redundant experts, unlike serving).
  if (model.kind == ModelKind::moe && model.moe.routed_experts % plan.ep != 0)
    m.fail("ep", "must divide the model's routed experts (" + str(model.moe.routed_experts) + "); got " + str(plan.ep));
  return plan;
}

// One batch size (the fixed one, or an end of the ramp) must split into whole micro-batches on every DP rank.
void check_batch_splits(const Value& value, std::int64_t sequences, const TrainingJob& job) {
  const std::int64_t unit = job.micro_batch * job.parallelism.dp;
  if (sequences % unit != 0)
    value.fail("must be a multiple of micro_batch x dp = " + str(job.micro_batch) + " x " + str(job.parallelism.dp) +
               " = " + str(unit) + " sequences, so that every data-parallel rank runs whole micro-batches; got " +
               str(sequences));
  if (sequences / unit > TrainingJob::kMaxMicroBatchesPerPipeline)
    value.fail("gives " + str(sequences / unit) + " micro-batches per pipeline (global_batch / (micro_batch x dp)); " +
               "fleetsim simulates at most " + str(TrainingJob::kMaxMicroBatchesPerPipeline) +
               ": use a larger micro_batch or more data parallelism");
}

// global_batch: a number of sequences, or a ramp {from, to, over_tokens}.
void parse_global_batch(const Value& value, TrainingJob& job) {
  if (!value.is_map()) {
    job.global_batch = value.whole(1);
    check_batch_splits(value, job.global_batch, job);
    return;
  }
  const Map m = value.map({"from", "to", "over_tokens"});
  BatchRamp ramp;
  ramp.from = m.get("from", read::positive_int);
  ramp.to = m.get("to", read::positive_int);
  ramp.over_tokens = m.get("over_tokens", read::positive(Dimension::count));
  if (ramp.from > ramp.to) m.fail("from", "must not exceed to (" + str(ramp.to) + "): the batch ramps up");
  check_batch_splits(m.get("from"), ramp.from, job);
  check_batch_splits(m.get("to"), ramp.to, job);
  // The run is timed step by step through the ramp (sim/analytic/run_totals.cpp).
  const double ramp_steps = ramp.over_tokens / (static_cast<double>(ramp.from) * static_cast<double>(job.seq_len));
  if (ramp_steps > static_cast<double>(TrainingJob::kMaxRampSteps))
    m.fail("over_tokens", "makes a ramp of up to " +
                              (std::ostringstream() << std::setprecision(3) << ramp_steps).str() +
                              " steps (over_tokens / (from x seq_len)); fleetsim times a ramp step by step, at most " +
                              str(TrainingJob::kMaxRampSteps) + ": ramp over fewer tokens or from a larger batch");
  job.ramp = ramp;
  job.global_batch = ramp.to;
}

void check_schedule(const Map& m, const TrainingJob& job, const ModelSpec& model) {
  const std::int64_t pp = job.parallelism.pp;
  // DualPipe pairs stage i with stage pp-1-i (two directions at once), so stages come in pairs.
  if (job.schedule == "dualpipe" && pp % 2 != 0)
    m.fail("schedule", "dualpipe needs an even training.parallelism.pp (stages run in pairs); pp is " + str(pp));
  // Interleaved cuts the model into pp x virtual_stages stages. Each holds at least one transformer layer, except
  // that the first may hold only the embedding and the last only the head (split_into_stages).
  if (job.schedule == "interleaved" && pp * job.virtual_stages > model.layers + 2)
    m.fail("schedule", "interleaved with training.virtual_stages = " + str(job.virtual_stages) +
                           " cuts the model into " + str(pp * job.virtual_stages) +
                           " stages (pp x virtual_stages), more than the model's " + str(model.layers) +
                           " layers allow (at most layers + 2: one stage may hold only the "
                           "embedding, one only the head)");
  // DualPipeV puts two model chunks on every stage.
  if (job.schedule == "dualpipev" && 2 * pp > model.layers)
    m.fail("schedule", "dualpipev puts 2 chunks on each of the pp = " + str(pp) + " stages, more than the model's " +
                           str(model.layers) + " layers");
}

// training.stage_layers: one whole number per model chunk, in model order, adding up to the model's layers. Only the
// first chunk (the embedding alone) and the last (the head alone) may hold none, as split_into_stages allows.
std::vector<std::int64_t> parse_stage_layers(const Map& m, const TrainingJob& job, const ModelSpec& model) {
  const std::int64_t pp = job.parallelism.pp;
  const std::int64_t per_device = job.schedule == "interleaved" ? job.virtual_stages
                                  : job.schedule == "dualpipev" ? 2
                                                                : 1;
  const std::int64_t chunks = pp * per_device;
  const std::vector<Value> items = m.get("stage_layers").list();
  const std::string how = per_device == 1 ? "pp = " + str(pp)
                          : job.schedule == "interleaved"
                              ? "pp x virtual_stages = " + str(pp) + " x " + str(per_device) + " = " + str(chunks)
                              : "2 x pp for dualpipev = " + str(chunks);
  if (static_cast<std::int64_t>(items.size()) != chunks)
    m.fail("stage_layers", "needs one layer count per model chunk, " + how + "; got " + str(std::ssize(items)));
  std::vector<std::int64_t> counts;
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::int64_t count = items[i].whole(0);
    if (count == 0 && i != 0 && i + 1 != items.size())
      items[i].fail("only the first chunk (the embedding alone) or the last (the head alone) may hold no layers");
    counts.push_back(count);
    sum += count;
  }
  if (sum != model.layers)
    m.fail("stage_layers", "must add up to the model's " + str(model.layers) + " layers; these add up to " + str(sum));
  return counts;
}

}  // namespace

TrainingJob parse_training(const Map& m, const ModelSpec& model, const ClusterSpec& cluster) {
  TrainingJob job;
  job.tokens = m.get("tokens", read::positive(Dimension::count));
  if (job.tokens > TrainingJob::kMaxTokens)
    m.fail("tokens", "must be at most " + (std::ostringstream() << TrainingJob::kMaxTokens).str() +
                         " (steps are counted in 64 bits); got " + m.get("tokens").describe());
  job.seq_len = m.get("seq_len", read::positive_int);
  job.micro_batch = m.get_or("micro_batch", 1, read::positive_int);
  job.precision = m.get("precision").choice<Precision>(
      {{"fp8", Precision::fp8}, {"bf16", Precision::bf16}, {"fp16", Precision::fp16}});
  if (job.precision == Precision::fp8 && cluster.gpu.fp8_flop_per_s <= 0)
    m.fail("precision", "fp8 needs FP8 tensor cores, and GPU '" + cluster.gpu.name +
                            "' has none (fp8_flops is 0); "
                            "use bf16");
  job.parallelism = parse_training_plan(m.get("parallelism"), model, cluster);
  if (job.parallelism.cp > 1 && job.seq_len % (2 * job.parallelism.cp) != 0)
    m.fail("seq_len", "must be a multiple of 2 x training.parallelism.cp (" + str(2 * job.parallelism.cp) +
                          "): context parallelism splits every sequence into 2 x cp chunks, two per GPU, so that "
                          "causal attention work is even");
  parse_global_batch(m.get("global_batch"), job);
  // The names of sim/analytic's schedule registry, checked here so that a typo fails at load time, with its line.
  job.schedule = m.get("schedule").one_of({"1f1b", "interleaved", "zb1p", "dualpipe", "dualpipev"});
  if (m.has("virtual_stages")) {
    if (job.schedule != "interleaved")
      m.fail("virtual_stages", "only the interleaved schedule has virtual stages (model chunks per device); "
                               "training.schedule is " + job.schedule);
    job.virtual_stages = m.get("virtual_stages", read::positive_int);
    if (job.virtual_stages < 2)
      m.fail("virtual_stages", "must be at least 2 (one model chunk per device is the 1f1b schedule); got " +
                                   str(job.virtual_stages));
  }
  check_schedule(m, job, model);
  if (m.has("stage_layers")) job.stage_layers = parse_stage_layers(m, job, model);
  job.tp_comm_overlap = m.get_or("tp_comm_overlap", false, read::boolean);
  job.dp_comm_overlap = m.get_or("dp_comm_overlap", false, read::boolean);
  job.overlap_moe_all_to_all = m.get_or("overlap_moe_all_to_all", false, read::boolean);
  // Megatron-Core's rule (transformer_config.py): with pipeline parallelism the overlap needs virtual stages. On
  // plain 1F1B a pair's backward would wait for the next device's pair of the same step, halving throughput.
  const bool pairable = job.schedule == "interleaved" || (job.schedule == "1f1b" && job.parallelism.pp == 1);
  if (job.overlap_moe_all_to_all && !pairable)
    m.fail("overlap_moe_all_to_all",
           "pairs the steady-state forwards and backwards of interleaved 1F1B, or of 1f1b without pipeline "
           "parallelism (as Megatron-Core requires: virtual stages when pp > 1); dualpipe and dualpipev overlap the "
           "all-to-all by construction, and zb1p splits its backwards (schedule: " +
               job.schedule + ", pp " + str(job.parallelism.pp) + ")");
  if (job.overlap_moe_all_to_all && (model.kind != ModelKind::moe || job.parallelism.ep <= 1))
    m.fail("overlap_moe_all_to_all", "needs an MoE all-to-all to overlap: a MoE model with ep > 1");
  job.cp_comm_type = m.get_or("cp_comm_type", TrainingJob::CpCommType::p2p, [](const Value& value) {
    return value.choice<TrainingJob::CpCommType>(
        {{"p2p", TrainingJob::CpCommType::p2p}, {"all_gather", TrainingJob::CpCommType::all_gather}});
  });
  job.gemm_sms = m.get_or("gemm_sms", std::int64_t{0}, [](const Value& value) -> std::int64_t {
    const std::string word = value.is_scalar() ? value.node().as<std::string>() : "";
    if (word == "all") return 0;
    if (word == "free") return TrainingJob::kGemmSmsFree;
    if (word.empty() || word.find_first_not_of("0123456789") != std::string::npos)
      value.fail("expected all, free (the SMs the MoE all-to-all leaves) or a whole number of SMs, got " +
                 value.describe());
    return value.whole(1);
  });
  if (job.gemm_sms > cluster.gpu.sm_count)
    m.fail("gemm_sms", "must be at most the " + cluster.gpu.name + "'s " + str(cluster.gpu.sm_count) +
                           " SMs (the SMs GEMM kernels are launched on); got " + str(job.gemm_sms));
  job.deferred_weight_gradients =
      m.get_or("deferred_weight_gradients", DeferredWeightGradients::all, [](const Value& value) {
        return value.choice<DeferredWeightGradients>(
            {{"all", DeferredWeightGradients::all},
             {"except_high_precision", DeferredWeightGradients::except_high_precision}});
      });
  job.moe_dispatcher = m.get_or("moe_dispatcher", MoeDispatcher::deepep, [](const Value& value) {
    return value.choice<MoeDispatcher>({{"deepep", MoeDispatcher::deepep}, {"all_to_all", MoeDispatcher::all_to_all}});
  });
  job.embedding_gradient = m.get_or("embedding_gradient", EmbeddingGradient::dense, [](const Value& value) {
    return value.choice<EmbeddingGradient>({{"dense", EmbeddingGradient::dense}, {"rows", EmbeddingGradient::rows}});
  });
  job.recompute = m.get_or("recompute", Recompute::none, [](const Value& value) {
    return value.choice<Recompute>(
        {{"none", Recompute::none}, {"selective", Recompute::selective}, {"full", Recompute::full}});
  });
  if (m.has("recompute_modules")) {
    if (job.recompute != Recompute::selective)
      m.fail("recompute_modules",
             "only with training.recompute: selective (which modules it runs again); training.recompute is not "
             "selective");
    SelectiveRecompute modules{false, false, false, false};
    for (const Value& item : m.get("recompute_modules").list()) {
      const std::string module =
          item.one_of({"layernorm", "mla_up_proj", "core_attn", "moe_act", "mlp", "moe", "shared_experts"});
      if (module == "layernorm") modules.layernorm = true;
      if (module == "mla_up_proj") modules.mla_up_proj = true;
      if (module == "core_attn") modules.core_attn = true;
      if (module == "moe_act") modules.moe_act = true;
      if (module == "mlp") modules.mlp = true;
      if (module == "moe") modules.moe = true;
      if (module == "shared_experts") modules.shared_experts = true;
    }
    job.selective_recompute = modules;
  }
  if (m.has("recompute_layers")) {
    if (job.recompute != Recompute::full)
      m.fail("recompute_layers",
             "only with training.recompute: full (how many layers of each model chunk are recomputed in full); "
             "training.recompute is not full");
    job.recompute_layers = m.get("recompute_layers", read::positive_int);
  }
  return job;
}

}  // namespace fleetsim::scenario
