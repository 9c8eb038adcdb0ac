// End-to-end: `fleetsim plan`, the cheapest GPU count and plan that meets goals, checked against `fleetsim run`.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

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
const std::string kPlan = "plan \"" + kDefault + "\" ";

TEST(CliPlan, TheCheapestGpuCountThatMeetsADeadline) {
  // DeepSeek-V3's 14.8T tokens within 60 days: the ladder 256 .. 32,768 GPUs around the scenario's 2,048.
  const auto result = run_cli(kPlan + "--goal training.wall_time_days=60 --csv -");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = csv_rows(result.out);
  ASSERT_EQ(rows.size(), 9u) << result.out;
  const auto& header = rows[0];
  const std::size_t gpus = column(header, "cluster.gpus"), rank = column(header, "rank"),
                    dp = column(header, "training.parallelism.dp"), days = column(header, "training.wall_time_days"),
                    meets = column(header, "meets_goals"), error = column(header, "error");
  const std::vector<std::string> ladder{"256", "512", "1024", "2048", "4096", "8192", "16384", "32768"};
  for (std::size_t i = 0; i < ladder.size(); ++i) EXPECT_EQ(rows[i + 1][gpus], ladder[i]);
  // 256 and 512 GPUs leave dp x tp = 16 and 32, which EP 64 cannot divide: rows that say why.
  EXPECT_NE(rows[1][error].find("training.parallelism.ep"), std::string::npos) << rows[1][error];
  // 1,024 GPUs run but take longer than 60 days; 2,048 is the cheapest that meets it, 4,096 the next.
  EXPECT_EQ(rows[3][meets], "no");
  EXPECT_GT(std::stod(rows[3][days]), 60.0);
  EXPECT_EQ(rows[4][rank], "1");
  EXPECT_EQ(rows[4][dp], "128");
  EXPECT_EQ(rows[5][rank], "2");
  // 8,192 GPUs give DualPipe 30 micro-batches per pipeline, fewer than the 2 x pp it needs.
  EXPECT_NE(rows[6][error].find("micro-batches"), std::string::npos) << rows[6][error];
  // The best plan is the bundled scenario itself, to the digit.
  const YAML::Node json = YAML::Load(run_cli("run \"" + kDefault + "\" --json -").out);
  EXPECT_EQ(rows[4][column(header, "cost.total_usd")], json["cost"]["total_usd"].Scalar());
  EXPECT_EQ(rows[4][column(header, "training.step_time_s")], json["training"]["step_time_s"].Scalar());
  // The table names it and the command that reproduces it.
  const auto table = run_cli(kPlan + "--goal training.wall_time_days=60");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("8 candidates: 3 ran, 5 cannot run (plan or memory), 2 meet the goals"), std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("best: fleetsim run " + kDefault + " --set cluster.gpus=2048"), std::string::npos)
      << table.out;
}

TEST(CliPlan, TheObjectiveAndLowerBoundsPickOtherPlans) {
  const std::string analytic = " --set engine.backend=analytic --csv -";
  auto best_gpus = [&](const std::string& arguments) {
    const auto result = run_cli(kPlan + arguments + analytic);
    EXPECT_EQ(result.exit_code, 0) << arguments << "\n" << result.err;
    const auto rows = csv_rows(result.out);
    for (std::size_t r = 1; r < rows.size(); ++r)
      if (rows[r][column(rows[0], "rank")] == "1") return rows[r][column(rows[0], "cluster.gpus")];
    return std::string("none");
  };
  // Fastest within 60 days: 4,096 GPUs. At least 400 B tokens a day: 4,096 as well (2,048 make 293 B).
  EXPECT_EQ(best_gpus("--goal training.wall_time_days=60 --minimize training.wall_time_days"), "4096");
  EXPECT_EQ(best_gpus("--goal training.tokens_per_day=4e11"), "4096");
  EXPECT_EQ(best_gpus("--goal 'training.tokens_per_day>=4e11'"), "4096");
  // An explicit bound against the key's direction: at most 30 days' worth of throughput is not what anyone wants,
  // but it is what was asked: fewer tokens a day than 3e11, the cheapest of those (1,024 GPUs).
  EXPECT_EQ(best_gpus("--goal 'training.tokens_per_day<=3e11'"), "1024");
  // Only the counts given.
  const auto given = run_cli(kPlan + "--goal training.wall_time_days=100 --gpus 1024,2048" + analytic);
  ASSERT_EQ(given.exit_code, 0) << given.err;
  const auto rows = csv_rows(given.out);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1][column(rows[0], "rank")], "1");  // 1,024 GPUs: fewer GPU-hours, under 100 days
  EXPECT_EQ(rows[1][column(rows[0], "training.parallelism.dp")], "64");
}

TEST(CliPlan, VariedKeysAreSearchedAndJobsDoNotChangeTheBytes) {
  const std::string plan = kPlan + "--goal training.wall_time_days=40 --gpus 2048,4096 --vary training.schedule=" +
                           "dualpipe,zb1p --vary training.parallelism.pp=8,16 --csv -";
  const auto one = run_cli(plan);
  const auto two = run_cli(plan + " --jobs 2");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(one.out, two.out);
  const auto rows = csv_rows(one.out);
  ASSERT_EQ(rows.size(), 9u);  // 2 GPU counts x 2 schedules x 2 pp
  // ZB1P at pp 8 on 4,096 GPUs: dp auto is 512. DualPipe at pp 8 keeps two copies of 8 layers' weights: no fit.
  EXPECT_EQ(rows[7][column(rows[0], "cluster.gpus")], "4096");
  EXPECT_EQ(rows[7][column(rows[0], "training.schedule")], "zb1p");
  EXPECT_EQ(rows[7][column(rows[0], "training.parallelism.pp")], "8");
  EXPECT_EQ(rows[7][column(rows[0], "training.parallelism.dp")], "512");
  EXPECT_NE(rows[5][column(rows[0], "error")].find("does not fit in GPU memory"), std::string::npos);
  // The best: DualPipe at pp 16 on 4,096 GPUs (27.5 days; 2,048 GPUs take 50.7).
  EXPECT_EQ(rows[6][column(rows[0], "rank")], "1");
}

TEST(CliPlan, NoCandidateMeetingTheGoalsExitsTwoNamingTheClosest) {
  const auto result = run_cli(kPlan + "--goal 'training.wall_time_days<=20' --set engine.backend=analytic");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("no candidate meets the goals; the closest (4096 GPUs) misses by"), std::string::npos)
      << result.err;
  EXPECT_NE(result.out.find("closest:"), std::string::npos) << result.out;
}

TEST(CliPlan, BadArgumentsExitTwoAndNameTheProblem) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"", "expects at least one --goal"},
      {"--goal training.wall_time_days", "expects KEY=VALUE, KEY<=VALUE or KEY>=VALUE"},
      {"--goal training.parallelism.dp=64", "no better direction"},
      {"--goal 'training.wall_time_days<=sixty'", "expects a number"},
      {"--goal training.days=60", "'training.days' is not a report key"},
      {"--goal training.wall_time_days=60 --minimize cheapness", "'cheapness' is not a report key"},
      {"--goal training.wall_time_days=60 --vary cluster.gpus=1024,2048", "the plan's to choose"},
      {"--goal training.wall_time_days=60 --set training.parallelism.dp=64", "the plan's to choose"},
      {"--goal training.wall_time_days=60 --gpus 0", "--gpus"},
      {"--goal training.wall_time_days=60 --gpus 1024,1024", "twice"},
      {"--goal training.wall_time_days=60 --top 0", "--top"},
      {"--goal training.wall_time_days=60 --set training.shedule=1f1b", "unknown key"},
      {"--goal training.wall_time_days=60 --gpus 1024 --vary training.shedule=1f1b,zb1p", "no candidate could run"},
  };
  for (const auto& [arguments, needle] : cases) {
    const auto result = run_cli(kPlan + arguments);
    EXPECT_EQ(result.exit_code, 2) << arguments;
    EXPECT_NE(result.err.find(needle), std::string::npos) << arguments << "\n" << result.err;
  }
  const auto help = run_cli("plan --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* option : {"--goal", "--minimize", "--gpus", "--vary", "--top", "--csv", "--jobs"})
    EXPECT_NE(help.out.find(option), std::string::npos) << option;
}

}  // namespace
}  // namespace fleetsim
