// Communication cost for the analytic path: a bandwidth model of the collectives of a training step.
//
// MoE dispatch/combine use DeepEP's published bandwidths (the profile's all_to_all.csv) as DeepEP defines them:
// the token copies its benchmark counts (one per node a token reaches under node-limited routing, at most
// groups_per_token nodes, its own node included; one per GPU inside a node) over the kernel's time. DP and PP
// traffic runs over the GPU's own NIC (one NIC per GPU, one plane per NIC) at the achievable fraction of line rate
// that DeepSeek reports.
#pragma once

#include <cstdint>

#include "cost/kernel_profile.hpp"
#include "graph/op_graph.hpp"
#include "spec/cluster.hpp"
#include "spec/model.hpp"

namespace fleetsim {

namespace collective {
class CollectiveModel;
}

// Achievable InfiniBand bandwidth: 40 of 50 GB/s per 400 Gb/s port (V3 §3.2.2, ISCA §4).
inline constexpr double kInfinibandEfficiency = 40.0 / 50.0;
// Achievable NVLink bandwidth per direction: about 160 GB/s of the H800's 400 GB/s bidirectional, i.e. 200 per
// direction (V3 §3.2.2).
inline constexpr double kNvlinkEfficiency = 160.0 / 200.0;
// SMs DeepSeek-V3 dedicates to all-to-all communication while it overlaps compute (V3 §3.2.2: 20 of 132).
inline constexpr std::int64_t kCommunicationSms = 20;

// Ranks holding the same parameters, over which gradients are reduced and ZeRO shards: dp x cp for the dense
// parameters, dp x tp x cp / ep for the routed experts (EP groups are carved out of the data- and tensor-parallel
// ranks).
std::int64_t data_parallel_ranks(const ParallelPlan& plan, bool experts);

class CommModel {
 public:
  // With `collectives`, data-parallel collectives and pipeline transfers are timed on the cluster's topology with
  // every group of the plan loading it (sim/collective); without, by the NIC-bandwidth formulas below. The MoE
  // all-to-all keeps DeepEP's measured bandwidths either way: a measurement beats a model where there is one.
  // `dispatcher` says how the MoE all-to-all moves tokens (MoeDispatcher in sim/spec/jobs.hpp).
  CommModel(const ClusterSpec& cluster, const ModelSpec& model, const ParallelPlan& plan, const KernelProfile& profile,
            const collective::CollectiveModel* collectives = nullptr, MoeDispatcher dispatcher = MoeDispatcher::deepep);

  // Time of one MoE dispatch or combine op of the op graph (op.kind == all_to_all): DeepEP's published bandwidth
  // over the copies its benchmark counts, or, for a plain all-to-all, the longer of the GPU's copies for other
  // nodes over its NIC and its copies for its own node over NVLink.
  double moe_all_to_all_seconds(const Op& op) const;

  // Ring reduce-scatter or all-gather of `bytes` (the full, unsharded buffer of one rank) over `ranks` ranks,
  // one per node: each rank moves (ranks-1)/ranks of the buffer over its NIC.
  double ring_shard_collective_seconds(double bytes, std::int64_t ranks) const;

  // A sequence-parallel all-gather or reduce-scatter of one tensor-parallel region (op.kind == tensor_parallel):
  // a ring over the tp GPUs moving (tp-1)/tp of the gathered buffer, over NVLink when the group fits in a node,
  // else over the NIC.
  double tensor_parallel_seconds(const Op& op) const;

  // The ring exchange of context-parallel attention (an attention op's comm_bytes): one neighbour transfer after
  // another, over NVLink when tp x cp GPUs fit in a node (Megatron-LM's rank order puts cp next to tp), else over
  // the NIC.
  double context_parallel_seconds(const Op& op) const;

  // A point-to-point transfer between pipeline stages (always across nodes when gpus_per_node <= tp*cp).
  double p2p_seconds(double bytes) const;

  // Data-parallel reduce-scatter / all-gather of `bytes` (one rank's full buffer) over the replicas of the dense
  // parameters (dp x cp ranks) or of the routed experts (dp x tp x cp / ep ranks).
  double data_parallel_reduce_scatter_seconds(double bytes, bool experts) const;
  double data_parallel_all_gather_seconds(double bytes, bool experts) const;

  double nic_bytes_per_s() const { return nic_bytes_per_s_; }
  double nvlink_bytes_per_s() const { return nvlink_bytes_per_s_; }

 private:
  double deepep_bytes_per_s(bool combine) const;
  // Per-GPU bandwidth of a group of `gpus` consecutive ranks: NVLink when they share a node, else the NIC.
  double group_bytes_per_s(std::int64_t gpus) const;
  // A ring reduce-scatter or all-gather: each of `ranks` GPUs moves (ranks-1)/ranks of the buffer. Bandwidth term
  // only: the buffers here are megabytes or more, where per-hop latency (microseconds) is negligible.
  static double ring_seconds(double bytes, std::int64_t ranks, double bytes_per_s);

  ClusterSpec cluster_;
  ModelSpec model_;
  ParallelPlan plan_;
  const KernelProfile& profile_;
  const collective::CollectiveModel* collectives_ = nullptr;
  MoeDispatcher dispatcher_ = MoeDispatcher::deepep;
  double nic_bytes_per_s_ = 0;
  double nvlink_bytes_per_s_ = 0;
};

}  // namespace fleetsim
