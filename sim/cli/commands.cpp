#include "cli/commands.hpp"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/arguments.hpp"
#include "cli/plan.hpp"
#include "cli/sweep.hpp"
#include "cli/validate.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "engine/training_run.hpp"
#include "report/chrome_trace.hpp"
#include "report/html_report.hpp"
#include "report/training_report.hpp"
#include "scenario/load.hpp"

namespace fleetsim::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitInternal = 1;
constexpr int kExitBadInput = 2;

constexpr const char* kUsage = R"(usage: fleetsim COMMAND [ARGS]

Commands:
  run SCENARIO.yaml [--json FILE] [--trace FILE] [--html FILE] [--ops FILE] [--set KEY=VALUE ...] [--seed N]
        simulate the scenario; print a summary, or the JSON report with --json - (stdout) or --json FILE;
        --trace FILE writes the simulated step as a Chrome trace (open it in ui.perfetto.dev)
  validate
        run the bundled validation cases and print predicted vs published figures with the relative error
  calibrate [--out DIR] [--gpu NAME] [--quick] [--seed N] [--budget-s S]
        on a GPU box: build and run kernels/, write a measured kernel profile (calibration/run-on-gpu.sh)
  sweep SCENARIO.yaml --vary KEY=V1,V2,... [--with KEY=W1,W2,...] [--vary ...] [--set KEY=VALUE ...] [--seed N]
        [--csv FILE] [--jobs N]
        run the scenario for every combination of the varied values and tabulate step, throughput, memory,
        GPU-hours, energy and dollars (a row per combination; --csv FILE writes them as CSV)
  plan SCENARIO.yaml --goal KEY=VALUE [--goal ...] [--minimize KEY] [--gpus N1,N2,...] [--vary ...] [--top N]
        the cheapest GPU count and plan that meets the goals (days, dollars, memory, ...), best first

Options:
  --help, -h      this text (also: fleetsim COMMAND --help)
  --version       print the version

Exit codes: 0 success, 2 bad input (file, key and line are named), 1 internal error.
)";

constexpr const char* kRunUsage =
    R"(usage: fleetsim run SCENARIO.yaml [--json FILE] [--trace FILE] [--html FILE] [--ops FILE] [--set KEY=VALUE ...]
                    [--seed N]

Simulates one scenario (docs/scenario-format.md) and prints a human summary.
  --json FILE       write the JSON report to FILE (written to a temporary file, then renamed); '-' for stdout
  --trace FILE      write the simulated step's timeline as a Chrome trace: one process per simulated GPU, with
                    compute and communication tracks (ui.perfetto.dev or chrome://tracing open it)
  --set KEY=VALUE   override one key by its dotted path, e.g. --set training.parallelism.pp=8 (repeatable);
                    --set engine.backend=analytic takes the fast closed-form path instead of SimGrid
  --seed N          random seed (default: the scenario's `seed`, else 1); same scenario and seed, same bytes
  --ops FILE        write every op of one micro-batch on every pipeline stage with its cost as CSV (stage, layer,
                    op, phase, shape, GFLOP, HBM MB, seconds, source, TFLOPS): where a chunk's time goes
  --stats           print the simulation's own cost to stderr (activities, simulated GPUs, peak memory of the
                    simulation process): what bench/engine/run.sh measures
  --html FILE       write a self-contained HTML page: the summary, every pipeline device's phases as a bar (where the
                    bubble sits), memory per GPU and the simulated step's timeline (written atomically)
)";

struct RunArguments {
  std::string scenario;
  std::string json_path;
  std::string trace_path;
  std::string ops_path;
  std::string html_path;
  bool stats = false;
  std::vector<std::string> overrides;
  std::optional<std::uint64_t> seed;
};

RunArguments parse_run_arguments(int argc, char** argv) {
  RunArguments args;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--json") {
      args.json_path = option_value(argc, argv, i);
    } else if (arg == "--set") {
      args.overrides.push_back(key_value_argument("--set", option_value(argc, argv, i)));
    } else if (arg == "--seed") {
      args.seed = unsigned_argument("--seed", option_value(argc, argv, i));
    } else if (arg == "--stats") {
      args.stats = true;
    } else if (arg == "--ops") {
      args.ops_path = option_value(argc, argv, i);
    } else if (arg == "--trace") {
      args.trace_path = option_value(argc, argv, i);
    } else if (arg == "--html") {
      args.html_path = option_value(argc, argv, i);
    } else {
      scenario_argument(arg, "run", args.scenario);
    }
  }
  if (args.scenario.empty()) throw InputError({"<command line>", 0}, "run", "expects a scenario file");
  return args;
}

int run_command(int argc, char** argv) {
  const RunArguments args = parse_run_arguments(argc, argv);
  const Scenario scenario = load_training_scenario(args.scenario, args.overrides, args.seed);
  // The HTML report draws the timeline when the engine runs (the analytic backend keeps none).
  const bool wants_timeline =
      !args.trace_path.empty() || (!args.html_path.empty() && scenario.engine.backend == "simgrid");
  std::vector<TraceEvent> trace;
  const TrainingEstimate estimate = run_training(scenario, wants_timeline ? &trace : nullptr);
  const Provenance provenance{FLEETSIM_VERSION, estimate.backend, scenario.seed};
  if (args.stats)
    std::fprintf(stderr,
                 "fleetsim stats: backend %s, %lld simulated GPUs, %lld activities, simulation peak RSS %.0f MiB\n",
                 estimate.backend.c_str(), static_cast<long long>(estimate.engine_actors),
                 static_cast<long long>(estimate.engine_activities), estimate.engine_peak_rss_bytes / 1048576.0);
  // The ops of the split the step ran with (moved for memory, when the balanced one did not fit).
  if (!args.ops_path.empty())
    write_output(args.ops_path, op_costs_csv(scenario, TrainingModels(scenario), estimate.stages), "--ops");
  if (!args.trace_path.empty())
    write_output(args.trace_path, chrome_trace_json(trace, static_cast<int>(scenario.training->parallelism.pp)),
                 "--trace");
  if (!args.html_path.empty())
    write_output(args.html_path, training_report_html(scenario, estimate, provenance, trace), "--html");
  if (args.json_path.empty()) {
    std::cout << training_report_text(scenario, estimate, provenance);
  } else {
    write_output(args.json_path, training_report_json(scenario, estimate, provenance), "--json");
  }
  return kExitOk;
}

int calibrate_command(int argc, char** argv) {
  std::string command = "bash \"" + default_data_dir() + "/calibration/run-on-gpu.sh\"";
  for (int i = 2; i < argc; ++i) command += std::string(" \"") + argv[i] + "\"";
  int status = std::system(command.c_str());
  if (status == -1) return kExitInternal;
  return WIFEXITED(status) ? WEXITSTATUS(status) : kExitInternal;
}

bool wants_help(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
}

}  // namespace

int main_entry(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitBadInput;
  }
  const std::string_view command = argv[1];
  try {
    if (command == "--help" || command == "-h" || command == "help") {
      std::cout << kUsage;
      return kExitOk;
    }
    if (command == "--version") {
      std::cout << "fleetsim " << FLEETSIM_VERSION << "\n";
      return kExitOk;
    }
    if (command == "run") {
      if (wants_help(argc, argv)) return std::cout << kRunUsage, kExitOk;
      return run_command(argc, argv);
    }
    if (command == "validate") {
      if (wants_help(argc, argv))
        return std::cout << "usage: fleetsim validate\n  runs scenarios/validation/*.yaml against the published "
                            "figures beside them and prints each prediction with its relative error\n",
               kExitOk;
      if (argc > 2)
        throw InputError({"<command line>", 0}, argv[2], "validate takes no arguments (see fleetsim validate --help)");
      return validate_command(std::cout);
    }
    if (command == "calibrate") {
      if (wants_help(argc, argv))
        return std::cout
                   << "usage: fleetsim calibrate [--out DIR] [--gpu NAME] [--quick] [--seed N] [--budget-s S]\n  runs "
                      "calibration/run-on-gpu.sh with these arguments "
                      "(needs a CUDA GPU, the CUDA toolkit, CMake and ninja)\n",
               kExitOk;
      return calibrate_command(argc, argv);
    }
    if (command == "sweep") {
      if (wants_help(argc, argv)) return std::cout << kSweepUsage, kExitOk;
      return sweep_command(argc, argv);
    }
    if (command == "plan") {
      if (wants_help(argc, argv)) return std::cout << kPlanUsage, kExitOk;
      return plan_command(argc, argv);
    }
    std::cerr << "fleetsim: unknown command '" << command << "'\n\n" << kUsage;
    return kExitBadInput;
  } catch (const InputError& error) {
    std::cerr << "fleetsim: error: " << error.what() << "\n";
    return kExitBadInput;
  } catch (const std::exception& error) {
    std::cerr << "fleetsim: internal error: " << error.what() << "\n";
    return kExitInternal;
  }
}

}  // namespace fleetsim::cli
