#include "cli/plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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
#include "report/report_metrics.hpp"
#include "scenario/load.hpp"

namespace fleetsim::cli {

const char* const kPlanUsage =
    R"(usage: fleetsim plan SCENARIO.yaml --goal KEY=VALUE [--goal ...] [--minimize KEY] [--gpus N1,N2,...]
                    [--vary KEY=V1,V2,... [--with KEY=W1,W2,...]] [--set KEY=VALUE ...] [--seed N] [--top N]
                    [--csv FILE] [--jobs N]

Searches the cheapest way to run the scenario's training job that meets every goal. Each candidate is a GPU count
crossed with a combination of the --vary values, run as `fleetsim run` would with cluster.gpus set to the count and
training.parallelism.dp: auto (the GPUs over tp x pp x cp); the model, tokens, batch and prices stay the scenario's.
  --goal KEY=VALUE    a bound on a JSON report key that the plan must meet (repeatable, all must hold), in the
                      key's better direction: at most VALUE for times, GPU-hours, energy, dollars and memory, at
                      least VALUE for tokens_per_day, tflops_per_gpu and mfu: training.wall_time_days=60,
                      cost.total_usd=6e6, training.tokens_per_day=3e11; or explicitly 'KEY<=VALUE', 'KEY>=VALUE'
                      (quoted: < and > are the shell's)
  --minimize KEY      what ranks the candidates that meet the goals (default cost.total_usd; ties: fewer GPUs)
  --gpus N1,N2,...    the GPU counts to try (default: the scenario's count x 1/8, 1/4, ..., 16, in whole nodes,
                      at most 65,536)
  --vary, --with      other keys to search, as in `fleetsim sweep` (cluster.gpus and training.parallelism.dp are
                      the plan's to choose)
  --set KEY=VALUE     a fixed override for every candidate
  --seed N            the random seed of every candidate
  --top N             how many of the candidates that meet the goals to list (default 10)
  --csv FILE          every candidate as CSV (its rank, or why it misses or cannot run); '-' for stdout
  --jobs N            run the candidates in N processes (default 1); the output is the same whatever N is
Exit 0 with the best plan; 2 when no candidate meets the goals (the closest is named) or none can run.
)";

namespace {

constexpr std::int64_t kMaxGpus = 65536;  // the issue's 50,000-GPU clusters, rounded up to a power of two
constexpr std::int64_t kDefaultTop = 10;

struct Goal {
  std::string key;
  bool at_most = true;  // KEY<=VALUE; false: KEY>=VALUE
  double bound = 0;
  std::string text;  // as given
};

struct PlanArguments : ManyRunOptions {
  std::vector<Goal> goals;
  std::string minimize = "cost.total_usd";
  std::vector<std::int64_t> gpus;  // empty: the default ladder
  std::int64_t top = kDefaultTop;
};

void check_report_key(const std::string& option, const std::string& key) {
  if (report_metrics().count(key) || report_echoes().count(key)) return;
  std::string known;
  for (const auto& [name, metric] : report_metrics())
    if (name.find('/') == std::string::npos) known += (known.empty() ? "" : ", ") + name;
  throw InputError({"<command line>", 0}, option, "'" + key + "' is not a report key; one of: " + known);
}

// Report keys where more is better (a goal KEY=VALUE is then a floor); for the others less is (a ceiling).
bool more_is_better(const std::string& key) {
  return key == "training.tokens_per_day" || key == "training.tflops_per_gpu" || key == "training.mfu";
}

Goal parse_goal(const std::string& text) {
  Goal goal;
  goal.text = text;
  std::size_t at = text.find("<="), length = 2;
  if (at == std::string::npos) {
    at = text.find(">=");
    goal.at_most = false;
  }
  if (at == std::string::npos) {  // KEY=VALUE: the bound in the key's better direction
    at = text.find('=');
    length = 1;
  }
  if (at == std::string::npos || at == 0)
    throw InputError(
        {"<command line>", 0}, "--goal",
        "expects KEY=VALUE, KEY<=VALUE or KEY>=VALUE, such as training.wall_time_days=60; got '" + text + "'");
  goal.key = key_of(text.substr(0, at) + "=");
  check_report_key("--goal", goal.key);
  if (length == 1) {
    if (report_echoes().count(goal.key))
      throw InputError({"<command line>", 0}, "--goal " + goal.key,
                       "has no better direction; give KEY<=VALUE or KEY>=VALUE (quoted for the shell)");
    goal.at_most = !more_is_better(goal.key);
    goal.text = goal.key + (goal.at_most ? "<=" : ">=") + text.substr(at + 1);
  }
  const std::string value = text.substr(at + length);
  char* end = nullptr;
  goal.bound = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !std::isfinite(goal.bound))
    throw InputError(
        {"<command line>", 0}, "--goal " + goal.key,
        "expects a number after the bound (in the report's unit, e.g. days, US dollars, bytes); got '" + value + "'");
  return goal;
}

std::vector<std::int64_t> parse_gpu_counts(const std::string& text) {
  std::vector<std::int64_t> counts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::uint64_t count = unsigned_argument("--gpus", text.substr(start, comma - start));
    if (count == 0 || count > static_cast<std::uint64_t>(kMaxGpus))
      throw InputError({"<command line>", 0}, "--gpus",
                       "expects GPU counts from 1 to " + std::to_string(kMaxGpus) + "; got " + std::to_string(count));
    if (std::find(counts.begin(), counts.end(), static_cast<std::int64_t>(count)) != counts.end())
      throw InputError({"<command line>", 0}, "--gpus", "lists " + std::to_string(count) + " twice");
    counts.push_back(static_cast<std::int64_t>(count));
    start = comma + 1;
  }
  return counts;
}

PlanArguments parse_plan_arguments(int argc, char** argv) {
  PlanArguments args;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--goal") {
      args.goals.push_back(parse_goal(option_value(argc, argv, i)));
    } else if (arg == "--minimize") {
      args.minimize = option_value(argc, argv, i);
      check_report_key("--minimize", args.minimize);
    } else if (arg == "--gpus") {
      args.gpus = parse_gpu_counts(option_value(argc, argv, i));
    } else if (arg == "--top") {
      args.top = static_cast<std::int64_t>(unsigned_argument("--top", option_value(argc, argv, i)));
      if (args.top == 0) throw InputError({"<command line>", 0}, "--top", "expects at least 1");
    } else if (!take_many_run_option(arg, argc, argv, i, args)) {
      scenario_argument(arg, "plan", args.scenario);
    }
  }
  if (args.scenario.empty()) throw InputError({"<command line>", 0}, "plan", "expects a scenario file");
  if (args.goals.empty())
    throw InputError({"<command line>", 0}, "plan",
                     "expects at least one --goal KEY=VALUE, such as training.wall_time_days=60");
  for (const char* owned : {"cluster.gpus", "training.parallelism.dp"}) {
    if (args.varied.varies(owned))
      throw InputError({"<command line>", 0}, std::string("--vary ") + owned,
                       "is the plan's to choose; give GPU counts with --gpus (dp follows them)");
    for (const std::string& set : args.overrides)
      if (key_of(set) == owned)
        throw InputError({"<command line>", 0}, std::string("--set ") + owned,
                         "is the plan's to choose; give GPU counts with --gpus (dp follows them)");
  }
  check_set_keys_not_varied(args.overrides, args.varied);
  return args;
}

// The scenario's count times 1/8 .. 16, kept where it is a whole number of nodes, at least one node and at most
// kMaxGpus: the ladder a planner reads first (half, double, ...), around the size the scenario describes.
std::vector<std::int64_t> default_gpu_counts(const PlanArguments& args) {
  LoadOptions options;
  options.overrides = args.overrides;
  options.overrides.push_back("training.parallelism.dp=auto");
  const Scenario base = load_scenario(args.scenario, options);
  const std::int64_t gpus = base.cluster.gpus, node = base.cluster.gpus_per_node;
  std::vector<std::int64_t> counts;
  for (int shift = -3; shift <= 4; ++shift) {
    const std::int64_t count = shift < 0 ? gpus >> -shift : gpus << shift;
    if ((shift < 0 && (count << -shift) != gpus) || count < node || count % node != 0 || count > kMaxGpus) continue;
    counts.push_back(count);
  }
  return counts;
}

// The report keys every candidate's row has: the derived dp, the sweep's figures, then any goal or objective key
// not among them.
std::vector<std::string> plan_columns(const PlanArguments& args) {
  std::vector<std::string> columns{"training.parallelism.dp",
                                   "training.step_time_s",
                                   "training.tflops_per_gpu",
                                   "training.mfu",
                                   "training.memory_per_gpu_bytes",
                                   "training.wall_time_days",
                                   "training.gpu_hours",
                                   "power.energy_mwh",
                                   "cost.total_usd"};
  auto add = [&columns](const std::string& key) {
    if (std::find(columns.begin(), columns.end(), key) == columns.end()) columns.push_back(key);
  };
  for (const Goal& goal : args.goals) add(goal.key);
  add(args.minimize);
  return columns;
}

struct Candidate {
  std::int64_t gpus = 0;
  std::size_t combination = 0;  // index into args.varied
  RunOutcome outcome;
  std::vector<double> values;  // one per plan_columns(), when it ran
  bool meets = false;
  double shortfall = 0;   // the largest relative miss of a goal (0 when it meets them all)
  std::int64_t rank = 0;  // 1 = best among those that meet the goals; 0 = does not meet them
};

double column_value(const std::vector<std::string>& columns, const Candidate& candidate, const std::string& key) {
  const auto at = std::find(columns.begin(), columns.end(), key) - columns.begin();
  return candidate.values[static_cast<std::size_t>(at)];
}

std::string candidate_overrides(const PlanArguments& args, const Candidate& candidate) {
  std::string text = "--set cluster.gpus=" + std::to_string(candidate.gpus) + " --set training.parallelism.dp=auto";
  for (const std::string& key_value : args.varied.overrides_of(candidate.combination)) {
    const bool needs_quotes = key_value.find_first_of(" ,[]{}") != std::string::npos;
    text += " --set " + (needs_quotes ? "\"" + key_value + "\"" : key_value);
  }
  return text;
}

std::string plan_csv(const PlanArguments& args, const std::vector<std::string>& columns,
                     const std::vector<Candidate>& candidates) {
  std::string csv = "candidate,rank,cluster.gpus";
  for (const VariedKey& varied : args.varied.keys()) csv += "," + csv_cell(varied.key);
  csv += ",provenance.network_backend";
  for (const std::string& column : columns) csv += "," + column;
  csv += ",meets_goals,error\n";
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    csv +=
        std::to_string(i + 1) + "," + (c.rank ? std::to_string(c.rank) : std::string()) + "," + std::to_string(c.gpus);
    for (const std::string& value : args.varied.values_of(c.combination)) csv += "," + csv_cell(value);
    csv += "," + c.outcome.backend;
    for (std::size_t k = 0; k < columns.size(); ++k) csv += "," + (c.outcome.cells.empty() ? "" : c.outcome.cells[k]);
    csv += std::string(",") + (c.outcome.error.empty() ? (c.meets ? "yes" : "no") : "") + "," +
           csv_cell(c.outcome.error) + "\n";
  }
  return csv;
}

// The listed candidates as a table: GPUs, dp, the varied values, then the figures in `fleetsim run`'s units.
std::string plan_table(const PlanArguments& args, const std::vector<std::string>& columns,
                       const std::vector<const Candidate*>& listed, bool ranked) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{ranked ? "rank" : "#", "GPUs", "dp"};
  for (const VariedKey& varied : args.varied.keys()) header.push_back(varied.key);
  for (const char* title : {"step s", "TFLOPS/GPU", "MFU", "memory GiB", "days", "GPU-hours", "energy MWh", "cost"})
    header.push_back(title);
  for (const Goal& goal : args.goals) header.push_back(goal.text);
  rows.push_back(header);
  for (const Candidate* c : listed) {
    std::vector<std::string> row{ranked ? std::to_string(c->rank) : "", std::to_string(c->gpus),
                                 format_fixed(column_value(columns, *c, "training.parallelism.dp"), 0)};
    for (const std::string& value : args.varied.values_of(c->combination)) row.push_back(value);
    row.push_back(format_fixed(column_value(columns, *c, "training.step_time_s"), 3));
    row.push_back(format_fixed(column_value(columns, *c, "training.tflops_per_gpu"), 1));
    row.push_back(format_fixed(100.0 * column_value(columns, *c, "training.mfu"), 1) + "%");
    row.push_back(format_fixed(column_value(columns, *c, "training.memory_per_gpu_bytes") / 1073741824.0, 1));
    row.push_back(format_fixed(column_value(columns, *c, "training.wall_time_days"), 1));
    row.push_back(format_si(column_value(columns, *c, "training.gpu_hours")));
    row.push_back(format_fixed(column_value(columns, *c, "power.energy_mwh"), 0));
    row.push_back("$" + format_si(column_value(columns, *c, "cost.total_usd")));
    for (const Goal& goal : args.goals) {
      const double value = column_value(columns, *c, goal.key);
      const bool holds = goal.at_most ? value <= goal.bound : value >= goal.bound;
      row.push_back(format_si(value) + (holds ? " ok" : " MISS"));
    }
    rows.push_back(row);
  }
  // Rank, GPUs and dp, then the figures and goals, are numbers; the varied values text.
  const std::size_t text_columns = 3 + args.varied.keys().size();
  return format_text_table(rows, [text_columns](std::size_t c) { return c < 3 || c >= text_columns; });
}

}  // namespace

int plan_command(int argc, char** argv) {
  const PlanArguments args = parse_plan_arguments(argc, argv);
  const std::vector<std::int64_t> gpu_counts = args.gpus.empty() ? default_gpu_counts(args) : args.gpus;
  if (gpu_counts.empty()) throw InputError({"<command line>", 0}, "plan", "no GPU count to try; give some with --gpus");
  const std::vector<std::string> columns = plan_columns(args);

  // Candidates: GPU counts outermost, then the varied combinations in sweep order.
  std::vector<Candidate> candidates;
  for (std::int64_t gpus : gpu_counts)
    for (std::size_t v = 0; v < args.varied.combinations(); ++v) {
      Candidate candidate;
      candidate.gpus = gpus;
      candidate.combination = v;
      candidates.push_back(candidate);
    }
  const std::vector<RunOutcome> outcomes = run_all(candidates.size(), args.jobs, [&](std::size_t i) {
    std::vector<std::string> overrides = args.overrides;
    for (const std::string& key_value : args.varied.overrides_of(candidates[i].combination))
      overrides.push_back(key_value);
    overrides.push_back("cluster.gpus=" + std::to_string(candidates[i].gpus));
    overrides.push_back("training.parallelism.dp=auto");
    return run_with_overrides(args.scenario, overrides, args.seed, columns);
  });

  std::size_t ran = 0;
  std::vector<Candidate*> meeting;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    Candidate& c = candidates[i];
    c.outcome = outcomes[i];
    if (!c.outcome.error.empty()) continue;
    ++ran;
    for (const std::string& cell : c.outcome.cells) c.values.push_back(std::stod(cell));
    for (const Goal& goal : args.goals) {
      const double value = column_value(columns, c, goal.key);
      const double miss = goal.at_most ? value - goal.bound : goal.bound - value;
      if (miss > 0) c.shortfall = std::max(c.shortfall, miss / std::max(std::fabs(goal.bound), 1e-300));
    }
    c.meets = c.shortfall == 0;
    if (c.meets) meeting.push_back(&c);
  }
  if (ran == 0)
    throw InputError({"<command line>", 0}, "plan",
                     "no candidate could run (" + std::to_string(candidates.size()) +
                         " tried); the first: " + candidates.front().outcome.error);
  // Best first: the objective, then fewer GPUs, then candidate order (stable).
  std::stable_sort(meeting.begin(), meeting.end(), [&](const Candidate* a, const Candidate* b) {
    const double va = column_value(columns, *a, args.minimize), vb = column_value(columns, *b, args.minimize);
    if (va != vb) return va < vb;
    return a->gpus < b->gpus;
  });
  for (std::size_t r = 0; r < meeting.size(); ++r) meeting[r]->rank = static_cast<std::int64_t>(r + 1);

  std::string goals;
  for (const Goal& goal : args.goals) goals += (goals.empty() ? "" : ", ") + goal.text;
  const std::string summary = "fleetsim plan  " + args.scenario + "  goals: " + goals + "; minimize " + args.minimize +
                              "\n  " + std::to_string(candidates.size()) + " candidates: " + std::to_string(ran) +
                              " ran, " + std::to_string(candidates.size() - ran) + " cannot run (plan or memory), " +
                              std::to_string(meeting.size()) + " meet the goals\n";
  if (meeting.empty()) {
    // The closest: the smallest largest relative miss.
    const Candidate* closest = nullptr;
    for (const Candidate& c : candidates)
      if (c.outcome.error.empty() && (!closest || c.shortfall < closest->shortfall)) closest = &c;
    std::cout << summary << "  closest:\n" << plan_table(args, columns, {closest}, false);
    throw InputError({"<command line>", 0}, "--goal",
                     "no candidate meets the goals; the closest (" + std::to_string(closest->gpus) + " GPUs" +
                         (args.varied.empty() ? std::string() : ", " + args.varied.describe(closest->combination)) +
                         ") misses by " + format_fixed(100.0 * closest->shortfall, 1) + "%" +
                         "; try more GPUs (--gpus) or other plans (--vary)");
  }
  const std::string csv = plan_csv(args, columns, candidates);
  if (args.csv_path == "-") {
    std::cout << csv;
    return 0;
  }
  if (!args.csv_path.empty()) write_output(args.csv_path, csv, "--csv");
  std::vector<const Candidate*> listed(meeting.begin(),
                                       meeting.begin() + std::min<std::ptrdiff_t>(args.top, std::ssize(meeting)));
  std::cout << summary << plan_table(args, columns, listed, true) << "best: fleetsim run " << args.scenario;
  for (const std::string& set : args.overrides) std::cout << " --set " << set;
  std::cout << " " << candidate_overrides(args, *meeting.front()) << "\n";
  return 0;
}

}  // namespace fleetsim::cli
