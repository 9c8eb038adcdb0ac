// build_topology: validate the cluster, build the nodes, let the selected builder place the NICs, build the planes.
#include "topology/topology.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "core/error.hpp"
#include "core/units.hpp"
#include "topology/builder.hpp"

namespace fleetsim::topology {

std::string_view to_string(VertexKind kind) {
  switch (kind) {
    case VertexKind::gpu: return "gpu";
    case VertexKind::nvswitch: return "nvswitch";
    case VertexKind::nic: return "nic";
    case VertexKind::leaf: return "leaf";
    case VertexKind::spine: return "spine";
    case VertexKind::core: return "core";
  }
  return "?";
}

std::string_view to_string(LinkKind kind) {
  switch (kind) {
    case LinkKind::nvlink: return "nvlink";
    case LinkKind::pcie_nic: return "pcie-nic";
    case LinkKind::ib: return "ib";
  }
  return "?";
}

void fail_cluster(const std::string& key, const std::string& detail) {
  throw InputError(SourceLocation{}, "cluster." + key, detail);
}

VertexId GraphBuilder::add_device(const Device& device) {
  ++topology_.vertex_count[static_cast<std::size_t>(device.kind)];
  return boost::add_vertex(device, topology_.graph);
}

EdgeId GraphBuilder::add_link(VertexId a, VertexId b, LinkKind kind, double bandwidth_bytes_per_s, double latency_s) {
  if (topology_.edge_slots.size() >= std::numeric_limits<EdgeId>::max() ||
      std::max(a, b) > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("topology: more links or devices than 32-bit ids can number");
  const auto id = static_cast<EdgeId>(topology_.edge_slots.size());
  // The new edge goes to the end of a's out-edge list (vecS): that position finds it again.
  const auto position = static_cast<std::uint32_t>(boost::out_degree(a, topology_.graph));
  boost::add_edge(a, b, Link{kind, bandwidth_bytes_per_s, latency_s, id}, topology_.graph);
  topology_.edge_slots.push_back({static_cast<std::uint32_t>(a), position});
  return id;
}

namespace {

void validate(const ClusterSpec& cluster) {
  if (cluster.gpus_per_node <= 0)
    fail_cluster("gpus_per_node", "must be positive; got " + std::to_string(cluster.gpus_per_node));
  if (cluster.gpus <= 0 || cluster.gpus % cluster.gpus_per_node != 0)
    fail_cluster("gpus", "must be a positive multiple of gpus_per_node (" + std::to_string(cluster.gpus_per_node) +
                             "); got " + std::to_string(cluster.gpus));
  // Ranks are ints in the routing API; far beyond any cluster this simulator is meant for.
  if (cluster.gpus > std::numeric_limits<std::int32_t>::max() / 8)
    fail_cluster("gpus", "is too large to simulate; got " + std::to_string(cluster.gpus));
  const NetworkSpec& network = cluster.network;
  if (network.switch_radix < 2 || network.switch_radix % 2 != 0)
    fail_cluster("network.switch_radix", "must be an even number of switch ports, at least 2; got " +
                                             std::to_string(network.switch_radix));
  if (!std::isfinite(network.oversubscription) || network.oversubscription < 1 ||
      network.oversubscription > static_cast<double>(network.switch_radix - 1))
    fail_cluster("network.oversubscription", "must be a ratio from 1 to switch_radix - 1 (" +
                                                 std::to_string(network.switch_radix - 1) +
                                                 " down-ports to 1 up-port)");
  if (!(network.nic_bandwidth_bytes_per_s > 0) || !std::isfinite(network.nic_bandwidth_bytes_per_s))
    fail_cluster("network.nic_bandwidth", "must be a positive bandwidth");
  if (cluster.gpus_per_node > 1 && !(cluster.gpu.nvlink_bandwidth_bytes_per_s > 0))
    fail_cluster("gpu.nvlink_bandwidth", "must be positive when a node has more than one GPU");
}

}  // namespace

Topology build_topology(const ClusterSpec& cluster) {
  validate(cluster);
  const ScaleOutBuilder& scale_out = scale_out_builder(cluster.network.topology);
  Topology topology;
  topology.kind = scale_out.kind;
  topology.name = std::string(scale_out.name);
  topology.gpus_per_node = cluster.gpus_per_node;
  topology.nodes = cluster.gpus / cluster.gpus_per_node;
  topology.nic_bandwidth_bytes_per_s = cluster.network.nic_bandwidth_bytes_per_s;
  topology.ports = split_ports(cluster.network);

  GraphBuilder builder(topology);
  build_nvlink_nodes(cluster, builder);
  build_planes(scale_out.layout(cluster, topology.ports), builder);
  return topology;
}

std::string describe(const Topology& topology) {
  int layers = 0;
  for (const Plane& plane : topology.planes) layers = std::max(layers, plane.layers);
  std::ostringstream out;
  out << topology.name << ": " << topology.gpu_count() << " GPUs (" << topology.nodes << " nodes x "
      << topology.gpus_per_node << "); " << topology.planes.size() << (topology.planes.size() == 1 ? " plane" : " planes")
      << " of " << layers << (layers == 1 ? " layer" : " layers") << ", " << topology.ports.radix
      << "-port switches, leaf " << topology.ports.leaf_down << " down / " << topology.ports.leaf_up << " up"
      << (layers == 3 && topology.ports.spine_down != topology.ports.radix / 2
              ? ", spine " + std::to_string(topology.ports.spine_down) + " down / " +
                    std::to_string(topology.ports.spine_up) + " up"
              : std::string())
      << "; "
      << topology.count(VertexKind::leaf) << " leaves, " << topology.count(VertexKind::spine) << " spines, "
      << topology.count(VertexKind::core) << " cores; " << topology.edge_count() << " links; NIC "
      << format_si(topology.nic_bandwidth_bytes_per_s, 3) << "B/s, bisection "
      << format_si(bisection_bandwidth_bytes_per_s(topology), 4) << "B/s";
  return out.str();
}

}  // namespace fleetsim::topology
