// Collective algorithms as sets of flows on the topology, timed by the fluid solver.
//
// Every function takes all the groups that run the collective at the same time (e.g. every DP group of every
// pipeline stage), so the network is loaded as it really is, and returns the time as an affine function of the
// size: seconds(bytes) = latency_s + bytes * seconds_per_byte. That form is exact for the bandwidth term: when every
// flow's size scales by the same factor, max-min rates do not change and every end time scales by that factor, so
// one solve (at a reference size) answers every size.
//
// Algorithms (n ranks in a group):
//  - Ring reduce-scatter / all-gather: n-1 steps, all-reduce: 2(n-1) steps; in a step every rank sends bytes/n to
//    the next rank. Every step moves the same amount over the same pairs, so every step has the same max-min
//    solution: one step is solved and multiplied by the step count (no step overlap, as in the alpha-beta model).
//    As NCCL does on nodes with one NIC per GPU, the ring runs as m channels (m = the group's GPUs per node), each
//    carrying bytes/m. Channel c visits node k's GPUs starting at the group's (c - k) mod m-th GPU there, so every
//    node-to-node hop joins same-index GPUs (same NIC plane / rail, no NVLink detour) and every NIC of a node
//    carries one channel; a group with an uneven number of GPUs per node runs one ring in rank order.
//  - Tree all-reduce: NCCL's double binary tree (Sanders, Speck, Träff 2009; NCCL 2.4): the tree spans the group's
//    nodes, a chain spans the GPUs inside each node. Tree 1 over node positions 0..K-1 is rooted at 0; a position p
//    with lowest set bit b hangs under p + b when bit 2b of p is clear (or p - b when p + b >= K), else under
//    p - b; tree 2 is tree 1 mirrored (K even) or shifted by one position (K odd), so the leaves of one are inner
//    nodes of the other. Each of the 2 trees x m channels carries bytes/(2m); channel c's tree joins the c-th GPU
//    of every node, and its chain starts there. Reduction (up) and broadcast (down) are pipelined in small chunks,
//    so every tree and chain edge carries its share in both directions at once: all these flows are concurrent.
//    Latency: the pipeline fill, 2 x (tree depth x node-to-node latency + (m-1) x NVLink latency).
//  - Pipeline send/recv: every pipeline's stage s sends to stage s+1 at once (the steady state of 1F1B, where all
//    stage boundaries carry an activation); one flow per boundary.
//  - MoE dispatch / combine as DeepEP's normal kernels do (deepseek-ai/DeepEP csrc/kernels/internode.cu): a token
//    crosses InfiniBand once per distinct remote node holding one of its experts, to the GPU with its own index in
//    that node (same plane), which forwards it over NVLink to the GPUs holding its experts there; the token's own
//    node gets it the same way without the InfiniBand hop. Combine is the reverse path. IB and NVLink stages are
//    chunked and pipelined, so all flows run at once. Within one node (ep <= GPUs per node) every GPU sends straight
//    to each GPU holding one of the token's experts over NVLink. The traffic is the expectation under a balanced
//    router (see MoeTraffic); the caller passes each GPU's token payload (tokens x bytes per token: FP8 with its
//    scales for dispatch, BF16 for combine).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "collective/network.hpp"
#include "collective/rank_layout.hpp"
#include "spec/model.hpp"

namespace fleetsim::collective {

enum class Collective {
  ring_all_reduce,
  tree_all_reduce,
  reduce_scatter,  // ring
  all_gather,      // ring
  send_recv,       // pipeline point-to-point
  dispatch,        // MoE all-to-all, DeepEP routing
  combine,
};
std::string_view to_string(Collective collective);

// Expected traffic of one token under a balanced router (DeepSeek-V3's auxiliary-loss-free balancing, V3 §2.1.2):
// experts laid out group by group over the EP group, a token choosing `groups_per_token` expert groups and top_k
// experts among them, taken as independent uniform picks. CommModel times the all-to-all from it too (DeepEP's
// counted copies). Within one node the same formula runs over GPUs instead of nodes.
struct MoeTraffic {
  std::int64_t ep = 1;
  std::int64_t nodes = 1;          // nodes the EP group spans
  std::int64_t gpus_per_node = 1;  // GPUs of the EP group in each of its nodes
  double candidates = 0;           // nodes (GPUs when intranode) a token may reach under group-limited routing
  double reached_nodes = 1;        // expected distinct nodes per token, its own included
  double remote_nodes = 0;         // of those, other than its own: one InfiniBand copy each
  double distinct_gpus = 1;        // expected distinct GPUs per token, its own included
  bool intranode() const { return nodes <= 1; }
};
// Throws std::invalid_argument when ep spans nodes but is not a multiple of gpus_per_node (DeepEP's internode
// kernels need whole nodes).
MoeTraffic moe_traffic(const MoeSpec& moe, std::int64_t ep, std::int64_t gpus_per_node);

// A collective's time on a loaded network, affine in its size (see the top of this file for what `bytes` means:
// the full buffer of one rank for all-reduce / reduce-scatter / all-gather, one message for send/recv, one GPU's
// token payload for dispatch / combine).
struct CollectiveCost {
  double seconds_per_byte = 0;
  double latency_s = 0;
  std::size_t flows = 0;        // flows solved, after merging identical transfers (one step for rings)
  std::size_t rate_solves = 0;  // progressive fillings (events)
  double seconds(double bytes) const { return bytes > 0 ? latency_s + bytes * seconds_per_byte : 0.0; }
};

// Times `collective` with every group of `groups` running at once. Groups must all have the same size; `traffic`
// is used by dispatch / combine only. Groups of one rank, and send/recv over one stage, cost nothing.
// `hash_restarts` (ascending group indices) only matters in hashed mode: transfers are numbered from 0 again at
// each of these groups, and a transfer's number is its flow hash. CollectiveModel restarts at every independent
// component (symmetry.hpp), so that a component draws the same paths whether it is solved alone or with the rest.
CollectiveCost time_collective(const NetworkView& view, Collective collective, std::span<const Group> groups,
                               const MoeTraffic& traffic = {}, std::span<const std::size_t> hash_restarts = {});

// The parent of every position in tree `which` (0 or 1) of the double binary tree over `positions` nodes; -1 for
// the root. Exposed for tests.
std::vector<int> double_binary_tree_parents(int positions, int which);

}  // namespace fleetsim::collective
