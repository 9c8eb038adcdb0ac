#include "cli/arguments.hpp"

#include <cerrno>
#include <cstdlib>

#include "core/error.hpp"
#include "scenario/load.hpp"

namespace fleetsim::cli {

std::string option_value(int argc, char** argv, int& i) {
  std::string option = argv[i];
  if (i + 1 >= argc) throw InputError({"<command line>", 0}, option, "expects a value after it");
  return argv[++i];
}

std::string key_value_argument(const std::string& option, const std::string& text) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0)
    throw InputError({"<command line>", 0}, option, "expects KEY=VALUE, got '" + text + "'");
  return text;
}

std::uint64_t unsigned_argument(const std::string& option, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || text.front() == '-' || text.front() == '+')
    throw InputError({"<command line>", 0}, option, "expects a non-negative integer, got '" + text + "'");
  // strtoull saturates past 2^64 - 1; a seed that silently became another number would not reproduce.
  if (errno == ERANGE)
    throw InputError({"<command line>", 0}, option, "expects an integer below 2^64, got '" + text + "'");
  return value;
}

Scenario load_training_scenario(const std::string& path, const std::vector<std::string>& overrides,
                                const std::optional<std::uint64_t>& seed) {
  LoadOptions options;
  options.overrides = overrides;
  Scenario scenario = load_scenario(path, options);
  if (seed) scenario.seed = *seed;
  if (!scenario.training)
    throw InputError({scenario.source_file, 0}, "inference",
                     "serving scenarios are parsed and checked, but simulating them is not in this version; "
                     "give a `training` section");
  return scenario;
}

void scenario_argument(std::string_view arg, std::string_view command, std::string& scenario) {
  if (!arg.empty() && arg.front() == '-')
    throw InputError(
        {"<command line>", 0}, std::string(arg),
        "unknown option for `" + std::string(command) + "` (see fleetsim " + std::string(command) + " --help)");
  if (!scenario.empty())
    throw InputError({"<command line>", 0}, std::string(arg), "only one scenario file may be given");
  scenario = arg;
}

}  // namespace fleetsim::cli
