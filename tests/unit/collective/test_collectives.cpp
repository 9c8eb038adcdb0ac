// Collectives on the topology: rank placement, ring all-reduce against the bus-bandwidth formula, oversubscription,
// the double binary tree, pipeline sends, the symmetry reduction against the full solve, memoization, 50k GPUs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "collective/algorithms.hpp"
#include "collective/collective_model.hpp"
#include "collective/symmetry.hpp"
#include "test_helpers.hpp"
#include "topology/topology.hpp"

namespace fleetsim::collective {
namespace {

using testing::deepseek_v3_routing;
using testing::h800_cluster;
using testing::kIbAchievable;
using testing::kNvlinkAchievable;
using testing::plan;

constexpr double kBytes = 1e9;
// End-to-end latencies the topology's links add up to (ISCA Table 5, topology/README.md).
constexpr double kIbSameLeafS = 2.80e-6;
constexpr double kIbCrossLeafS = 3.70e-6;

std::vector<int> range(int first, int count, int stride = 1) {
  std::vector<int> out;
  for (int i = 0; i < count; ++i) out.push_back(first + i * stride);
  return out;
}

TEST(RankLayout, DeepSeekV3PlanFollowsMegatronOrder) {
  const RankLayout layout(plan(1, 16, 64, 128), 2048);
  const auto dp = layout.groups(GroupKind::dp);
  ASSERT_EQ(dp.size(), 16u);
  EXPECT_EQ(dp[0], range(0, 128));
  EXPECT_EQ(dp[15], range(15 * 128, 128));
  const auto ep = layout.groups(GroupKind::ep);
  ASSERT_EQ(ep.size(), 32u);
  EXPECT_EQ(ep[1], range(64, 64));  // 8 whole nodes
  const auto edp = layout.groups(GroupKind::edp);
  ASSERT_EQ(edp.size(), 16u * 64u);
  EXPECT_EQ(edp[0], (std::vector<int>{0, 64}));
  EXPECT_EQ(edp[1], (std::vector<int>{1, 65}));
  const auto pp = layout.groups(GroupKind::pp);
  ASSERT_EQ(pp.size(), 128u);
  EXPECT_EQ(pp[3], range(3, 16, 128));
  EXPECT_EQ(layout.groups(GroupKind::tp).size(), 2048u);
}

TEST(RankLayout, DenseReplicasSpanDataAndContextParallelRanks) {
  // tp 2, cp 2, dp 2, pp 2 on 16 GPUs: a stage is 8 ranks, s = tp_i + 2 (cp_i + 2 dp_i). The gradients of the dense
  // parameters are reduced over every cp and dp coordinate: 4 ranks, every other one.
  ParallelPlan p = plan(2, 2, 1, 2);
  p.cp = 2;
  const RankLayout layout(p, 16);
  EXPECT_EQ(layout.group_size(GroupKind::dp), 4);
  EXPECT_EQ(layout.groups(GroupKind::dp)[0], range(0, 4, 2));
  EXPECT_EQ(layout.groups(GroupKind::dp)[1], range(1, 4, 2));
  EXPECT_EQ(layout.groups(GroupKind::cp)[0], (std::vector<int>{0, 2}));
  EXPECT_EQ(layout.groups(GroupKind::dp).size(), 4u);
}

TEST(RankLayout, TensorParallelInnermostThenDataParallel) {
  const RankLayout layout(plan(4, 2, 8, 4), 64);  // stage = tp 4 x dp 4 = 16 ranks
  EXPECT_EQ(layout.groups(GroupKind::tp)[1], range(4, 4));
  EXPECT_EQ(layout.groups(GroupKind::dp)[0], range(0, 4, 4));
  EXPECT_EQ(layout.groups(GroupKind::dp)[5], range(17, 4, 4));  // stage 1, tp index 1
  EXPECT_EQ(layout.groups(GroupKind::ep)[1], range(8, 8));      // carved out of tp x dp
  EXPECT_EQ(layout.groups(GroupKind::edp)[3], (std::vector<int>{3, 11}));
  EXPECT_THROW(RankLayout(plan(1, 1, 3, 8), 8), std::invalid_argument);
  EXPECT_THROW(RankLayout(plan(1, 2, 1, 8), 8), std::invalid_argument);
}

TEST(RankLayout, PipelineInsideDataParallelOrder) {
  // Llama 3's [TP, CP, PP, DP] (Megatron-Core's tp-cp-ep-pp-dp): tp 2, pp 2, dp 2 on 8 GPUs,
  // rank = tp_i + 2 (pp_i + 2 dp_i). A pipeline's stages are neighbours; data parallelism is outermost.
  ParallelPlan p = plan(2, 2, 1, 2);
  p.order = RankOrder::tp_cp_ep_pp_dp;
  const RankLayout layout(p, 8);
  EXPECT_EQ(layout.groups(GroupKind::tp), (std::vector<Group>{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  EXPECT_EQ(layout.groups(GroupKind::pp), (std::vector<Group>{{0, 2}, {1, 3}, {4, 6}, {5, 7}}));
  EXPECT_EQ(layout.groups(GroupKind::dp), (std::vector<Group>{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  EXPECT_EQ(layout.global_rank(1, 3), 7);  // stage 1, tp 1 of replica 1
  // The default order swaps the roles of pp and dp.
  p.order = RankOrder::tp_cp_ep_dp_pp;
  const RankLayout megatron(p, 8);
  EXPECT_EQ(megatron.groups(GroupKind::pp), (std::vector<Group>{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  EXPECT_EQ(megatron.groups(GroupKind::dp), (std::vector<Group>{{0, 2}, {1, 3}, {4, 6}, {5, 7}}));
  EXPECT_EQ(megatron.global_rank(1, 3), 7);
  EXPECT_EQ(megatron.global_rank(1, 0), 4);
}

TEST(PointToPoint, PipelineNeighboursOnTheNextNodeAvoidTheOversubscribedUplinks) {
  // 256 GPUs on 1:7 leaves (56 NICs down, 8 up, R = 64), tp 8 pp 2 dp 16. Megatron's order puts stage 1 128 GPUs
  // (16 nodes) away: all 56 NICs of leaf 0 send to another leaf over its 8 uplinks, 7x slower than the NIC. Llama 3's
  // [TP, CP, PP, DP] puts stage 1 on the next node: at most 8 flows leave a leaf, one per uplink.
  ClusterSpec cluster = h800_cluster(256);
  cluster.network.topology = TopologyKind::fat_tree;
  cluster.network.oversubscription = 7;
  ParallelPlan p = plan(8, 2, 1, 16);
  const CollectiveModel megatron(cluster, deepseek_v3_routing(), p);
  p.order = RankOrder::tp_cp_ep_pp_dp;
  const CollectiveModel llama(cluster, deepseek_v3_routing(), p);
  EXPECT_NEAR(llama.p2p(kBytes), kBytes / kIbAchievable + kIbCrossLeafS, 1e-12);
  EXPECT_NEAR(megatron.p2p(kBytes), 7.0 * kBytes / kIbAchievable + kIbCrossLeafS, 1e-9);
}

// One GPU per node in every DP group (tp 8): the ring crosses the network at every hop.
double ring_formula(double n, double bytes, double bandwidth) { return 2.0 * (n - 1) / n * bytes / bandwidth; }

TEST(Ring, AllReduceOnANonBlockingTreeIsTheBusBandwidthFormula) {
  for (const TopologyKind kind : {TopologyKind::fat_tree, TopologyKind::multi_plane_fat_tree}) {
    // 32 nodes, 8 leaves of 4 nodes (fat tree) or one leaf per plane (multi-plane); 8 concurrent DP groups of 32.
    const CollectiveModel model(h800_cluster(256, kind), deepseek_v3_routing(), plan(8, 1, 8, 32));
    const CollectiveCost& cost = model.cost(Collective::ring_all_reduce, GroupKind::dp);
    const double n = 32;
    EXPECT_NEAR(cost.seconds_per_byte * kBytes, ring_formula(n, kBytes, kIbAchievable), 1e-12)
        << topology::describe(model.topology());
    const double hop = kind == TopologyKind::fat_tree ? kIbCrossLeafS : kIbSameLeafS;
    EXPECT_NEAR(cost.latency_s, 2 * (n - 1) * hop, 1e-12);
    EXPECT_NEAR(model.all_reduce(kBytes, GroupKind::dp), ring_formula(n, kBytes, kIbAchievable) + 2 * (n - 1) * hop,
                1e-12);
    // Reduce-scatter and all-gather are half of it each.
    EXPECT_NEAR(model.cost(Collective::reduce_scatter, GroupKind::dp).seconds_per_byte, cost.seconds_per_byte / 2,
                1e-24);
    EXPECT_NEAR(model.cost(Collective::all_gather, GroupKind::dp).seconds_per_byte, cost.seconds_per_byte / 2, 1e-24);
  }
}

TEST(Ring, EightGpusPerNodeRingIsNvlinkBound) {
  // DeepSeek-V3's DP groups: 128 ranks = 16 whole nodes. Eight channels; per step a GPU sends 7 of its 8 channel
  // chunks over NVLink and 1 over its NIC: NVLink needs 7/8 x c / 160 GB/s, the NIC 1/8 x c / 40 GB/s, so NVLink
  // binds and the bus bandwidth is 160 x 8/7 = 183 GB/s (H800's cut-down NVLink is the limit, as V3 §3.2.2 notes).
  const CollectiveModel model(h800_cluster(2048), deepseek_v3_routing(), plan(1, 16, 64, 128));
  const double n = 128;
  EXPECT_NEAR(model.cost(Collective::ring_all_reduce, GroupKind::dp).seconds_per_byte * kBytes,
              ring_formula(n, kBytes, kNvlinkAchievable * 8.0 / 7.0), 1e-9);
}

// A ring of 8 nodes on 8 different leaves for every (first leaf slot, GPU index): every hop leaves its leaf, and every
// NIC sends one flow per step.
std::vector<Group> cross_leaf_rings(int nodes_per_leaf, int leaves) {
  std::vector<Group> groups;
  for (int slot = 0; slot < nodes_per_leaf; ++slot)
    for (int gpu = 0; gpu < 8; ++gpu) groups.push_back(range(slot * 8 + gpu, leaves, nodes_per_leaf * 8));
  return groups;
}

TEST(Ring, OversubscriptionSlowsCrossLeafRingsByTheLeafRatio) {
  // Radix 64: non-blocking leaves take 4 nodes (32 NICs) over 32 uplinks; at 2:1, 5 nodes (40 NICs, 42 ports) over
  // 21 uplinks. With every NIC's flow leaving the leaf, the uplinks carry 40 flows at 21 x 40 GB/s: each gets
  // 21/40 of its NIC rate, so the bandwidth term grows by 40/21 exactly (spread routing).
  const topology::Topology blocking = topology::build_topology(h800_cluster(320, TopologyKind::fat_tree, 2.0));
  const topology::Topology open = topology::build_topology(h800_cluster(256, TopologyKind::fat_tree, 1.0));
  ASSERT_EQ(blocking.ports.leaf_up, 21);
  const NetworkView blocking_view(blocking, PathSelection::spread), open_view(open, PathSelection::spread);
  const auto slow = time_collective(blocking_view, Collective::ring_all_reduce, cross_leaf_rings(5, 8));
  const auto fast = time_collective(open_view, Collective::ring_all_reduce, cross_leaf_rings(4, 8));
  EXPECT_NEAR(fast.seconds_per_byte * kBytes, ring_formula(8, kBytes, kIbAchievable), 1e-12);
  EXPECT_NEAR(slow.seconds_per_byte / fast.seconds_per_byte, 40.0 / 21.0, 1e-9);

  // Static ECMP hashing can only do worse than spreading: collisions on uplinks.
  const NetworkView blocking_hashed(blocking, PathSelection::hashed), open_hashed(open, PathSelection::hashed);
  const auto slow_hashed = time_collective(blocking_hashed, Collective::ring_all_reduce, cross_leaf_rings(5, 8));
  const auto fast_hashed = time_collective(open_hashed, Collective::ring_all_reduce, cross_leaf_rings(4, 8));
  EXPECT_GE(slow_hashed.seconds_per_byte, slow.seconds_per_byte * (1 - 1e-12));
  EXPECT_GE(fast_hashed.seconds_per_byte, fast.seconds_per_byte * (1 - 1e-12));
  RecordProperty("hashed_over_spread_nonblocking", std::to_string(fast_hashed.seconds_per_byte / fast.seconds_per_byte));
  RecordProperty("hashed_over_spread_oversubscribed", std::to_string(slow_hashed.seconds_per_byte / slow.seconds_per_byte));
}

TEST(Tree, DoubleBinaryTreesAreTreesWithAlternatingLeaves) {
  for (const int positions : {1, 2, 3, 5, 8, 13, 16, 31, 32, 100, 128}) {
    int inner_in_both = 0;
    std::vector<int> children[2];
    for (int which = 0; which < 2; ++which) {
      const std::vector<int> parents = double_binary_tree_parents(positions, which);
      children[which].assign(static_cast<std::size_t>(positions), 0);
      int roots = 0;
      for (int p = 0; p < positions; ++p) {
        // Every position reaches the root, in at most log2(positions) + 1 hops.
        int hops = 0;
        for (int q = p; parents[static_cast<std::size_t>(q)] >= 0; q = parents[static_cast<std::size_t>(q)]) {
          ASSERT_LE(++hops, 1 + static_cast<int>(std::log2(positions)));
        }
        if (parents[static_cast<std::size_t>(p)] < 0) ++roots;
        else ++children[which][static_cast<std::size_t>(parents[static_cast<std::size_t>(p)])];
      }
      EXPECT_EQ(roots, 1);
      for (const int c : children[which]) EXPECT_LE(c, 2);
    }
    for (int p = 0; p < positions; ++p)
      inner_in_both += children[0][static_cast<std::size_t>(p)] > 0 && children[1][static_cast<std::size_t>(p)] > 0;
    // NCCL's point: a rank that forwards in one tree is (almost always) a leaf in the other.
    EXPECT_LE(inner_in_both, 1) << positions << " positions";
  }
}

TEST(Tree, AllReduceIsBoundByTheBusiestNic) {
  // One GPU per node, non-blocking: each NIC sends, per tree, bytes/2 to its parent and to each child (reduce up,
  // broadcast down, pipelined): the busiest NIC sets the bandwidth term. About 2 x bytes / 40 GB/s, like the ring.
  const CollectiveModel model(h800_cluster(256, TopologyKind::fat_tree), deepseek_v3_routing(), plan(8, 1, 8, 32));
  double busiest = 0;
  std::vector<double> out(32, 0.0);
  for (int which = 0; which < 2; ++which) {
    const std::vector<int> parents = double_binary_tree_parents(32, which);
    for (int p = 0; p < 32; ++p)
      if (parents[static_cast<std::size_t>(p)] >= 0) {
        out[static_cast<std::size_t>(p)] += kBytes / 2;                                      // reduce, to parent
        out[static_cast<std::size_t>(parents[static_cast<std::size_t>(p)])] += kBytes / 2;  // broadcast, to child
      }
  }
  for (const double o : out) busiest = std::max(busiest, o);
  const CollectiveCost& tree = model.cost(Collective::tree_all_reduce, GroupKind::dp);
  EXPECT_NEAR(tree.seconds_per_byte * kBytes, busiest / kIbAchievable, 1e-9);
  EXPECT_NEAR(busiest, 2 * kBytes, 0.5 * kBytes);
  EXPECT_GT(tree.latency_s, 0.0);
  // The ring pays 2(n-1) latencies, the tree 2 x depth: the tree wins on small messages.
  EXPECT_LT(tree.latency_s, model.cost(Collective::ring_all_reduce, GroupKind::dp).latency_s / 4);
}

TEST(PointToPoint, OneFlowPerStageBoundaryAtNicRate) {
  // DeepSeek-V3: stage s sends to s+1 (128 GPUs = 16 nodes apart, same plane); no two flows share a link.
  const CollectiveModel model(h800_cluster(2048), deepseek_v3_routing(), plan(1, 16, 64, 128));
  EXPECT_NEAR(model.p2p(kBytes), kBytes / kIbAchievable + kIbCrossLeafS, 1e-12);
  EXPECT_EQ(model.p2p(0.0), 0.0);
}

// The symmetry reduction must give exactly what solving the whole cluster gives.
void expect_symmetry_exact(const ClusterSpec& cluster, const ParallelPlan& p, PathSelection paths) {
  CollectiveOptions reduced, full;
  reduced.paths = full.paths = paths;
  full.use_symmetry = false;
  const CollectiveModel a(cluster, deepseek_v3_routing(), p, reduced);
  const CollectiveModel b(cluster, deepseek_v3_routing(), p, full);
  const std::pair<Collective, GroupKind> cases[] = {
      {Collective::ring_all_reduce, GroupKind::dp}, {Collective::reduce_scatter, GroupKind::edp},
      {Collective::tree_all_reduce, GroupKind::dp}, {Collective::dispatch, GroupKind::ep},
      {Collective::combine, GroupKind::ep},         {Collective::send_recv, GroupKind::pp},
      {Collective::all_gather, GroupKind::tp}};
  for (const auto& [collective, kind] : cases) {
    const CollectiveCost& x = a.cost(collective, kind);
    const CollectiveCost& y = b.cost(collective, kind);
    EXPECT_NEAR(x.seconds_per_byte, y.seconds_per_byte, 1e-12 * y.seconds_per_byte)
        << to_string(collective) << " over " << to_string(kind) << " on " << topology::describe(a.topology());
    EXPECT_NEAR(x.latency_s, y.latency_s, 1e-15) << to_string(collective) << " over " << to_string(kind);
  }
}

TEST(Symmetry, ReducedEvaluationEqualsTheFullSolve) {
  // DeepSeek's 2,048 GPUs (two-layer planes), both path selections.
  expect_symmetry_exact(h800_cluster(2048), plan(1, 16, 64, 128), PathSelection::spread);
  expect_symmetry_exact(h800_cluster(2048), plan(1, 16, 64, 128), PathSelection::hashed);
  // A fat tree at 2:1, 5 nodes per leaf, so 8-node EP groups straddle leaves irregularly; TP 2.
  expect_symmetry_exact(h800_cluster(640, TopologyKind::fat_tree, 2.0), plan(2, 4, 16, 40), PathSelection::spread);
  expect_symmetry_exact(h800_cluster(640, TopologyKind::fat_tree, 2.0), plan(2, 4, 16, 40), PathSelection::hashed);
  // Three-layer planes (radix 8: 4 nodes per leaf, pods of 4 leaves, 4 pods).
  const ClusterSpec three_layers = h800_cluster(512, TopologyKind::multi_plane_fat_tree, 1.0, 8);
  expect_symmetry_exact(three_layers, plan(1, 4, 32, 128), PathSelection::spread);
  expect_symmetry_exact(three_layers, plan(1, 4, 32, 128), PathSelection::hashed);
}

TEST(Symmetry, IndependentEpGroupsCollapseToOneClass) {
  const topology::Topology topology = topology::build_topology(h800_cluster(2048));
  const RankLayout layout(plan(1, 16, 64, 128), 2048);
  const auto classes = independent_classes(topology, layout.groups(GroupKind::ep));
  ASSERT_EQ(classes.size(), 1u);
  EXPECT_EQ(classes[0].groups.size(), 1u);
  EXPECT_EQ(classes[0].components, 32u);
}

TEST(CollectiveModel, MemoizedAndAffineInBytes) {
  const CollectiveModel model(h800_cluster(2048), deepseek_v3_routing(), plan(1, 16, 64, 128));
  EXPECT_EQ(model.evaluations(), 0u);
  const double one = model.reduce_scatter(kBytes, GroupKind::dp);
  const double latency = model.cost(Collective::reduce_scatter, GroupKind::dp).latency_s;
  for (const double scale : {0.001, 3.0, 1000.0})
    EXPECT_NEAR(model.reduce_scatter(scale * kBytes, GroupKind::dp) - latency, scale * (one - latency),
                1e-12 * scale * one);
  EXPECT_EQ(model.evaluations(), 1u);
  model.all_gather(kBytes, GroupKind::dp);
  model.all_gather(2 * kBytes, GroupKind::dp);
  EXPECT_EQ(model.evaluations(), 2u);
  EXPECT_EQ(model.all_reduce(kBytes, GroupKind::tp), 0.0);  // groups of one rank
  // Dispatch and combine move the same volume the opposite way over full-duplex links: same cost per byte.
  EXPECT_NEAR(model.cost(Collective::dispatch, GroupKind::ep).seconds_per_byte,
              model.cost(Collective::combine, GroupKind::ep).seconds_per_byte, 1e-24);
}

TEST(CollectiveModel, FiftyThousandGpus) {
  // DeepSeek-V3's plan scaled to 50,176 H800 (PP 16, DP 3,136, EP 64): three-layer planes of 7 pods. Wall time is
  // measured by bench_collectives (docs/collectives.md), not asserted here.
  const CollectiveModel model(h800_cluster(50176), deepseek_v3_routing(), plan(1, 16, 64, 3136));
  EXPECT_EQ(model.topology().planes.front().layers, 3);
  const double n = 3136;
  // 392 whole nodes per DP group: NVLink-bound as at 2,048 GPUs, plus the latency of 2(n-1) steps.
  const CollectiveCost& ring = model.cost(Collective::ring_all_reduce, GroupKind::dp);
  EXPECT_NEAR(ring.seconds_per_byte * kBytes, ring_formula(n, kBytes, kNvlinkAchievable * 8.0 / 7.0), 1e-9);
  const auto classes = independent_classes(model.topology(), model.layout().groups(GroupKind::ep));
  ASSERT_EQ(classes.size(), 1u);
  EXPECT_EQ(classes[0].components, 784u);
}

}  // namespace
}  // namespace fleetsim::collective
