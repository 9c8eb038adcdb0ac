// Running one scenario many times with different overrides, for `fleetsim sweep` and `fleetsim plan`: the varied
// keys (--vary starts an axis, --with moves a key along the axis before it), one run per combination in this process
// or in forked workers (SimGrid keeps one engine per process), and the report's numbers of each run.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fleetsim::cli {

struct VariedKey {
  std::string key;                  // dotted path, trimmed
  std::vector<std::string> values;  // as written, each becoming KEY=VALUE
  std::size_t axis = 0;             // the --vary it moves with: its own, or the one before a --with
};

class VariedKeys {
 public:
  // `option` is "--vary" (a new axis, changing faster than the ones before) or "--with" (a key moving value for
  // value with the last --vary); `text` is KEY=V1,V2,... with commas inside [...], {...} or quotes kept in the
  // value. Throws InputError (exit 2) for a malformed list, a key varied twice, or a --with of the wrong length.
  void add(const std::string& option, const std::string& text);

  const std::vector<VariedKey>& keys() const { return keys_; }
  bool empty() const { return keys_.empty(); }
  bool varies(const std::string& key) const;
  std::size_t combinations() const;  // the product of the axes' lengths; 1 with none
  // Every varied key's value in combination `index` (the last axis fastest), and the same as KEY=VALUE overrides.
  std::vector<std::string> values_of(std::size_t index) const;
  std::vector<std::string> overrides_of(std::size_t index) const;
  std::string describe(std::size_t index) const;  // "KEY=VALUE KEY=VALUE"

 private:
  std::vector<VariedKey> keys_;
  std::vector<std::size_t> axis_sizes_;
};

// The options `sweep` and `plan` share: what varies, what is fixed, the seed, the CSV and the worker count.
struct ManyRunOptions {
  std::string scenario;
  VariedKeys varied;                   // --vary and --with, in the order given
  std::vector<std::string> overrides;  // --set, applied before the varied keys
  std::optional<std::uint64_t> seed;
  std::string csv_path;
  std::uint64_t jobs = 1;
};

// Takes argv[i] (and its value, advancing i) when it is one of ManyRunOptions' options; false otherwise.
bool take_many_run_option(std::string_view arg, int argc, char** argv, int& i, ManyRunOptions& options);

// An InputError when a --set key is also varied (a key is either fixed for every combination or varied).
void check_set_keys_not_varied(const std::vector<std::string>& overrides, const VariedKeys& varied);

// The key of a KEY=VALUE argument, trimmed.
std::string key_of(const std::string& key_value);

// What one run gave: the report's numbers for the keys asked (report_metrics and report_echoes, written as the JSON
// report writes them), or why it could not run (the message `fleetsim run` exits 2 with).
struct RunOutcome {
  std::string backend;
  std::vector<std::string> cells;
  std::string error;
};

// Loads the scenario with `overrides` (and `seed`, when given) and runs it as `fleetsim run` does. Bad input is the
// outcome's error; anything else propagates.
RunOutcome run_with_overrides(const std::string& scenario_path, const std::vector<std::string>& overrides,
                              const std::optional<std::uint64_t>& seed, const std::vector<std::string>& report_keys);

// run(i) for every i below count: in this process when jobs is 1, else round-robin over `jobs` forked workers
// (i on worker i mod jobs). The result is the same for every `jobs`. A worker that fails for anything but bad input
// is an internal error (std::runtime_error).
std::vector<RunOutcome> run_all(std::size_t count, std::size_t jobs, const std::function<RunOutcome(std::size_t)>& run);

// `--jobs N`: 1 to 256 processes, or InputError.
std::uint64_t jobs_argument(const std::string& text);

// RFC 4180: a cell with a comma, quote or line break is quoted, its quotes doubled.
std::string csv_cell(const std::string& text);

}  // namespace fleetsim::cli
