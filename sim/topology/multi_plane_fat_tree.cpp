// multi-plane-fat-tree: DeepSeek's network (ISCA §4-5). Every node has one NIC per GPU and NIC r of every node is on
// plane r, so there are gpus_per_node planes (8 on DeepSeek's H800 nodes), each an independent fat tree with no links
// to the others: a flow between GPUs on different planes first crosses NVLink inside the source node (route()).
//
// A plane's leaf takes NIC r of as many consecutive nodes as it has down-ports. With 64-port 400G switches a
// two-layer plane holds 64 * 32 = 2,048 NICs, so 8 planes hold 16,384 GPUs with 768 switches (ISCA Table 3's MPFT).
// Beyond that each plane grows a third layer (clos.cpp: pods of 1,024 NICs per plane, i.e. 8,192 GPUs across the
// 8 planes, up to 64 pods), the planes staying separate.
#include "topology/builder.hpp"

namespace fleetsim::topology {
namespace {

ScaleOutLayout layout(const ClusterSpec& cluster, const PortSplit& ports) {
  ScaleOutLayout result;
  const std::int64_t per_node = cluster.gpus_per_node;
  result.planes = static_cast<std::int32_t>(per_node);
  result.nics.reserve(static_cast<std::size_t>(cluster.gpus));
  for (std::int64_t rank = 0; rank < cluster.gpus; ++rank) {
    const std::int64_t node = rank / per_node;
    result.nics.push_back({static_cast<std::int32_t>(rank % per_node), node / ports.leaf_down});
  }
  return result;
}

}  // namespace

ScaleOutBuilder multi_plane_fat_tree_builder() {
  return {TopologyKind::multi_plane_fat_tree, "multi-plane-fat-tree",
          "one fat-tree plane per NIC index, planes joined only through NVLink", &layout};
}

}  // namespace fleetsim::topology
