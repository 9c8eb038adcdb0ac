// The cluster network as a Boost.Graph: GPUs on one logical NVSwitch fabric per node, one NIC per GPU, and a
// scale-out network of leaf / spine / core switches built as one or more folded-Clos planes.
//
// Every builder (fat-tree, rail-optimized, multi-plane fat-tree; one file each, one line in registry.cpp) only decides
// which plane and which leaf each NIC plugs into; the switches above the leaves are the same folded Clos for all of
// them (clos.cpp), which is what lets hop counts, routes and bisection bandwidth come from the structure in O(1) per
// query instead of from searches on a graph of 100,000+ vertices. README.md in this folder explains the choices.
//
// A vertex is a device, an edge one full-duplex link: `bandwidth_bytes_per_s` is available in EACH direction at the
// same time (SimGrid's SPLITDUPLEX sharing policy), and `latency_s` is paid once per traversal.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

#include "spec/cluster.hpp"

namespace fleetsim::topology {

enum class VertexKind : std::uint8_t {
  gpu,
  nvswitch,  // the NVSwitch fabric of one node, as one logical crossbar
  nic,       // one per GPU (ConnectX-7 on DeepSeek's H800 nodes, ISCA §4)
  leaf,      // the switch a NIC plugs into
  spine,     // second layer; in a three-layer plane, the aggregation switches of one pod
  core,      // third layer, joining the pods of a three-layer plane
};
inline constexpr std::size_t kVertexKindCount = 6;
std::string_view to_string(VertexKind kind);

enum class LinkKind : std::uint8_t {
  nvlink,    // GPU <-> its node's NVSwitch
  pcie_nic,  // GPU <-> its own NIC (GPUDirect RDMA over the node's PCIe switch)
  ib,        // NIC <-> leaf, leaf <-> spine, spine <-> core
};
std::string_view to_string(LinkKind kind);

// Edges are numbered in the order they are built; a route is a list of these numbers, so the engine can keep one
// SimGrid link per EdgeId in a plain vector.
using EdgeId = std::uint32_t;

struct Device {
  VertexKind kind = VertexKind::gpu;
  std::int32_t node = -1;          // gpu, nvswitch, nic: the node; -1 for the scale-out switches
  std::int32_t rank_in_node = -1;  // gpu, nic: 0 .. gpus_per_node-1
  std::int32_t plane = -1;         // gpu, nic: the plane of the (GPU's) NIC; leaf, spine, core: their plane
  std::int32_t pod = -1;           // gpu, nic, leaf, spine: pod within the plane (0 when the plane has one); core: -1
  std::int64_t index = -1;         // gpu, nic: global rank; nvswitch: node; leaf, spine, core: number in its plane
};

struct Link {
  LinkKind kind = LinkKind::ib;
  double bandwidth_bytes_per_s = 0;  // per direction
  double latency_s = 0;
  EdgeId id = 0;
};

// vecS everywhere: vertices and edges are never removed, and vecS out-edge lists allow the parallel leaf-spine
// links of a small plane (several cables between the same two switches).
using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, Device, Link, boost::no_property,
                                   boost::vecS>;
using VertexId = Graph::vertex_descriptor;
using EdgeDescriptor = Graph::edge_descriptor;

// How a leaf splits its ports between NICs (down) and spines (up), and a three-layer spine between its pod's leaves
// (down) and the cores (up). The oversubscribed layer (NetworkSpec::oversubscription_at) has down / up <=
// oversubscription, as many ports used as the radix allows (see clos.cpp); every other switch is non-blocking
// (radix / 2 each way).
struct PortSplit {
  std::int64_t radix = 0;
  std::int64_t leaf_down = 0;
  std::int64_t leaf_up = 0;
  std::int64_t spine_down = 0;  // = leaves per pod in a three-layer plane
  std::int64_t spine_up = 0;
};

// One folded-Clos plane. Leaves are numbered 0..leaves-1 in the plane; pods are runs of `leaves_per_pod` leaves.
//   layers 1: one leaf, no spines (every NIC of the plane on one switch).
//   layers 2: one pod; `spines_per_pod` spines, leaf uplink k goes to spine k % spines_per_pod, so each leaf has
//             leaf_up / spines_per_pod parallel links to every spine.
//   layers 3: pods of `leaves_per_pod` leaves with `spines_per_pod` = leaf_up spines each (one link per leaf-spine
//             pair); spine j of every pod owns core group j of `cores_per_group` cores, and its uplink m goes to core
//             m % cores_per_group of that group.
struct Plane {
  int layers = 0;
  std::int64_t nics = 0;
  std::int64_t leaves = 0;
  std::int64_t leaves_per_pod = 0;
  std::int64_t pods = 0;
  std::int64_t spines_per_pod = 0;
  std::int64_t spine_up = 0;  // uplinks per spine (PortSplit::spine_up) in a three-layer plane, else 0
  std::int64_t cores_per_group = 0;
  std::int64_t cores = 0;     // leaf_up * cores_per_group in a three-layer plane, else 0
  VertexId first_leaf = 0, first_spine = 0, first_core = 0;
  EdgeId first_leaf_uplink = 0;   // leaf l, uplink k:  first_leaf_uplink + l * leaf_up + k
  EdgeId first_spine_uplink = 0;  // spine s (pod * spines_per_pod + j), uplink m:  first_spine_uplink + s * spine_up + m

  std::int64_t spines() const { return pods * spines_per_pod; }
};

// Where a GPU sits: its vertices, its three own links, and its NIC's place in the scale-out network.
struct GpuPort {
  VertexId gpu = 0;
  VertexId nic = 0;
  EdgeId nvlink = 0;  // GPU <-> NVSwitch
  EdgeId pcie = 0;    // GPU <-> NIC
  EdgeId uplink = 0;  // NIC <-> leaf
  std::int32_t node = 0;
  std::int32_t rank_in_node = 0;
  std::int32_t plane = 0;
  std::int64_t leaf = 0;  // leaf number within the plane
};

struct Topology {
  TopologyKind kind = TopologyKind::fat_tree;
  std::string name;  // the builder's name, as scenarios spell it: "multi-plane-fat-tree"
  std::int64_t gpus_per_node = 0;
  std::int64_t nodes = 0;
  double nic_bandwidth_bytes_per_s = 0;     // per direction, every IB link
  double nvlink_bandwidth_bytes_per_s = 0;  // per direction, GPU <-> NVSwitch
  PortSplit ports;

  Graph graph;
  std::vector<VertexId> gpus;      // by global rank
  std::vector<GpuPort> gpu_ports;  // by global rank
  std::vector<Plane> planes;
  std::array<std::int64_t, kVertexKindCount> vertex_count{};

  // Where edge `id` sits: the vertex it was added from and its place in that vertex's out-edge list. An undirected
  // adjacency_list's edge descriptor points into the graph's storage (invalidated as edges are added, and by copies:
  // Boost 1.74's adjacency_list has no move constructor), so descriptors are computed on demand, never stored, and a
  // Topology copies and moves safely.
  struct EdgeSlot {
    std::uint32_t from = 0;
    std::uint32_t position = 0;
  };
  std::vector<EdgeSlot> edge_slots;  // by EdgeId

  std::int64_t count(VertexKind of) const { return vertex_count[static_cast<std::size_t>(of)]; }
  std::int64_t gpu_count() const { return static_cast<std::int64_t>(gpus.size()); }
  std::size_t edge_count() const { return edge_slots.size(); }
  EdgeDescriptor edge(EdgeId id) const {
    const EdgeSlot& slot = edge_slots.at(id);
    return *std::next(boost::out_edges(slot.from, graph).first, static_cast<std::ptrdiff_t>(slot.position));
  }
  const Link& link(EdgeId id) const { return graph[edge(id)]; }
  // The end of edge `id` that is not `from`.
  VertexId other_end(EdgeId id, VertexId from) const {
    const EdgeDescriptor e = edge(id);
    const VertexId s = boost::source(e, graph);
    return s == from ? boost::target(e, graph) : s;
  }
};

// Builds the network of `cluster`: cluster.gpus GPUs (a multiple of gpus_per_node), cluster.network's topology, radix,
// oversubscription and NIC bandwidth, and the GPU's NVLink bandwidth. Throws InputError (key path under `cluster.`)
// for a cluster it cannot build, e.g. one too large for three switch layers of this radix.
Topology build_topology(const ClusterSpec& cluster);

// Links on the path `route` takes between two GPUs (global ranks): 0 for the same GPU; 2 within a node (GPU, NVSwitch,
// GPU); across nodes 4 under one leaf, 6 through a spine, 8 through a core, plus 2 when the GPUs' NICs are on
// different planes (the NVLink hop to the source node's GPU on the destination's plane). This equals the
// breadth-first distance in the graph (tested), and is computed from the structure in O(1).
int hop_count(const Topology& topology, int gpu_a, int gpu_b);

// The links a flow from gpu_a to gpu_b crosses, in order. Within a node: NVLink through the NVSwitch. Across nodes
// the flow leaves through the source GPU's own NIC, except that when the destination's NIC is on another plane it
// first crosses NVLink to the GPU of the source node on that plane (as DeepEP and DeepSeek's multi-plane network
// do: planes are not connected to each other). Among equal-cost uplinks and parallel links the choice is a
// deterministic function of flow_hash (ECMP-like): the same hash always gives the same path.
std::vector<EdgeId> route(const Topology& topology, int gpu_a, int gpu_b, std::uint64_t flow_hash);

// Bisection bandwidth of the scale-out network, per direction: for each plane, half the capacity of the narrowest
// layer (NIC links, leaf uplinks, spine uplinks), summed over planes. A non-blocking network gives
// gpus / 2 * nic_bandwidth; a leaf oversubscription of 2 halves that. Exact when the two halves fall on leaf (pod)
// boundaries, the usual approximation otherwise.
double bisection_bandwidth_bytes_per_s(const Topology& topology);

// One line: kind, GPUs and nodes, planes and layers, switch counts, bisection.
std::string describe(const Topology& topology);

}  // namespace fleetsim::topology
