// Where the ranks of a parallel plan sit on the cluster's GPUs, and the communication groups they form.
//
// Convention: Megatron-Core's rank order "tp-cp-ep-dp-pp" (megatron/core/parallel_state.py, RankGenerator), with
// expert tensor parallelism 1. Global rank = GPU index (GPUs are numbered node by node, topology.hpp):
//   rank = pp_i * S + s, with S = tp * cp * dp ranks per pipeline stage, and within a stage
//   s = tp_i + tp * (cp_i + cp * dp_i)        (dense layers: tp innermost, so a TP group shares a node)
//   s = ep_i + ep * edp_i                     (MoE layers: EP groups are runs of ep consecutive ranks carved out of
//                                              the stage's tp x cp x dp ranks, as ParallelPlan says; edp = S / ep)
// DeepSeek-V3 (tp 1, cp 1, dp 128, ep 64, pp 16 on 2,048 GPUs): a stage is 128 GPUs = 16 nodes, an EP group 8 whole
// nodes, an EDP group the 2 GPUs with the same EP index, a PP group GPUs 128 apart.
// With ParallelPlan::order = tp_cp_ep_pp_dp (Megatron-Core's --use-tp-pp-dp-mapping, Llama 3's [TP, CP, PP, DP])
// the stage coordinate moves inside the data-parallel one: writing s = tc + tp*cp * d (tc = tp_i + tp * cp_i, d the
// dp coordinate), rank = tc + tp*cp * (pp_i + pp * d). Groups are formed from the stage-local index s exactly as
// above (EP groups stay ep consecutive values of s) and then placed. Llama 3 405B (tp 8, pp 16, dp 128): a
// pipeline is 16 neighbouring nodes, a DP group 128 GPUs 128 apart.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "spec/jobs.hpp"

namespace fleetsim::collective {

enum class GroupKind {
  tp,   // tensor parallel: tp consecutive ranks
  cp,   // context parallel
  dp,   // the replicas of the dense parameters, dp x cp ranks (Megatron-LM's data-parallel group with context
        // parallelism): gradients are reduced and ZeRO shards over it
  ep,   // expert parallel: the MoE all-to-all
  edp,  // expert data parallel: ranks holding the same experts (gradients of expert parameters)
  pp,   // pipeline: one rank per stage
};
std::string_view to_string(GroupKind kind);

using Group = std::vector<int>;  // global ranks (= GPU indices), in the group's own order

class RankLayout {
 public:
  // Throws std::invalid_argument when a degree is below 1, ep does not divide tp*cp*dp, or the plan needs more
  // GPUs than `gpus`. A plan smaller than the cluster occupies its first tp*cp*dp*pp GPUs.
  RankLayout(const ParallelPlan& plan, std::int64_t gpus);

  const ParallelPlan& plan() const { return plan_; }
  std::int64_t ranks() const { return plan_.tp * plan_.cp * plan_.dp * plan_.pp; }
  std::int64_t stage_size() const { return plan_.tp * plan_.cp * plan_.dp; }
  std::int64_t group_size(GroupKind kind) const;

  // Every group of this kind, all of which run at once (e.g. 16 x 1 DP groups of 128 ranks for DeepSeek-V3).
  // Groups are ordered by their smallest rank; ranks within a group ascend.
  std::vector<Group> groups(GroupKind kind) const;

  // The global rank (= GPU index) of pipeline stage `stage`'s rank with stage-local index s (0 <= s < stage_size(),
  // s = tp_i + tp * (cp_i + cp * dp_i)), in the plan's rank order.
  std::int64_t global_rank(std::int64_t stage, std::int64_t s) const;

 private:
  ParallelPlan plan_;
};

}  // namespace fleetsim::collective
