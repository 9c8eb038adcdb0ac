// Shared fixtures of the collective tests: H800 clusters (public-figures.md §2, §5) and DeepSeek-V3's routing.
#pragma once

#include <cstdint>

#include "../graph/test_models.hpp"
#include "spec/cluster.hpp"
#include "spec/jobs.hpp"
#include "spec/model.hpp"

namespace fleetsim::collective::testing {

// H800: NVLink 400 GB/s both directions summed (public-figures.md §5); CX7 400 Gb/s = 50 GB/s per GPU (§2).
inline constexpr double kH800NvlinkBytesPerS = 400e9;
inline constexpr double kNicBytesPerS = 50e9;
// Achievable per direction, as the model applies them (kInfinibandEfficiency, kNvlinkEfficiency: V3 §3.2.2).
inline constexpr double kIbAchievable = 40e9;
inline constexpr double kNvlinkAchievable = 160e9;

inline ClusterSpec h800_cluster(std::int64_t gpus, TopologyKind kind = TopologyKind::multi_plane_fat_tree,
                                double oversubscription = 1.0, std::int64_t radix = 64) {
  ClusterSpec spec;
  spec.gpu.name = "h800";
  spec.gpu.nvlink_bandwidth_bytes_per_s = kH800NvlinkBytesPerS;
  spec.gpus = gpus;
  spec.gpus_per_node = 8;
  spec.network.topology = kind;
  spec.network.nic_bandwidth_bytes_per_s = kNicBytesPerS;
  spec.network.switch_radix = radix;
  spec.network.oversubscription = oversubscription;
  return spec;
}

// DeepSeek-V3, whose router the all-to-all follows (public-figures.md §1): 256 routed experts, top-8, 8 groups of
// which 4 per token.
inline ModelSpec deepseek_v3_routing() { return test::deepseek_v3(); }

inline ParallelPlan plan(std::int64_t tp, std::int64_t pp, std::int64_t ep, std::int64_t dp) {
  ParallelPlan p;
  p.tp = tp;
  p.pp = pp;
  p.ep = ep;
  p.dp = dp;
  return p;
}

}  // namespace fleetsim::collective::testing
