// --set KEY=VALUE: edits of the scenario's YAML tree, applied before it is parsed (internal header).
//
// Applying overrides to the tree, rather than to the parsed Scenario, means an override is validated exactly like
// the file: an unknown key, a wrong unit or an impossible plan fails the same way, naming "--set" as the file.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "scenario/bundles.hpp"
#include "scenario/yaml_reader.hpp"

namespace fleetsim::scenario {

// Applies `overrides` in order to `root` (the scenario file's mapping; `file` is its origin) and records in
// `origins` the subtrees they put there. A key inside a bundled model or GPU (`model.layers=30`,
// `cluster.gpu.hbm=141GB`) first copies the bundle into the tree, so the rest of the bundle keeps its values.
void apply_overrides(YAML::Node& root, const Origin& file, const std::vector<std::string>& overrides,
                     const LoadContext& context, OriginMap& origins);

}  // namespace fleetsim::scenario
