// Problem spaces: calibration/spaces/*.yaml in a deliberately flat YAML subset that needs no YAML library
// (the GPU box has none):
//   # comment
//   key: value
//   key: [a, b, c]
// Keys are dotted names (gemm.m, mla_decode.kv_len); values are scalars or one-line lists of scalars. Anything
// else (indentation, nesting, multi-line lists) is an error naming the file and line.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fleetsim::kernels {

class Space {
 public:
  static Space parse(const std::string& text, const std::string& origin);  // throws std::runtime_error
  static Space load(const std::string& path);                              // one file
  static Space load_dir(const std::string& dir);                           // every *.yaml in dir, merged

  bool has(const std::string& key) const { return values_.count(key) != 0; }
  std::vector<std::string> strings(const std::string& key, const std::vector<std::string>& fallback = {}) const;
  std::vector<std::int64_t> ints(const std::string& key, const std::vector<std::int64_t>& fallback = {}) const;
  std::int64_t int_value(const std::string& key, std::int64_t fallback) const;
  double number(const std::string& key, double fallback) const;
  // "NxK" pairs, e.g. [2112x7168, 4096x7168].
  std::vector<std::pair<std::int64_t, std::int64_t>> pairs(const std::string& key,
                                                           const std::vector<std::pair<std::int64_t, std::int64_t>>& fallback = {}) const;
  const std::map<std::string, std::vector<std::string>>& values() const { return values_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, std::string> origin_;  // key -> file:line, for errors
};

}  // namespace fleetsim::kernels
