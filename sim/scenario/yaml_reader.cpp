#include "scenario/yaml_reader.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <stdexcept>

namespace fleetsim::scenario {
namespace {

std::string lowercase(std::string_view word) {
  std::string result(word);
  for (char& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("shcedule" is one edit away).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// A short name for each dimension, to say what a mis-dimensioned value looks like ("'80GiB' is a size").
constexpr std::array<std::pair<Dimension, const char*>, 8> kDimensionNames{{
    {Dimension::time_s, "a time"},
    {Dimension::bytes, "a size"},
    {Dimension::bandwidth_bytes_per_s, "a bandwidth"},
    {Dimension::power_w, "a power"},
    {Dimension::flop, "a FLOP count"},
    {Dimension::flop_per_s, "a FLOP rate"},
    {Dimension::energy_j, "an energy"},
    {Dimension::count, "a plain number"},
}};

// " ('80GiB' is a size)" when `text` parses in another dimension than the one expected, else "".
std::string other_dimension_hint(const std::string& text, Dimension expected) {
  for (const auto& [dimension, name] : kDimensionNames) {
    if (dimension != expected && parse_quantity(text, dimension))
      return std::string(" ('") + text + "' is " + name + ")";
  }
  return "";
}

}  // namespace

std::string join_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string path(parent);
  path += '.';
  path += key;
  return path;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
  // Two edits turn any two-letter word into any other, so short words get one.
  const std::size_t allowed = word.size() <= 3 ? 1 : 2;
  const std::string lowered = lowercase(word);
  std::string_view best;
  std::size_t best_distance = allowed + 1;
  for (std::string_view candidate : candidates) {
    const std::size_t distance = edit_distance(lowered, lowercase(candidate));
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (best.empty()) return "";
  return "did you mean '" + std::string(best) + "'?";
}

std::string join_words(const std::vector<std::string_view>& words) {
  std::string result;
  for (std::string_view word : words) {
    if (!result.empty()) result += ", ";
    result += word;
  }
  return result;
}

std::string join_words(const std::vector<std::string>& words) {
  return join_words(std::vector<std::string_view>(words.begin(), words.end()));
}

// ---------------------------------------------------------------------------------------------------------------
// Value

Value::Value(YAML::Node node, std::string path, Origin origin, const OriginMap* origins, int fallback_line)
    : node_(std::move(node)),
      path_(std::move(path)),
      origin_(std::move(origin)),
      origins_(origins),
      line_(fallback_line) {
  if (node_.IsDefined()) {
    const YAML::Mark mark = node_.Mark();
    if (!mark.is_null()) line_ = mark.line + 1;
  }
}

SourceLocation Value::location() const { return SourceLocation{origin_.file, origin_.has_lines ? line_ : 0}; }

void Value::fail(const std::string& message) const { throw InputError(location(), path_, message); }

std::string Value::describe() const {
  if (!node_.IsDefined() || node_.IsNull()) return "nothing (the key has no value)";
  if (node_.IsMap()) return "a mapping";
  if (node_.IsSequence()) return "a list";
  return "'" + node_.Scalar() + "'";
}

std::string Value::text() const {
  if (!node_.IsScalar() || node_.Scalar().empty()) fail("expected a word or a string, got " + describe());
  return node_.Scalar();
}

std::int64_t Value::whole(std::int64_t minimum) const {
  const std::string expected = minimum == 1   ? "a positive whole number"
                               : minimum == 0 ? "a whole number >= 0"
                                              : "a whole number >= " + std::to_string(minimum);
  if (!node_.IsScalar()) fail("expected " + expected + ", got " + describe());
  const std::optional<double> number = parse_quantity(node_.Scalar(), Dimension::count);
  if (!number) fail("expected " + expected + ", got " + describe());
  if (*number != std::floor(*number)) fail("expected " + expected + ", got " + describe() + " (not whole)");
  // Doubles hold every integer up to 2^53 exactly; nothing in a scenario comes near that.
  if (std::fabs(*number) > 9.0e15) fail("expected " + expected + ", got " + describe() + " (too large)");
  const auto value = static_cast<std::int64_t>(*number);
  if (value < minimum) fail("expected " + expected + ", got " + describe());
  return value;
}

double Value::quantity(Dimension dimension) const {
  if (!node_.IsScalar()) fail("expected " + describe_dimension(dimension) + ", got " + describe());
  const std::string& raw = node_.Scalar();
  const std::optional<double> number = parse_quantity(raw, dimension);
  if (!number)
    fail("expected " + describe_dimension(dimension) + ", got " + describe() + other_dimension_hint(raw, dimension));
  if (*number < 0) fail("must not be negative, got " + describe());
  return *number;
}

double Value::positive_quantity(Dimension dimension) const {
  const double number = quantity(dimension);
  if (number <= 0) fail("must be greater than zero, got " + describe());
  return number;
}

double Value::fraction() const {
  const std::string expected = "a fraction between 0 and 1 (such as 0.85)";
  if (!node_.IsScalar()) fail("expected " + expected + ", got " + describe());
  const std::optional<double> number = parse_quantity(node_.Scalar(), Dimension::count);
  if (!number || *number < 0 || *number > 1) fail("expected " + expected + ", got " + describe());
  return *number;
}

bool Value::boolean() const {
  if (node_.IsScalar()) {
    const std::string word = lowercase(node_.Scalar());
    if (word == "true") return true;
    if (word == "false") return false;
  }
  fail("expected true or false, got " + describe());
}

std::string Value::one_of(std::initializer_list<std::string_view> options) const {
  return one_of_words(std::vector<std::string_view>(options));
}

std::string Value::one_of_words(const std::vector<std::string_view>& words) const {
  const std::string expected = "expected one of " + join_words(words);
  if (!node_.IsScalar()) fail(expected + ", got " + describe());
  const std::string& word = node_.Scalar();
  if (std::find(words.begin(), words.end(), word) != words.end()) return word;
  const std::string hint = did_you_mean(word, words);
  fail(expected + ", got " + describe() + (hint.empty() ? "" : "; " + hint));
}

Value Value::child(const YAML::Node& key_node, const YAML::Node& value_node) const {
  const std::string path = join_path(path_, key_node.Scalar());
  Origin origin = origin_;
  if (origins_ != nullptr) {
    if (auto it = origins_->find(path); it != origins_->end()) origin = it->second;
  }
  const int key_line = key_node.Mark().is_null() ? line_ : key_node.Mark().line + 1;
  return Value(value_node, path, std::move(origin), origins_, key_line);
}

std::vector<Value> Value::list() const {
  if (!node_.IsSequence()) fail("expected a list ([a, b, c], or one '- item' line each), got " + describe());
  std::vector<Value> items;
  std::size_t index = 0;
  for (const auto& item : node_)
    items.emplace_back(item, path_ + "[" + std::to_string(index++) + "]", origin_, origins_, line_);
  return items;
}

Map Value::map(std::initializer_list<std::string_view> keys) const {
  if (!node_.IsMap()) fail("expected a mapping (key: value lines or {key: value}), got " + describe());
  std::vector<std::string_view> declared(keys);
  std::vector<std::string> seen;
  for (const auto& entry : node_) {
    if (!entry.first.IsScalar())
      fail("keys must be plain words, got a " + std::string(entry.first.IsMap() ? "mapping" : "list"));
    // The key node itself, so that the error points at the key's line and reads as that key's path.
    const Value key = child(entry.first, entry.first);
    const std::string& name = entry.first.Scalar();
    if (std::find(declared.begin(), declared.end(), name) == declared.end()) {
      const std::string hint = did_you_mean(name, declared);
      key.fail("unknown key" + (hint.empty() ? std::string() : "; " + hint) +
               " (allowed here: " + join_words(declared) + ")");
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      key.fail("duplicate key: each key may appear once in a mapping");
    seen.push_back(name);
  }
  return Map(*this, std::move(declared));
}

// ---------------------------------------------------------------------------------------------------------------
// Map

Map::Map(Value self, std::vector<std::string_view> keys) : self_(std::move(self)), keys_(std::move(keys)) {}

void Map::check_declared(std::string_view key) const {
  // A parser asking for a key it did not declare is a bug in fleetsim, not in the scenario.
  if (std::find(keys_.begin(), keys_.end(), key) == keys_.end())
    throw std::logic_error("scenario parser reads undeclared key '" + join_path(self_.path(), key) + "'");
}

std::optional<Value> Map::find(std::string_view key) const {
  check_declared(key);
  for (const auto& entry : self_.node()) {
    if (entry.first.Scalar() == key) return self_.child(entry.first, entry.second);
  }
  return std::nullopt;
}

bool Map::has(std::string_view key) const { return find(key).has_value(); }

Value Map::get(std::string_view key) const {
  if (auto value = find(key)) return *value;
  missing(key, "");
}

void Map::fail(std::string_view key, const std::string& message) const {
  if (auto value = find(key)) value->fail(message);
  throw InputError(self_.location(), join_path(self_.path(), key), message);
}

void Map::missing(std::string_view key, const std::string& why) const {
  check_declared(key);
  throw InputError(self_.location(), join_path(self_.path(), key),
                   "required key is missing" + (why.empty() ? std::string() : " (" + why + ")"));
}

void Map::reject(std::string_view key, const std::string& why) const {
  if (auto value = find(key)) value->fail("does not apply " + why);
}

}  // namespace fleetsim::scenario
