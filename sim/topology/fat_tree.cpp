// fat-tree: one plane holding every NIC, filled node by node.
//
// A leaf takes whole nodes (all of a node's NICs on one switch), so the GPUs of neighbouring nodes are one switch
// apart. When the leaf's down-ports are not a multiple of gpus_per_node the rest stay idle (R = 64 at 2:1
// oversubscription: 5 nodes of 8 on 42 down-ports); a node with more NICs than a leaf has down-ports spans several
// leaves, which then share a pod.
#include "topology/builder.hpp"

namespace fleetsim::topology {
namespace {

ScaleOutLayout layout(const ClusterSpec& cluster, const PortSplit& ports) {
  ScaleOutLayout result;
  result.planes = 1;
  const std::int64_t per_node = cluster.gpus_per_node;
  const std::int64_t down = ports.leaf_down;
  const std::int64_t nodes_per_leaf = down / per_node;          // 0 when a node needs several leaves
  const std::int64_t leaves_per_node = ceil_div(per_node, down);  // 1 when it does not
  if (nodes_per_leaf == 0) result.leaves_per_pod_multiple = leaves_per_node;
  result.nics.reserve(static_cast<std::size_t>(cluster.gpus));
  for (std::int64_t rank = 0; rank < cluster.gpus; ++rank) {
    const std::int64_t node = rank / per_node;
    const std::int64_t local = rank % per_node;
    const std::int64_t leaf = nodes_per_leaf > 0 ? node / nodes_per_leaf : node * leaves_per_node + local / down;
    result.nics.push_back({0, leaf});
  }
  return result;
}

}  // namespace

ScaleOutBuilder fat_tree_builder() {
  return {TopologyKind::fat_tree, "fat-tree", "one fat tree holding every NIC, whole nodes per leaf", &layout};
}

}  // namespace fleetsim::topology
