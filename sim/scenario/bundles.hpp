// Files the scenario stage reads besides the scenario itself: bundled models, GPU datasheets and kernel profiles
// under the data directory (internal header).
//
//   DATA/scenarios/models/NAME.yaml   a model bundle (`model: NAME`)
//   DATA/profiles/NAME/gpu.yaml       a GPU bundle (`cluster.gpu: NAME`)
//   DATA/profiles/NAME/MANIFEST.yaml  a kernel profile (`cluster.profile: NAME`)
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "scenario/yaml_reader.hpp"

namespace fleetsim::scenario {

enum class BundleKind { model, gpu, profile };

// Where a load looks things up.
struct LoadContext {
  std::string data_dir;      // holds scenarios/models/ and profiles/
  std::string scenario_dir;  // folder of the scenario file: relative paths inside it (traffic traces) start here
};

// Reads and parses one YAML file. A missing or unreadable file is an InputError at `asked_from` / `key` (where the
// file was named); a syntax error is an InputError at the file and line of the error.
YAML::Node read_yaml_file(const std::string& path, const SourceLocation& asked_from, const std::string& key);

// The file of bundle `name`, or nullopt when there is none (or the name is not a plain file name).
std::optional<std::string> find_bundle(BundleKind kind, const std::string& name, const std::string& data_dir);

// Names of the installed bundles of one kind, sorted.
std::vector<std::string> available_bundles(BundleKind kind, const std::string& data_dir);

// "unknown GPU 'h900'; did you mean 'h800'? Bundled GPUs (DATA/profiles/NAME/gpu.yaml): a100, h100, ..."
std::string unknown_bundle_message(BundleKind kind, const std::string& name, const std::string& data_dir);

// Opens the bundle named by the scalar `name` as a Value whose key paths start at `path_prefix` and whose errors
// name the bundle's file; an unknown name fails at `name`, listing what is installed.
Value open_bundle(BundleKind kind, const Value& name, const std::string& path_prefix, const LoadContext& context);

// The `name:` of a model or GPU mapping: optional; for a bundle loaded by name it must match that name, for an inline
// mapping it defaults to "custom".
std::string mapping_name(const Map& mapping, const std::string& bundle_name);

}  // namespace fleetsim::scenario
