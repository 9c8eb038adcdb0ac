// Command-line pieces the subcommands share: an option's value, --set KEY=VALUE and --seed N, each failing with an
// InputError that names the option (exit 2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fleetsim::cli {

// The value after argv[i] (advancing i), or an InputError naming the option when there is none.
std::string option_value(int argc, char** argv, int& i);

// The text of a `--set` (or `--vary`) argument, checked to have the form KEY=VALUE.
std::string key_value_argument(const std::string& option, const std::string& text);

// A non-negative integer (`--seed`, `--jobs`), or an InputError naming the option.
std::uint64_t unsigned_argument(const std::string& option, const std::string& text);

// An argument that is no option of `command`: the scenario file when none was given yet, else an InputError (an
// unknown option, or a second scenario).
void scenario_argument(std::string_view arg, std::string_view command, std::string& scenario);

}  // namespace fleetsim::cli
