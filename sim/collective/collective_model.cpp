#include "collective/collective_model.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "collective/symmetry.hpp"

namespace fleetsim::collective {

struct CollectiveModel::State {
  State(const ClusterSpec& cluster, const ModelSpec& model_spec, const ParallelPlan& plan, CollectiveOptions opts)
      : options(opts),
        topology(topology::build_topology(cluster)),
        view(topology, opts.paths),
        layout(plan, cluster.gpus),
        model(model_spec),
        traffic(model_spec.kind == ModelKind::moe && plan.ep > 1
                    ? collective::moe_traffic(model_spec.moe, plan.ep, cluster.gpus_per_node)
                    : MoeTraffic{}) {}

  CollectiveOptions options;
  topology::Topology topology;
  NetworkView view;  // refers to `topology`: State is never copied or moved (held by unique_ptr)
  RankLayout layout;
  ModelSpec model;
  MoeTraffic traffic;

  std::mutex mutex;  // the memo may be filled from const methods of a shared model
  std::map<std::pair<Collective, GroupKind>, CollectiveCost> memo;
  std::size_t evaluations = 0;

  CollectiveCost evaluate(Collective collective, GroupKind kind) {
    if (layout.group_size(kind) <= 1) return {};  // nothing to send (and TP 1 would be 50,000 groups of one)
    const std::vector<Group> groups = layout.groups(kind);
    if (!options.use_symmetry) {
      // Everything in one solve, groups ordered component by component with the same flow numbering (hence the
      // same paths in hashed mode) as the reduced evaluation uses.
      std::vector<Group> ordered;
      std::vector<std::size_t> restarts;
      for (const std::vector<std::size_t>& component : independent_components(topology, groups)) {
        restarts.push_back(ordered.size());
        for (const std::size_t g : component) ordered.push_back(groups[g]);
      }
      return time_collective(view, collective, ordered, traffic, restarts);
    }
    // The slowest class sets the time: every group must finish.
    CollectiveCost worst;
    for (const GroupClass& group_class : independent_classes(topology, groups)) {
      std::vector<Group> representative;
      representative.reserve(group_class.groups.size());
      for (const std::size_t g : group_class.groups) representative.push_back(groups[g]);
      const std::size_t restart[] = {0};
      const CollectiveCost cost = time_collective(view, collective, representative, traffic, restart);
      worst.seconds_per_byte = std::max(worst.seconds_per_byte, cost.seconds_per_byte);
      worst.latency_s = std::max(worst.latency_s, cost.latency_s);
      worst.flows += cost.flows;
      worst.rate_solves += cost.rate_solves;
    }
    return worst;
  }
};

CollectiveModel::CollectiveModel(const ClusterSpec& cluster, const ModelSpec& model, const ParallelPlan& plan,
                                 CollectiveOptions options)
    : state_(std::make_unique<State>(cluster, model, plan, options)) {}
CollectiveModel::~CollectiveModel() = default;
CollectiveModel::CollectiveModel(CollectiveModel&&) noexcept = default;
CollectiveModel& CollectiveModel::operator=(CollectiveModel&&) noexcept = default;

const CollectiveCost& CollectiveModel::cost(Collective collective, GroupKind kind) const {
  State& s = *state_;
  const std::lock_guard<std::mutex> lock(s.mutex);
  const auto key = std::make_pair(collective, kind);
  if (const auto it = s.memo.find(key); it != s.memo.end()) return it->second;
  ++s.evaluations;
  return s.memo.emplace(key, s.evaluate(collective, kind)).first->second;
}

double CollectiveModel::all_reduce(double bytes, GroupKind kind) const {
  const Collective algorithm = state_->options.all_reduce == AllReduceAlgorithm::tree ? Collective::tree_all_reduce
                                                                                      : Collective::ring_all_reduce;
  return cost(algorithm, kind).seconds(bytes);
}

double CollectiveModel::reduce_scatter(double bytes, GroupKind kind) const {
  return cost(Collective::reduce_scatter, kind).seconds(bytes);
}

double CollectiveModel::all_gather(double bytes, GroupKind kind) const {
  return cost(Collective::all_gather, kind).seconds(bytes);
}

double CollectiveModel::token_payload_bytes(double comm_bytes) const {
  const MoeTraffic& t = state_->traffic;
  if (t.ep <= 1) return 0.0;
  const double copies_leaving = static_cast<double>(std::max<std::int64_t>(1, state_->model.moe.top_k)) *
                                static_cast<double>(t.ep - 1) / static_cast<double>(t.ep);
  return comm_bytes / copies_leaving;
}

double CollectiveModel::all_to_all_dispatch(double bytes_per_gpu) const {
  if (state_->traffic.ep <= 1) return 0.0;
  return cost(Collective::dispatch, GroupKind::ep).seconds(token_payload_bytes(bytes_per_gpu));
}

double CollectiveModel::all_to_all_combine(double bytes_per_gpu) const {
  if (state_->traffic.ep <= 1) return 0.0;
  return cost(Collective::combine, GroupKind::ep).seconds(token_payload_bytes(bytes_per_gpu));
}

double CollectiveModel::p2p(double bytes) const { return cost(Collective::send_recv, GroupKind::pp).seconds(bytes); }

const topology::Topology& CollectiveModel::topology() const { return state_->topology; }
const RankLayout& CollectiveModel::layout() const { return state_->layout; }
const MoeTraffic& CollectiveModel::moe_traffic() const { return state_->traffic; }
const CollectiveOptions& CollectiveModel::options() const { return state_->options; }
std::size_t CollectiveModel::evaluations() const {
  const std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->evaluations;
}

}  // namespace fleetsim::collective
