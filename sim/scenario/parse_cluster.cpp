// `cluster:` — the GPU (bundled or inline datasheet), the node and network layout, and the kernel profile.
#include <filesystem>
#include <optional>
#include <set>

#include "scenario/sections.hpp"

namespace fleetsim::scenario {
namespace {

NetworkSpec parse_network(const Map& cluster, const GpuSpec& gpu) {
  NetworkSpec network;
  const std::optional<Value> given = cluster.find("network");
  if (!given) {
    if (gpu.nic_bandwidth_bytes_per_s <= 0)
      cluster.missing("network", "GPU '" + gpu.name +
                                     "' has no nic_bandwidth, so cluster.network.nic_bandwidth must "
                                     "be given");
    network.nic_bandwidth_bytes_per_s = gpu.nic_bandwidth_bytes_per_s;
    return network;
  }
  const Map m = given->map({"topology", "nic_bandwidth", "switch_radix", "oversubscription", "oversubscription_at"});
  network.topology = m.get_or("topology", TopologyKind::multi_plane_fat_tree, [](const Value& value) {
    return value.choice<TopologyKind>({{"fat-tree", TopologyKind::fat_tree},
                                       {"rail-optimized", TopologyKind::rail_optimized},
                                       {"multi-plane-fat-tree", TopologyKind::multi_plane_fat_tree}});
  });
  if (gpu.nic_bandwidth_bytes_per_s <= 0 && !m.has("nic_bandwidth"))
    m.missing("nic_bandwidth", "GPU '" + gpu.name + "' gives no default nic_bandwidth");
  network.nic_bandwidth_bytes_per_s =
      m.get_or("nic_bandwidth", gpu.nic_bandwidth_bytes_per_s,
               read::within(Dimension::bandwidth_bytes_per_s, 1e6, 1e15, "from 1 MB/s to 1 PB/s"));
  network.switch_radix = m.get_or("switch_radix", 64, read::positive_int);
  // A fat-tree switch splits its ports evenly between the layer below and the layer above.
  if (network.switch_radix < 2 || network.switch_radix % 2 != 0)
    m.fail("switch_radix",
           "must be an even number of switch ports, at least 2; got " + std::to_string(network.switch_radix));
  network.oversubscription = m.get_or("oversubscription", 1.0, [](const Value& value) {
    const double ratio = value.quantity(Dimension::count);
    if (ratio < 1) value.fail("must be at least 1 (1 = non-blocking; 2 = twice the downlinks of the uplinks)");
    return ratio;
  });
  // A switch keeps at least one uplink: radix - 1 down-ports to 1 up-port is the most it can be oversubscribed.
  if (network.oversubscription > static_cast<double>(network.switch_radix - 1))
    m.fail("oversubscription", "must be at most switch_radix - 1 = " + std::to_string(network.switch_radix - 1) +
                                   " (a switch keeps at least one uplink: " + std::to_string(network.switch_radix - 1) +
                                   " down-ports to 1 up-port)");
  network.oversubscription_at = m.get_or("oversubscription_at", OversubscribedLayer::leaf, [](const Value& value) {
    return value.choice<OversubscribedLayer>({{"leaf", OversubscribedLayer::leaf}, {"pod", OversubscribedLayer::pod}});
  });
  return network;
}

// The keys of a profile's MANIFEST.yaml that fleetsim reads: `gpu:` (required) and `extends:` (optional). The
// MANIFEST is written by `fleetsim calibrate` and carries more (driver, clocks, dates) that is not ours to validate.
struct ManifestKeys {
  Value gpu;
  std::optional<Value> extends;
};
ManifestKeys read_manifest(const std::string& manifest_file, const Map& cluster) {
  const YAML::Node root =
      read_yaml_file(manifest_file, cluster.self().location(), join_path(cluster.self().path(), "profile"));
  const Value manifest(root, "", Origin{manifest_file}, nullptr);
  if (!root.IsMap()) manifest.fail("a profile MANIFEST must be a mapping with at least `gpu: NAME`");
  std::optional<Value> gpu, extends;
  for (const auto& entry : root) {
    if (!entry.first.IsScalar()) continue;
    if (entry.first.Scalar() == "gpu") gpu = manifest.child(entry.first, entry.second);
    if (entry.first.Scalar() == "extends") extends = manifest.child(entry.first, entry.second);
  }
  if (!gpu)
    throw InputError(manifest.location(), "gpu", "required key is missing (the GPU this profile was measured on)");
  return {*gpu, extends};
}

// cluster.profile, or the GPU's default_profile: the folder, the GPU its kernels were measured on, and the folders
// of the profiles it extends.
void resolve_profile(const Map& cluster, const LoadContext& context, ClusterSpec& spec) {
  const std::optional<Value> given = cluster.find("profile");
  const std::string name = given ? given->text() : spec.gpu.default_profile;
  if (name.empty()) cluster.missing("profile", "GPU '" + spec.gpu.name + "' names no default_profile");
  const std::optional<std::string> manifest = find_bundle(BundleKind::profile, name, context.data_dir);
  if (!manifest) {
    const std::string message = unknown_bundle_message(BundleKind::profile, name, context.data_dir);
    cluster.fail(
        "profile",
        given ? message : "GPU '" + spec.gpu.name + "' defaults to a profile that is not installed: " + message);
  }
  auto folder_of = [](const std::string& manifest_file) {
    return std::filesystem::absolute(std::filesystem::path(manifest_file).parent_path()).lexically_normal().string();
  };
  spec.profile = name;
  spec.profile_dir = folder_of(*manifest);
  const ManifestKeys keys = read_manifest(*manifest, cluster);
  spec.profile_gpu = parse_gpu(keys.gpu, context);
  spec.profile_base_dirs.clear();
  std::set<std::string> seen = {name};
  for (std::optional<Value> extends = keys.extends; extends;) {
    const std::string base = extends->text();
    if (!seen.insert(base).second)
      extends->fail("profile '" + base + "' is already in this chain of `extends` (a cycle)");
    const std::optional<std::string> base_manifest = find_bundle(BundleKind::profile, base, context.data_dir);
    if (!base_manifest) extends->fail(unknown_bundle_message(BundleKind::profile, base, context.data_dir));
    spec.profile_base_dirs.insert(spec.profile_base_dirs.begin(), folder_of(*base_manifest));
    extends = read_manifest(*base_manifest, cluster).extends;
  }
}

}  // namespace

GpuSpec parse_gpu(const Value& value, const LoadContext& context) {
  if (value.is_map()) return parse_gpu_mapping(value, "");
  if (!value.is_scalar())
    value.fail("expected a bundled GPU name (such as h800) or a mapping of its datasheet, got " + value.describe());
  return parse_gpu_mapping(open_bundle(BundleKind::gpu, value, value.path(), context), value.text());
}

GpuSpec parse_gpu_mapping(const Value& value, const std::string& bundle_name) {
  const Map m = value.map({"name", "bf16_flops", "fp8_flops", "hbm", "hbm_bandwidth", "nvlink_bandwidth", "tdp",
                           "idle_power", "sm_count", "nic_bandwidth", "default_profile"});
  GpuSpec gpu;
  gpu.name = mapping_name(m, bundle_name);
  // Datasheet figures within a few orders of magnitude of any accelerator's (H800: 989 TFLOPS, 80 GB, 3.35 TB/s,
  // 700 W), so that a unit slip fails here instead of giving infinite times downstream.
  const auto flops = read::within(Dimension::flop_per_s, 1e12, 1e18, "from 1 TFLOPS to 1 EFLOPS");
  const auto bandwidth = read::within(Dimension::bandwidth_bytes_per_s, 1e9, 1e15, "from 1 GB/s to 1 PB/s");
  gpu.bf16_flop_per_s = m.get("bf16_flops", flops);
  gpu.fp8_flop_per_s = m.get_or("fp8_flops", 0.0, [&flops](const Value& value) {  // 0: no FP8 tensor cores
    return value.quantity(Dimension::flop_per_s) == 0 ? 0.0 : flops(value);
  });
  gpu.hbm_bytes = m.get("hbm", read::within(Dimension::bytes, 1e9, 1e15, "from 1 GB to 1 PB"));
  gpu.hbm_bandwidth_bytes_per_s = m.get("hbm_bandwidth", bandwidth);
  gpu.nvlink_bandwidth_bytes_per_s = m.get("nvlink_bandwidth", bandwidth);
  gpu.tdp_w = m.get("tdp", read::within(Dimension::power_w, 1, 1e5, "from 1 W to 100 kW"));
  gpu.idle_w = m.get_or("idle_power", 0.0, read::quantity(Dimension::power_w));  // 0: unknown
  if (gpu.idle_w > gpu.tdp_w) m.fail("idle_power", "must not exceed tdp");
  gpu.sm_count = m.get("sm_count", read::positive_int_at_most(100'000, "streaming multiprocessors; an H800 has 132"));
  gpu.nic_bandwidth_bytes_per_s = m.get_or(
      "nic_bandwidth", 0.0, read::within(Dimension::bandwidth_bytes_per_s, 1e6, 1e15, "from 1 MB/s to 1 PB/s"));
  gpu.default_profile = m.get_or("default_profile", std::string(), read::text);
  return gpu;
}

ClusterSpec parse_cluster(const Map& m, const LoadContext& context) {
  ClusterSpec cluster;
  cluster.gpu = parse_gpu(m.get("gpu"), context);
  cluster.gpus = m.get("gpus", read::positive_int);
  cluster.gpus_per_node = m.get_or("gpus_per_node", 8, read::positive_int);
  if (cluster.gpus % cluster.gpus_per_node != 0)
    m.fail("gpus", "must be a whole number of nodes: a multiple of gpus_per_node (" +
                       std::to_string(cluster.gpus_per_node) + "); got " + std::to_string(cluster.gpus));
  cluster.network = parse_network(m, cluster.gpu);
  resolve_profile(m, context, cluster);
  return cluster;
}

}  // namespace fleetsim::scenario
