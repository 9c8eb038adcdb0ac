// Hop counts and routes from the structure of the planes (no search): every query is O(path length).
#include <stdexcept>
#include <string>

#include "topology/builder.hpp"

namespace fleetsim::topology {
namespace {

const GpuPort& port_of(const Topology& topology, int rank) {
  if (rank < 0 || rank >= topology.gpu_count())
    throw std::out_of_range("topology: GPU rank " + std::to_string(rank) + " is outside 0.." +
                            std::to_string(topology.gpu_count() - 1));
  return topology.gpu_ports[static_cast<std::size_t>(rank)];
}

// The GPU of `node` whose NIC is on `plane`: where a cross-plane flow enters the network. In the multi-plane fat tree
// that is the GPU with the destination's index in the node (DeepEP sends over IB to the same-index GPU of the target
// node, and forwards over NVLink inside nodes).
const GpuPort& relay_on_plane(const Topology& topology, std::int32_t node, std::int32_t plane) {
  const std::size_t first = static_cast<std::size_t>(node) * static_cast<std::size_t>(topology.gpus_per_node);
  for (std::size_t i = 0; i < static_cast<std::size_t>(topology.gpus_per_node); ++i) {
    const GpuPort& candidate = topology.gpu_ports[first + i];
    if (candidate.plane == plane) return candidate;
  }
  throw std::logic_error("topology: node " + std::to_string(node) + " has no NIC on plane " + std::to_string(plane));
}

// The NIC a flow leaves through: the source's own, or its node's GPU on the destination's plane.
const GpuPort& exit_port(const Topology& topology, const GpuPort& from, const GpuPort& to) {
  return from.plane == to.plane ? from : relay_on_plane(topology, from.node, to.plane);
}

// splitmix64's finaliser: a cheap, well-mixed function of the flow hash and the decision being made, so that the
// choices at different layers are independent of each other but fixed for a given hash.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::int64_t pick(std::uint64_t flow_hash, std::uint64_t decision, std::int64_t choices) {
  if (choices <= 1) return 0;
  return static_cast<std::int64_t>(mix(flow_hash ^ mix(decision)) % static_cast<std::uint64_t>(choices));
}

// Switch links from leaf `from` to leaf `to` of one plane: up to a spine of the source's pod, through a core when the
// pods differ, and down. Equal-cost choices: which of the source leaf's uplinks (hence which spine), which parallel
// cable from that spine down to the destination leaf, which core of the spine's group, which cable down from it.
void append_switch_path(const Topology& topology, const Plane& plane, std::int64_t from, std::int64_t to,
                        std::uint64_t flow_hash, std::vector<EdgeId>& path) {
  if (from == to) return;
  const std::int64_t up = topology.ports.leaf_up;
  const std::int64_t spines = plane.spines_per_pod;
  auto leaf_uplink = [&](std::int64_t leaf, std::int64_t k) {
    return plane.first_leaf_uplink + static_cast<EdgeId>(leaf * up + k);
  };
  auto spine_uplink = [&](std::int64_t spine, std::int64_t m) {
    return plane.first_spine_uplink + static_cast<EdgeId>(spine * plane.spine_up + m);
  };
  const std::int64_t k = pick(flow_hash, 1, up);
  const std::int64_t spine = k % spines;  // leaf uplink k reaches spine k % spines of the leaf's pod
  const std::int64_t k_down = spine + spines * pick(flow_hash, 2, up / spines);
  path.push_back(leaf_uplink(from, k));
  const std::int64_t pod_from = from / plane.leaves_per_pod;
  const std::int64_t pod_to = to / plane.leaves_per_pod;
  if (pod_from != pod_to) {
    const std::int64_t cores = plane.cores_per_group;
    const std::int64_t m = pick(flow_hash, 3, plane.spine_up);
    const std::int64_t core = m % cores;  // spine uplink m reaches core m % cores of the spine's group
    const std::int64_t m_down = core + cores * pick(flow_hash, 4, plane.spine_up / cores);
    path.push_back(spine_uplink(pod_from * spines + spine, m));
    path.push_back(spine_uplink(pod_to * spines + spine, m_down));
  }
  path.push_back(leaf_uplink(to, k_down));
}

}  // namespace

int hop_count(const Topology& topology, int gpu_a, int gpu_b) {
  const GpuPort& a = port_of(topology, gpu_a);
  const GpuPort& b = port_of(topology, gpu_b);
  if (gpu_a == gpu_b) return 0;
  if (a.node == b.node) return 2;  // GPU - NVSwitch - GPU
  const GpuPort& exit = exit_port(topology, a, b);
  int hops = exit.gpu == a.gpu ? 0 : 2;  // the NVLink detour to the destination's plane
  hops += 4;                             // GPU - NIC - leaf ... leaf - NIC - GPU
  if (exit.leaf != b.leaf) {
    const Plane& plane = topology.planes[static_cast<std::size_t>(b.plane)];
    hops += exit.leaf / plane.leaves_per_pod == b.leaf / plane.leaves_per_pod ? 2 : 4;
  }
  return hops;
}

std::vector<EdgeId> route(const Topology& topology, int gpu_a, int gpu_b, std::uint64_t flow_hash) {
  const GpuPort& a = port_of(topology, gpu_a);
  const GpuPort& b = port_of(topology, gpu_b);
  std::vector<EdgeId> path;
  if (gpu_a == gpu_b) return path;
  if (a.node == b.node) return {a.nvlink, b.nvlink};
  path.reserve(10);
  const GpuPort& exit = exit_port(topology, a, b);
  if (exit.gpu != a.gpu) {
    path.push_back(a.nvlink);
    path.push_back(exit.nvlink);
  }
  path.push_back(exit.pcie);
  path.push_back(exit.uplink);
  append_switch_path(topology, topology.planes[static_cast<std::size_t>(b.plane)], exit.leaf, b.leaf, flow_hash, path);
  path.push_back(b.uplink);
  path.push_back(b.pcie);
  return path;
}

}  // namespace fleetsim::topology
