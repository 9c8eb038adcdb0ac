// The typed accessor layer over yaml-cpp that every section parser of the scenario stage uses (internal header).
//
// A `Value` is a YAML node together with where it is: its dotted key path ("training.parallelism.pp") and its
// origin (the file it came from, or "--set"). Every accessor either returns a value in base units or throws an
// InputError that names that file, the node's line and the key path, so section parsers contain no error plumbing.
//
// A `Map` is a mapping whose keys were declared when it was opened. Undeclared keys are rejected at that moment,
// before any value is read, with a "did you mean" hint; this way a misspelt required key reads as a typo
// ("training.shedule: unknown key; did you mean 'schedule'?") rather than as a missing key.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/units.hpp"

namespace fleetsim::scenario {

// The file a node came from. Values given with --set have no meaningful line (the override text is one line of
// its own), so their errors carry none.
struct Origin {
  std::string file;
  bool has_lines = true;
};

// Origins of subtrees that do not come from the file holding their parent: --set values (and the maps created to
// hold them) and bundles that an override expanded in place. Keyed by dotted path; a child inherits its parent's
// origin unless its own path is listed.
using OriginMap = std::map<std::string, Origin, std::less<>>;

// Joins a parent path and a key: ("training", "seq_len") -> "training.seq_len"; ("", "model") -> "model".
std::string join_path(std::string_view parent, std::string_view key);

// "did you mean 'x'?" when a candidate is within edit distance 2 of `word` (the closest one), else "".
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

// "a, b, c"
std::string join_words(const std::vector<std::string_view>& words);
std::string join_words(const std::vector<std::string>& words);

class Map;

class Value {
 public:
  // `fallback_line` (1-based) is used when the node carries no mark (nodes built in code).
  Value(YAML::Node node, std::string path, Origin origin, const OriginMap* origins, int fallback_line = 0);

  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  const Origin& origin() const { return origin_; }
  SourceLocation location() const;

  // Throws an InputError at this node.
  [[noreturn]] void fail(const std::string& message) const;

  bool is_map() const { return node_.IsMap(); }
  bool is_scalar() const { return node_.IsScalar(); }
  std::string describe() const;  // what is there, for messages: "'lots'", "a mapping", "a list", "nothing ..."

  // Scalars. Each fails with "expected <what>, got <what was there>".
  std::string text() const;                        // a non-empty string
  std::int64_t whole(std::int64_t minimum) const;  // a whole number >= minimum (count suffixes such as 16K allowed)
  double quantity(Dimension dimension) const;      // >= 0, in the base unit; a bare number is already in it
  double positive_quantity(Dimension dimension) const;                        // > 0
  double fraction() const;                                                    // a number in [0, 1]
  bool boolean() const;                                                       // true | false
  std::string one_of(std::initializer_list<std::string_view> options) const;  // one of the listed words

  template <class Enum>
  Enum choice(std::initializer_list<std::pair<std::string_view, Enum>> options) const {
    std::vector<std::string_view> words;
    for (const auto& option : options) words.push_back(option.first);
    const std::string word = one_of_words(words);
    for (const auto& option : options)
      if (option.first == word) return option.second;
    return options.begin()->second;  // unreachable: one_of_words accepted `word`
  }

  // The elements of this list, each a Value with the path "key[i]" and its own line; fails when this is not a list.
  std::vector<Value> list() const;

  // Opens this node as a mapping that may only hold `keys`: fails when it is not a mapping, or holds an undeclared
  // or a duplicated key.
  Map map(std::initializer_list<std::string_view> keys) const;

  // The value under `key` of this mapping, as a Value with the right path and origin.
  Value child(const YAML::Node& key_node, const YAML::Node& value_node) const;

 private:
  std::string one_of_words(const std::vector<std::string_view>& words) const;

  YAML::Node node_;
  std::string path_;
  Origin origin_;
  const OriginMap* origins_;
  int line_;  // 1-based; 0 unknown
};

class Map {
 public:
  Map(Value self, std::vector<std::string_view> keys);

  const Value& self() const { return self_; }
  bool has(std::string_view key) const;
  std::optional<Value> find(std::string_view key) const;
  Value get(std::string_view key) const;  // a required key: fails "required key is missing" when absent

  // get(key) converted by `read`, e.g. m.get("seq_len", read::positive_int).
  template <class Read>
  auto get(std::string_view key, Read read) const {
    return read(get(key));
  }
  // The same for an optional key with a documented default.
  template <class Read>
  auto get_or(std::string_view key, std::invoke_result_t<Read, const Value&> fallback, Read read) const {
    auto value = find(key);
    return value ? read(*value) : fallback;
  }

  // Throws an InputError about `key`: at its value when present, else at this mapping (the key is defaulted).
  [[noreturn]] void fail(std::string_view key, const std::string& message) const;
  // Throws "required key is missing" with an explanation of why it is required here.
  [[noreturn]] void missing(std::string_view key, const std::string& why) const;
  // Fails when `key` is present: it does not apply in this context (`why` says which context).
  void reject(std::string_view key, const std::string& why) const;

 private:
  void check_declared(std::string_view key) const;

  Value self_;
  std::vector<std::string_view> keys_;
};

// Readers for Map::get / Map::get_or.
namespace read {
inline std::int64_t positive_int(const Value& value) { return value.whole(1); }
inline std::int64_t non_negative_int(const Value& value) { return value.whole(0); }
inline std::string text(const Value& value) { return value.text(); }
inline double fraction(const Value& value) { return value.fraction(); }
inline bool boolean(const Value& value) { return value.boolean(); }
inline auto quantity(Dimension dimension) {
  return [dimension](const Value& value) { return value.quantity(dimension); };
}
inline auto positive(Dimension dimension) {
  return [dimension](const Value& value) { return value.positive_quantity(dimension); };
}
// A quantity inside the range a real value can take, so that every time computed from it stays finite; `range`
// says it for the message ("from 1 GB/s to 1 PB/s").
inline auto within(Dimension dimension, double lowest, double highest, std::string range) {
  return [=](const Value& value) {
    const double quantity = value.quantity(dimension);
    if (!(quantity >= lowest && quantity <= highest)) value.fail("must be " + range + ", got " + value.describe());
    return quantity;
  };
}
// A whole number from 1 to `highest`; `why` says why there is a ceiling.
inline auto positive_int_at_most(std::int64_t highest, std::string why) {
  return [=](const Value& value) {
    const std::int64_t number = value.whole(1);
    if (number > highest)
      value.fail("must be at most " + std::to_string(highest) + " (" + why + "), got " + value.describe());
    return number;
  };
}
}  // namespace read

}  // namespace fleetsim::scenario
