// The topology seen by the flow solver: which resources a GPU-to-GPU transfer crosses, and their capacities.
//
// A resource is one direction of a link (links are full duplex: `bandwidth_bytes_per_s` each way, topology.hpp),
// at the achievable fraction of its line rate: InfiniBand (and the GPU-NIC link in series with it) at
// kInfinibandEfficiency, NVLink at kNvlinkEfficiency (sim/cost/comm_model.hpp, V3 §3.2.2). Switches are
// non-blocking crossbars: only links constrain.
//
// Equal-cost paths through the switches can be taken two ways (PathSelection):
//  - spread (default): traffic between two leaves is spread evenly over all equal-cost paths, the fluid limit of
//    adaptive routing or of spraying a transfer over many queue pairs. Each leaf's uplinks then act as one resource
//    of leaf_up x link bandwidth per direction, and each pod's spine-to-core links as one resource of
//    spines_per_pod x spine_up x link bandwidth: exactly, since a flow spread evenly over k parallel links puts
//    rate/k on each, so the k per-link constraints are the one bundle constraint.
//  - hashed: one path per transfer, chosen by route()'s ECMP-like hash (static routing); flows that hash onto the
//    same uplink share it, so this shows the cost of hash collisions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "collective/flow_solver.hpp"
#include "topology/topology.hpp"

namespace fleetsim::collective {

enum class PathSelection { spread, hashed };

class NetworkView {
 public:
  // Keeps a reference to `topology`, which must outlive the view. O(links) to build.
  NetworkView(const topology::Topology& topology, PathSelection paths);

  const topology::Topology& topology() const { return topology_; }
  PathSelection paths() const { return paths_; }

  // The resources (as keys, dense in 0 .. key_count()) and the summed link latency of the path from gpu_a to gpu_b.
  // In hashed mode `flow_hash` picks among equal-cost paths; in spread mode it is ignored.
  void path(int gpu_a, int gpu_b, std::uint64_t flow_hash, std::vector<std::uint32_t>& keys, double& latency_s) const;
  std::size_t key_count() const { return 2 * (edge_count_ + bundle_capacity_.size()); }
  double key_capacity(std::uint32_t key) const;

 private:
  const topology::Topology& topology_;
  PathSelection paths_;
  std::size_t edge_count_ = 0;
  // Per EdgeId: the vertex the edge was added from (direction 0 is traversal away from it), the other end,
  // achievable capacity per direction, latency, and the bundle it belongs to in spread mode (-1: none).
  std::vector<topology::VertexId> from_, to_;
  std::vector<double> capacity_, latency_;
  std::vector<std::int32_t> bundle_;
  std::vector<double> bundle_capacity_;
};

// The transfers of one evaluation, turned into a FlowProblem. Identical transfers (same source, destination, size,
// stage and, in hashed mode, hash) are merged into one weighted flow, which max-min treats exactly as the separate
// flows (flow_solver.hpp): the rings of several channels that use the same GPU pair cost one flow, not one each.
class TransferSet {
 public:
  // A transfer's stage only groups latencies: a two-hop algorithm (DeepEP: InfiniBand, then NVLink forwarding)
  // pays the largest latency of each stage.
  static constexpr std::size_t kStages = 2;

  explicit TransferSet(const NetworkView& view) : view_(view) {}

  // Adds a transfer of `bytes` from gpu_a to gpu_b (global ranks). Nothing for the same GPU or no bytes.
  void add(int gpu_a, int gpu_b, double bytes, std::uint64_t flow_hash = 0, std::size_t stage = 0);

  std::size_t transfers() const { return transfers_.size(); }
  // The flow hash for the next transfer: its number since the last restart_numbering(). Numbering restarts at each
  // independent component, so that identical components draw identical paths in hashed mode (symmetry.hpp).
  std::uint64_t next_hash() const { return transfers_.size() - numbering_base_; }
  void restart_numbering() { numbering_base_ = transfers_.size(); }

  struct Built {
    FlowProblem problem;
    std::array<double, kStages> max_latency_s{};  // per stage: the largest path latency among its transfers
  };
  // Merges and routes the transfers (sorting them in place: call once, after the last add()).
  Built build();

 private:
  struct Transfer {
    int from = 0, to = 0;
    double bytes = 0;
    std::uint64_t hash = 0;
    std::size_t stage = 0;
  };
  const NetworkView& view_;
  std::vector<Transfer> transfers_;
  std::size_t numbering_base_ = 0;
};

}  // namespace fleetsim::collective
