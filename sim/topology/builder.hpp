// Internal to sim/topology: what a builder provides, and the shared pieces every topology is assembled from.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "topology/topology.hpp"

namespace fleetsim::topology {

// Link latencies, derived so that the links of a path add up to the end-to-end latencies DeepSeek measured on its
// cluster for a 64-byte transfer (ISCA Table 5: InfiniBand 2.80 us between two NICs under the same leaf, 3.70 us
// across leaves; NVLink within a node 3.33 us). Being end-to-end figures, they include NIC and host-side processing,
// so the engine should add no other per-message latency on these paths.
inline constexpr double kIbSameLeafLatencyS = 2.80e-6;   // ISCA Table 5
inline constexpr double kIbCrossLeafLatencyS = 3.70e-6;  // ISCA Table 5
inline constexpr double kNvlinkLatencyS = 3.33e-6;       // ISCA Table 5
// A cross-leaf path has two more IB links (leaf-spine, spine-leaf) than a same-leaf one: each IB link (with the
// switch it enters) is half the difference. The same figure is used for spine-core links, for lack of a measurement.
inline constexpr double kIbLinkLatencyS = (kIbCrossLeafLatencyS - kIbSameLeafLatencyS) / 2.0;
// A same-leaf path is pcie + ib + ib + pcie: what is left of 2.80 us after its two IB links is the host side (GPU
// memory to NIC over PCIe, NIC processing), split evenly between the two ends.
inline constexpr double kHostToNicLatencyS = (kIbSameLeafLatencyS - 2.0 * kIbLinkLatencyS) / 2.0;
// GPU -> NVSwitch -> GPU is two links.
inline constexpr double kNvlinkLinkLatencyS = kNvlinkLatencyS / 2.0;

// Adds vertices and links and keeps the EdgeId -> descriptor table and the per-kind counts up to date.
class GraphBuilder {
 public:
  explicit GraphBuilder(Topology& topology) : topology_(topology) {}

  VertexId add_device(const Device& device);
  EdgeId add_link(VertexId a, VertexId b, LinkKind kind, double bandwidth_bytes_per_s, double latency_s);
  EdgeId next_edge_id() const { return static_cast<EdgeId>(topology_.edge_slots.size()); }
  Topology& topology() { return topology_; }

 private:
  Topology& topology_;
};

// Where one NIC plugs in: its plane and the leaf's number within that plane.
struct NicPlacement {
  std::int32_t plane = 0;
  std::int64_t leaf = 0;
};

// What a scale-out builder decides. Leaves must be numbered densely from 0 in every plane, hold at most
// ports.leaf_down NICs each, and every plane must have the same shape for hop counts to hold (the NVLink detour of a
// cross-plane flow is only as short as the direct path when all planes look alike).
struct ScaleOutLayout {
  std::int32_t planes = 1;
  // A pod must hold a whole number of these leaves (rail-optimized: the gpus_per_node rail leaves of a scalable unit;
  // fat tree: the leaves of one node when a node has more NICs than a leaf has down-ports), so that no path through
  // another GPU of the same node is ever shorter than the path through the GPU's own NIC.
  std::int64_t leaves_per_pod_multiple = 1;
  std::vector<NicPlacement> nics;  // by global rank
};

struct ScaleOutBuilder {
  TopologyKind kind;
  std::string_view name;     // as scenario files spell it
  std::string_view summary;  // one line for describe()
  ScaleOutLayout (*layout)(const ClusterSpec& cluster, const PortSplit& ports);
};

// registry.cpp: one line per builder.
const std::vector<ScaleOutBuilder>& scale_out_builders();
const ScaleOutBuilder& scale_out_builder(TopologyKind kind);

// nvlink_node.cpp: every node's GPUs, NVSwitch and NICs, and their NVLink and PCIe links. Fills topology.gpus and
// topology.gpu_ports except the scale-out fields (plane, leaf, uplink).
void build_nvlink_nodes(const ClusterSpec& cluster, GraphBuilder& builder);

// clos.cpp: the shared folded Clos.
PortSplit split_ports(const NetworkSpec& network);
// The shape of one plane of `leaves` leaves holding `nics` NICs; throws InputError when three layers of this radix
// cannot hold them.
Plane shape_plane(std::int64_t nics, std::int64_t leaves, const PortSplit& ports,
                  std::int64_t leaves_per_pod_multiple);
// Adds the switches and IB links of every plane and plugs the NICs in as `layout` says.
void build_planes(const ScaleOutLayout& layout, GraphBuilder& builder);

// Helpers shared by the builders.
inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
[[noreturn]] void fail_cluster(const std::string& key, const std::string& detail);

}  // namespace fleetsim::topology
