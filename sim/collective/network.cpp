#include "collective/network.hpp"

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include <boost/range/iterator_range.hpp>

#include "cost/comm_model.hpp"

namespace fleetsim::collective {

using topology::EdgeId;
using topology::LinkKind;
using topology::VertexId;

NetworkView::NetworkView(const topology::Topology& topology, PathSelection paths)
    : topology_(topology), paths_(paths), edge_count_(topology.edge_count()) {
  from_.resize(edge_count_);
  to_.resize(edge_count_);
  capacity_.resize(edge_count_);
  latency_.resize(edge_count_);
  bundle_.assign(edge_count_, -1);
  const auto& graph = topology.graph;
  for (const auto edge : boost::make_iterator_range(boost::edges(graph))) {
    const topology::Link& link = graph[edge];
    from_.at(link.id) = boost::source(edge, graph);
    to_.at(link.id) = boost::target(edge, graph);
    // The achievable fraction of line rate, from DeepSeek's measurements (V3 §3.2.2; constants in comm_model.hpp).
    // The GPU-NIC link carries the NIC's rate (topology/README.md) and is in series with it: same efficiency.
    const double efficiency = link.kind == LinkKind::nvlink ? kNvlinkEfficiency : kInfinibandEfficiency;
    capacity_.at(link.id) = link.bandwidth_bytes_per_s * efficiency;
    latency_.at(link.id) = link.latency_s;
  }

  // Bundles of equal-cost links (spread mode): each leaf's uplinks, each pod's spine uplinks. Their edges are
  // numbered contiguously per plane (topology.hpp, Plane). Direction 0 of a bundled edge is made "up" (away from
  // the leaf or spine), so that all edges of one bundle agree on what each direction means.
  auto add_bundle = [&](EdgeId first, std::int64_t count, topology::VertexKind lower) {
    const auto bundle = static_cast<std::int32_t>(bundle_capacity_.size());
    double capacity = 0;
    for (std::int64_t i = 0; i < count; ++i) {
      const EdgeId id = first + static_cast<EdgeId>(i);
      if (graph[from_[id]].kind != lower) std::swap(from_[id], to_[id]);
      bundle_[id] = bundle;
      capacity += capacity_[id];
    }
    bundle_capacity_.push_back(capacity);
  };
  const std::int64_t up = topology.ports.leaf_up;
  for (const topology::Plane& plane : topology.planes) {
    if (plane.layers >= 2)
      for (std::int64_t leaf = 0; leaf < plane.leaves; ++leaf)
        add_bundle(plane.first_leaf_uplink + static_cast<EdgeId>(leaf * up), up, topology::VertexKind::leaf);
    if (plane.layers == 3)
      for (std::int64_t pod = 0; pod < plane.pods; ++pod)
        add_bundle(plane.first_spine_uplink + static_cast<EdgeId>(pod * plane.spines_per_pod * plane.spine_up),
                   plane.spines_per_pod * plane.spine_up, topology::VertexKind::spine);
  }
}

double NetworkView::key_capacity(std::uint32_t key) const {
  const std::size_t unit = key / 2;
  return unit < edge_count_ ? capacity_.at(unit) : bundle_capacity_.at(unit - edge_count_);
}

void NetworkView::path(int gpu_a, int gpu_b, std::uint64_t flow_hash, std::vector<std::uint32_t>& keys,
                       double& latency_s) const {
  keys.clear();
  latency_s = 0;
  const std::vector<EdgeId> edges = topology::route(topology_, gpu_a, gpu_b, flow_hash);
  VertexId at = topology_.gpus.at(static_cast<std::size_t>(gpu_a));
  for (const EdgeId id : edges) {
    // Which way the walk crosses the link decides which of its two directions (resources) it loads.
    std::uint32_t direction = 0;
    if (at == from_[id]) {
      at = to_[id];
    } else if (at == to_[id]) {
      at = from_[id];
      direction = 1;
    } else {
      throw std::logic_error("collective: route() returned a path that is not a walk");
    }
    const bool bundled = paths_ == PathSelection::spread && bundle_[id] >= 0;
    const std::size_t unit = bundled ? edge_count_ + static_cast<std::size_t>(bundle_[id]) : id;
    keys.push_back(static_cast<std::uint32_t>(2 * unit + direction));
    latency_s += latency_[id];
  }
}

void TransferSet::add(int gpu_a, int gpu_b, double bytes, std::uint64_t flow_hash, std::size_t stage) {
  if (gpu_a == gpu_b || !(bytes > 0)) return;
  if (stage >= kStages) throw std::out_of_range("collective: transfer stage out of range");
  // In spread mode the path does not depend on the hash, so dropping it lets identical transfers merge.
  transfers_.push_back({gpu_a, gpu_b, bytes, view_.paths() == PathSelection::hashed ? flow_hash : 0, stage});
}

TransferSet::Built TransferSet::build() {
  // Sorting brings identical transfers together (and fixes the flow order, so the solve is deterministic).
  std::vector<Transfer>& sorted = transfers_;
  auto key = [](const Transfer& t) { return std::tie(t.from, t.to, t.hash, t.stage, t.bytes); };
  std::sort(sorted.begin(), sorted.end(), [&](const Transfer& a, const Transfer& b) { return key(a) < key(b); });

  Built built;
  std::vector<std::int32_t> resource_of_key(view_.key_count(), -1);
  std::vector<std::uint32_t> keys;
  std::vector<ResourceId> resources;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i + 1;
    while (j < sorted.size() && key(sorted[j]) == key(sorted[i])) ++j;
    const Transfer& t = sorted[i];
    const auto copies = static_cast<double>(j - i);
    double latency = 0;
    view_.path(t.from, t.to, t.hash, keys, latency);
    resources.clear();
    for (const std::uint32_t k : keys) {
      std::int32_t& r = resource_of_key[k];
      if (r < 0) r = static_cast<std::int32_t>(built.problem.add_resource(view_.key_capacity(k)));
      resources.push_back(static_cast<ResourceId>(r));
    }
    built.problem.add_flow(resources, t.bytes * copies, latency, copies);
    built.max_latency_s[t.stage] = std::max(built.max_latency_s[t.stage], latency);
    i = j;
  }
  return built;
}

}  // namespace fleetsim::collective
