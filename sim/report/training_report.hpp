// Reports of a training estimate: the contract's JSON report and the human summary printed by `fleetsim run`.
#pragma once

#include <string>

#include "analytic/training_estimate.hpp"
#include "spec/scenario.hpp"

namespace fleetsim {

struct Provenance {
  std::string version;
  std::string network_backend;  // "analytic" (this path) or "simgrid"
  std::uint64_t seed = 1;
};

std::string training_report_json(const Scenario& scenario, const TrainingEstimate& estimate,
                                  const Provenance& provenance);
std::string training_report_text(const Scenario& scenario, const TrainingEstimate& estimate,
                                 const Provenance& provenance);

}  // namespace fleetsim
