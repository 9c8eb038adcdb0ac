// The hardware: one GPU kind's datasheet and the cluster built from it. Plain data, no behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fleetsim {

// Datasheet numbers (dense, no sparsity). Each bundled GPU (profiles/NAME/gpu.yaml) cites its sources.
struct GpuSpec {
  std::string name;
  double bf16_flop_per_s = 0;
  double fp8_flop_per_s = 0;           // 0 when the GPU has no FP8 tensor cores (A100)
  double hbm_bytes = 0;
  double hbm_bandwidth_bytes_per_s = 0;
  double nvlink_bandwidth_bytes_per_s = 0;  // per GPU, both directions summed, as datasheets quote it
  double tdp_w = 0;
  double idle_w = 0;                   // board power at idle; 0 when unknown
  std::int64_t sm_count = 0;
  double nic_bandwidth_bytes_per_s = 0;  // default scale-out bandwidth per GPU (one NIC per GPU)
  std::string default_profile;         // kernel profile used when the scenario names none
};

enum class TopologyKind { fat_tree, rail_optimized, multi_plane_fat_tree };
// Which uplinks the oversubscription thins: the leaves' (every flow that leaves a leaf), or, in a three-layer
// network, the spines' to the core layer (only flows between pods; each pod non-blocking inside, as Meta's
// 24K-GPU RoCE cluster of Llama 3: L3 2407.21783 §3.3.1).
enum class OversubscribedLayer { leaf, pod };

struct NetworkSpec {
  TopologyKind topology = TopologyKind::multi_plane_fat_tree;
  double nic_bandwidth_bytes_per_s = 0;  // per GPU
  std::int64_t switch_radix = 64;
  double oversubscription = 1.0;         // downlinks per uplink where it applies; 1 = non-blocking
  OversubscribedLayer oversubscription_at = OversubscribedLayer::leaf;
};

struct ClusterSpec {
  GpuSpec gpu;
  std::int64_t gpus = 0;
  std::int64_t gpus_per_node = 8;
  NetworkSpec network;
  std::string profile;      // kernel profile name (profiles/NAME/): cluster.profile, or the GPU bundle's default
  std::string profile_dir;  // absolute path of that profile's folder (holds MANIFEST.yaml and the CSV tables)
  GpuSpec profile_gpu;      // the GPU the profile was measured on (its MANIFEST's `gpu:`), to transfer efficiencies
  // Folders of the profiles it extends (MANIFEST `extends: NAME`, followed to the end), the innermost base first:
  // their tables are read before profile_dir's, whose rows replace theirs key by key.
  std::vector<std::string> profile_base_dirs;
};

// The folders whose tables make up the cluster's kernel profile, the innermost base first, the profile's own last.
inline std::vector<std::string> profile_directories(const ClusterSpec& cluster) {
  std::vector<std::string> directories = cluster.profile_base_dirs;
  directories.push_back(cluster.profile_dir);
  return directories;
}

}  // namespace fleetsim
