// Command-line pieces the subcommands share: an option's value, --set KEY=VALUE and --seed N, each failing with an
// InputError that names the option (exit 2), and the training scenario they load.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spec/scenario.hpp"

namespace fleetsim::cli {

// The value after argv[i] (advancing i), or an InputError naming the option when there is none.
std::string option_value(int argc, char** argv, int& i);

// The text of a `--set` (or `--vary`) argument, checked to have the form KEY=VALUE.
std::string key_value_argument(const std::string& option, const std::string& text);

// A non-negative integer (`--seed`, `--jobs`), or an InputError naming the option.
std::uint64_t unsigned_argument(const std::string& option, const std::string& text);

// The scenario a `run`, `sweep` or `plan` simulates: loaded with the --set overrides, the --seed when given, and
// checked to be a training scenario (serving ones are parsed but not simulated in this version: InputError).
Scenario load_training_scenario(const std::string& path, const std::vector<std::string>& overrides,
                                const std::optional<std::uint64_t>& seed);

// An argument that is no option of `command`: the scenario file when none was given yet, else an InputError (an
// unknown option, or a second scenario).
void scenario_argument(std::string_view arg, std::string_view command, std::string& scenario);

}  // namespace fleetsim::cli
