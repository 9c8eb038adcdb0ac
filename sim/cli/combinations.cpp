#include "cli/combinations.hpp"

#include <poll.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string_view>

#include "cli/arguments.hpp"
#include "core/error.hpp"
#include "engine/training_run.hpp"
#include "report/json_writer.hpp"
#include "report/report_metrics.hpp"
#include "scenario/load.hpp"

namespace fleetsim::cli {
namespace {

constexpr std::size_t kMaxCombinations = 100000;  // a guard against a typo multiplying lists, not a limit of the model
constexpr std::uint64_t kMaxJobs = 256;

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return "";
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

// Splits "V1,V2,..." at the commas outside brackets, braces and quotes, so that YAML lists and mappings stay whole.
std::vector<std::string> split_values(const std::string& option, std::string_view text) {
  std::vector<std::string> values;
  std::string current;
  int depth = 0;
  char quote = 0;
  auto finish = [&] {
    std::string value = trim(current);
    if (value.empty())
      throw InputError({"<command line>", 0}, option, "has an empty value; expected KEY=V1,V2,... with no empty item");
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
      if (--depth < 0) throw InputError({"<command line>", 0}, option, "has an unmatched '" + std::string(1, c) + "'");
    } else if (c == ',' && depth == 0) {
      finish();
      continue;
    }
    current += c;
  }
  if (quote || depth != 0)
    throw InputError({"<command line>", 0}, option, "has an unclosed quote or bracket: '" + std::string(text) + "'");
  finish();
  return values;
}

// Worker processes send outcomes back as length-prefixed fields: "<index> <fields>\n" then "<length>\n<bytes>" each.
void append_field(std::string& out, const std::string& field) { out += std::to_string(field.size()) + "\n" + field; }

std::string serialize(std::size_t index, const RunOutcome& outcome) {
  std::string out = std::to_string(index) + " " + std::to_string(outcome.cells.size() + 2) + "\n";
  append_field(out, outcome.backend);
  append_field(out, outcome.error);
  for (const std::string& cell : outcome.cells) append_field(out, cell);
  return out;
}

// Reads every record of one worker's stream into `outcomes`.
void deserialize(const std::string& stream, std::vector<RunOutcome>& outcomes) {
  std::size_t at = 0;
  auto read_number = [&](char end) {
    const std::size_t stop = stream.find(end, at);
    if (stop == std::string::npos) throw std::runtime_error("a worker's output is truncated");
    const std::size_t value = std::stoull(stream.substr(at, stop - at));
    at = stop + 1;
    return value;
  };
  auto read_field = [&] {
    const std::size_t length = read_number('\n');
    if (at + length > stream.size()) throw std::runtime_error("a worker's output is truncated");
    std::string field = stream.substr(at, length);
    at += length;
    return field;
  };
  while (at < stream.size()) {
    const std::size_t index = read_number(' ');
    const std::size_t fields = read_number('\n');
    if (index >= outcomes.size() || fields < 2) throw std::runtime_error("a worker's output is malformed");
    RunOutcome& outcome = outcomes[index];
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

}  // namespace

std::string key_of(const std::string& key_value) {
  return trim(std::string_view(key_value).substr(0, key_value.find('=')));
}

void VariedKeys::add(const std::string& option, const std::string& text) {
  key_value_argument(option, text);
  VariedKey varied;
  varied.key = key_of(text);
  const std::string where = option + " " + varied.key;
  varied.values = split_values(where, std::string_view(text).substr(text.find('=') + 1));
  if (varies(varied.key))
    throw InputError({"<command line>", 0}, where, "is varied twice; give all its values in one --vary");
  if (option == "--with") {
    if (axis_sizes_.empty())
      throw InputError({"<command line>", 0}, where, "moves with the --vary before it; give a --vary first");
    if (varied.values.size() != axis_sizes_.back())
      throw InputError({"<command line>", 0}, where,
                       "has " + std::to_string(varied.values.size()) + " values, the --vary before it " +
                           std::to_string(axis_sizes_.back()) + "; they move together, one for one");
    varied.axis = axis_sizes_.size() - 1;
  } else {
    varied.axis = axis_sizes_.size();
    axis_sizes_.push_back(varied.values.size());
    if (combinations() > kMaxCombinations)
      throw InputError({"<command line>", 0}, option,
                       "gives more than " + std::to_string(kMaxCombinations) + " combinations");
  }
  keys_.push_back(std::move(varied));
}

bool VariedKeys::varies(const std::string& key) const {
  for (const VariedKey& varied : keys_)
    if (varied.key == key) return true;
  return false;
}

std::size_t VariedKeys::combinations() const {
  std::size_t count = 1;
  for (std::size_t size : axis_sizes_) count *= size;
  return count;
}

std::vector<std::string> VariedKeys::values_of(std::size_t index) const {
  std::vector<std::size_t> position(axis_sizes_.size());
  for (std::size_t a = axis_sizes_.size(); a-- > 0;) {
    position[a] = index % axis_sizes_[a];
    index /= axis_sizes_[a];
  }
  std::vector<std::string> values;
  for (const VariedKey& varied : keys_) values.push_back(varied.values[position[varied.axis]]);
  return values;
}

std::vector<std::string> VariedKeys::overrides_of(std::size_t index) const {
  const std::vector<std::string> values = values_of(index);
  std::vector<std::string> overrides;
  for (std::size_t k = 0; k < keys_.size(); ++k) overrides.push_back(keys_[k].key + "=" + values[k]);
  return overrides;
}

bool take_many_run_option(std::string_view arg, int argc, char** argv, int& i, ManyRunOptions& options) {
  if (arg == "--vary" || arg == "--with") {
    options.varied.add(std::string(arg), option_value(argc, argv, i));
  } else if (arg == "--set") {
    options.overrides.push_back(key_value_argument("--set", option_value(argc, argv, i)));
  } else if (arg == "--seed") {
    options.seed = unsigned_argument("--seed", option_value(argc, argv, i));
  } else if (arg == "--csv") {
    options.csv_path = option_value(argc, argv, i);
  } else if (arg == "--jobs") {
    options.jobs = jobs_argument(option_value(argc, argv, i));
  } else {
    return false;
  }
  return true;
}

void check_set_keys_not_varied(const std::vector<std::string>& overrides, const VariedKeys& varied) {
  for (const std::string& set : overrides)
    if (varied.varies(key_of(set)))
      throw InputError({"<command line>", 0}, "--set " + key_of(set),
                       "is also varied; a key is either set for every combination or varied");
}

std::string VariedKeys::describe(std::size_t index) const {
  std::string text;
  for (const std::string& key_value : overrides_of(index)) text += (text.empty() ? "" : " ") + key_value;
  return text;
}

RunOutcome run_with_overrides(const std::string& scenario_path, const std::vector<std::string>& overrides,
                              const std::optional<std::uint64_t>& seed, const std::vector<std::string>& report_keys) {
  RunOutcome outcome;
  try {
    const Scenario scenario = load_training_scenario(scenario_path, overrides, seed);
    const TrainingEstimate estimate = run_training(scenario, nullptr);
    outcome.backend = estimate.backend;
    for (const std::string& key : report_keys) {
      const auto echo = report_echoes().find(key);
      outcome.cells.push_back(format_report_number(echo != report_echoes().end() ? echo->second(scenario)
                                                                                 : report_metrics().at(key)(estimate)));
    }
  } catch (const InputError& error) {
    outcome.error = error.what();
  }
  return outcome;
}

std::vector<RunOutcome> run_all(std::size_t count, std::size_t jobs,
                                const std::function<RunOutcome(std::size_t)>& run) {
  std::vector<RunOutcome> outcomes(count);
  jobs = std::min(jobs, count);
  if (jobs <= 1) {
    for (std::size_t i = 0; i < count; ++i) outcomes[i] = run(i);
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
    if (::pipe(fds) != 0) throw std::runtime_error("cannot create a pipe for a worker process");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("cannot start a worker process");
    if (pid == 0) {
      ::close(fds[0]);
      for (const Worker& earlier : workers) ::close(earlier.fd);
      int status = 0;
      try {
        for (std::size_t i = w; i < count; i += jobs)
          if (!write_all(fds[1], serialize(i, run(i)))) {
            status = 1;
            break;
          }
      } catch (const std::exception& error) {
        std::fprintf(stderr, "fleetsim: internal error in worker %zu: %s\n", w, error.what());
        status = 1;
      }
      ::close(fds[1]);
      std::fflush(stderr);
      ::_exit(status);  // no atexit handlers, no flushing of the parent's buffered output a second time
    }
    ::close(fds[1]);
    workers.push_back({pid, fds[0]});
  }
  // Drain every worker's pipe as it fills (poll), so that no worker waits on a full pipe while another is read.
  std::vector<std::string> streams(workers.size());
  std::vector<pollfd> open_pipes;
  for (const Worker& worker : workers) open_pipes.push_back({worker.fd, POLLIN, 0});
  std::size_t still_open = workers.size();
  char buffer[65536];
  while (still_open > 0) {
    if (::poll(open_pipes.data(), open_pipes.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("cannot wait for the worker processes");
    }
    for (std::size_t w = 0; w < open_pipes.size(); ++w) {
      if (open_pipes[w].fd < 0 || open_pipes[w].revents == 0) continue;
      const ssize_t n = ::read(open_pipes[w].fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        streams[w].append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      ::close(open_pipes[w].fd);
      open_pipes[w].fd = -1;  // poll ignores negative descriptors
      --still_open;
    }
  }
  bool failed = false;
  for (std::size_t w = 0; w < workers.size(); ++w) {
    int status = 0;
    while (::waitpid(workers[w].pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = true;
    if (!failed) deserialize(streams[w], outcomes);
  }
  if (failed) throw std::runtime_error("a worker process failed");
  return outcomes;
}

std::uint64_t jobs_argument(const std::string& text) {
  const std::uint64_t jobs = unsigned_argument("--jobs", text);
  if (jobs == 0 || jobs > kMaxJobs)
    throw InputError({"<command line>", 0}, "--jobs",
                     "expects 1 to " + std::to_string(kMaxJobs) + " processes, got " + std::to_string(jobs));
  return jobs;
}

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace fleetsim::cli
