// JSON report keys as numbers read from a TrainingEstimate: the one table that `fleetsim validate` (published
// figures named by report key) and `fleetsim sweep` (CSV columns named by report key) both look keys up in, so a
// key means the same number in the report, in validation and in a sweep.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "analytic/training_estimate.hpp"
#include "spec/scenario.hpp"

namespace fleetsim {

using ReportMetric = std::function<double(const TrainingEstimate&)>;

// Dotted report keys ("training.step_time_s", "cost.total_usd", ...) and two derived ratios
// ("training.breakdown_s.backward_input_chunk/forward_chunk", ".../backward_weight_chunk/forward_chunk").
const std::map<std::string, ReportMetric>& report_metrics();

// Report keys that echo the scenario's plan rather than a result ("training.parallelism.tp", ... "dp", as the JSON
// report's `training.parallelism` has them: dp resolved when the scenario says auto).
using ReportEcho = std::function<double(const Scenario&)>;
const std::map<std::string, ReportEcho>& report_echoes();

}  // namespace fleetsim
