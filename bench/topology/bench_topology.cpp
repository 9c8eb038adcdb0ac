// bench_topology: wall time and memory of build_topology, and the cost of route() queries, at cluster sizes from the
// default 2,048-GPU scenario to the 50,000-GPU fleet.
//
//   bench_topology                      all three topologies at 2048, 16384 and 50000 GPUs
//   bench_topology 50000 multi-plane    one size and one topology (a clean peak RSS: VmHWM is per process)
//
// H800 numbers (public-figures.md §5: 400 GB/s NVLink; §2: 400 Gb/s NICs, 64-port switches); the timing does not
// depend on them.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "topology/topology.hpp"

namespace {

using fleetsim::ClusterSpec;
using fleetsim::TopologyKind;

// A field of /proc/self/status in KiB (VmRSS: resident now; VmHWM: peak resident), or -1.
long status_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

ClusterSpec cluster(std::int64_t gpus, TopologyKind kind) {
  ClusterSpec spec;
  spec.gpu.name = "h800";
  spec.gpu.nvlink_bandwidth_bytes_per_s = 400e9;
  spec.gpus = gpus;
  spec.gpus_per_node = 8;
  spec.network.topology = kind;
  spec.network.nic_bandwidth_bytes_per_s = 50e9;
  spec.network.switch_radix = 64;
  return spec;
}

void run(std::int64_t gpus, TopologyKind kind) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const fleetsim::topology::Topology topology = fleetsim::topology::build_topology(cluster(gpus, kind));
  const double build_s = std::chrono::duration<double>(Clock::now() - start).count();

  // One million routes between pseudo-random pairs: what an engine pays to place a round of flows.
  constexpr int kRoutes = 1'000'000;
  std::uint64_t state = 12345, links = 0;
  const auto route_start = Clock::now();
  for (int i = 0; i < kRoutes; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto a = static_cast<int>((state >> 33) % static_cast<std::uint64_t>(gpus));
    const auto b = static_cast<int>((state >> 13) % static_cast<std::uint64_t>(gpus));
    links += fleetsim::topology::route(topology, a, b, state).size();
  }
  const double route_ns =
      std::chrono::duration<double, std::nano>(Clock::now() - route_start).count() / kRoutes;

  std::printf("%-22s %6lld GPUs  build %7.1f ms  vertices %7zu  edges %7zu  route %5.0f ns (%.2f links)  "
              "VmRSS %6ld KiB  VmHWM %6ld KiB\n",
              topology.name.c_str(), static_cast<long long>(gpus), build_s * 1e3, boost::num_vertices(topology.graph),
              boost::num_edges(topology.graph), route_ns, static_cast<double>(links) / kRoutes, status_kib("VmRSS"),
              status_kib("VmHWM"));
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::pair<std::string, TopologyKind>> kinds = {
      {"fat-tree", TopologyKind::fat_tree},
      {"rail-optimized", TopologyKind::rail_optimized},
      {"multi-plane", TopologyKind::multi_plane_fat_tree},
  };
  std::vector<std::int64_t> sizes = {2048, 16384, 50000};
  if (argc > 1) sizes = {std::stoll(argv[1])};
  for (const auto& [name, kind] : kinds) {
    if (argc > 2 && name != argv[2]) continue;
    for (const std::int64_t gpus : sizes) run(gpus, kind);
  }
  return 0;
}
