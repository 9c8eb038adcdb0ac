// The collective model: the time of a training step's collectives on the cluster's real topology, with every group
// of the parallel plan running the same collective at once.
//
// Built once per scenario from the cluster (topology), the model (MoE routing) and the plan (rank placement, see
// rank_layout.hpp). Each query is answered from a memo keyed by (collective, group kind): the group kind fixes the
// group shape, and the size needs no key at all, because the fluid time is affine in the size with coefficients
// that one solve gives exactly (algorithms.hpp). So the first query of a kind costs one evaluation (on one
// representative per class of independent, identical parts of the cluster: symmetry.hpp) and every later query of
// that kind, at any size, costs a multiply-add. docs/collectives.md has the model, the validation against DeepEP's
// published bandwidths and the evaluation costs.
#pragma once

#include <cstddef>
#include <memory>

#include "collective/algorithms.hpp"
#include "collective/network.hpp"
#include "collective/rank_layout.hpp"
#include "spec/cluster.hpp"
#include "spec/jobs.hpp"
#include "spec/model.hpp"
#include "topology/topology.hpp"

namespace fleetsim::collective {

enum class AllReduceAlgorithm { ring, tree };

struct CollectiveOptions {
  PathSelection paths = PathSelection::spread;      // network.hpp
  AllReduceAlgorithm all_reduce = AllReduceAlgorithm::ring;  // what all_reduce() uses
  bool use_symmetry = true;  // false: solve every group of the cluster together (for tests of the reduction)
};

class CollectiveModel {
 public:
  // Builds the topology of `cluster` (throws InputError as build_topology does) and places `plan` on it (throws
  // std::invalid_argument as RankLayout does). `model` supplies the MoE routing (top_k, expert groups).
  CollectiveModel(const ClusterSpec& cluster, const ModelSpec& model, const ParallelPlan& plan,
                  CollectiveOptions options = {});
  ~CollectiveModel();
  CollectiveModel(CollectiveModel&&) noexcept;
  CollectiveModel& operator=(CollectiveModel&&) noexcept;

  // Seconds for every group of `kind` to finish. `bytes` is the full buffer of one rank (for reduce-scatter the
  // input, for all-gather the output; each rank ends with / starts from bytes / n). 0 for groups of one rank.
  double all_reduce(double bytes, GroupKind kind) const;
  double reduce_scatter(double bytes, GroupKind kind) const;
  double all_gather(double bytes, GroupKind kind) const;

  // MoE dispatch / combine over the EP groups, routed as DeepEP. `bytes_per_gpu` is what the op graph's
  // all-to-all op carries in Op::comm_bytes: the bytes of the token copies this GPU sends to other GPUs, i.e.
  // tokens x top_k x bytes per token x (ep-1)/ep (FP8 with scales for dispatch, BF16 for combine). 0 when ep is 1.
  double all_to_all_dispatch(double bytes_per_gpu) const;
  double all_to_all_combine(double bytes_per_gpu) const;

  // One pipeline send of `bytes` from each stage to the next, every stage boundary of every pipeline at once.
  double p2p(double bytes) const;

  // The memoized cost behind the calls above (evaluated on first use). For dispatch / combine its size is the
  // GPU's token payload (tokens x bytes per token), see token_payload_bytes().
  const CollectiveCost& cost(Collective collective, GroupKind kind) const;
  // Op::comm_bytes of an all-to-all -> the GPU's token payload: comm_bytes x ep / (top_k x (ep-1)).
  double token_payload_bytes(double comm_bytes) const;

  const topology::Topology& topology() const;
  const RankLayout& layout() const;
  const MoeTraffic& moe_traffic() const;
  const CollectiveOptions& options() const;
  std::size_t evaluations() const;  // memo misses so far

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fleetsim::collective
