// A whole scenario after loading and validation: the typed form of one scenario YAML file.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "spec/cluster.hpp"
#include "spec/jobs.hpp"
#include "spec/model.hpp"

namespace fleetsim {

struct Scenario {
  std::string name;         // `name:` or the file's stem
  std::string source_file;  // path as given on the command line
  ModelSpec model;
  ClusterSpec cluster;
  std::optional<TrainingJob> training;
  std::optional<InferenceJob> inference;
  CostSpec cost;
  std::optional<ReliabilitySpec> reliability;
  EngineSpec engine;
  std::uint64_t seed = 1;
  // Line of each key in the scenario file ("training.parallelism" -> 14), so later stages can point errors at
  // the line that caused them (e.g. a plan that does not fit in memory).
  std::map<std::string, int> key_lines;
};

}  // namespace fleetsim
