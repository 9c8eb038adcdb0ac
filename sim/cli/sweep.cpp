#include "cli/sweep.hpp"

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cli/arguments.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "engine/training_run.hpp"
#include "report/report_metrics.hpp"
#include "scenario/load.hpp"

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

constexpr std::size_t kMaxCombinations = 100000;  // a guard against a typo multiplying lists, not a limit of the model
constexpr std::uint64_t kMaxJobs = 256;

struct Variation {
  std::string key;                  // dotted path, trimmed
  std::vector<std::string> values;  // as written, each becoming KEY=VALUE
  std::size_t axis = 0;             // the --vary it moves with: its own, or the one before a --with
};

struct SweepArguments {
  std::string scenario;
  std::vector<Variation> variations;    // every varied key, in the order given (the table's columns)
  std::vector<std::size_t> axis_sizes;  // values per --vary; a --with key moves along its --vary's axis
  std::vector<std::string> overrides;   // --set, applied before the varied keys
  std::optional<std::uint64_t> seed;
  std::string csv_path;
  std::uint64_t jobs = 1;
};

// What one combination gave: the report's numbers (metric_columns order, as the JSON report writes them) or why it
// could not run.
struct Outcome {
  std::string backend;
  std::vector<std::string> cells;
  std::string error;
};

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

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return "";
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

std::string key_of(const std::string& key_value) {
  return trim(std::string_view(key_value).substr(0, key_value.find('=')));
}

// Splits "V1,V2,..." at the commas outside brackets, braces and quotes, so that YAML lists and mappings stay whole.
std::vector<std::string> split_values(const std::string& key, std::string_view text) {
  std::vector<std::string> values;
  std::string current;
  int depth = 0;
  char quote = 0;
  auto finish = [&] {
    std::string value = trim(current);
    if (value.empty())
      throw InputError({"<command line>", 0}, "--vary " + key,
                       "has an empty value; expected KEY=V1,V2,... with no empty item");
    values.push_back(value);
    current.clear();
  };
  for (char c : text) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (--depth < 0)
        throw InputError({"<command line>", 0}, "--vary " + key, "has an unmatched '" + std::string(1, c) + "'");
    } else if (c == ',' && depth == 0) {
      finish();
      continue;
    }
    current += c;
  }
  if (quote || depth != 0)
    throw InputError({"<command line>", 0}, "--vary " + key,
                     "has an unclosed quote or bracket: '" + std::string(text) + "'");
  finish();
  return values;
}

SweepArguments parse_sweep_arguments(int argc, char** argv) {
  SweepArguments args;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--vary" || arg == "--with") {
      const std::string option(arg);
      const std::string text = key_value_argument(option, option_value(argc, argv, i));
      Variation variation;
      variation.key = key_of(text);
      variation.values = split_values(variation.key, std::string_view(text).substr(text.find('=') + 1));
      for (const Variation& earlier : args.variations)
        if (earlier.key == variation.key)
          throw InputError({"<command line>", 0}, option + " " + variation.key,
                           "is varied twice; give all its values in one --vary");
      if (option == "--vary") {
        variation.axis = args.axis_sizes.size();
        args.axis_sizes.push_back(variation.values.size());
      } else {
        if (args.axis_sizes.empty())
          throw InputError({"<command line>", 0}, "--with " + variation.key,
                           "moves with the --vary before it; give a --vary first");
        if (variation.values.size() != args.axis_sizes.back())
          throw InputError({"<command line>", 0}, "--with " + variation.key,
                           "has " + std::to_string(variation.values.size()) + " values, the --vary before it " +
                               std::to_string(args.axis_sizes.back()) + "; they move together, one for one");
        variation.axis = args.axis_sizes.size() - 1;
      }
      args.variations.push_back(std::move(variation));
    } else if (arg == "--set") {
      args.overrides.push_back(key_value_argument("--set", option_value(argc, argv, i)));
    } else if (arg == "--seed") {
      args.seed = unsigned_argument("--seed", option_value(argc, argv, i));
    } else if (arg == "--csv") {
      args.csv_path = option_value(argc, argv, i);
    } else if (arg == "--jobs") {
      args.jobs = unsigned_argument("--jobs", option_value(argc, argv, i));
      if (args.jobs == 0 || args.jobs > kMaxJobs)
        throw InputError({"<command line>", 0}, "--jobs",
                         "expects 1 to " + std::to_string(kMaxJobs) + " processes, got " + std::to_string(args.jobs));
    } else if (!arg.empty() && arg.front() == '-') {
      throw InputError({"<command line>", 0}, std::string(arg),
                       "unknown option for `sweep` (see fleetsim sweep --help)");
    } else if (args.scenario.empty()) {
      args.scenario = arg;
    } else {
      throw InputError({"<command line>", 0}, std::string(arg), "only one scenario file may be given");
    }
  }
  if (args.scenario.empty()) throw InputError({"<command line>", 0}, "sweep", "expects a scenario file");
  if (args.variations.empty())
    throw InputError({"<command line>", 0}, "sweep", "expects at least one --vary KEY=V1,V2,...");
  for (const std::string& set : args.overrides)
    for (const Variation& variation : args.variations)
      if (key_of(set) == variation.key)
        throw InputError({"<command line>", 0}, "--set " + variation.key,
                         "is also varied; a key is either set for every combination or varied");
  std::size_t combinations = 1;
  for (std::size_t size : args.axis_sizes) {
    combinations *= size;
    if (combinations > kMaxCombinations)
      throw InputError({"<command line>", 0}, "--vary",
                       "gives more than " + std::to_string(kMaxCombinations) + " combinations");
  }
  return args;
}

// The value of every varied key in combination `index` (mixed radix over the --vary axes, the last fastest; a
// --with key takes the value at its axis's position).
std::vector<std::string> values_of(const SweepArguments& args, std::size_t index) {
  std::vector<std::size_t> position(args.axis_sizes.size());
  for (std::size_t a = args.axis_sizes.size(); a-- > 0;) {
    position[a] = index % args.axis_sizes[a];
    index /= args.axis_sizes[a];
  }
  std::vector<std::string> values;
  for (const Variation& variation : args.variations) values.push_back(variation.values[position[variation.axis]]);
  return values;
}

std::size_t combination_count(const SweepArguments& args) {
  std::size_t count = 1;
  for (std::size_t size : args.axis_sizes) count *= size;
  return count;
}

// Runs one combination as `fleetsim run` would. Bad input is the row's error; anything else propagates.
Outcome run_combination(const SweepArguments& args, std::size_t index) {
  Outcome outcome;
  try {
    LoadOptions options;
    options.overrides = args.overrides;
    const std::vector<std::string> values = values_of(args, index);
    for (std::size_t v = 0; v < values.size(); ++v)
      options.overrides.push_back(args.variations[v].key + "=" + values[v]);
    Scenario scenario = load_scenario(args.scenario, options);
    if (args.seed) scenario.seed = *args.seed;
    if (!scenario.training)
      throw InputError({scenario.source_file, 0}, "inference",
                       "serving scenarios are parsed and checked, but simulating them is not in this version; "
                       "give a `training` section");
    const TrainingEstimate estimate = run_training(scenario, nullptr);
    outcome.backend = estimate.backend;
    for (const std::string& column : metric_columns())
      outcome.cells.push_back(format_report_number(report_metrics().at(column)(estimate)));
  } catch (const InputError& error) {
    outcome.error = error.what();
  }
  return outcome;
}

// Worker processes send outcomes back as length-prefixed fields: "<index> <fields>\n" then "<length>\n<bytes>" each.
void append_field(std::string& out, const std::string& field) { out += std::to_string(field.size()) + "\n" + field; }

std::string serialize(std::size_t index, const Outcome& outcome) {
  std::string out = std::to_string(index) + " " + std::to_string(outcome.cells.size() + 2) + "\n";
  append_field(out, outcome.backend);
  append_field(out, outcome.error);
  for (const std::string& cell : outcome.cells) append_field(out, cell);
  return out;
}

// Reads every record of one worker's stream into `outcomes`.
void deserialize(const std::string& stream, std::vector<Outcome>& outcomes) {
  std::size_t at = 0;
  auto read_number = [&](char end) {
    const std::size_t stop = stream.find(end, at);
    if (stop == std::string::npos) throw std::runtime_error("sweep: a worker's output is truncated");
    const std::size_t value = std::stoull(stream.substr(at, stop - at));
    at = stop + 1;
    return value;
  };
  auto read_field = [&] {
    const std::size_t length = read_number('\n');
    if (at + length > stream.size()) throw std::runtime_error("sweep: a worker's output is truncated");
    std::string field = stream.substr(at, length);
    at += length;
    return field;
  };
  while (at < stream.size()) {
    const std::size_t index = read_number(' ');
    const std::size_t fields = read_number('\n');
    if (index >= outcomes.size() || fields < 2) throw std::runtime_error("sweep: a worker's output is malformed");
    Outcome& outcome = outcomes[index];
    outcome.backend = read_field();
    outcome.error = read_field();
    for (std::size_t f = 2; f < fields; ++f) outcome.cells.push_back(read_field());
  }
}

bool write_all(int fd, const std::string& text) {
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    written += static_cast<std::size_t>(n);
  }
  return true;
}

// Runs every combination: in this process, or round-robin over `jobs` forked workers (combination i on worker
// i mod jobs). SimGrid keeps one engine per process, so parallel runs need processes, not threads. A worker that
// fails for anything but bad input makes the sweep an internal error.
std::vector<Outcome> run_all(const SweepArguments& args) {
  const std::size_t count = combination_count(args);
  std::vector<Outcome> outcomes(count);
  const std::size_t jobs = std::min<std::size_t>(args.jobs, count);
  if (jobs <= 1) {
    for (std::size_t i = 0; i < count; ++i) outcomes[i] = run_combination(args, i);
    return outcomes;
  }
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  struct Worker {
    pid_t pid;
    int fd;
  };
  std::vector<Worker> workers;
  for (std::size_t w = 0; w < jobs; ++w) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("sweep: cannot create a pipe for a worker");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("sweep: cannot start a worker process");
    if (pid == 0) {
      ::close(fds[0]);
      for (const Worker& earlier : workers) ::close(earlier.fd);
      int status = 0;
      try {
        for (std::size_t i = w; i < count; i += jobs)
          if (!write_all(fds[1], serialize(i, run_combination(args, i)))) {
            status = 1;
            break;
          }
      } catch (const std::exception& error) {
        std::fprintf(stderr, "fleetsim: internal error in sweep worker %zu: %s\n", w, error.what());
        status = 1;
      }
      ::close(fds[1]);
      std::fflush(stderr);
      ::_exit(status);  // no atexit handlers or stream flushes of the parent's copies
    }
    ::close(fds[1]);
    workers.push_back({pid, fds[0]});
  }
  bool failed = false;
  for (const Worker& worker : workers) {
    std::string stream;
    char buffer[65536];
    while (true) {
      const ssize_t n = ::read(worker.fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      stream.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(worker.fd);
    int status = 0;
    while (::waitpid(worker.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = true;
    if (!failed) deserialize(stream, outcomes);
  }
  if (failed) throw std::runtime_error("sweep: a worker process failed");
  return outcomes;
}

// RFC 4180: a cell with a comma, quote or line break is quoted, its quotes doubled.
std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string sweep_csv(const SweepArguments& args, const std::vector<Outcome>& outcomes) {
  std::string csv = "combination";
  for (const Variation& variation : args.variations) csv += "," + csv_cell(variation.key);
  csv += ",provenance.network_backend";
  for (const std::string& column : metric_columns()) csv += "," + column;
  csv += ",error\n";
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    csv += std::to_string(i + 1);
    for (const std::string& value : values_of(args, i)) csv += "," + csv_cell(value);
    csv += "," + outcomes[i].backend;
    for (std::size_t c = 0; c < metric_columns().size(); ++c)
      csv += "," + (outcomes[i].cells.empty() ? std::string() : outcomes[i].cells[c]);
    csv += "," + csv_cell(outcomes[i].error) + "\n";
  }
  return csv;
}

std::string printf_string(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

// The human table: the varied values, then the report's figures in the units `fleetsim run` prints them in.
std::string sweep_table(const SweepArguments& args, const std::vector<Outcome>& outcomes) {
  struct Column {
    const char* title;
    std::size_t metric;  // index into metric_columns()
    std::string (*format)(double);
  };
  static const Column columns[] = {
      {"step s", 0, [](double v) { return printf_string("%.3f", v); }},
      {"bubble s", 1, [](double v) { return printf_string("%.3f", v); }},
      {"TFLOPS/GPU", 3, [](double v) { return printf_string("%.1f", v); }},
      {"MFU", 4, [](double v) { return printf_string("%.1f%%", 100.0 * v); }},
      {"memory GiB", 5, [](double v) { return printf_string("%.1f", v / 1073741824.0); }},
      {"days", 6, [](double v) { return printf_string("%.1f", v); }},
      {"GPU-hours", 7, [](double v) { return format_si(v); }},
      {"energy MWh", 8, [](double v) { return printf_string("%.0f", v); }},
      {"cost", 9, [](double v) { return "$" + format_si(v); }},
  };
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"#"};
  for (const Variation& variation : args.variations) header.push_back(variation.key);
  for (const Column& column : columns) header.push_back(column.title);
  rows.push_back(header);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    std::vector<std::string> row{std::to_string(i + 1)};
    for (const std::string& value : values_of(args, i)) row.push_back(value);
    if (outcomes[i].error.empty())
      for (const Column& column : columns) row.push_back(column.format(std::stod(outcomes[i].cells[column.metric])));
    else
      row.push_back("cannot run: " + outcomes[i].error);
    rows.push_back(row);
  }
  // Every column as wide as its widest cell; an error runs on past the columns it replaces.
  std::vector<std::size_t> width(header.size(), 0);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c)
      if (row.size() == header.size() || c <= args.variations.size()) width[c] = std::max(width[c], row[c].size());
  std::string text;
  for (const auto& row : rows) {
    std::string line = " ";
    for (std::size_t c = 0; c < row.size(); ++c) {
      const bool numeric = c > args.variations.size() && row.size() == header.size();
      const std::size_t pad = width[c] > row[c].size() ? width[c] - row[c].size() : 0;
      line += " ";
      if (numeric) line += std::string(pad, ' ');
      line += row[c];
      if (!numeric && c + 1 < row.size()) line += std::string(pad, ' ');
    }
    text += line + "\n";
  }
  return text;
}

}  // namespace

int sweep_command(int argc, char** argv) {
  const SweepArguments args = parse_sweep_arguments(argc, argv);
  const std::vector<Outcome> outcomes = run_all(args);
  std::size_t failures = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].error.empty()) continue;
    ++failures;
    std::string which;
    const std::vector<std::string> values = values_of(args, i);
    for (std::size_t v = 0; v < values.size(); ++v) which += (v ? " " : "") + args.variations[v].key + "=" + values[v];
    std::cerr << "fleetsim: sweep: combination " << i + 1 << " (" << which << ") cannot run: " << outcomes[i].error
              << "\n";
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
