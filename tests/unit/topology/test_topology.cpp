// Topology invariants: vertex and switch counts by closed form, hop counts against breadth-first search, bisection
// bandwidth against the graph (a link count and a max-flow), routes (valid walks, same-plane NICs, determinism), and
// link latencies against the measurements they were derived from.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/graph/breadth_first_search.hpp>
#include <boost/range/iterator_range.hpp>
#include <boost/graph/push_relabel_max_flow.hpp>

#include "core/error.hpp"
#include "topology/topology.hpp"

namespace fleetsim::topology {
namespace {

// H800 (public-figures.md §5): NVLink 400 GB/s both directions summed; CX7 NIC 400 Gb/s = 50 GB/s (§2).
constexpr double kH800NvlinkBytesPerS = 400e9;
constexpr double kNicBytesPerS = 50e9;

ClusterSpec cluster(std::int64_t gpus, TopologyKind kind, std::int64_t radix = 64, double oversubscription = 1.0,
                    std::int64_t gpus_per_node = 8) {
  ClusterSpec spec;
  spec.gpu.name = "h800";
  spec.gpu.nvlink_bandwidth_bytes_per_s = kH800NvlinkBytesPerS;
  spec.gpus = gpus;
  spec.gpus_per_node = gpus_per_node;
  spec.network.topology = kind;
  spec.network.nic_bandwidth_bytes_per_s = kNicBytesPerS;
  spec.network.switch_radix = radix;
  spec.network.oversubscription = oversubscription;
  return spec;
}

std::int64_t count_links(const Topology& topology, LinkKind kind) {
  std::int64_t n = 0;
  for (const EdgeDescriptor edge : boost::make_iterator_range(boost::edges(topology.graph)))
    n += topology.graph[edge].kind == kind ? 1 : 0;
  return n;
}

// Links whose two ends are of the given kinds (in either order).
std::int64_t count_links_between(const Topology& topology, VertexKind a, VertexKind b) {
  std::int64_t n = 0;
  for (const EdgeDescriptor edge : boost::make_iterator_range(boost::edges(topology.graph))) {
    const VertexKind s = topology.graph[boost::source(edge, topology.graph)].kind;
    const VertexKind t = topology.graph[boost::target(edge, topology.graph)].kind;
    n += (s == a && t == b) || (s == b && t == a) ? 1 : 0;
  }
  return n;
}

std::vector<int> bfs_distances(const Topology& topology, VertexId from) {
  std::vector<int> distance(boost::num_vertices(topology.graph), -1);
  distance[from] = 0;
  boost::breadth_first_search(
      topology.graph, from,
      boost::visitor(boost::make_bfs_visitor(boost::record_distances(
          boost::make_iterator_property_map(distance.begin(), boost::get(boost::vertex_index, topology.graph)),
          boost::on_tree_edge()))));
  return distance;
}

// Every `stride`-th GPU as a source: hop_count to every GPU must equal the BFS distance.
void expect_hop_counts_match_bfs(const Topology& topology, int stride = 1) {
  const int gpus = static_cast<int>(topology.gpu_count());
  for (int a = 0; a < gpus; a += stride) {
    const std::vector<int> distance = bfs_distances(topology, topology.gpus[static_cast<std::size_t>(a)]);
    for (int b = 0; b < gpus; ++b)
      ASSERT_EQ(hop_count(topology, a, b), distance[topology.gpus[static_cast<std::size_t>(b)]])
          << describe(topology) << "\n  from GPU " << a << " to GPU " << b;
  }
}

// The route is a simple walk from GPU a to GPU b, as long as hop_count says.
void expect_valid_route(const Topology& topology, int a, int b, std::uint64_t hash) {
  const std::vector<EdgeId> path = route(topology, a, b, hash);
  ASSERT_EQ(static_cast<int>(path.size()), hop_count(topology, a, b)) << "from " << a << " to " << b;
  VertexId at = topology.gpus[static_cast<std::size_t>(a)];
  std::set<VertexId> seen = {at};
  for (const EdgeId id : path) {
    const EdgeDescriptor edge = topology.edge(id);
    const VertexId s = boost::source(edge, topology.graph);
    const VertexId t = boost::target(edge, topology.graph);
    ASSERT_TRUE(at == s || at == t) << "route from " << a << " to " << b << " is not a walk";
    at = at == s ? t : s;
    ASSERT_TRUE(seen.insert(at).second) << "route from " << a << " to " << b << " revisits a vertex";
  }
  EXPECT_EQ(at, topology.gpus[static_cast<std::size_t>(b)]);
}

// Max-flow from the GPUs of the first half of the nodes to those of the second half, every link full-duplex, in
// GB/s. Equals the bisection when the halves fall on leaf / pod boundaries.
long max_flow_between_node_halves(const Topology& topology) {
  using Traits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
  using FlowGraph = boost::adjacency_list<
      boost::vecS, boost::vecS, boost::directedS, boost::no_property,
      boost::property<boost::edge_capacity_t, long,
                      boost::property<boost::edge_residual_capacity_t, long,
                                      boost::property<boost::edge_reverse_t, Traits::edge_descriptor>>>>;
  const std::size_t n = boost::num_vertices(topology.graph);
  FlowGraph flow(n + 2);
  const std::size_t source = n, sink = n + 1;
  auto capacity = boost::get(boost::edge_capacity, flow);
  auto reverse = boost::get(boost::edge_reverse, flow);
  auto arc = [&](std::size_t u, std::size_t v, long c) {
    const auto forward = boost::add_edge(u, v, flow).first;
    const auto backward = boost::add_edge(v, u, flow).first;
    capacity[forward] = c;
    capacity[backward] = 0;
    reverse[forward] = backward;
    reverse[backward] = forward;
  };
  for (const EdgeDescriptor edge : boost::make_iterator_range(boost::edges(topology.graph))) {
    const long c = static_cast<long>(topology.graph[edge].bandwidth_bytes_per_s / 1e9);
    const std::size_t u = boost::source(edge, topology.graph), v = boost::target(edge, topology.graph);
    arc(u, v, c);  // full duplex: the full bandwidth each way
    arc(v, u, c);
  }
  constexpr long kUnbounded = 1L << 40;
  for (const GpuPort& port : topology.gpu_ports) {
    if (port.node < topology.nodes / 2) arc(source, port.gpu, kUnbounded);
    else arc(port.gpu, sink, kUnbounded);
  }
  return boost::push_relabel_max_flow(flow, source, sink);
}

// ---------------------------------------------------------------------------------------------------------------
// Counts by closed form. Radix R = 64, non-blocking: a leaf has d = 32 down-ports and u = 32 up-ports; 8 GPUs per
// node; N GPUs, n = N / 8 nodes.
//   Two layers (L <= R leaves): S = the smallest divisor of u with L * u / S <= R (each spine takes u / S cables
//     from every leaf, at most R in all).
//   Three layers (L > R): pods of R/2 = 32 leaves, P = ceil(L / 32); u = 32 spines per pod; core group j (one per
//     spine index) has C cores, the smallest divisor of R/2 with P * (R/2) / C <= R, so u * C cores.
// fat-tree: whole nodes per leaf, 32 / 8 = 4 nodes: L = ceil(n / 4).
//   8: 1 leaf, no spines (one switch holds every NIC).  64: L = 2, S = 1 (ceil(2*32/64) = 1).
//   2048: L = 64, S = 32 (ISCA Table 3 FT2: 2,048 endpoints, 96 switches).
//   16384: L = 512, P = 16, 512 spines, C = ceil(16*32/64) = 8, 256 cores.
//   50000: n = 6250, L = 1563 (the last leaf holds 2 nodes), P = 49 (the last pod 27 leaves), 1568 spines,
//          C >= ceil(49*32/64) = 25 -> 32, 1024 cores.
// rail-optimized: a scalable unit of d = 32 nodes has one leaf per rail: L = 8 * ceil(n / 32).
//   8 and 64: one (partial) unit, L = 8, S = ceil(8*32/64) = 4.  2048: 8 units, L = 64, S = 32.
//   16384: 64 units, L = 512, P = 16 (4 units a pod), 512 spines, C = 8, 256 cores.
//   50000: 196 units (the last 10 nodes), L = 1568, P = 49, 1568 spines, C = 32, 1024 cores.
// multi-plane-fat-tree: 8 planes, plane r holds NIC r of every node: n NICs, L = ceil(n / 32) leaves per plane.
//   8 and 64: 1 leaf per plane, no spines: 8 leaves.
//   2048: 256 NICs per plane -> 8 leaves, S = smallest divisor of 32 >= 8*32/64 = 4 -> 4: 64 leaves, 32 spines.
//   16384: 64 leaves per plane, S = 32: 512 leaves, 256 spines = 768 switches (ISCA Table 3 MPFT: 16,384 endpoints,
//          768 switches).
//   50000: 196 leaves per plane, P = 7, 7*32 = 224 spines, C >= ceil(7*32/64) = 4 -> 4, 32*4 = 128 cores per plane:
//          1568 leaves, 1792 spines, 1024 cores.
struct Expected {
  TopologyKind kind;
  std::int64_t gpus;
  int layers;
  std::int64_t leaves, spines, cores;
};

std::string name_of(const Expected& e) {
  const char* kind = e.kind == TopologyKind::fat_tree         ? "FatTree"
                     : e.kind == TopologyKind::rail_optimized ? "RailOptimized"
                                                              : "MultiPlane";
  return std::string(kind) + "_" + std::to_string(e.gpus);
}
void PrintTo(const Expected& e, std::ostream* out) { *out << name_of(e); }

class ClosedForms : public ::testing::TestWithParam<Expected> {};

TEST_P(ClosedForms, CountsMatch) {
  const Expected& e = GetParam();
  const Topology topology = build_topology(cluster(e.gpus, e.kind));
  SCOPED_TRACE(describe(topology));
  const std::int64_t nodes = e.gpus / 8;
  EXPECT_EQ(topology.gpu_count(), e.gpus);
  EXPECT_EQ(topology.count(VertexKind::gpu), e.gpus);
  EXPECT_EQ(topology.count(VertexKind::nic), e.gpus);
  EXPECT_EQ(topology.count(VertexKind::nvswitch), nodes);
  EXPECT_EQ(topology.count(VertexKind::leaf), e.leaves);
  EXPECT_EQ(topology.count(VertexKind::spine), e.spines);
  EXPECT_EQ(topology.count(VertexKind::core), e.cores);
  for (const Plane& plane : topology.planes) EXPECT_EQ(plane.layers, e.layers);
  EXPECT_EQ(static_cast<std::int64_t>(boost::num_vertices(topology.graph)),
            2 * e.gpus + nodes + e.leaves + e.spines + e.cores);

  // Links: one NVLink and one PCIe link per GPU; IB: one per NIC, u = 32 per leaf (when there are spines), R/2 = 32
  // per spine (when there are cores).
  EXPECT_EQ(count_links(topology, LinkKind::nvlink), e.gpus);
  EXPECT_EQ(count_links(topology, LinkKind::pcie_nic), e.gpus);
  const std::int64_t leaf_spine = e.spines > 0 ? 32 * e.leaves : 0;
  const std::int64_t spine_core = e.cores > 0 ? 32 * e.spines : 0;
  EXPECT_EQ(count_links(topology, LinkKind::ib), e.gpus + leaf_spine + spine_core);
  EXPECT_EQ(count_links_between(topology, VertexKind::leaf, VertexKind::spine), leaf_spine);
  EXPECT_EQ(count_links_between(topology, VertexKind::spine, VertexKind::core), spine_core);
  EXPECT_EQ(static_cast<std::int64_t>(boost::num_edges(topology.graph)),
            static_cast<std::int64_t>(topology.edge_count()));

  // No switch has more cables than ports.
  for (VertexId v = 0; v < boost::num_vertices(topology.graph); ++v) {
    const VertexKind kind = topology.graph[v].kind;
    if (kind == VertexKind::leaf || kind == VertexKind::spine || kind == VertexKind::core) {
      ASSERT_LE(static_cast<std::int64_t>(boost::degree(v, topology.graph)), 64) << to_string(kind) << " " << v;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllKindsAndSizes, ClosedForms,
    ::testing::Values(Expected{TopologyKind::fat_tree, 8, 1, 1, 0, 0},
                      Expected{TopologyKind::fat_tree, 64, 2, 2, 1, 0},
                      Expected{TopologyKind::fat_tree, 2048, 2, 64, 32, 0},
                      Expected{TopologyKind::fat_tree, 16384, 3, 512, 512, 256},
                      Expected{TopologyKind::fat_tree, 50000, 3, 1563, 1568, 1024},
                      Expected{TopologyKind::rail_optimized, 8, 2, 8, 4, 0},
                      Expected{TopologyKind::rail_optimized, 64, 2, 8, 4, 0},
                      Expected{TopologyKind::rail_optimized, 2048, 2, 64, 32, 0},
                      Expected{TopologyKind::rail_optimized, 16384, 3, 512, 512, 256},
                      Expected{TopologyKind::rail_optimized, 50000, 3, 1568, 1568, 1024},
                      Expected{TopologyKind::multi_plane_fat_tree, 8, 1, 8, 0, 0},
                      Expected{TopologyKind::multi_plane_fat_tree, 64, 1, 8, 0, 0},
                      Expected{TopologyKind::multi_plane_fat_tree, 2048, 2, 64, 32, 0},
                      Expected{TopologyKind::multi_plane_fat_tree, 16384, 2, 512, 256, 0},
                      Expected{TopologyKind::multi_plane_fat_tree, 50000, 3, 1568, 1792, 1024}),
    [](const ::testing::TestParamInfo<Expected>& param) { return name_of(param.param); });

// ISCA Table 3 compares networks of 64-port switches: FT2 2,048 endpoints / 96 switches / 2,048 links, MPFT 16,384 /
// 768 / 16,384, FT3 65,536 / 5,120 / 131,072 (links between switches).
TEST(Topology, MatchesIscaTable3SwitchAndLinkCounts) {
  auto switches = [](const Topology& t) {
    return t.count(VertexKind::leaf) + t.count(VertexKind::spine) + t.count(VertexKind::core);
  };
  auto switch_links = [](const Topology& t) { return count_links(t, LinkKind::ib) - t.gpu_count(); };
  const Topology ft2 = build_topology(cluster(2048, TopologyKind::fat_tree));
  EXPECT_EQ(switches(ft2), 96);
  EXPECT_EQ(switch_links(ft2), 2048);
  const Topology mpft = build_topology(cluster(16384, TopologyKind::multi_plane_fat_tree));
  EXPECT_EQ(switches(mpft), 768);
  EXPECT_EQ(switch_links(mpft), 16384);
  const Topology ft3 = build_topology(cluster(65536, TopologyKind::fat_tree));
  EXPECT_EQ(switches(ft3), 5120);
  EXPECT_EQ(switch_links(ft3), 131072);
}

TEST(Topology, VerticesRecordNodePlanePodAndRank) {
  const Topology topology = build_topology(cluster(50000, TopologyKind::multi_plane_fat_tree));
  for (int rank = 0; rank < 50000; rank += 997) {
    const Device& gpu = topology.graph[topology.gpus[static_cast<std::size_t>(rank)]];
    EXPECT_EQ(gpu.kind, VertexKind::gpu);
    EXPECT_EQ(gpu.index, rank);
    EXPECT_EQ(gpu.node, rank / 8);
    EXPECT_EQ(gpu.rank_in_node, rank % 8);
    EXPECT_EQ(gpu.plane, rank % 8);        // one plane per NIC index
    EXPECT_EQ(gpu.pod, rank / 8 / 32 / 32);  // 32 nodes a leaf, 32 leaves a pod
    const Device& nic = topology.graph[topology.gpu_ports[static_cast<std::size_t>(rank)].nic];
    EXPECT_EQ(nic.kind, VertexKind::nic);
    EXPECT_EQ(nic.plane, gpu.plane);
  }
  // A NIC's leaf is on the NIC's plane.
  for (const GpuPort& port : topology.gpu_ports) {
    const VertexId leaf = topology.other_end(port.uplink, port.nic);
    ASSERT_EQ(topology.graph[leaf].kind, VertexKind::leaf);
    ASSERT_EQ(topology.graph[leaf].plane, port.plane);
    ASSERT_EQ(topology.graph[leaf].index, port.leaf);
  }
}

TEST(Topology, LinksCarryDatasheetBandwidths) {
  const Topology topology = build_topology(cluster(2048, TopologyKind::multi_plane_fat_tree));
  for (const EdgeDescriptor edge : boost::make_iterator_range(boost::edges(topology.graph))) {
    const Link& link = topology.graph[edge];
    // NVLink per direction = datasheet's bidirectional figure / 2 (H800: 400 GB/s -> 200 GB/s).
    const double expected = link.kind == LinkKind::nvlink ? 200e9 : kNicBytesPerS;
    ASSERT_DOUBLE_EQ(link.bandwidth_bytes_per_s, expected) << to_string(link.kind);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Hop counts: links on the path. Ranks: GPU r of node n is 8n + r.

TEST(HopCount, MultiPlane2048) {
  const Topology t = build_topology(cluster(2048, TopologyKind::multi_plane_fat_tree));
  EXPECT_EQ(hop_count(t, 5, 5), 0);
  EXPECT_EQ(hop_count(t, 0, 1), 2);      // same node: GPU - NVSwitch - GPU
  EXPECT_EQ(hop_count(t, 0, 8), 4);      // node 1, plane 0: same leaf (nodes 0..31): GPU NIC leaf NIC GPU
  EXPECT_EQ(hop_count(t, 0, 9), 6);      // node 1, plane 1: NVLink to GPU 1 of node 0, then same leaf
  EXPECT_EQ(hop_count(t, 0, 256), 6);    // node 32, plane 0: leaf 1 of plane 0, through a spine
  EXPECT_EQ(hop_count(t, 0, 257), 8);    // node 32, plane 1: NVLink detour + through a spine
  EXPECT_EQ(hop_count(t, 257, 0), 8);    // symmetric
}

TEST(HopCount, MultiPlane50000AcrossPods) {
  const Topology t = build_topology(cluster(50000, TopologyKind::multi_plane_fat_tree));
  EXPECT_EQ(hop_count(t, 0, 8 * 1023), 6);   // node 1023: leaf 31, still pod 0
  EXPECT_EQ(hop_count(t, 0, 8 * 1024), 8);   // node 1024: leaf 32, pod 1: up to a core and down
  EXPECT_EQ(hop_count(t, 0, 8 * 1024 + 3), 10);
  EXPECT_EQ(hop_count(t, 8 * 6249 + 7, 0), 10);  // the last GPU, in the last (partial) pod, on plane 7
}

TEST(HopCount, FatTreeAndRailOptimized) {
  const Topology ft = build_topology(cluster(2048, TopologyKind::fat_tree));
  EXPECT_EQ(hop_count(ft, 0, 31), 4);   // node 3 shares leaf 0 (4 nodes a leaf)
  EXPECT_EQ(hop_count(ft, 0, 32), 6);   // node 4: leaf 1
  EXPECT_EQ(hop_count(ft, 7, 2047), 6);
  const Topology ft3 = build_topology(cluster(16384, TopologyKind::fat_tree));
  EXPECT_EQ(hop_count(ft3, 0, 1023), 6);  // node 127: leaf 31, pod 0
  EXPECT_EQ(hop_count(ft3, 0, 1024), 8);  // node 128: pod 1
  const Topology rail = build_topology(cluster(2048, TopologyKind::rail_optimized));
  EXPECT_EQ(hop_count(rail, 0, 8), 4);    // node 1, rail 0: the unit's rail-0 leaf
  EXPECT_EQ(hop_count(rail, 0, 9), 6);    // node 1, rail 1: rail-1 leaf, through a spine (rails share spines)
  EXPECT_EQ(hop_count(rail, 0, 256), 6);  // node 32: next unit's rail-0 leaf
}

// Breadth-first search on the graph agrees with the structural hop count, for every kind, one to three layers,
// partial leaves and pods, oversubscription, nodes that span leaves, and odd node sizes.
TEST(HopCount, EqualsBreadthFirstDistance) {
  const std::vector<ClusterSpec> small = {
      cluster(8, TopologyKind::fat_tree),
      cluster(64, TopologyKind::fat_tree),
      cluster(128, TopologyKind::fat_tree, 16),             // 16 leaves of one node: two layers
      cluster(256, TopologyKind::fat_tree, 16),             // 32 leaves: three layers, 4 pods
      cluster(200, TopologyKind::fat_tree, 16),             // 25 leaves: a partial last pod
      cluster(64, TopologyKind::fat_tree, 8),               // a node spans 2 leaves of 4 down-ports; 4 pods
      cluster(240, TopologyKind::fat_tree, 16, 3.0),        // 12 down / 4 up: one node a leaf, 4 ports idle
      cluster(120, TopologyKind::fat_tree, 16, 1.0, 6),     // 6 GPUs a node
      cluster(8, TopologyKind::rail_optimized),
      cluster(64, TopologyKind::rail_optimized),
      cluster(128, TopologyKind::rail_optimized, 16),       // 2 units of 8 nodes: 16 rail leaves, two layers
      cluster(256, TopologyKind::rail_optimized, 16),       // 4 units: three layers, one unit a pod
      cluster(216, TopologyKind::rail_optimized, 16),       // 27 nodes: a partial last unit
      cluster(8, TopologyKind::multi_plane_fat_tree),
      cluster(64, TopologyKind::multi_plane_fat_tree),
      cluster(256, TopologyKind::multi_plane_fat_tree, 16), // 4 leaves a plane, two layers
      cluster(400, TopologyKind::multi_plane_fat_tree, 16), // 50 nodes: 7 leaves a plane, the last partial
      cluster(720, TopologyKind::multi_plane_fat_tree, 16, 2.0),  // 10 down / 5 up
      cluster(2048, TopologyKind::multi_plane_fat_tree, 16),      // 32 leaves a plane: three layers
  };
  for (const ClusterSpec& spec : small) expect_hop_counts_match_bfs(build_topology(spec), spec.gpus > 500 ? 7 : 1);
  for (const TopologyKind kind :
       {TopologyKind::fat_tree, TopologyKind::rail_optimized, TopologyKind::multi_plane_fat_tree}) {
    expect_hop_counts_match_bfs(build_topology(cluster(2048, kind)), 61);
    expect_hop_counts_match_bfs(build_topology(cluster(16384, kind)), 4099);
  }
  expect_hop_counts_match_bfs(build_topology(cluster(50000, TopologyKind::multi_plane_fat_tree)), 24999);
}

// ---------------------------------------------------------------------------------------------------------------
// Bisection bandwidth.

TEST(Bisection, NonBlockingIsHalfTheGpusAtNicBandwidth) {
  for (const TopologyKind kind :
       {TopologyKind::fat_tree, TopologyKind::rail_optimized, TopologyKind::multi_plane_fat_tree}) {
    for (const std::int64_t gpus : {8, 64, 2048, 16384, 50000}) {
      const Topology t = build_topology(cluster(gpus, kind));
      EXPECT_DOUBLE_EQ(bisection_bandwidth_bytes_per_s(t), static_cast<double>(gpus) / 2.0 * kNicBytesPerS)
          << describe(t);
    }
  }
}

TEST(Bisection, OversubscriptionTwoHalvesIt) {
  // Fat tree, R = 48 so that 2:1 splits evenly: 1:1 is 24/24 (3 nodes a leaf), 2:1 is 32/16 (4 nodes a leaf);
  // 768 GPUs fill 32 resp. 24 leaves exactly.
  const Topology ft1 = build_topology(cluster(768, TopologyKind::fat_tree, 48, 1.0));
  const Topology ft2 = build_topology(cluster(768, TopologyKind::fat_tree, 48, 2.0));
  EXPECT_DOUBLE_EQ(bisection_bandwidth_bytes_per_s(ft1), 384 * kNicBytesPerS);
  EXPECT_DOUBLE_EQ(bisection_bandwidth_bytes_per_s(ft2), 192 * kNicBytesPerS);
  // Multi-plane, R = 64 at 2:1 is 42 down / 21 up; 336 nodes fill 8 leaves a plane: 8 * 21 / 2 = 84 uplinks' worth
  // a plane, 672 in all = 2688 / 4.
  const Topology mp1 = build_topology(cluster(2688, TopologyKind::multi_plane_fat_tree, 64, 1.0));
  const Topology mp2 = build_topology(cluster(2688, TopologyKind::multi_plane_fat_tree, 64, 2.0));
  EXPECT_EQ(mp2.ports.leaf_down, 42);
  EXPECT_EQ(mp2.ports.leaf_up, 21);
  EXPECT_DOUBLE_EQ(bisection_bandwidth_bytes_per_s(mp1), 1344 * kNicBytesPerS);
  EXPECT_DOUBLE_EQ(bisection_bandwidth_bytes_per_s(mp2), 672 * kNicBytesPerS);
}

ClusterSpec oversubscribed_between_pods(ClusterSpec spec) {
  spec.network.oversubscription_at = OversubscribedLayer::pod;
  return spec;
}

TEST(Bisection, OversubscriptionBetweenPodsThinsOnlyTheSpineUplinks) {
  // R = 64 at 1:7 between pods: leaves stay 32 / 32, spines split 56 down / 8 up, so a pod is 56 leaves (1,792 NICs)
  // with full bisection. Four full pods (7,168 GPUs): the spine-core layer has 4 x 32 spines x 8 = 1,024 links, a
  // seventh of the 7,168 leaf uplinks, and sets the bisection.
  const Topology t = build_topology(oversubscribed_between_pods(cluster(7168, TopologyKind::fat_tree, 64, 7.0)));
  EXPECT_EQ(t.ports.leaf_down, 32);
  EXPECT_EQ(t.ports.leaf_up, 32);
  EXPECT_EQ(t.ports.spine_down, 56);
  EXPECT_EQ(t.ports.spine_up, 8);
  ASSERT_EQ(t.planes.size(), 1u);
  EXPECT_EQ(t.planes[0].layers, 3);
  EXPECT_EQ(t.planes[0].leaves_per_pod, 56);
  EXPECT_EQ(t.planes[0].pods, 4);
  EXPECT_EQ(count_links_between(t, VertexKind::spine, VertexKind::core), 1024);
  EXPECT_DOUBLE_EQ(bisection_bandwidth_bytes_per_s(t), 512 * kNicBytesPerS);
  EXPECT_NE(describe(t).find("spine 56 down / 8 up"), std::string::npos) << describe(t);
  // Within a pod nothing is thinned: two layers (one pod) are non-blocking whatever the ratio.
  const Topology one_pod = build_topology(oversubscribed_between_pods(cluster(2048, TopologyKind::fat_tree, 64, 7.0)));
  EXPECT_DOUBLE_EQ(bisection_bandwidth_bytes_per_s(one_pod), 1024 * kNicBytesPerS);
}

// Against the graph: with whole leaves on each side of the cut, half the leaf-spine links (and half the spine-core
// links) cross it; the narrower layer is the bisection.
TEST(Bisection, EqualsHalfTheNarrowestSwitchLayerInTheGraph) {
  const std::vector<ClusterSpec> specs = {
      cluster(2048, TopologyKind::fat_tree),
      cluster(2048, TopologyKind::multi_plane_fat_tree),
      cluster(16384, TopologyKind::fat_tree),
      cluster(16384, TopologyKind::rail_optimized),
      cluster(768, TopologyKind::fat_tree, 48, 2.0),
      cluster(2688, TopologyKind::multi_plane_fat_tree, 64, 2.0),
  };
  for (const ClusterSpec& spec : specs) {
    const Topology t = build_topology(spec);
    const std::int64_t leaf_spine = count_links_between(t, VertexKind::leaf, VertexKind::spine);
    const std::int64_t spine_core = count_links_between(t, VertexKind::spine, VertexKind::core);
    const std::int64_t narrowest = spine_core > 0 ? std::min(leaf_spine, spine_core) : leaf_spine;
    EXPECT_DOUBLE_EQ(bisection_bandwidth_bytes_per_s(t), static_cast<double>(narrowest) / 2.0 * kNicBytesPerS)
        << describe(t);
  }
}

// Against a max-flow between the two halves of the nodes, on small networks of every kind and layer count.
TEST(Bisection, EqualsMaxFlowBetweenNodeHalves) {
  const std::vector<ClusterSpec> specs = {
      cluster(128, TopologyKind::fat_tree, 16),                 // two layers, one node a leaf
      cluster(128, TopologyKind::fat_tree, 16, 3.0),            // 4 uplinks a leaf: half the bisection
      cluster(256, TopologyKind::fat_tree, 16),                 // three layers: the halves are 2 pods each
      cluster(256, TopologyKind::rail_optimized, 16),           // three layers: 2 units each
      cluster(256, TopologyKind::multi_plane_fat_tree, 16),     // two layers a plane
      cluster(2048, TopologyKind::multi_plane_fat_tree, 16),    // three layers a plane
      cluster(2688, TopologyKind::multi_plane_fat_tree, 64, 2.0),
      // 1:3 between pods of 12 one-node leaves: 2 pods x 8 spines x 4 core uplinks, half of them cross.
      oversubscribed_between_pods(cluster(192, TopologyKind::fat_tree, 16, 3.0)),
  };
  for (const ClusterSpec& spec : specs) {
    const Topology t = build_topology(spec);
    EXPECT_DOUBLE_EQ(static_cast<double>(max_flow_between_node_halves(t)) * 1e9, bisection_bandwidth_bytes_per_s(t))
        << describe(t);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Routes.

TEST(Route, MultiPlaneCrossesNvlinkToTheDestinationsPlaneFirst) {
  const Topology t = build_topology(cluster(2048, TopologyKind::multi_plane_fat_tree));
  const int a = 8 * 0 + 1;   // node 0, GPU 1 (plane 1)
  const int b = 8 * 40 + 5;  // node 40, GPU 5 (plane 5)
  const int relay = 8 * 0 + 5;
  for (std::uint64_t hash = 0; hash < 50; ++hash) {
    const std::vector<EdgeId> path = route(t, a, b, hash);
    ASSERT_EQ(path.size(), 2u + 6u);
    EXPECT_EQ(path[0], t.gpu_ports[a].nvlink);
    EXPECT_EQ(path[1], t.gpu_ports[relay].nvlink);
    EXPECT_EQ(path[2], t.gpu_ports[relay].pcie);    // leaves through the plane-5 NIC of node 0
    EXPECT_EQ(path[3], t.gpu_ports[relay].uplink);
    EXPECT_EQ(path.back(), t.gpu_ports[b].pcie);
    for (std::size_t i = 3; i + 1 < path.size(); ++i) {  // every IB link on the way is on plane 5
      const EdgeDescriptor e = t.edge(path[i]);
      EXPECT_EQ(t.graph[boost::source(e, t.graph)].plane, 5);
      EXPECT_EQ(t.graph[boost::target(e, t.graph)].plane, 5);
    }
  }
  // The same plane: no detour, straight out of the source's own NIC.
  const std::vector<EdgeId> direct = route(t, 8 * 0 + 5, b, 7);
  EXPECT_EQ(direct.front(), t.gpu_ports[relay].pcie);
  EXPECT_EQ(direct.size(), 6u);
}

TEST(Route, FatTreeAndRailLeaveThroughTheSourcesOwnNic) {
  for (const TopologyKind kind : {TopologyKind::fat_tree, TopologyKind::rail_optimized}) {
    const Topology t = build_topology(cluster(16384, kind));
    for (const auto& [a, b] : std::vector<std::pair<int, int>>{{3, 4000}, {9, 16383}, {100, 108}}) {
      const std::vector<EdgeId> path = route(t, a, b, 42);
      EXPECT_EQ(path.front(), t.gpu_ports[static_cast<std::size_t>(a)].pcie);
      EXPECT_EQ(path.back(), t.gpu_ports[static_cast<std::size_t>(b)].pcie);
    }
  }
}

TEST(Route, IsAValidWalkOfHopCountLinks) {
  for (const ClusterSpec& spec :
       {cluster(2048, TopologyKind::fat_tree), cluster(2048, TopologyKind::rail_optimized),
        cluster(2048, TopologyKind::multi_plane_fat_tree), cluster(50000, TopologyKind::multi_plane_fat_tree),
        cluster(50000, TopologyKind::fat_tree), cluster(256, TopologyKind::rail_optimized, 16),
        cluster(720, TopologyKind::multi_plane_fat_tree, 16, 2.0), cluster(64, TopologyKind::fat_tree, 8)}) {
    const Topology t = build_topology(spec);
    const auto gpus = static_cast<std::uint64_t>(t.gpu_count());
    std::uint64_t state = 1;
    for (int i = 0; i < 3000; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      expect_valid_route(t, static_cast<int>((state >> 33) % gpus), static_cast<int>((state >> 11) % gpus), state);
    }
  }
}

TEST(Route, SameHashSamePath) {
  const Topology t = build_topology(cluster(50000, TopologyKind::multi_plane_fat_tree));
  const Topology again = build_topology(cluster(50000, TopologyKind::multi_plane_fat_tree));
  for (std::uint64_t hash : {0ULL, 1ULL, 0xdeadbeefULL, ~0ULL}) {
    EXPECT_EQ(route(t, 3, 49999, hash), route(t, 3, 49999, hash));
    EXPECT_EQ(route(t, 3, 49999, hash), route(again, 3, 49999, hash));  // edge ids are stable across builds
  }
}

TEST(Route, HashesSpreadOverEqualCostSpinesAndCores) {
  // Fat tree of 16,384: node 0 and node 200 are in different pods. Each of leaf 0's 32 uplinks goes to a different
  // spine of pod 0, and each spine's 32 uplinks to a different core of its group (C = 8: 4 cables per core).
  const Topology t = build_topology(cluster(16384, TopologyKind::fat_tree));
  std::set<EdgeId> first_up, second_up;
  std::set<std::vector<EdgeId>> paths;
  // 1,024 equally likely spine uplinks: 20,000 hashes miss one with probability about 1024 * exp(-20000/1024) ~ 3e-6
  // (and the hash is fixed, so the test is deterministic anyway).
  for (std::uint64_t hash = 0; hash < 20000; ++hash) {
    const std::vector<EdgeId> path = route(t, 0, 8 * 200, hash);
    ASSERT_EQ(path.size(), 8u);
    first_up.insert(path[2]);
    second_up.insert(path[3]);
    paths.insert(path);
  }
  EXPECT_EQ(first_up.size(), 32u);          // every spine of the pod
  EXPECT_EQ(second_up.size(), 32u * 32u);   // every spine uplink of the pod
  // Equal-cost paths: 32 spines x 32 spine uplinks x 4 cables from that core down to the destination pod's spine.
  EXPECT_LE(paths.size(), 32u * 32u * 4u);
  EXPECT_GT(paths.size(), 4000u);
}

// EdgeIds find the same link in a copy and after a move (descriptors are not stored; see Topology::edge_slots).
TEST(Topology, EdgeIdsSurviveCopyAndMove) {
  const Topology original = build_topology(cluster(256, TopologyKind::fat_tree, 16));
  const Topology copy = original;  // NOLINT(performance-unnecessary-copy-initialization): the copy is the point
  Topology moved_from = build_topology(cluster(256, TopologyKind::fat_tree, 16));
  const Topology moved = std::move(moved_from);
  ASSERT_EQ(original.edge_count(), boost::num_edges(original.graph));
  for (EdgeId id = 0; id < original.edge_count(); ++id) {
    for (const Topology* t : {&original, &copy, &moved}) {
      const EdgeDescriptor e = t->edge(id);
      ASSERT_EQ(t->graph[e].id, id);
      ASSERT_EQ(boost::source(e, t->graph), boost::source(original.edge(id), original.graph));
      ASSERT_EQ(boost::target(e, t->graph), boost::target(original.edge(id), original.graph));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Latencies: the links of a path add up to DeepSeek's measured 64-byte latencies (ISCA Table 5).

double path_latency(const Topology& t, int a, int b) {
  double total = 0;
  for (const EdgeId id : route(t, a, b, 0)) total += t.link(id).latency_s;
  return total;
}

TEST(Latency, PathsReproduceIscaTable5) {
  const Topology t = build_topology(cluster(2048, TopologyKind::multi_plane_fat_tree));
  EXPECT_NEAR(path_latency(t, 0, 1), 3.33e-6, 1e-12);    // NVLink within a node
  EXPECT_NEAR(path_latency(t, 0, 8), 2.80e-6, 1e-12);    // IB, same leaf
  EXPECT_NEAR(path_latency(t, 0, 256), 3.70e-6, 1e-12);  // IB, across leaves
}

// ---------------------------------------------------------------------------------------------------------------
// Errors and the summary line.

void expect_input_error(const ClusterSpec& spec, const std::string& key) {
  try {
    (void)build_topology(spec);
    ADD_FAILURE() << "expected an InputError at " << key;
  } catch (const InputError& error) {
    EXPECT_EQ(error.key_path(), key) << error.what();
  }
}

TEST(Topology, RejectsClustersItCannotBuild) {
  expect_input_error(cluster(100, TopologyKind::fat_tree), "cluster.gpus");  // not whole nodes
  expect_input_error(cluster(0, TopologyKind::fat_tree), "cluster.gpus");
  expect_input_error(cluster(64, TopologyKind::fat_tree, 63), "cluster.network.switch_radix");
  expect_input_error(cluster(64, TopologyKind::fat_tree, 64, 0.5), "cluster.network.oversubscription");
  // 16-port switches: three layers hold 16 * 8 * 8 = 1,024 NICs in a plane.
  expect_input_error(cluster(50000, TopologyKind::fat_tree, 16), "cluster.gpus");
  EXPECT_NO_THROW(build_topology(cluster(1024, TopologyKind::fat_tree, 16)));
  // ...but 8 planes of 1,024 hold 8,192 GPUs.
  EXPECT_NO_THROW(build_topology(cluster(8192, TopologyKind::multi_plane_fat_tree, 16)));
  // Rail-optimized on 8-port switches: a pod (4 leaves) cannot hold one unit's 8 rail leaves.
  expect_input_error(cluster(64, TopologyKind::rail_optimized, 8), "cluster.network.switch_radix");
  ClusterSpec no_nic = cluster(64, TopologyKind::fat_tree);
  no_nic.network.nic_bandwidth_bytes_per_s = 0;
  expect_input_error(no_nic, "cluster.network.nic_bandwidth");
}

TEST(Topology, RanksOutsideTheClusterAreProgrammingErrors) {
  const Topology t = build_topology(cluster(64, TopologyKind::fat_tree));
  EXPECT_THROW((void)hop_count(t, 0, 64), std::out_of_range);
  EXPECT_THROW((void)route(t, -1, 3, 0), std::out_of_range);
}

TEST(Topology, DescribeSaysWhatWasBuilt) {
  const std::string line = describe(build_topology(cluster(2048, TopologyKind::multi_plane_fat_tree)));
  for (const char* part : {"multi-plane-fat-tree", "2048 GPUs (256 nodes x 8)", "8 planes of 2 layers", "64-port",
                           "32 down / 32 up", "64 leaves, 32 spines, 0 cores", "bisection 51.2 TB/s"})
    EXPECT_NE(line.find(part), std::string::npos) << "missing '" << part << "' in: " << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace fleetsim::topology
