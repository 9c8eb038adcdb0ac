#include "scenario/overrides.hpp"

#include <optional>
#include <utility>

namespace fleetsim::scenario {
namespace {

const Origin kSetOrigin{"--set", false};

struct Override {
  std::string key;  // dotted path
  std::vector<std::string> segments;
  YAML::Node value;
};

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return "";
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

Override parse_override(const std::string& text) {
  const auto equals = text.find('=');
  if (equals == std::string::npos)
    throw InputError(SourceLocation{"--set", 0}, text, "expected KEY=VALUE, such as training.parallelism.pp=8");
  Override result;
  result.key = trim(std::string_view(text).substr(0, equals));
  std::string_view rest = result.key;
  while (true) {
    const auto dot = rest.find('.');
    result.segments.emplace_back(rest.substr(0, dot));
    if (result.segments.back().empty())
      throw InputError(SourceLocation{"--set", 0}, result.key,
                       "expected a dotted key path such as training.parallelism.pp before '='");
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  try {
    result.value = YAML::Load(text.substr(equals + 1));
  } catch (const YAML::Exception& e) {
    throw InputError(SourceLocation{"--set", 0}, result.key, "the value is not valid YAML: " + e.msg);
  }
  return result;
}

// Keys whose scalar value names a bundle.
std::optional<BundleKind> bundle_slot(const std::string& path) {
  if (path == "model") return BundleKind::model;
  if (path == "cluster.gpu") return BundleKind::gpu;
  return std::nullopt;
}

// Where the node at `path` came from: its own or its nearest ancestor's entry in `origins`, else the file.
Origin origin_at(const OriginMap& origins, std::string path, const Origin& file) {
  while (true) {
    if (auto it = origins.find(path); it != origins.end()) return it->second;
    const auto dot = path.rfind('.');
    if (dot == std::string::npos) return file;
    path.resize(dot);
  }
}

// Forgets the origins of `path` and everything below it: an override replaces that whole subtree.
void forget_subtree(OriginMap& origins, const std::string& path) {
  for (auto it = origins.begin(); it != origins.end();) {
    const std::string& key = it->first;
    const bool below =
        key == path || (key.size() > path.size() && key.compare(0, path.size(), path) == 0 && key[path.size()] == '.');
    it = below ? origins.erase(it) : std::next(it);
  }
}

// The mapping of the bundle named by the scalar `name` at `path`, to put in its place.
YAML::Node expand_bundle(BundleKind kind, const YAML::Node& name, const std::string& path, const Origin& origin,
                         const LoadContext& context, OriginMap& origins) {
  const Value bundle = open_bundle(kind, Value(name, path, origin, nullptr), path, context);
  YAML::Node node = bundle.node();
  // The bundle is now parsed as an inline mapping; keep the name it was asked for.
  if (node.IsMap() && !std::as_const(node)["name"]) node["name"] = name.Scalar();
  forget_subtree(origins, path);
  origins[path] = bundle.origin();
  return node;
}

void apply_override(YAML::Node& root, const Override& change, const Origin& file, const LoadContext& context,
                    OriginMap& origins) {
  YAML::Node current = root;
  std::string path;
  for (std::size_t i = 0; i + 1 < change.segments.size(); ++i) {
    const std::string& key = change.segments[i];
    path = join_path(path, key);
    const YAML::Node existing = std::as_const(current)[key];
    if (!existing.IsDefined() || existing.IsNull()) {
      current[key] = YAML::Node(YAML::NodeType::Map);
      origins[path] = kSetOrigin;
    } else if (existing.IsScalar() && bundle_slot(path)) {
      current[key] =
          expand_bundle(*bundle_slot(path), existing, path, origin_at(origins, path, file), context, origins);
    } else if (!existing.IsMap()) {
      throw InputError(SourceLocation{"--set", 0}, change.key,
                       "cannot set a key inside '" + path + "', which holds a single value, not a mapping");
    }
    // yaml-cpp's Node::operator= would overwrite the node `current` refers to; reset() re-points the handle.
    current.reset(current[key]);
  }
  forget_subtree(origins, change.key);
  current[change.segments.back()] = change.value;
  origins[change.key] = kSetOrigin;
}

}  // namespace

void apply_overrides(YAML::Node& root, const Origin& file, const std::vector<std::string>& overrides,
                     const LoadContext& context, OriginMap& origins) {
  for (const std::string& text : overrides) {
    const Override change = parse_override(text);
    // A file that is not a mapping fails when parsed, with a message about the file, not about the override.
    if (!root.IsMap()) return;
    apply_override(root, change, file, context, origins);
  }
}

}  // namespace fleetsim::scenario
