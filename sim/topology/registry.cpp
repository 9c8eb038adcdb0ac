// The scale-out builders, one line each (an explicit list: a static library would drop self-registering objects).
#include <stdexcept>

#include "topology/builder.hpp"

namespace fleetsim::topology {

ScaleOutBuilder fat_tree_builder();              // fat_tree.cpp
ScaleOutBuilder rail_optimized_builder();        // rail_optimized.cpp
ScaleOutBuilder multi_plane_fat_tree_builder();  // multi_plane_fat_tree.cpp

const std::vector<ScaleOutBuilder>& scale_out_builders() {
  static const std::vector<ScaleOutBuilder> builders = {
      fat_tree_builder(),
      rail_optimized_builder(),
      multi_plane_fat_tree_builder(),
  };
  return builders;
}

const ScaleOutBuilder& scale_out_builder(TopologyKind kind) {
  for (const ScaleOutBuilder& builder : scale_out_builders())
    if (builder.kind == kind) return builder;
  throw std::logic_error("topology: no builder registered for this TopologyKind");
}

}  // namespace fleetsim::topology
