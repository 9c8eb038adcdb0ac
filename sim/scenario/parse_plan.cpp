// Parallel degrees (tp, pp, ep, dp, cp) and the checks that every plan, training or serving, must pass.
#include <cctype>

#include "scenario/sections.hpp"

namespace fleetsim::scenario {
namespace {

std::string str(std::int64_t n) { return std::to_string(n); }

void check_degrees_fill_gpus(const Map& m, const ParallelPlan& plan, std::int64_t gpus, const std::string& gpus_key) {
  // A degree that does not divide the GPU count is the more precise message, so it comes first.
  const std::pair<std::string_view, std::int64_t> degrees[] = {
      {"tp", plan.tp}, {"pp", plan.pp}, {"dp", plan.dp}, {"cp", plan.cp}};
  for (const auto& [key, degree] : degrees) {
    if (gpus % degree != 0) m.fail(key, "must divide " + gpus_key + " (" + str(gpus) + "); got " + str(degree));
  }
  const std::int64_t product = plan.tp * plan.pp * plan.dp * plan.cp;
  if (product != gpus)
    m.self().fail("tp x pp x dp x cp = " + str(plan.tp) + " x " + str(plan.pp) + " x " + str(plan.dp) + " x " +
                  str(plan.cp) + " = " + str(product) + ", but must equal " + gpus_key + " (" + str(gpus) +
                  "): every GPU holds one rank of the plan");
}

void check_plan_fits_model(const Map& m, const ParallelPlan& plan, const ModelSpec& model) {
  if (model.attention.heads % plan.tp != 0)
    m.fail("tp", "must divide the model's attention heads (" + str(model.attention.heads) + "); got " + str(plan.tp));
  // Key/value heads are sharded like the query heads, or replicated when fewer than tp (sim/graph local_kv_heads).
  const std::int64_t kv_heads = model.attention.kv_heads;
  if (model.attention.kind == AttentionKind::gqa && kv_heads > 0 && kv_heads % plan.tp != 0 && plan.tp % kv_heads != 0)
    m.fail("tp", "must divide the model's key/value heads (" + str(kv_heads) + ") or be a multiple of them; got " +
                     str(plan.tp));
  // Tensor parallelism splits every FFN's hidden width: the dense FFN's, and the shared experts' together.
  const bool has_dense_ffn = model.kind == ModelKind::dense || model.moe.dense_layers > 0;
  if (has_dense_ffn && model.ffn.intermediate % plan.tp != 0)
    m.fail("tp", "must divide the model's ffn.intermediate (" + str(model.ffn.intermediate) + "); got " + str(plan.tp));
  if (model.kind == ModelKind::moe && (model.moe.shared_experts * model.moe.expert_intermediate) % plan.tp != 0)
    m.fail("tp", "must divide the shared experts' width, moe.shared_experts x moe.expert_intermediate (" +
                     str(model.moe.shared_experts * model.moe.expert_intermediate) + "); got " + str(plan.tp));
  if (plan.pp > model.layers)
    m.fail("pp", "must not exceed the model's layers (" + str(model.layers) + "); got " + str(plan.pp));
  if (model.kind == ModelKind::dense) {
    if (plan.ep != 1) m.fail("ep", "must be 1 for a dense model (it has no experts to shard); got " + str(plan.ep));
    return;
  }
  // Expert-parallel groups are carved out of the dp x tp ranks of one pipeline stage.
  if ((plan.dp * plan.tp) % plan.ep != 0)
    m.fail("ep", "must divide dp x tp (" + str(plan.dp * plan.tp) +
                     "): expert-parallel groups are carved out of "
                     "the data- and tensor-parallel ranks; got " +
                     str(plan.ep));
}

}  // namespace

ParallelPlan parse_degrees(const Map& m, std::int64_t gpus, const std::string& gpus_key, const ModelSpec& model) {
  ParallelPlan plan;
  plan.tp = m.get_or("tp", 1, read::positive_int);
  plan.pp = m.get_or("pp", 1, read::positive_int);
  plan.ep = m.get_or("ep", 1, read::positive_int);
  plan.cp = m.get_or("cp", 1, read::positive_int);
  // dp: a degree, or `auto`: whatever the GPUs leave, gpus / (tp x pp x cp) (what `fleetsim plan` sets as it tries
  // GPU counts).
  const Value dp = m.get("dp");
  if (dp.is_scalar() && dp.node().Scalar() == "auto") {
    const std::int64_t model_parallel = plan.tp * plan.pp * plan.cp;
    if (gpus % model_parallel != 0)
      m.fail("dp", "auto: " + gpus_key + " (" + str(gpus) + ") is not a multiple of tp x pp x cp = " +
                       str(model_parallel) + ", so no data-parallel degree fills the GPUs");
    plan.dp = gpus / model_parallel;
  } else {
    if (dp.is_scalar() && !dp.node().Scalar().empty() &&
        !std::isdigit(static_cast<unsigned char>(dp.node().Scalar()[0])))
      dp.fail("expected a positive whole number or auto, got " + dp.describe());
    plan.dp = read::positive_int(dp);
  }
  check_degrees_fill_gpus(m, plan, gpus, gpus_key);
  check_plan_fits_model(m, plan, model);
  return plan;
}

}  // namespace fleetsim::scenario
