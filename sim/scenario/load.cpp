#include "scenario/load.hpp"

#include <cstdlib>
#include <filesystem>

#include "scenario/bundles.hpp"
#include "scenario/overrides.hpp"
#include "scenario/sections.hpp"
#include "scenario/yaml_reader.hpp"

namespace fleetsim {
namespace {

using scenario::BundleKind;
using scenario::LoadContext;
using scenario::Map;
using scenario::Origin;
using scenario::OriginMap;
using scenario::Value;
namespace read = scenario::read;

Scenario parse_scenario(const Value& document, const std::string& path, const LoadContext& context) {
  if (!document.is_map())
    document.fail("a scenario must be a mapping of sections (name, model, cluster, training, inference, ...)");
  const Map m =
      document.map({"name", "seed", "model", "cluster", "training", "inference", "fleet", "cost", "reliability", "engine"});
  if (const std::optional<Value> fleet = m.find("fleet"))
    fleet->fail("fleet scenarios are not supported yet; simulate each pool of the fleet as its own scenario");

  Scenario result;
  result.source_file = path;
  result.name = m.get_or("name", std::filesystem::path(path).stem().string(), read::text);
  result.seed = static_cast<std::uint64_t>(m.get_or("seed", 1, read::non_negative_int));
  result.model = scenario::parse_model(m.get("model"), context);
  result.cluster =
      scenario::parse_cluster(m.get("cluster").map({"gpu", "gpus", "gpus_per_node", "network", "profile"}), context);
  if (!m.has("training") && !m.has("inference"))
    m.missing("training", "a scenario has a training section, an inference section, or both");
  if (const std::optional<Value> training = m.find("training")) {
    const Map section = training->map(
        {"tokens", "seq_len", "global_batch", "micro_batch", "precision", "parallelism", "schedule", "virtual_stages",
         "stage_layers", "recompute", "recompute_modules", "recompute_layers", "tp_comm_overlap", "dp_comm_overlap",
         "overlap_moe_all_to_all", "cp_comm_type", "gemm_sms", "deferred_weight_gradients", "moe_dispatcher",
         "embedding_gradient"});
    result.training = scenario::parse_training(section, result.model, result.cluster);
    for (const char* key : {"parallelism", "schedule", "global_batch"})
      if (const std::optional<Value> value = section.find(key))
        result.key_locations[value->path()] = value->location();
  }
  if (const std::optional<Value> inference = m.find("inference")) {
    result.inference = scenario::parse_inference(inference->map({"prefill", "decode", "traffic", "slo"}), result.model,
                                                 result.cluster, context);
  }
  if (const std::optional<Value> cost = m.find("cost"))
    result.cost = scenario::parse_cost(cost->map({"gpu_hour", "capex", "electricity", "pue"}));
  if (const std::optional<Value> reliability = m.find("reliability"))
    result.reliability =
        scenario::parse_reliability(reliability->map({"gpu_mtbf_hours", "checkpoint_interval", "restart_overhead"}));
  if (const std::optional<Value> engine = m.find("engine")) {
    const Map section = engine->map(
        {"backend", "mode", "expert_skew", "routing_fluctuation", "slow_gpu_factor", "gpu_speed_spread", "p2p"});
    result.engine = scenario::parse_engine(section);
    // Each token picks top_k distinct experts, so an expert gets at most every token: routed_experts / top_k times
    // the mean load.
    const auto& moe = result.model.moe;
    if (result.model.kind == ModelKind::moe && moe.top_k > 0) {
      const double most = static_cast<double>(moe.routed_experts) / static_cast<double>(moe.top_k) - 1.0;
      if (result.engine.expert_skew > most)
        section.fail("expert_skew", "must be at most routed_experts / top_k - 1 = " +
                                        std::to_string(moe.routed_experts) + " / " + std::to_string(moe.top_k) +
                                        " - 1 for this model (every token on the "
                                        "busiest expert); got " +
                                        section.get("expert_skew").describe());
    }
    // The engine checks p2p against the schedule; its error points here.
    if (const std::optional<Value> value = section.find("p2p")) result.key_locations[value->path()] = value->location();
  }
  return result;
}

// A bundle asked for by name from code (not from a scenario): an unknown name is reported against the folder the
// bundles live in.
Value bundle_by_name(BundleKind kind, const std::string& name, const std::string& data_dir) {
  const std::string key = kind == BundleKind::model ? "model" : "gpu";
  const std::string folder = kind == BundleKind::model ? "scenarios/models" : "profiles";
  const Value name_value(YAML::Node(name), key, Origin{(std::filesystem::path(data_dir) / folder).string(), false},
                         nullptr);
  return scenario::open_bundle(kind, name_value, "", LoadContext{data_dir, ""});
}

}  // namespace

std::string default_data_dir() {
  if (const char* dir = std::getenv("FLEETSIM_DATA_DIR"); dir != nullptr && *dir != '\0') return dir;
  return FLEETSIM_SOURCE_ROOT;
}

Scenario load_scenario(const std::string& path, const LoadOptions& options) {
  const LoadContext context{options.data_dir.empty() ? default_data_dir() : options.data_dir,
                            std::filesystem::path(path).parent_path().string()};
  YAML::Node root = scenario::read_yaml_file(path, SourceLocation{path, 0}, "");
  const Origin file{path};
  OriginMap origins;
  scenario::apply_overrides(root, file, options.overrides, context, origins);
  return parse_scenario(Value(root, "", file, &origins, 1), path, context);
}

GpuSpec load_gpu_bundle(const std::string& name, const std::string& data_dir) {
  return scenario::parse_gpu_mapping(bundle_by_name(BundleKind::gpu, name, data_dir), name);
}

ModelSpec load_model_bundle(const std::string& name, const std::string& data_dir) {
  return scenario::parse_model_mapping(bundle_by_name(BundleKind::model, name, data_dir), name);
}

}  // namespace fleetsim
