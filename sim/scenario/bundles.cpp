#include "scenario/bundles.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "scenario/yaml_reader.hpp"

namespace fleetsim::scenario {
namespace {

namespace fs = std::filesystem;

// Bundle names become file names, so only plain names are accepted ("../x" must not escape the data directory).
bool is_plain_name(const std::string& name) {
  if (name.empty() || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

fs::path bundle_path(BundleKind kind, const std::string& name, const std::string& data_dir) {
  switch (kind) {
    case BundleKind::model:
      return fs::path(data_dir) / "scenarios" / "models" / (name + ".yaml");
    case BundleKind::gpu:
      return fs::path(data_dir) / "profiles" / name / "gpu.yaml";
    case BundleKind::profile:
      return fs::path(data_dir) / "profiles" / name / "MANIFEST.yaml";
  }
  return {};
}

const char* kind_name(BundleKind kind) {
  switch (kind) {
    case BundleKind::model:
      return "model";
    case BundleKind::gpu:
      return "GPU";
    case BundleKind::profile:
      return "kernel profile";
  }
  return "bundle";
}

std::string layout(BundleKind kind, const std::string& data_dir) {
  return bundle_path(kind, "NAME", data_dir).string();
}

}  // namespace

YAML::Node read_yaml_file(const std::string& path, const SourceLocation& asked_from, const std::string& key) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    const bool exists = fs::exists(path, error);
    throw InputError(asked_from, key,
                     "cannot read '" + path + "': " + (exists ? "not a regular file" : "no such file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw InputError(asked_from, key, "cannot read '" + path + "'");
  try {
    return YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    const int line = e.mark.is_null() ? 0 : e.mark.line + 1;
    throw InputError(SourceLocation{path, line}, "", "YAML syntax error: " + e.msg);
  }
}

std::optional<std::string> find_bundle(BundleKind kind, const std::string& name, const std::string& data_dir) {
  if (!is_plain_name(name)) return std::nullopt;
  const fs::path path = bundle_path(kind, name, data_dir);
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return std::nullopt;
  return path.string();
}

std::vector<std::string> available_bundles(BundleKind kind, const std::string& data_dir) {
  std::vector<std::string> names;
  const fs::path folder =
      kind == BundleKind::model ? fs::path(data_dir) / "scenarios" / "models" : fs::path(data_dir) / "profiles";
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder, error)) {
    const std::string name =
        kind == BundleKind::model ? entry.path().stem().string() : entry.path().filename().string();
    if (kind == BundleKind::model && entry.path().extension() != ".yaml") continue;
    if (find_bundle(kind, name, data_dir)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string unknown_bundle_message(BundleKind kind, const std::string& name, const std::string& data_dir) {
  const std::vector<std::string> names = available_bundles(kind, data_dir);
  std::string message = "unknown " + std::string(kind_name(kind)) + " '" + name + "'";
  const std::string hint = did_you_mean(name, std::vector<std::string_view>(names.begin(), names.end()));
  if (!hint.empty()) message += "; " + hint;
  if (names.empty())
    return message + "; none is installed (looked for " + layout(kind, data_dir) +
           "; set FLEETSIM_DATA_DIR to the folder holding scenarios/ and profiles/)";
  return message + (hint.empty() ? "; available: " : " Available: ") + join_words(names) + " (" +
         layout(kind, data_dir) + ")";
}

Value open_bundle(BundleKind kind, const Value& name, const std::string& path_prefix, const LoadContext& context) {
  const std::string text = name.text();
  const std::optional<std::string> file = find_bundle(kind, text, context.data_dir);
  if (!file) name.fail(unknown_bundle_message(kind, text, context.data_dir));
  return Value(read_yaml_file(*file, name.location(), name.path()), path_prefix, Origin{*file}, nullptr);
}

std::string mapping_name(const Map& mapping, const std::string& bundle_name) {
  const std::optional<Value> given = mapping.find("name");
  if (!given) return bundle_name.empty() ? "custom" : bundle_name;
  std::string name = given->text();
  if (!bundle_name.empty() && name != bundle_name)
    given->fail("is '" + name + "', but the bundle is named '" + bundle_name + "' by its file; make them match");
  return name;
}

}  // namespace fleetsim::scenario
