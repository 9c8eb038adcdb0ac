// bench_collectives: wall time of CollectiveModel construction and of the first (evaluating) query of each kind, for
// DeepSeek-V3's plan (PP 16, EP 64, ZeRO-1 DP) on H800 clusters of several sizes.
//   bench_collectives [GPUS] [fat-tree] [hashed] [full]     default: 2048 GPUs, multi-plane, spread paths, symmetry
// `full` solves every group of the cluster together instead of one representative per class (symmetry.hpp).
// Run one size per process for a clean peak RSS (the last line). Not a test: tests never assert on wall time.
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "collective/collective_model.hpp"

namespace {

using fleetsim::collective::Collective;
using fleetsim::collective::CollectiveModel;
using fleetsim::collective::GroupKind;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t gpus = argc > 1 ? std::atoll(argv[1]) : 2048;
  std::string network = "multi-plane";
  bool hashed = false, full = false;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "fat-tree") network = flag;
    if (flag == "hashed") hashed = true;
    if (flag == "full") full = true;
  }

  fleetsim::ClusterSpec cluster;
  cluster.gpu.name = "h800";
  cluster.gpu.nvlink_bandwidth_bytes_per_s = 400e9;  // public-figures.md §5
  cluster.gpus = gpus;
  cluster.gpus_per_node = 8;
  cluster.network.topology =
      network == "fat-tree" ? fleetsim::TopologyKind::fat_tree : fleetsim::TopologyKind::multi_plane_fat_tree;
  cluster.network.nic_bandwidth_bytes_per_s = 50e9;  // 400 Gb/s CX7, public-figures.md §2
  cluster.network.switch_radix = 64;

  fleetsim::ModelSpec model;  // DeepSeek-V3 routing (public-figures.md §1)
  model.kind = fleetsim::ModelKind::moe;
  model.hidden = 7168;
  model.moe.routed_experts = 256;
  model.moe.top_k = 8;
  model.moe.groups = 8;
  model.moe.groups_per_token = 4;

  fleetsim::ParallelPlan plan;  // V3 §3.2, DP scaled with the cluster
  plan.pp = 16;
  plan.ep = 64;
  plan.dp = gpus / 16;
  plan.zero = 1;

  fleetsim::collective::CollectiveOptions options;
  options.paths = hashed ? fleetsim::collective::PathSelection::hashed : fleetsim::collective::PathSelection::spread;
  options.use_symmetry = !full;

  auto start = std::chrono::steady_clock::now();
  const CollectiveModel collectives(cluster, model, plan, options);
  std::printf("%lld GPUs, %s, %s paths, %s: construction (topology + view) %.3f s\n", static_cast<long long>(gpus),
              network.c_str(), hashed ? "hashed" : "spread", full ? "full solve" : "symmetry", seconds_since(start));

  struct Query {
    const char* name;
    Collective collective;
    GroupKind kind;
    double bytes;
  };
  // Sizes: a 1 GB gradient buffer; DeepSeek-V3's per-micro-batch dispatch payload (4,096 tokens x 7,392 B FP8).
  const Query queries[] = {
      {"dp ring all-reduce", Collective::ring_all_reduce, GroupKind::dp, 1e9},
      {"dp reduce-scatter", Collective::reduce_scatter, GroupKind::dp, 1e9},
      {"dp tree all-reduce", Collective::tree_all_reduce, GroupKind::dp, 1e9},
      {"edp reduce-scatter", Collective::reduce_scatter, GroupKind::edp, 1e9},
      {"ep dispatch", Collective::dispatch, GroupKind::ep, 4096.0 * 7392.0},
      {"ep combine", Collective::combine, GroupKind::ep, 4096.0 * 7168.0 * 2.0},
      {"pp send/recv", Collective::send_recv, GroupKind::pp, 4096.0 * 7168.0 * 2.0},
  };
  for (const Query& q : queries) {
    start = std::chrono::steady_clock::now();
    const auto& cost = collectives.cost(q.collective, q.kind);
    const double first = seconds_since(start);
    start = std::chrono::steady_clock::now();
    const double predicted = collectives.cost(q.collective, q.kind).seconds(q.bytes);
    const double again = seconds_since(start);
    std::printf("  %-20s first query %8.4f s (%7zu flows, %3zu solves), memoized %.1e s: %.4f ms for %.3g B\n", q.name,
                first, cost.flows, cost.rate_solves, again, predicted * 1e3, q.bytes);
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("  peak RSS %.0f MiB\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}
