#include "cli/validate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/csv.hpp"
#include "core/error.hpp"
#include "engine/training_run.hpp"
#include "report/report_metrics.hpp"
#include "scenario/load.hpp"

namespace fleetsim::cli {

int validate_command(std::ostream& out) {
  const std::string root = default_data_dir();
  const auto cases = CsvTable::read(root + "/scenarios/validation/published.csv");
  std::map<std::string, TrainingEstimate> estimates;          // one run per scenario
  std::vector<double> built_against_errors, held_out_errors;  // |relative error| of each row
  char line[512];
  // The scenario column is as wide as its longest name.
  int width = static_cast<int>(std::string_view("scenario").size());
  for (std::size_t row = 0; row < cases.rows(); ++row)
    width = std::max(width, static_cast<int>(cases.text(row, "scenario").size()));
  std::snprintf(line, sizeof line, "%-*s %-56s %14s %14s %9s  %s\n", width, "scenario", "metric", "predicted",
                "published", "error", "source");
  out << line;
  for (std::size_t row = 0; row < cases.rows(); ++row) {
    const std::string& scenario_file = cases.text(row, "scenario");
    const std::string& metric = cases.text(row, "metric");
    auto found = report_metrics().find(metric);
    if (found == report_metrics().end())
      throw InputError({cases.path(), cases.line_of(row)}, "metric", "unknown report key '" + metric + "'");
    auto estimate = estimates.find(scenario_file);
    if (estimate == estimates.end()) {
      Scenario scenario = load_scenario(root + "/scenarios/" + scenario_file, LoadOptions{});
      estimate = estimates.emplace(scenario_file, run_training(scenario, nullptr)).first;
    }
    const double predicted = found->second(estimate->second);
    const double published = cases.required_number(row, "published");
    const double error = (predicted - published) / published;
    std::snprintf(line, sizeof line, "%-*s %-56s %14.5g %14.5g %+8.1f%%  %s\n", width, scenario_file.c_str(),
                  metric.c_str(), predicted, published, error * 100.0, cases.text(row, "source").c_str());
    out << line;
    const bool held_out = cases.text(row, "source").find("held-out check") != std::string::npos;
    (held_out ? held_out_errors : built_against_errors).push_back(std::fabs(error));
  }
  // How far off, by kind of check: the published results the model was built against (DeepSeek-V3), and the
  // held-out ones added after it (sources marked "held-out check").
  auto summarize = [&](const char* label, std::vector<double> errors) {
    if (errors.empty()) return;
    std::sort(errors.begin(), errors.end());
    const std::size_t n = errors.size();
    const double median = n % 2 ? errors[n / 2] : (errors[n / 2 - 1] + errors[n / 2]) / 2.0;
    const auto within = std::count_if(errors.begin(), errors.end(), [](double e) { return e <= 0.10; });
    std::snprintf(line, sizeof line,
                  "summary: %-26s %3zu rows, median |error| %5.1f%%, largest %5.1f%%, %zu within 10%%\n", label, n,
                  median * 100.0, errors.back() * 100.0, static_cast<std::size_t>(within));
    out << line;
  };
  out << "\n";
  summarize("built against (DeepSeek-V3)", built_against_errors);
  summarize("held-out checks", held_out_errors);
  return 0;
}

}  // namespace fleetsim::cli
