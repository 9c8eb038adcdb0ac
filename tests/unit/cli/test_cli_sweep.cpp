// End-to-end: `fleetsim sweep`, the contract's what-if table, checked against `fleetsim run` of each combination.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "csv_rows.hpp"

namespace fleetsim {
namespace {

using testing::column;
using testing::csv_rows;
using testing::run_cli;

const std::string kDefault = std::string(FLEETSIM_SOURCE_ROOT) + "/scenarios/deepseek-v3-pretrain.yaml";
const std::string kAnalytic = " --set engine.backend=analytic";

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, separator)) parts.push_back(part);
  return parts;
}

TEST(CliSweep, EveryCombinationInOrderWithTheNumbersRunGives) {
  const auto result = run_cli("sweep \"" + kDefault + "\" --vary training.schedule=dualpipe,1f1b" +
                              " --vary cluster.gpu=h800,h200 --csv -");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = csv_rows(result.out);
  ASSERT_EQ(rows.size(), 5u);  // header + 2 x 2 combinations
  const auto& header = rows[0];
  EXPECT_EQ(header[0], "combination");
  EXPECT_EQ(header[1], "training.schedule");
  EXPECT_EQ(header[2], "cluster.gpu");
  EXPECT_EQ(header.back(), "error");
  // The first --vary changes slowest.
  const std::vector<std::pair<std::string, std::string>> expected{
      {"dualpipe", "h800"}, {"dualpipe", "h200"}, {"1f1b", "h800"}, {"1f1b", "h200"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& row = rows[i + 1];
    ASSERT_EQ(row.size(), header.size()) << result.out;
    EXPECT_EQ(row.back(), "");  // no error
    EXPECT_EQ(row[0], std::to_string(i + 1));
    EXPECT_EQ(row[1], expected[i].first);
    EXPECT_EQ(row[2], expected[i].second);
    EXPECT_EQ(row[column(header, "provenance.network_backend")], "simgrid");
    // Each row is what `fleetsim run --set ...` reports, to the digit (both write numbers as %.10g).
    const YAML::Node json =
        YAML::Load(run_cli("run \"" + kDefault + "\" --json - --set training.schedule=" + expected[i].first +
                           " --set cluster.gpu=" + expected[i].second)
                       .out);
    EXPECT_EQ(row[column(header, "training.step_time_s")], json["training"]["step_time_s"].Scalar());
    EXPECT_EQ(row[column(header, "training.breakdown_s.bubble")], json["training"]["breakdown_s"]["bubble"].Scalar());
    EXPECT_EQ(row[column(header, "training.gpu_hours")], json["training"]["gpu_hours"].Scalar());
    EXPECT_EQ(row[column(header, "training.memory_per_gpu_bytes")], json["training"]["memory_per_gpu_bytes"].Scalar());
    EXPECT_EQ(row[column(header, "power.energy_mwh")], json["power"]["energy_mwh"].Scalar());
    EXPECT_EQ(row[column(header, "cost.total_usd")], json["cost"]["total_usd"].Scalar());
  }
  // 1F1B's bubble is larger than DualPipe's on the same GPU (a sanity check on the rows, not on the order).
  const std::size_t bubble = column(header, "training.breakdown_s.bubble");
  EXPECT_GT(std::stod(rows[3][bubble]), 2 * std::stod(rows[1][bubble]));
}

TEST(CliSweep, JobsDoNotChangeTheBytes) {
  const std::string sweep = "sweep \"" + kDefault + "\" --vary training.parallelism.pp=8,16" +
                            " --vary training.parallelism.dp=128,256 --vary training.schedule=dualpipe,zb1p --csv -";
  const auto one = run_cli(sweep);
  const auto three = run_cli(sweep + " --jobs 3");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(three.exit_code, 0) << three.err;
  EXPECT_EQ(one.out, three.out);
  EXPECT_EQ(one.err, three.err);
  EXPECT_EQ(csv_rows(one.out).size(), 9u);
}

TEST(CliSweep, WorkersWithMoreThanAPipeOfRowsKeepTheBytes) {
  // 1,500 combinations, nearly all rows that cannot run (dp must make 2,048 GPUs with pp 16): each of two workers
  // sends more than a pipe holds (64 KiB) before the sweep ends, so both are drained as they go.
  std::string values;
  for (int dp = 1; dp <= 1500; ++dp) values += (dp > 1 ? "," : "") + std::to_string(dp);
  const std::string sweep =
      "sweep \"" + kDefault + "\" --vary training.parallelism.dp=" + values + " --csv -" + kAnalytic;
  const auto one = run_cli(sweep);
  const auto two = run_cli(sweep + " --jobs 2");
  ASSERT_EQ(one.exit_code, 0) << one.err.substr(0, 500);
  EXPECT_GT(one.out.size() + one.err.size(), 2u * 65536u);
  EXPECT_EQ(one.out, two.out);
  EXPECT_EQ(one.err, two.err);
  EXPECT_EQ(csv_rows(one.out).size(), 1501u);
}

TEST(CliSweep, WithMovesAKeyAlongItsVary) {
  // GPUs and data parallelism together (every GPU holds one rank), crossed with two schedules: 3 x 2 combinations.
  const auto result = run_cli("sweep \"" + kDefault + "\" --vary cluster.gpus=1024,2048,4096" +
                              " --with training.parallelism.dp=64,128,256 --vary training.schedule=dualpipe,zb1p" +
                              " --csv -" + kAnalytic);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = csv_rows(result.out);
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[0][1], "cluster.gpus");
  EXPECT_EQ(rows[0][2], "training.parallelism.dp");
  EXPECT_EQ(rows[0][3], "training.schedule");
  const std::vector<std::vector<std::string>> expected{{"1024", "64", "dualpipe"},  {"1024", "64", "zb1p"},
                                                       {"2048", "128", "dualpipe"}, {"2048", "128", "zb1p"},
                                                       {"4096", "256", "dualpipe"}, {"4096", "256", "zb1p"}};
  const std::size_t error = column(rows[0], "error"), step = column(rows[0], "training.step_time_s");
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(std::vector<std::string>(rows[i + 1].begin() + 1, rows[i + 1].begin() + 4), expected[i]);
    EXPECT_EQ(rows[i + 1][error], "") << result.out;
  }
  // Twice the GPUs for the same batch: a shorter step, on either schedule.
  EXPECT_LT(std::stod(rows[3][step]), std::stod(rows[1][step]));
  EXPECT_LT(std::stod(rows[5][step]), std::stod(rows[3][step]));
}

TEST(CliSweep, ACombinationThatCannotRunIsARowWithItsError) {
  // pp 16 x dp 128 x tp 1 = 2,048 GPUs; dp 100 does not divide.
  const auto result = run_cli("sweep \"" + kDefault + "\" --vary training.parallelism.dp=128,100 --csv -" + kAnalytic);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = csv_rows(result.out);
  ASSERT_EQ(rows.size(), 3u);
  const std::size_t step = column(rows[0], "training.step_time_s");
  EXPECT_GT(std::stod(rows[1][step]), 10.0);
  EXPECT_EQ(rows[2][step], "");
  EXPECT_NE(result.out.find("training.parallelism"), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("combination 2 (training.parallelism.dp=100) cannot run"), std::string::npos) << result.err;
  // The table says so too.
  const auto table = run_cli("sweep \"" + kDefault + "\" --vary training.parallelism.dp=128,100" + kAnalytic);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("(2 combinations, 1 cannot run)"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("cannot run: "), std::string::npos) << table.out;
}

TEST(CliSweep, ValuesKeepTheirBracketsAndTheCsvQuotesThem) {
  const std::string split_a = "[4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,1]", split_b = "[3,4,4,4,4,4,4,4,4,4,4,4,4,4,4,2]";
  const auto result = run_cli("sweep \"" + kDefault + "\" --vary \"training.stage_layers=" + split_a + "," + split_b +
                              "\" --csv -" + kAnalytic);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto lines = split(result.out, '\n');
  ASSERT_EQ(lines.size(), 3u) << result.out;
  EXPECT_EQ(lines[1].rfind("1,\"" + split_a + "\",analytic,", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2].rfind("2,\"" + split_b + "\",analytic,", 0), 0u) << lines[2];
}

TEST(CliSweep, CsvFileIsWrittenBesideTheTable) {
  namespace fs = std::filesystem;
  const fs::path path = fs::temp_directory_path() / "fleetsim-cli-sweep.csv";
  fs::remove(path);
  const auto result =
      run_cli("sweep \"" + kDefault + "\" --vary training.micro_batch=1,2 --csv \"" + path.string() + "\"" + kAnalytic);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("training.micro_batch"), std::string::npos);
  EXPECT_NE(result.out.find("step s"), std::string::npos);
  EXPECT_EQ(csv_rows(testing::read_file(path)).size(), 3u);
  fs::remove(path);
}

TEST(CliSweep, BadArgumentsExitTwoAndNameTheProblem) {
  namespace fs = std::filesystem;
  const fs::path path = fs::temp_directory_path() / "fleetsim-cli-sweep-bad.csv";
  fs::remove(path);
  const std::string base = "sweep \"" + kDefault + "\" ";
  const std::vector<std::pair<std::string, std::string>> cases{
      {"--csv -", "expects at least one --vary"},
      {"--vary training.schedule", "expects KEY=VALUE"},
      {"--vary training.schedule=dualpipe,,1f1b", "empty value"},
      {"--vary \"training.stage_layers=[4,4\"", "unclosed"},
      {"--vary training.schedule=1f1b --vary training.schedule=zb1p", "varied twice"},
      {"--vary training.schedule=1f1b --set training.schedule=zb1p", "also varied"},
      {"--vary training.schedule=1f1b --jobs 0", "--jobs"},
      {"--vary training.schedule=1f1b --jobs two", "--jobs"},
      {"--vary training.schedule=1f1b --frobnicate", "unknown option"},
      {"--with training.parallelism.dp=64,128", "give a --vary first"},
      {"--vary cluster.gpus=1024,2048 --with training.parallelism.dp=64", "has 1 values, the --vary before it 2"},
      {"--vary cluster.gpus=1024,2048 --with cluster.gpus=64,128", "varied twice"},
      // Every combination fails: a misspelt key. No CSV is written.
      {"--vary training.shedule=1f1b,zb1p --csv \"" + path.string() + "\"", "no combination could run"},
  };
  for (const auto& [arguments, needle] : cases) {
    const auto result = run_cli(base + arguments);
    EXPECT_EQ(result.exit_code, 2) << arguments;
    EXPECT_NE(result.err.find(needle), std::string::npos) << arguments << "\n" << result.err;
  }
  EXPECT_FALSE(fs::exists(path));
  const auto typo = run_cli(base + "--vary training.shedule=1f1b");
  EXPECT_NE(typo.err.find("training.shedule"), std::string::npos) << typo.err;
}

TEST(CliSweep, HelpListsTheOptions) {
  const auto result = run_cli("sweep --help");
  EXPECT_EQ(result.exit_code, 0);
  for (const char* option : {"--vary", "--with", "--set", "--seed", "--csv", "--jobs"})
    EXPECT_NE(result.out.find(option), std::string::npos) << option;
}

}  // namespace
}  // namespace fleetsim
