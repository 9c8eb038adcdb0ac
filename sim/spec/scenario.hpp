// A whole scenario after loading and validation: the typed form of one scenario YAML file.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/error.hpp"
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
  // Where some keys were written ("training.parallelism" -> file and line, or "--set"), so later stages can point
  // their errors at what caused them (a plan that does not fit in memory, a schedule that cannot run it).
  std::map<std::string, SourceLocation> key_locations;
};

}  // namespace fleetsim
