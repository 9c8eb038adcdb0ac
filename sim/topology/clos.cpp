// The folded Clos every scale-out builder shares: how a leaf splits its ports, how many spines and cores a plane
// needs, and the links between them.
//
// Sizes, for radix R and a leaf with d down-ports and u up-ports (d = u = R/2 when non-blocking):
//   one leaf          holds d NICs (no spines: every NIC of the plane on one switch);
//   two layers        hold R * d NICs: up to R leaves, since every leaf reaches every spine and a spine has R ports
//                     (R = 64: 2,048 NICs, ISCA Table 3's FT2; eight such planes are its 16,384-GPU MPFT);
//   three layers      hold R * (R/2) * d NICs: pods of R/2 leaves whose spines split their ports R/2 down, R/2 up,
//                     and up to R pods under the cores (R = 64: 65,536, ISCA Table 3's FT3, with 5,120 switches).
//                     Oversubscribed between pods (oversubscription_at: pod) the leaves stay non-blocking and the
//                     spines split as leaves otherwise would: at 1:7, 56 leaves down and 8 cores up per spine, so a
//                     pod holds 56 * 32 = 1,792 NICs with full bisection and sends 1/7 of that out of the pod.
// A plane that is not full uses the fewest switches that keep it symmetric (every leaf the same number of links to
// every spine, every spine the same to every core of its group), i.e. parallel cables between a small plane's switches
// rather than half-empty spines. Why not pods of a full two-layer plane (2,048 NICs at R = 64) under a core: a spine
// that spends all R ports on R leaves has none left for a core, so a pod that can be joined to others holds R/2
// leaves; that is the textbook k-ary fat tree (Al-Fares et al., SIGCOMM 2008) and what ISCA Table 3 costs as FT3.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "topology/builder.hpp"

namespace fleetsim::topology {
namespace {

// The smallest divisor of n that is at least `at_least` (n itself when none is smaller).
std::int64_t smallest_divisor_at_least(std::int64_t n, std::int64_t at_least) {
  for (std::int64_t c = std::max<std::int64_t>(1, at_least); c < n; ++c)
    if (n % c == 0) return c;
  return n;
}

}  // namespace

PortSplit split_ports(const NetworkSpec& network) {
  PortSplit ports;
  ports.radix = network.switch_radix;
  const auto radix = static_cast<double>(ports.radix);
  // As many down-ports as the ratio allows, then the fewest up-ports that keep down / up <= ratio: R = 64 gives
  // 32/32 at 1, 42/21 at 2 (one port idle: 64 is not a multiple of 3), 48/16 at 3. The epsilon keeps exact ratios
  // exact in floating point.
  auto split = [&](double ratio, std::int64_t& down, std::int64_t& up) {
    down = static_cast<std::int64_t>(std::floor(radix * ratio / (1.0 + ratio) + 1e-9));
    up = static_cast<std::int64_t>(std::ceil(static_cast<double>(down) / ratio - 1e-9));
    up = std::clamp<std::int64_t>(up, 1, ports.radix - down);
  };
  const bool at_leaf = network.oversubscription_at == OversubscribedLayer::leaf;
  split(at_leaf ? network.oversubscription : 1.0, ports.leaf_down, ports.leaf_up);
  split(at_leaf ? 1.0 : network.oversubscription, ports.spine_down, ports.spine_up);
  return ports;
}

Plane shape_plane(std::int64_t nics, std::int64_t leaves, const PortSplit& ports,
                  std::int64_t leaves_per_pod_multiple) {
  const std::int64_t radix = ports.radix;
  const std::int64_t up = ports.leaf_up;
  Plane plane;
  plane.nics = nics;
  plane.leaves = leaves;
  plane.pods = 1;
  if (leaves <= 1) {
    plane.layers = 1;
    plane.leaves_per_pod = leaves;
    return plane;
  }
  if (leaves <= radix) {
    // Each spine takes leaves * (up / S) cables, at most radix; S must divide up for every leaf to split its
    // uplinks evenly. S = up (one cable per leaf-spine pair) always fits, since leaves <= radix.
    plane.layers = 2;
    plane.leaves_per_pod = leaves;
    plane.spines_per_pod = smallest_divisor_at_least(up, ceil_div(leaves * up, radix));
    return plane;
  }
  plane.layers = 3;
  const std::int64_t pod_leaves = ports.spine_down;  // radix / 2 unless the pods' uplinks are oversubscribed
  plane.leaves_per_pod = pod_leaves / leaves_per_pod_multiple * leaves_per_pod_multiple;
  if (plane.leaves_per_pod == 0)
    fail_cluster("network.switch_radix",
                 "a three-layer pod holds " + std::to_string(pod_leaves) + " leaves, fewer than the " +
                     std::to_string(leaves_per_pod_multiple) +
                     " leaves that must share a pod here (one scalable unit's rails, or one node's leaves); "
                     "use a larger switch_radix");
  plane.pods = ceil_div(leaves, plane.leaves_per_pod);
  if (plane.pods > radix) {
    const std::int64_t most = radix * plane.leaves_per_pod * ports.leaf_down;
    fail_cluster("gpus", "needs " + std::to_string(nics) + " NICs in one network plane, more than three layers of " +
                             std::to_string(radix) + "-port switches hold (" + std::to_string(most) +
                             " with this oversubscription and node size); use a larger switch_radix or the "
                             "multi-plane-fat-tree topology");
  }
  // A pod's spine has one cable to each of its pod's leaves (so a pod has `up` spines) and spine_up cables up.
  plane.spines_per_pod = up;
  plane.spine_up = ports.spine_up;
  // Core group j serves spine j of every pod: pods * spine_up cables over C cores of radix ports, C dividing
  // spine_up.
  plane.cores_per_group = smallest_divisor_at_least(plane.spine_up, ceil_div(plane.pods * plane.spine_up, radix));
  plane.cores = up * plane.cores_per_group;
  return plane;
}

void build_planes(const ScaleOutLayout& layout, GraphBuilder& builder) {
  Topology& topology = builder.topology();
  const PortSplit& ports = topology.ports;
  const double bandwidth = topology.nic_bandwidth_bytes_per_s;
  const auto planes = static_cast<std::size_t>(layout.planes);
  if (layout.nics.size() != topology.gpu_ports.size())
    throw std::logic_error("topology: the layout places " + std::to_string(layout.nics.size()) + " NICs for " +
                           std::to_string(topology.gpu_ports.size()) + " GPUs");

  std::vector<std::int64_t> leaves(planes, 0), nics(planes, 0);
  for (const NicPlacement& place : layout.nics) {
    if (place.plane < 0 || static_cast<std::size_t>(place.plane) >= planes || place.leaf < 0)
      throw std::logic_error("topology: a NIC placed outside the layout's planes");
    auto& count = leaves[static_cast<std::size_t>(place.plane)];
    count = std::max(count, place.leaf + 1);
    ++nics[static_cast<std::size_t>(place.plane)];
  }

  for (std::size_t p = 0; p < planes; ++p) {
    Plane plane = shape_plane(nics[p], leaves[p], ports, layout.leaves_per_pod_multiple);
    const auto plane32 = static_cast<std::int32_t>(p);
    const std::int64_t spines_per_pod = plane.spines_per_pod;

    for (std::int64_t leaf = 0; leaf < plane.leaves; ++leaf) {
      const VertexId v = builder.add_device(
          {VertexKind::leaf, -1, -1, plane32, static_cast<std::int32_t>(leaf / plane.leaves_per_pod), leaf});
      if (leaf == 0) plane.first_leaf = v;
    }
    for (std::int64_t spine = 0; spine < plane.spines(); ++spine) {
      const VertexId v = builder.add_device(
          {VertexKind::spine, -1, -1, plane32, static_cast<std::int32_t>(spine / spines_per_pod), spine});
      if (spine == 0) plane.first_spine = v;
    }
    for (std::int64_t core = 0; core < plane.cores; ++core) {
      const VertexId v = builder.add_device({VertexKind::core, -1, -1, plane32, -1, core});
      if (core == 0) plane.first_core = v;
    }

    // Edge ids of this plane's switch links are contiguous and in this order, which route() relies on.
    plane.first_leaf_uplink = builder.next_edge_id();
    if (plane.layers >= 2) {
      for (std::int64_t leaf = 0; leaf < plane.leaves; ++leaf) {
        const std::int64_t pod = leaf / plane.leaves_per_pod;
        for (std::int64_t k = 0; k < ports.leaf_up; ++k) {
          const VertexId spine = plane.first_spine + static_cast<VertexId>(pod * spines_per_pod + k % spines_per_pod);
          builder.add_link(plane.first_leaf + static_cast<VertexId>(leaf), spine, LinkKind::ib, bandwidth,
                           kIbLinkLatencyS);
        }
      }
    }
    plane.first_spine_uplink = builder.next_edge_id();
    if (plane.layers == 3) {
      for (std::int64_t spine = 0; spine < plane.spines(); ++spine) {
        const std::int64_t group = spine % spines_per_pod;
        for (std::int64_t m = 0; m < plane.spine_up; ++m) {
          const VertexId core =
              plane.first_core + static_cast<VertexId>(group * plane.cores_per_group + m % plane.cores_per_group);
          builder.add_link(plane.first_spine + static_cast<VertexId>(spine), core, LinkKind::ib, bandwidth,
                           kIbLinkLatencyS);
        }
      }
    }
    topology.planes.push_back(plane);
  }

  // Plug the NICs in, checking that no leaf is given more NICs than it has down-ports.
  std::vector<std::vector<std::int32_t>> occupancy(planes);
  for (std::size_t p = 0; p < planes; ++p) occupancy[p].assign(static_cast<std::size_t>(leaves[p]), 0);
  Graph& graph = topology.graph;
  for (std::size_t rank = 0; rank < layout.nics.size(); ++rank) {
    const NicPlacement& place = layout.nics[rank];
    const Plane& plane = topology.planes[static_cast<std::size_t>(place.plane)];
    if (++occupancy[static_cast<std::size_t>(place.plane)][static_cast<std::size_t>(place.leaf)] > ports.leaf_down)
      throw std::logic_error("topology: a leaf was given more NICs than it has down-ports");
    GpuPort& port = topology.gpu_ports[rank];
    const VertexId leaf = plane.first_leaf + static_cast<VertexId>(place.leaf);
    port.plane = place.plane;
    port.leaf = place.leaf;
    port.uplink = builder.add_link(port.nic, leaf, LinkKind::ib, bandwidth, kIbLinkLatencyS);
    const auto pod = static_cast<std::int32_t>(place.leaf / std::max<std::int64_t>(1, plane.leaves_per_pod));
    for (const VertexId v : {port.gpu, port.nic}) {
      graph[v].plane = place.plane;
      graph[v].pod = pod;
    }
  }
}

double bisection_bandwidth_bytes_per_s(const Topology& topology) {
  // A cut through the middle of a plane, with whole leaves (pods) on each side, crosses half of each layer's links;
  // the narrowest layer decides: the NIC links, the leaf uplinks (narrower by the oversubscription), or the spine
  // uplinks (never narrower as built, since spines are non-blocking; kept so the formula reads as the min-cut).
  double links = 0;
  for (const Plane& plane : topology.planes) {
    double narrowest = static_cast<double>(plane.nics);
    if (plane.layers >= 2)
      narrowest = std::min(narrowest, static_cast<double>(plane.leaves * topology.ports.leaf_up));
    if (plane.layers == 3) narrowest = std::min(narrowest, static_cast<double>(plane.spines() * plane.spine_up));
    links += narrowest / 2.0;
  }
  return links * topology.nic_bandwidth_bytes_per_s;
}

}  // namespace fleetsim::topology
