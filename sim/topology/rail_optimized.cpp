// rail-optimized: one plane, but a leaf serves one rail (NIC index) of a scalable unit rather than whole nodes.
//
// As in NVIDIA's DGX SuperPOD reference architecture (H100): a scalable unit of 32 nodes has one leaf per rail, leaf
// r taking NIC r of each of the unit's nodes; here a unit is as many nodes as a leaf has down-ports (32 at R = 64,
// non-blocking). All leaves of all rails share the spines, so any NIC reaches any other; same-rail traffic of a unit
// stays under one leaf. A pod of a three-layer plane holds whole units, so a unit's rails are never a core apart.
#include "topology/builder.hpp"

namespace fleetsim::topology {
namespace {

ScaleOutLayout layout(const ClusterSpec& cluster, const PortSplit& ports) {
  ScaleOutLayout result;
  result.planes = 1;
  const std::int64_t per_node = cluster.gpus_per_node;
  const std::int64_t unit_nodes = ports.leaf_down;
  result.leaves_per_pod_multiple = per_node;
  result.nics.reserve(static_cast<std::size_t>(cluster.gpus));
  for (std::int64_t rank = 0; rank < cluster.gpus; ++rank) {
    const std::int64_t node = rank / per_node;
    const std::int64_t rail = rank % per_node;
    result.nics.push_back({0, node / unit_nodes * per_node + rail});
  }
  return result;
}

}  // namespace

ScaleOutBuilder rail_optimized_builder() {
  return {TopologyKind::rail_optimized, "rail-optimized", "one leaf per rail per scalable unit, shared spines",
          &layout};
}

}  // namespace fleetsim::topology
