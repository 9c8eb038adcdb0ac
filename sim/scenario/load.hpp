// The scenario stage: scenario YAML in, a validated, typed Scenario out. The only code in fleetsim that touches
// yaml-cpp. The format is documented in docs/scenario-format.md.
//
// Everything a user can get wrong (an unreadable file, YAML syntax, an unknown or missing key, a wrong type or
// unit, a value out of range, a parallel plan that cannot run on the cluster) is an InputError naming the file,
// the line and the dotted key path, and saying what was expected.
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"  // InputError, thrown by everything below
#include "spec/cluster.hpp"
#include "spec/model.hpp"
#include "spec/scenario.hpp"

namespace fleetsim {

struct LoadOptions {
  // --set values, each "dotted.key.path=value"; the value is parsed as YAML (a scalar, or a flow node such as
  // {tp: 1, pp: 8}). Applied in order, before validation. Errors in them name the file "--set".
  std::vector<std::string> overrides;
  // Folder holding scenarios/models/ and profiles/; empty means default_data_dir().
  std::string data_dir;
};

// $FLEETSIM_DATA_DIR when set and not empty, else the source tree fleetsim was built from.
std::string default_data_dir();

// Loads, resolves (bundled model, GPU, kernel profile) and validates a scenario file. Throws InputError.
Scenario load_scenario(const std::string& path, const LoadOptions& options = {});

// A bundled GPU datasheet: DATA/profiles/NAME/gpu.yaml. Throws InputError (unknown name, bad file).
GpuSpec load_gpu_bundle(const std::string& name, const std::string& data_dir);

// A bundled model: DATA/scenarios/models/NAME.yaml. Throws InputError (unknown name, bad file).
ModelSpec load_model_bundle(const std::string& name, const std::string& data_dir);

}  // namespace fleetsim
