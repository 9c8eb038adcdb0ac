// Runs the fleetsim binary (FLEETSIM_CLI) as a user would and captures what it prints.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fleetsim::testing {

struct CliResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// `arguments` is appended to the binary's path verbatim (the caller quotes what needs quoting).
inline CliResult run_cli(const std::string& arguments) {
  namespace fs = std::filesystem;
  static int counter = 0;
  const fs::path err_path = fs::temp_directory_path() / ("fleetsim-cli-stderr-" + std::to_string(::getpid()) + "-" +
                                                         std::to_string(counter++));
  const std::string command = std::string("\"") + FLEETSIM_CLI + "\" " + arguments + " 2>\"" + err_path.string() + "\"";
  CliResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  std::size_t got = 0;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.out.append(buffer.data(), got);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.err = read_file(err_path);
  fs::remove(err_path);
  return result;
}

}  // namespace fleetsim::testing
