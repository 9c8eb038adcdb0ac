#include "collective/algorithms.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace fleetsim::collective {

std::string_view to_string(Collective collective) {
  switch (collective) {
    case Collective::ring_all_reduce: return "ring-all-reduce";
    case Collective::tree_all_reduce: return "tree-all-reduce";
    case Collective::reduce_scatter: return "reduce-scatter";
    case Collective::all_gather: return "all-gather";
    case Collective::send_recv: return "send-recv";
    case Collective::dispatch: return "dispatch";
    case Collective::combine: return "combine";
  }
  return "?";
}

MoeTraffic moe_traffic(const MoeSpec& moe, std::int64_t ep, std::int64_t gpus_per_node) {
  MoeTraffic traffic;
  if (ep <= 1) return traffic;
  traffic.ep = ep;
  const double picks = static_cast<double>(std::max<std::int64_t>(1, moe.top_k));
  const double groups = static_cast<double>(std::max<std::int64_t>(1, moe.groups));
  const double groups_per_token = static_cast<double>(std::max<std::int64_t>(1, moe.groups_per_token));
  // Experts are laid out group by group over `units` (nodes, or GPUs of one node): a token may use
  // groups_per_token groups, i.e. this many units.
  auto candidates_among = [&](double units) {
    return std::min(units, groups_per_token * std::max(1.0, units / groups));
  };
  // Distinct units hit by `picks` independent uniform picks among `candidates`.
  auto reached = [&](double candidates) { return candidates * (1.0 - std::pow(1.0 - 1.0 / candidates, picks)); };

  if (ep <= gpus_per_node) {
    traffic.nodes = 1;
    traffic.gpus_per_node = ep;
    traffic.candidates = candidates_among(static_cast<double>(ep));
    traffic.distinct_gpus = reached(traffic.candidates);
    return traffic;
  }
  if (ep % gpus_per_node != 0)
    throw std::invalid_argument("collective: an EP group across nodes must hold whole nodes (DeepEP); ep " +
                                std::to_string(ep) + " with " + std::to_string(gpus_per_node) + " GPUs per node");
  traffic.nodes = ep / gpus_per_node;
  traffic.gpus_per_node = gpus_per_node;
  const auto nodes = static_cast<double>(traffic.nodes);
  traffic.candidates = candidates_among(nodes);
  traffic.reached_nodes = reached(traffic.candidates);
  traffic.remote_nodes = traffic.reached_nodes * (1.0 - 1.0 / nodes);
  // The candidate nodes' GPUs are the candidates for the picks at GPU level.
  const double candidate_gpus = traffic.candidates * static_cast<double>(gpus_per_node);
  traffic.distinct_gpus = candidate_gpus * (1.0 - std::pow(1.0 - 1.0 / candidate_gpus, picks));
  return traffic;
}

std::vector<int> double_binary_tree_parents(int positions, int which) {
  std::vector<int> parents(static_cast<std::size_t>(std::max(0, positions)), -1);
  // Tree 1: rooted at 0; p hangs one level up in the implicit in-order tree given by its lowest set bit.
  auto first_tree_parent = [positions](int p) {
    if (p == 0) return -1;
    const int bit = p & -p;
    int up = (p ^ bit) | (bit << 1);  // p + bit when bit 2*bit of p is clear, else p - bit
    if (up >= positions) up = p ^ bit;
    return up;
  };
  // Tree 2: tree 1 relabelled by a bijection that turns its leaves (odd positions) into inner nodes.
  auto relabel = [positions](int p) { return positions % 2 == 0 ? positions - 1 - p : (p + 1) % positions; };
  for (int p = 0; p < positions; ++p) {
    const int parent = first_tree_parent(p);
    if (which == 0)
      parents[static_cast<std::size_t>(p)] = parent;
    else
      parents[static_cast<std::size_t>(relabel(p))] = parent < 0 ? -1 : relabel(parent);
  }
  return parents;
}

namespace {

// A group's ranks split by node, nodes in order of first appearance; `per_node` is the common count, or 0 when
// nodes hold different numbers of the group's ranks.
struct ByNode {
  std::vector<std::vector<int>> nodes;
  std::size_t per_node = 0;
};

ByNode split_by_node(const topology::Topology& topology, const Group& group) {
  ByNode split;
  std::vector<std::int32_t> node_ids;
  for (const int gpu : group) {
    const std::int32_t node = topology.gpu_ports.at(static_cast<std::size_t>(gpu)).node;
    const auto it = std::find(node_ids.begin(), node_ids.end(), node);
    if (it == node_ids.end()) {
      node_ids.push_back(node);
      split.nodes.push_back({gpu});
    } else {
      split.nodes[static_cast<std::size_t>(it - node_ids.begin())].push_back(gpu);
    }
  }
  split.per_node = split.nodes.front().size();
  for (const auto& members : split.nodes)
    if (members.size() != split.per_node) split.per_node = 0;
  return split;
}

std::size_t rotate(std::int64_t base, std::int64_t by, std::size_t m) {
  const auto mm = static_cast<std::int64_t>(m);
  return static_cast<std::size_t>(((base + by) % mm + mm) % mm);
}

// One step of a ring: every rank sends `chunk` bytes to the next, over the group's channels (algorithms.hpp).
void add_ring_step(TransferSet& set, const topology::Topology& topology, const Group& group, double chunk) {
  const ByNode split = split_by_node(topology, group);
  const std::size_t m = split.per_node;
  const std::size_t n = group.size();
  if (m == 0) {  // uneven nodes: one ring in rank order
    for (std::size_t i = 0; i < n; ++i) set.add(group[i], group[(i + 1) % n], chunk, set.next_hash());
    return;
  }
  std::vector<int> order;
  order.reserve(n);
  for (std::size_t c = 0; c < m; ++c) {
    order.clear();
    for (std::size_t k = 0; k < split.nodes.size(); ++k) {
      const std::size_t start = rotate(static_cast<std::int64_t>(c), -static_cast<std::int64_t>(k), m);
      for (std::size_t t = 0; t < m; ++t) order.push_back(split.nodes[k][(start + t) % m]);
    }
    for (std::size_t i = 0; i < n; ++i)
      set.add(order[i], order[(i + 1) % n], chunk / static_cast<double>(m), set.next_hash());
  }
}

struct TreeShape {
  int depth = 0;        // node-to-node hops from the deepest leaf to the root, over both trees
  int chain_hops = 0;   // NVLink hops of a node's chain
};

// Every flow of a pipelined double-binary-tree all-reduce of `bytes` per rank (algorithms.hpp). Stage 0: between
// nodes; stage 1: the chains inside nodes.
TreeShape add_double_tree(TransferSet& set, const topology::Topology& topology, const Group& group, double bytes) {
  ByNode split = split_by_node(topology, group);
  if (split.per_node == 0) {  // uneven nodes: every rank its own tree vertex
    split.nodes.clear();
    for (const int gpu : group) split.nodes.push_back({gpu});
    split.per_node = 1;
  }
  const std::size_t m = split.per_node;
  const int positions = static_cast<int>(split.nodes.size());
  const double chunk = bytes / (2.0 * static_cast<double>(m));
  TreeShape shape;
  shape.chain_hops = static_cast<int>(m) - 1;
  for (int which = 0; which < 2; ++which) {
    const std::vector<int> parents = double_binary_tree_parents(positions, which);
    for (int p = 0; p < positions; ++p) {
      int depth = 0;
      for (int q = p; parents[static_cast<std::size_t>(q)] >= 0; q = parents[static_cast<std::size_t>(q)]) ++depth;
      shape.depth = std::max(shape.depth, depth);
    }
    for (std::size_t c = 0; c < m; ++c) {
      for (int p = 0; p < positions; ++p) {
        const auto& members = split.nodes[static_cast<std::size_t>(p)];
        const int parent = parents[static_cast<std::size_t>(p)];
        if (parent >= 0) {
          const int child_end = members[c];
          const int parent_end = split.nodes[static_cast<std::size_t>(parent)][c];
          set.add(child_end, parent_end, chunk, set.next_hash(), 0);  // reduce
          set.add(parent_end, child_end, chunk, set.next_hash(), 0);  // broadcast
        }
        for (std::size_t j = 0; j + 1 < m; ++j) {
          const int nearer = members[(c + j) % m];
          const int farther = members[(c + j + 1) % m];
          set.add(farther, nearer, chunk, set.next_hash(), 1);  // reduce towards the channel's tree end
          set.add(nearer, farther, chunk, set.next_hash(), 1);  // broadcast back down the chain
        }
      }
    }
  }
  return shape;
}

// DeepEP dispatch (or, reversed, combine) of `payload` bytes of tokens per GPU in one EP group. Stage 0 is the
// first hop of the path, stage 1 the second.
void add_deepep(TransferSet& set, const topology::Topology& topology, const Group& group, const MoeTraffic& traffic,
                double payload, bool combine) {
  auto send = [&](int from, int to, double bytes, std::size_t first_or_second) {
    if (combine)
      set.add(to, from, bytes, set.next_hash(), 1 - first_or_second);
    else
      set.add(from, to, bytes, set.next_hash(), first_or_second);
  };
  const auto ep = static_cast<double>(traffic.ep);
  if (static_cast<std::int64_t>(group.size()) != traffic.ep)
    throw std::invalid_argument("collective: the EP group has " + std::to_string(group.size()) +
                                " ranks, the MoE traffic was computed for ep " + std::to_string(traffic.ep));
  if (traffic.intranode()) {
    // Each GPU's copies go straight to each other GPU holding one of the token's experts.
    const double per_target = payload * traffic.distinct_gpus / ep;
    for (const int from : group)
      for (const int to : group) send(from, to, per_target, 0);
    return;
  }
  const ByNode split = split_by_node(topology, group);
  if (static_cast<std::int64_t>(split.nodes.size()) != traffic.nodes ||
      static_cast<std::int64_t>(split.per_node) != traffic.gpus_per_node)
    throw std::invalid_argument("collective: DeepEP routing needs an EP group of whole nodes with the same GPUs in each");
  const auto nodes = static_cast<double>(traffic.nodes);
  const auto per_node = static_cast<double>(traffic.gpus_per_node);
  // InfiniBand: to the same-index GPU of each other node, for the tokens that reach that node.
  const double over_ib = payload * traffic.reached_nodes / nodes;
  // NVLink: a GPU receives payload x reached_nodes of tokens (from every node of the group, its own included) and
  // forwards each to the GPUs of its node holding the token's experts (distinct_gpus / reached_nodes per node).
  const double forwarded = payload * traffic.distinct_gpus / per_node;
  for (std::size_t a = 0; a < split.nodes.size(); ++a)
    for (std::size_t b = 0; b < split.nodes.size(); ++b)
      if (a != b)
        for (std::size_t x = 0; x < split.per_node; ++x) send(split.nodes[a][x], split.nodes[b][x], over_ib, 0);
  for (const auto& members : split.nodes)
    for (const int from : members)
      for (const int to : members) send(from, to, forwarded, 1);
}

// Solves at this size and scales: any size works for an exact affine answer; 1 GB keeps the numbers well scaled.
constexpr double kReferenceBytes = 1e9;

}  // namespace

CollectiveCost time_collective(const NetworkView& view, Collective collective, std::span<const Group> groups,
                               const MoeTraffic& traffic, std::span<const std::size_t> hash_restarts) {
  CollectiveCost cost;
  if (groups.empty()) return cost;
  const std::size_t n = groups.front().size();
  for (const Group& group : groups)
    if (group.size() != n) throw std::invalid_argument("collective: concurrent groups must have the same size");
  if (n <= 1) return cost;
  const topology::Topology& topology = view.topology();
  TransferSet set(view);
  double steps = 1;
  TreeShape tree;
  // Transfers are numbered (and hashed) from 0 again at each group listed in hash_restarts.
  std::size_t next_restart = 0;
  auto begin_group = [&](std::size_t g) {
    if (next_restart < hash_restarts.size() && hash_restarts[next_restart] == g) {
      set.restart_numbering();
      ++next_restart;
    }
  };
  switch (collective) {
    case Collective::ring_all_reduce:
    case Collective::reduce_scatter:
    case Collective::all_gather:
      steps = static_cast<double>(n - 1) * (collective == Collective::ring_all_reduce ? 2.0 : 1.0);
      for (std::size_t g = 0; g < groups.size(); ++g) {
        begin_group(g);
        add_ring_step(set, topology, groups[g], kReferenceBytes / static_cast<double>(n));
      }
      break;
    case Collective::tree_all_reduce:
      for (std::size_t g = 0; g < groups.size(); ++g) {
        begin_group(g);
        const TreeShape shape = add_double_tree(set, topology, groups[g], kReferenceBytes);
        tree.depth = std::max(tree.depth, shape.depth);
        tree.chain_hops = std::max(tree.chain_hops, shape.chain_hops);
      }
      break;
    case Collective::send_recv:
      for (std::size_t g = 0; g < groups.size(); ++g) {
        begin_group(g);
        for (std::size_t s = 0; s + 1 < n; ++s)
          set.add(groups[g][s], groups[g][s + 1], kReferenceBytes, set.next_hash());
      }
      break;
    case Collective::dispatch:
    case Collective::combine:
      for (std::size_t g = 0; g < groups.size(); ++g) {
        begin_group(g);
        add_deepep(set, topology, groups[g], traffic, kReferenceBytes, collective == Collective::combine);
      }
      break;
  }
  const TransferSet::Built built = set.build();  // after this, `set` is spent
  const FlowSolution solution = solve(built.problem);
  cost.flows = built.problem.flow_count();
  cost.rate_solves = solution.rate_solves;
  cost.seconds_per_byte = steps * solution.transfer_makespan_s / kReferenceBytes;
  const auto& latency = built.max_latency_s;
  switch (collective) {
    case Collective::ring_all_reduce:
    case Collective::reduce_scatter:
    case Collective::all_gather:
      // Each step ends when its slowest transfer's last byte has arrived.
      cost.latency_s = steps * latency[0];
      break;
    case Collective::tree_all_reduce:
      // The first chunk climbs chain and tree and comes back down before the pipeline runs full.
      cost.latency_s = 2.0 * (tree.depth * latency[0] + tree.chain_hops * latency[1]);
      break;
    case Collective::send_recv: cost.latency_s = latency[0]; break;
    case Collective::dispatch:
    case Collective::combine: cost.latency_s = latency[0] + latency[1]; break;
  }
  return cost;
}

}  // namespace fleetsim::collective
