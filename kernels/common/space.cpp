#include "common/space.hpp"

#include <algorithm>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fleetsim::kernels {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::int64_t to_int(const std::string& text, const std::string& where) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
    return v;
  } catch (const std::exception&) {
    throw std::runtime_error(where + ": '" + text + "' is not an integer");
  }
}

}  // namespace

Space Space::parse(const std::string& text, const std::string& origin) {
  Space space;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = origin + ":" + std::to_string(number);
    const auto hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    if (trim(line).empty()) continue;
    if (line[0] == ' ' || line[0] == '\t' || line[0] == '-')
      throw std::runtime_error(where + ": only flat 'key: value' or 'key: [a, b]' lines are allowed");
    const auto colon = line.find(':');
    if (colon == std::string::npos) throw std::runtime_error(where + ": expected 'key: value'");
    const std::string key = trim(line.substr(0, colon));
    std::string value = trim(line.substr(colon + 1));
    if (key.empty() || value.empty()) throw std::runtime_error(where + ": empty key or value");
    std::vector<std::string> items;
    if (value.front() == '[') {
      if (value.back() != ']') throw std::runtime_error(where + ": a list must close on the same line");
      std::istringstream list(value.substr(1, value.size() - 2));
      std::string item;
      while (std::getline(list, item, ',')) {
        item = trim(item);
        if (item.empty()) throw std::runtime_error(where + ": empty list item");
        items.push_back(item);
      }
    } else {
      items.push_back(value);
    }
    if (space.values_.count(key))
      throw std::runtime_error(where + ": '" + key + "' is already set at " + space.origin_[key]);
    space.values_[key] = items;
    space.origin_[key] = where;
  }
  return space;
}

Space Space::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  return parse(buf.str(), path);
}

Space Space::load_dir(const std::string& dir) {
  std::vector<std::string> files;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > 5 && name.substr(name.size() - 5) == ".yaml") files.push_back(dir + "/" + name);
    }
    closedir(d);
  } else {
    throw std::runtime_error("cannot open the directory " + dir);
  }
  std::sort(files.begin(), files.end());
  Space merged;
  for (const auto& f : files) {
    const Space one = load(f);
    for (const auto& [key, items] : one.values_) {
      if (merged.values_.count(key))
        throw std::runtime_error(one.origin_.at(key) + ": '" + key + "' is already set at " + merged.origin_[key]);
      merged.values_[key] = items;
      merged.origin_[key] = one.origin_.at(key);
    }
  }
  return merged;
}

std::vector<std::string> Space::strings(const std::string& key, const std::vector<std::string>& fallback) const {
  const auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

std::vector<std::int64_t> Space::ints(const std::string& key, const std::vector<std::int64_t>& fallback) const {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  std::vector<std::int64_t> out;
  for (const auto& s : it->second) out.push_back(to_int(s, origin_.at(key)));
  return out;
}

std::int64_t Space::int_value(const std::string& key, std::int64_t fallback) const {
  const auto v = ints(key);
  if (v.empty()) return fallback;
  if (v.size() != 1) throw std::runtime_error(origin_.at(key) + ": '" + key + "' must be a single value");
  return v[0];
}

double Space::number(const std::string& key, double fallback) const {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  if (it->second.size() != 1) throw std::runtime_error(origin_.at(key) + ": '" + key + "' must be a single value");
  try {
    return std::stod(it->second[0]);
  } catch (const std::exception&) {
    throw std::runtime_error(origin_.at(key) + ": '" + it->second[0] + "' is not a number");
  }
}

std::vector<std::pair<std::int64_t, std::int64_t>> Space::pairs(
    const std::string& key, const std::vector<std::pair<std::int64_t, std::int64_t>>& fallback) const {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (const auto& s : it->second) {
    const auto x = s.find('x');
    if (x == std::string::npos) throw std::runtime_error(origin_.at(key) + ": '" + s + "' is not of the form NxK");
    out.emplace_back(to_int(s.substr(0, x), origin_.at(key)), to_int(s.substr(x + 1), origin_.at(key)));
  }
  return out;
}

}  // namespace fleetsim::kernels
