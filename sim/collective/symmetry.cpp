#include "collective/symmetry.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <numeric>

namespace fleetsim::collective {
namespace {

class UnionFind {
 public:
  explicit UnionFind(std::size_t n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), std::size_t{0}); }
  std::size_t find(std::size_t x) {
    while (parent_[x] != x) x = parent_[x] = parent_[parent_[x]];
    return x;
  }
  // The smaller index stays the root, so components are named by their first group: deterministic.
  void unite(std::size_t a, std::size_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);
  }

 private:
  std::vector<std::size_t> parent_;
};

std::int64_t pod_of(const topology::Plane& plane, std::int64_t leaf) {
  return leaf / std::max<std::int64_t>(1, plane.leaves_per_pod);
}

// The nodes a set of groups touches, ascending.
std::vector<std::int64_t> nodes_of(const topology::Topology& topology, std::span<const Group> groups,
                                   std::span<const std::size_t> which) {
  std::vector<std::int64_t> nodes;
  for (const std::size_t g : which)
    for (const int gpu : groups[g]) nodes.push_back(topology.gpu_ports.at(static_cast<std::size_t>(gpu)).node);
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  return nodes;
}

const topology::GpuPort& nic(const topology::Topology& topology, std::int64_t node, std::int64_t local) {
  return topology.gpu_ports[static_cast<std::size_t>(node * topology.gpus_per_node + local)];
}

// What makes a component the problem it is, up to renaming (symmetry.hpp).
std::vector<std::int64_t> signature(const topology::Topology& topology, std::span<const Group> groups,
                                    std::span<const std::size_t> which) {
  const std::vector<std::int64_t> nodes = nodes_of(topology, groups, which);
  const std::size_t planes = topology.planes.size();
  std::vector<std::int64_t> first_leaf(planes, INT64_MAX), first_pod(planes, INT64_MAX);
  for (const std::int64_t node : nodes)
    for (std::int64_t local = 0; local < topology.gpus_per_node; ++local) {
      const topology::GpuPort& port = nic(topology, node, local);
      const auto p = static_cast<std::size_t>(port.plane);
      first_leaf[p] = std::min(first_leaf[p], port.leaf);
      first_pod[p] = std::min(first_pod[p], pod_of(topology.planes[p], port.leaf));
    }
  std::int64_t first_gpu = INT64_MAX;
  for (const std::size_t g : which)
    for (const int gpu : groups[g]) first_gpu = std::min<std::int64_t>(first_gpu, gpu);

  std::vector<std::int64_t> result;
  result.push_back(static_cast<std::int64_t>(which.size()));
  for (const std::size_t g : which) {
    result.push_back(static_cast<std::int64_t>(groups[g].size()));
    for (const int gpu : groups[g]) {
      const topology::GpuPort& port = topology.gpu_ports.at(static_cast<std::size_t>(gpu));
      result.insert(result.end(), {gpu - first_gpu, port.node - nodes.front(), port.rank_in_node});
    }
  }
  for (const std::int64_t node : nodes)
    for (std::int64_t local = 0; local < topology.gpus_per_node; ++local) {
      const topology::GpuPort& port = nic(topology, node, local);
      const auto p = static_cast<std::size_t>(port.plane);
      result.insert(result.end(), {node - nodes.front(), local, port.plane, port.leaf - first_leaf[p],
                                   pod_of(topology.planes[p], port.leaf) - first_pod[p]});
    }
  return result;
}

}  // namespace

std::vector<std::vector<std::size_t>> independent_components(const topology::Topology& topology,
                                                             std::span<const Group> groups) {
  const std::size_t count = groups.size();
  UnionFind components(count);

  // Keys: nodes, then every plane's leaves, then every plane's pods.
  const std::size_t planes = topology.planes.size();
  std::vector<std::size_t> leaf_base(planes), pod_base(planes);
  std::size_t keys = static_cast<std::size_t>(topology.nodes);
  for (std::size_t p = 0; p < planes; ++p) {
    leaf_base[p] = keys;
    keys += static_cast<std::size_t>(topology.planes[p].leaves);
  }
  for (std::size_t p = 0; p < planes; ++p) {
    pod_base[p] = keys;
    keys += static_cast<std::size_t>(topology.planes[p].pods);
  }
  std::vector<std::int64_t> owner(keys, -1);
  auto claim = [&](std::size_t key, std::size_t group) {
    if (owner[key] < 0)
      owner[key] = static_cast<std::int64_t>(group);
    else
      components.unite(static_cast<std::size_t>(owner[key]), group);
  };

  std::vector<std::vector<std::int64_t>> leaves(planes);
  for (std::size_t g = 0; g < count; ++g) {
    const std::size_t single[] = {g};
    const std::vector<std::int64_t> nodes = nodes_of(topology, groups, single);
    for (auto& list : leaves) list.clear();
    for (const std::int64_t node : nodes) {
      claim(static_cast<std::size_t>(node), g);
      for (std::int64_t local = 0; local < topology.gpus_per_node; ++local) {
        const topology::GpuPort& port = nic(topology, node, local);
        leaves[static_cast<std::size_t>(port.plane)].push_back(port.leaf);
      }
    }
    for (std::size_t p = 0; p < planes; ++p) {
      auto& list = leaves[p];
      std::sort(list.begin(), list.end());
      list.erase(std::unique(list.begin(), list.end()), list.end());
      if (list.size() <= 1) continue;  // one leaf: the traffic turns around in it, no uplink is used
      for (const std::int64_t leaf : list) claim(leaf_base[p] + static_cast<std::size_t>(leaf), g);
      const topology::Plane& plane = topology.planes[p];
      if (pod_of(plane, list.front()) == pod_of(plane, list.back())) continue;  // one pod: no core is used
      for (const std::int64_t leaf : list) claim(pod_base[p] + static_cast<std::size_t>(pod_of(plane, leaf)), g);
    }
  }

  // Components in order of their first group.
  std::vector<std::vector<std::size_t>> members;
  std::vector<std::int64_t> index_of_root(count, -1);
  for (std::size_t g = 0; g < count; ++g) {
    const std::size_t root = components.find(g);
    if (index_of_root[root] < 0) {
      index_of_root[root] = static_cast<std::int64_t>(members.size());
      members.emplace_back();
    }
    members[static_cast<std::size_t>(index_of_root[root])].push_back(g);
  }
  return members;
}

std::vector<GroupClass> independent_classes(const topology::Topology& topology, std::span<const Group> groups) {
  std::vector<std::vector<std::size_t>> members = independent_components(topology, groups);
  std::vector<GroupClass> classes;
  if (members.size() == 1) {
    classes.push_back({std::move(members.front()), 1});
    return classes;
  }
  std::map<std::vector<std::int64_t>, std::size_t> class_of;
  for (auto& component : members) {
    auto [it, inserted] = class_of.emplace(signature(topology, groups, component), classes.size());
    if (inserted) classes.push_back({std::move(component), 0});
    ++classes[it->second].components;
  }
  return classes;
}

}  // namespace fleetsim::collective
