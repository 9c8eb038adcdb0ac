#include "cost/comm_model.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "collective/algorithms.hpp"
#include "collective/collective_model.hpp"

namespace fleetsim {

CommModel::CommModel(const ClusterSpec& cluster, const ModelSpec& model, const ParallelPlan& plan,
                     const KernelProfile& profile, const collective::CollectiveModel* collectives,
                     MoeDispatcher dispatcher)
    : cluster_(cluster),
      model_(model),
      plan_(plan),
      profile_(profile),
      collectives_(collectives),
      dispatcher_(dispatcher) {
  nic_bytes_per_s_ = cluster_.network.nic_bandwidth_bytes_per_s * kInfinibandEfficiency /
                     std::max(1.0, cluster_.network.oversubscription);
  nvlink_bytes_per_s_ = cluster_.gpu.nvlink_bandwidth_bytes_per_s / 2.0 * kNvlinkEfficiency;
}

double CommModel::deepep_bytes_per_s(bool combine) const {
  const bool intranode = plan_.ep <= cluster_.gpus_per_node;
  // Published DeepEP normal-kernel bandwidths by EP size, interpolated in log(EP) and clamped at the ends.
  std::vector<std::pair<double, double>> points;
  for (const auto& row : profile_.all_to_all) {
    if (row.mode != "normal" || row.bytes_per_s <= 0) continue;
    if ((row.kernel == "combine") != combine) continue;
    if ((row.ep <= cluster_.gpus_per_node) != intranode) continue;
    points.emplace_back(static_cast<double>(row.ep), row.bytes_per_s);
  }
  if (points.empty()) return intranode ? nvlink_bytes_per_s_ : nic_bytes_per_s_;
  std::sort(points.begin(), points.end());
  double ep = static_cast<double>(plan_.ep);
  double bandwidth = points.back().second;
  if (ep <= points.front().first) {
    bandwidth = points.front().second;
  } else {
    for (std::size_t i = 1; i < points.size(); ++i) {
      if (ep <= points[i].first) {
        double t = std::log(ep / points[i - 1].first) / std::log(points[i].first / points[i - 1].first);
        bandwidth = points[i - 1].second + t * (points[i].second - points[i - 1].second);
        break;
      }
    }
  }
  // DeepEP's figures are for 400 Gb/s NICs on H800 nodes: scale by this cluster's link speed.
  if (!intranode) bandwidth *= nic_bytes_per_s_ / (50e9 * kInfinibandEfficiency);
  return bandwidth;
}

double CommModel::group_bytes_per_s(std::int64_t gpus) const {
  return gpus <= cluster_.gpus_per_node ? nvlink_bytes_per_s_ : nic_bytes_per_s_;
}

double CommModel::ring_seconds(double bytes, std::int64_t ranks, double bytes_per_s) {
  if (ranks <= 1 || bytes <= 0) return 0.0;
  const double n = static_cast<double>(ranks);
  return (n - 1.0) / n * bytes / bytes_per_s;
}

double CommModel::tensor_parallel_seconds(const Op& op) const {
  // Beyond a node the ring crosses the network: on the topology when there is one, with every TP group at once.
  if (collectives_ != nullptr && plan_.tp > cluster_.gpus_per_node && op.comm_bytes > 0)
    return collectives_->all_gather(op.comm_bytes, collective::GroupKind::tp);
  return ring_seconds(op.comm_bytes, plan_.tp, group_bytes_per_s(plan_.tp));
}

double CommModel::context_parallel_seconds(const Op& op) const {
  if (plan_.cp <= 1 || op.comm_bytes <= 0) return 0.0;
  // Megatron-LM's rank order puts cp next to tp: the ring spans tp x cp consecutive GPUs. Each of its steps moves
  // one block to the next rank, as a ring all-gather's steps do: comm_bytes over cp - 1 steps is the all-gather of
  // comm_bytes x cp / (cp - 1), timed on the topology (every CP group at once) when the ring leaves the node.
  const double cp = static_cast<double>(plan_.cp);
  if (collectives_ != nullptr && plan_.tp * plan_.cp > cluster_.gpus_per_node)
    return collectives_->all_gather(op.comm_bytes * cp / (cp - 1.0), collective::GroupKind::cp);
  return op.comm_bytes / group_bytes_per_s(plan_.tp * plan_.cp);
}

double CommModel::moe_all_to_all_seconds(const Op& op) const {
  if (plan_.ep <= 1 || op.comm_bytes <= 0) return 0.0;
  const collective::MoeTraffic traffic = collective::moe_traffic(model_.moe, plan_.ep, cluster_.gpus_per_node);
  if (dispatcher_ == MoeDispatcher::all_to_all) {
    // Every copy for another GPU is its own transfer. Under a balanced router a copy's destination is uniform over
    // the ep GPUs: (gpus per node - 1) of the ep - 1 others share this GPU's node, the rest are behind its NIC.
    const double others = static_cast<double>(plan_.ep - 1);
    const double same_node = static_cast<double>(traffic.gpus_per_node - 1) / others;
    return std::max(op.comm_bytes * (1.0 - same_node) / nic_bytes_per_s_,
                    op.comm_bytes * same_node / nvlink_bytes_per_s_);
  }
  // DeepEP's published bandwidths are bytes counted per token over kernel time, one copy per distinct destination
  // node internode ("RDMA": num_rdma_token_sent, the sender's own node included) and one per distinct destination
  // GPU intranode ("NVL": the tokens a GPU receives, its own included) [EP tests/test_internode.py and
  // test_intranode.py]. So the kernel's time is that count of copies of the token payload over the bandwidth.
  const bool combine = op.name.find("combine") != std::string::npos;
  // op.comm_bytes counts every token copy that leaves this GPU: top_k x (ep-1)/ep of the payload.
  const double copies_leaving =
      static_cast<double>(model_.moe.top_k) * static_cast<double>(plan_.ep - 1) / static_cast<double>(plan_.ep);
  const double payload = op.comm_bytes / copies_leaving;
  const double counted = traffic.intranode() ? traffic.distinct_gpus : traffic.reached_nodes;
  return payload * counted / deepep_bytes_per_s(combine);
}

double CommModel::ring_shard_collective_seconds(double bytes, std::int64_t ranks) const {
  return ring_seconds(bytes, ranks, nic_bytes_per_s_);
}

double CommModel::p2p_seconds(double bytes) const {
  if (collectives_ != nullptr) return collectives_->p2p(bytes);
  return bytes / nic_bytes_per_s_;
}

std::int64_t data_parallel_ranks(const ParallelPlan& plan, bool experts) {
  return experts ? std::max<std::int64_t>(1, plan.dp * plan.tp * plan.cp / plan.ep) : plan.dp * plan.cp;
}

double CommModel::data_parallel_reduce_scatter_seconds(double bytes, bool experts) const {
  if (collectives_ != nullptr)
    return collectives_->reduce_scatter(bytes, experts ? collective::GroupKind::edp : collective::GroupKind::dp);
  return ring_shard_collective_seconds(bytes, data_parallel_ranks(plan_, experts));
}

double CommModel::data_parallel_all_gather_seconds(double bytes, bool experts) const {
  if (collectives_ != nullptr)
    return collectives_->all_gather(bytes, experts ? collective::GroupKind::edp : collective::GroupKind::dp);
  return ring_shard_collective_seconds(bytes, data_parallel_ranks(plan_, experts));
}

}  // namespace fleetsim
