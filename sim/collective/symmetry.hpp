// Scale by symmetry: time a collective on one representative of each class of identical, independent parts of
// the cluster instead of on all of it.
//
// Two groups interact only through a resource both load. In this topology every link belongs to exactly one
// "subtree": NVLink, GPU-NIC and NIC-leaf links to a node, leaf-spine links to a leaf, spine-core links to a pod
// (topology.hpp: a flow climbs only as high as the lowest switch layer joining its ends, and every switch is a
// non-blocking crossbar). So a group can only load: the links of its own nodes (relays for a plane change stay in
// the source node), leaf uplinks of its leaves if its NICs in some plane sit under more than one leaf, and pod
// uplinks of its pods if they sit in more than one pod. Groups sharing any of these are joined (union-find); the
// resulting components share no resource, so max-min solves each one independently, exactly.
//
// Components are then compared by a signature: for every GPU and NIC involved, its offset from the component's
// first GPU and node, its index in the node, its plane, and its leaf and pod relative to the component's first leaf
// and pod in that plane. Links of one kind have the same capacity and latency everywhere, leaves the same uplinks,
// pods the same spines, so two components with equal signatures are the same problem up to renaming (in hashed
// mode too, since transfers are numbered, and hashed, within each component: time_collective's hash_restarts):
// solving one of them is exact for all.
// DeepSeek-V3's EP groups (8 nodes under one leaf per plane) are each their own component, all in one class: one
// EP group is solved for the whole cluster, at any size. Data-parallel groups spanning many leaves may leave one
// big component, which is then solved whole (docs/collectives.md gives the costs).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "collective/rank_layout.hpp"
#include "topology/topology.hpp"

namespace fleetsim::collective {

struct GroupClass {
  std::vector<std::size_t> groups;  // indices into the input: one representative component, in input order
  std::size_t components = 0;       // how many components of the cluster look exactly like it
};

// The components of `groups` (all running at once) that share no resource: lists of group indices, each ascending,
// in order of their first group.
std::vector<std::vector<std::size_t>> independent_components(const topology::Topology& topology,
                                                             std::span<const Group> groups);

// The distinct classes of those components, in order of first appearance.
std::vector<GroupClass> independent_classes(const topology::Topology& topology, std::span<const Group> groups);

}  // namespace fleetsim::collective
