// The malformed-scenario corpus: every file in tests/bad_scenarios/ has one problem, and its first line says what
// the error message must name:
//   # expect: training.parallelism.dp     (a dotted key path)
//   # expect: line 8                      (YAML syntax errors: the line, as "FILE:8")
// Each file must be rejected (1) by load_scenario, with an InputError naming the file and that key, and (2) by
// `fleetsim run FILE --json OUT`, with exit status 2, the file and the key on stderr, and no output file left behind.
// memory-overflow-*.yaml files are valid to the loader (only the memory model can reject them): CLI test only.
// The directory is listed when the test binary starts, so a new file is a new test without touching this file.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "scenario/load.hpp"

namespace fleetsim {
namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = fs::path(FLEETSIM_SOURCE_ROOT) / "tests" / "bad_scenarios";

std::vector<std::string> corpus_files() {
  std::vector<std::string> files;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(kCorpus, error))
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

// What the message must contain: "KEY" for "# expect: KEY", "FILE:N" for "# expect: line N".
std::string expected_text(const std::string& file) {
  std::ifstream in(kCorpus / file);
  std::string first_line;
  std::getline(in, first_line);
  const std::string prefix = "# expect: ";
  if (first_line.rfind(prefix, 0) != 0) return "";
  std::string expect = first_line.substr(prefix.size());
  while (!expect.empty() && (expect.back() == ' ' || expect.back() == '\r')) expect.pop_back();
  if (expect.rfind("line ", 0) == 0) return file + ":" + expect.substr(5);
  return expect;
}

bool is_memory_case(const std::string& file) { return file.rfind("memory-overflow-", 0) == 0; }

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class BadScenario : public ::testing::TestWithParam<std::string> {};

TEST(BadScenarioCorpus, HasTheCasesItShould) {
  const std::vector<std::string> files = corpus_files();
  EXPECT_GE(files.size(), 22u);
  for (const std::string& file : files)
    EXPECT_NE(expected_text(file), "") << file << ": first line is not '# expect: ...'";
  EXPECT_TRUE(std::any_of(files.begin(), files.end(), is_memory_case));
}

TEST_P(BadScenario, LoaderRejectsItNamingFileAndKey) {
  const std::string file = GetParam();
  if (is_memory_case(file)) GTEST_SKIP() << "only the memory model can reject " << file;
  const std::string expected = expected_text(file);
  ASSERT_NE(expected, "");
  try {
    load_scenario((kCorpus / file).string(), LoadOptions{{}, FLEETSIM_SOURCE_ROOT});
    FAIL() << file << " loaded without error";
  } catch (const InputError& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find(file), std::string::npos) << what;
    EXPECT_NE(what.find(expected), std::string::npos) << "expected '" << expected << "' in: " << what;
  }
}

TEST_P(BadScenario, CliExitsWithTwoAndWritesNothing) {
  const std::string file = GetParam();
  const std::string expected = expected_text(file);
  ASSERT_NE(expected, "");
  // The output folder must stay empty; stderr goes to a folder of its own.
  const std::string stem = fs::path(file).stem().string();
  const fs::path base = fs::temp_directory_path() / ("fleetsim-bad-" + std::to_string(::getpid()) + "-" + stem);
  const fs::path out_dir = base / "out";
  fs::create_directories(out_dir);
  const fs::path stderr_file = base / "stderr.txt";
  const std::string command = std::string("'") + FLEETSIM_CLI + "' run '" + (kCorpus / file).string() + "' --json '" +
                              (out_dir / "out.json").string() + "' >/dev/null 2>'" + stderr_file.string() + "'";
  const int status = std::system(command.c_str());
  const std::string stderr_text = read_file(stderr_file);
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(out_dir)) left.push_back(entry.path().filename().string());
  fs::remove_all(base);

  ASSERT_TRUE(WIFEXITED(status)) << command;
  EXPECT_EQ(WEXITSTATUS(status), 2) << command << "\n" << stderr_text;
  EXPECT_NE(stderr_text.find(file), std::string::npos) << stderr_text;
  EXPECT_NE(stderr_text.find(expected), std::string::npos) << "expected '" << expected << "' in: " << stderr_text;
  EXPECT_TRUE(left.empty()) << "left in the output folder: " << left.front();
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).stem().string();
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadScenario, ::testing::ValuesIn(corpus_files()), test_name);

}  // namespace
}  // namespace fleetsim
