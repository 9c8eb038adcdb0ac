// Errors that cross stage boundaries.
//
// InputError is everything a user can fix in their scenario (exit code 2); anything else escaping to main() is an
// internal error (exit code 1). An InputError always knows the file, the dotted key path and, where the value came
// from a YAML node, its line, so the message reads like a compiler diagnostic:
//   scenarios/x.yaml:12: training.parallelism.pp: must divide cluster.gpus (2048); got 3
#pragma once

#include <stdexcept>
#include <string>

namespace fleetsim {

struct SourceLocation {
  std::string file;  // the scenario file, or "--set" for a command-line override
  int line = 0;      // 1-based; 0 when unknown (e.g. a key that is missing altogether)
};

class InputError : public std::runtime_error {
 public:
  InputError(SourceLocation where, std::string key_path, std::string what_was_wrong);

  const SourceLocation& where() const { return where_; }
  const std::string& key_path() const { return key_path_; }
  const std::string& detail() const { return detail_; }

 private:
  SourceLocation where_;
  std::string key_path_;
  std::string detail_;
};

// Formats "file:line: key: detail" (line and key left out when unknown).
std::string format_input_error(const SourceLocation& where, const std::string& key_path, const std::string& detail);

}  // namespace fleetsim
