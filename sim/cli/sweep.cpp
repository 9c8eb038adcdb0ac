#include "cli/sweep.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/arguments.hpp"
#include "cli/combinations.hpp"
#include "cli/text_table.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/units.hpp"

namespace fleetsim::cli {

const char* const kSweepUsage =
    R"(usage: fleetsim sweep SCENARIO.yaml --vary KEY=V1,V2,... [--with KEY=W1,W2,...] [--vary ...]
                     [--set KEY=VALUE ...] [--seed N] [--csv FILE] [--jobs N]

Runs the scenario once per combination of the --vary values (every combination; the first --vary changes slowest),
each as `fleetsim run --set KEY=VALUE ...` runs it, and prints one row per combination: step time, bubble,
throughput, memory, days, GPU-hours, energy and dollars.
  --vary KEY=V1,V2  the values of one key (dotted path, as --set); commas inside [...] or {...} or quotes belong to
                    the value: --vary "training.stage_layers=[4,4],[3,5]" is two values (repeatable)
  --with KEY=W1,W2  a key that moves together with the --vary before it, value for value (as many values):
                    --vary cluster.gpus=1024,2048 --with training.parallelism.dp=64,128 is two combinations
  --set KEY=VALUE   a fixed override for every combination (repeatable; a key may not be both set and varied)
  --seed N          the random seed of every combination (default: the scenario's `seed`, else 1)
  --csv FILE        also write the rows as CSV (columns named by JSON report key; written to a temporary file, then
                    renamed); '-' writes the CSV to stdout instead of the table
  --jobs N          run the combinations in N processes (default 1); the output is the same whatever N is
A combination that cannot run (degrees that do not divide, a plan that does not fit in memory) is a row with its
error, also printed to stderr; the sweep exits 2 only when no combination can run.
For large sweeps, --set engine.backend=analytic takes the closed-form path (about 3 times faster).
)";

namespace {

// The varied keys are the table's columns, in the order given.
struct SweepArguments : ManyRunOptions {};

// The report keys each row has, in column order.
const std::vector<std::string>& metric_columns() {
  static const std::vector<std::string> columns{"training.step_time_s",
                                                "training.breakdown_s.bubble",
                                                "training.tokens_per_day",
                                                "training.tflops_per_gpu",
                                                "training.mfu",
                                                "training.memory_per_gpu_bytes",
                                                "training.wall_time_days",
                                                "training.gpu_hours",
                                                "power.energy_mwh",
                                                "cost.total_usd"};
  return columns;
}

SweepArguments parse_sweep_arguments(int argc, char** argv) {
  SweepArguments args;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!take_many_run_option(arg, argc, argv, i, args)) scenario_argument(arg, "sweep", args.scenario);
  }
  if (args.scenario.empty()) throw InputError({"<command line>", 0}, "sweep", "expects a scenario file");
  if (args.varied.empty())
    throw InputError({"<command line>", 0}, "sweep", "expects at least one --vary KEY=V1,V2,...");
  check_set_keys_not_varied(args.overrides, args.varied);
  return args;
}

// Runs every combination as `fleetsim run --set ...` would.
std::vector<RunOutcome> run_sweep(const SweepArguments& args) {
  return run_all(args.varied.combinations(), args.jobs, [&args](std::size_t i) {
    std::vector<std::string> overrides = args.overrides;
    for (const std::string& key_value : args.varied.overrides_of(i)) overrides.push_back(key_value);
    return run_with_overrides(args.scenario, overrides, args.seed, metric_columns());
  });
}

std::string sweep_csv(const SweepArguments& args, const std::vector<RunOutcome>& outcomes) {
  std::string csv = "combination";
  for (const VariedKey& varied : args.varied.keys()) csv += "," + csv_cell(varied.key);
  csv += ",provenance.network_backend";
  for (const std::string& column : metric_columns()) csv += "," + column;
  csv += ",error\n";
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    csv += std::to_string(i + 1);
    for (const std::string& value : args.varied.values_of(i)) csv += "," + csv_cell(value);
    csv += "," + outcomes[i].backend;
    for (std::size_t c = 0; c < metric_columns().size(); ++c)
      csv += "," + (outcomes[i].cells.empty() ? std::string() : outcomes[i].cells[c]);
    csv += "," + csv_cell(outcomes[i].error) + "\n";
  }
  return csv;
}

// The human table: the varied values, then the report's figures in the units `fleetsim run` prints them in.
std::string sweep_table(const SweepArguments& args, const std::vector<RunOutcome>& outcomes) {
  struct Column {
    const char* title;
    std::size_t metric;  // index into metric_columns()
    std::string (*format)(double);
  };
  static const Column columns[] = {
      {"step s", 0, [](double v) { return format_fixed(v, 3); }},
      {"bubble s", 1, [](double v) { return format_fixed(v, 3); }},
      {"TFLOPS/GPU", 3, [](double v) { return format_fixed(v, 1); }},
      {"MFU", 4, [](double v) { return format_fixed(100.0 * v, 1) + "%"; }},
      {"memory GiB", 5, [](double v) { return format_fixed(v / 1073741824.0, 1); }},
      {"days", 6, [](double v) { return format_fixed(v, 1); }},
      {"GPU-hours", 7, [](double v) { return format_si(v); }},
      {"energy MWh", 8, [](double v) { return format_fixed(v, 0); }},
      {"cost", 9, [](double v) { return "$" + format_si(v); }},
  };
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"#"};
  for (const VariedKey& varied : args.varied.keys()) header.push_back(varied.key);
  for (const Column& column : columns) header.push_back(column.title);
  rows.push_back(header);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    std::vector<std::string> row{std::to_string(i + 1)};
    for (const std::string& value : args.varied.values_of(i)) row.push_back(value);
    if (outcomes[i].error.empty())
      for (const Column& column : columns) row.push_back(column.format(std::stod(outcomes[i].cells[column.metric])));
    else
      row.push_back("cannot run: " + outcomes[i].error);
    rows.push_back(row);
  }
  // The run number and the figures are numbers; the varied values text. An error runs on past the figures.
  const std::size_t varied = args.varied.keys().size();
  return format_text_table(rows, [varied](std::size_t c) { return c == 0 || c > varied; });
}

}  // namespace

int sweep_command(int argc, char** argv) {
  const SweepArguments args = parse_sweep_arguments(argc, argv);
  const std::vector<RunOutcome> outcomes = run_sweep(args);
  std::size_t failures = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].error.empty()) continue;
    ++failures;
    std::cerr << "fleetsim: sweep: combination " << i + 1 << " (" << args.varied.describe(i)
              << ") cannot run: " << outcomes[i].error << "\n";
  }
  // Nothing ran: the scenario or a --vary key is wrong for every combination (exit 2, no file written).
  if (failures == outcomes.size())
    throw InputError({"<command line>", 0}, "sweep",
                     "no combination could run (" + std::to_string(failures) + " of " +
                         std::to_string(outcomes.size()) + " failed); the first: " + outcomes.front().error);
  const std::string csv = sweep_csv(args, outcomes);
  if (args.csv_path == "-") {
    std::cout << csv;
    return 0;
  }
  if (!args.csv_path.empty()) write_output(args.csv_path, csv, "--csv");
  std::cout << "fleetsim sweep  " << args.scenario << "  (" << outcomes.size() << " combinations"
            << (failures ? ", " + std::to_string(failures) + " cannot run" : std::string()) << ")\n"
            << sweep_table(args, outcomes);
  return 0;
}

}  // namespace fleetsim::cli
