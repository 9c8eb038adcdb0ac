#include "collective/rank_layout.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace fleetsim::collective {

std::string_view to_string(GroupKind kind) {
  switch (kind) {
    case GroupKind::tp: return "tp";
    case GroupKind::cp: return "cp";
    case GroupKind::dp: return "dp";
    case GroupKind::ep: return "ep";
    case GroupKind::edp: return "edp";
    case GroupKind::pp: return "pp";
  }
  return "?";
}

RankLayout::RankLayout(const ParallelPlan& plan, std::int64_t gpus) : plan_(plan) {
  for (const std::int64_t degree : {plan.tp, plan.cp, plan.dp, plan.ep, plan.pp})
    if (degree < 1) throw std::invalid_argument("rank layout: every parallel degree must be at least 1");
  if (stage_size() % plan.ep != 0)
    throw std::invalid_argument("rank layout: ep (" + std::to_string(plan.ep) + ") must divide tp*cp*dp (" +
                                std::to_string(stage_size()) + ")");
  if (ranks() > gpus)
    throw std::invalid_argument("rank layout: the plan needs " + std::to_string(ranks()) + " GPUs, the cluster has " +
                                std::to_string(gpus));
}

std::int64_t RankLayout::group_size(GroupKind kind) const {
  switch (kind) {
    case GroupKind::tp: return plan_.tp;
    case GroupKind::cp: return plan_.cp;
    case GroupKind::dp: return plan_.dp * plan_.cp;
    case GroupKind::ep: return plan_.ep;
    case GroupKind::edp: return stage_size() / plan_.ep;
    case GroupKind::pp: return plan_.pp;
  }
  return 1;
}

std::int64_t RankLayout::global_rank(std::int64_t stage, std::int64_t s) const {
  if (plan_.order == RankOrder::tp_cp_ep_dp_pp) return stage * stage_size() + s;
  const std::int64_t inner = plan_.tp * plan_.cp;
  return s % inner + inner * (stage + plan_.pp * (s / inner));
}

std::vector<Group> RankLayout::groups(GroupKind kind) const {
  const std::int64_t tp = plan_.tp, ep = plan_.ep;
  const std::int64_t stage = stage_size();
  // In the stage-major order (tp_cp_ep_dp_pp) every group is {base + stride * i : i < size}: the stride is the
  // product of the degrees inside this one in the rank order, and the bases are the ranks whose own coordinate is
  // 0. Other orders form the same groups over (stage, stage-local index) and place them with global_rank.
  std::int64_t stride = 1;
  switch (kind) {
    case GroupKind::tp: stride = 1; break;
    case GroupKind::cp: stride = tp; break;
    case GroupKind::dp: stride = tp; break;  // every cp and dp coordinate: the replicas of the dense parameters
    case GroupKind::ep: stride = 1; break;
    case GroupKind::edp: stride = ep; break;
    case GroupKind::pp: stride = stage; break;
  }
  const std::int64_t size = group_size(kind);
  auto place = [&](std::int64_t stage_major) { return global_rank(stage_major / stage, stage_major % stage); };
  std::vector<Group> result;
  result.reserve(static_cast<std::size_t>(ranks() / size));
  for (std::int64_t base = 0; base < ranks(); ++base) {
    // `base` starts a group when its coordinate along this kind is 0.
    const std::int64_t within = kind == GroupKind::pp ? base / stage : (base % stage) / stride % size;
    if (within != 0) continue;
    Group group(static_cast<std::size_t>(size));
    for (std::int64_t i = 0; i < size; ++i)
      group[static_cast<std::size_t>(i)] = static_cast<int>(place(base + stride * i));
    result.push_back(std::move(group));
  }
  if (plan_.order != RankOrder::tp_cp_ep_dp_pp)
    std::sort(result.begin(), result.end(), [](const Group& a, const Group& b) { return a.front() < b.front(); });
  return result;
}

}  // namespace fleetsim::collective
