// End-to-end: the CLI on the bundled default scenario, as the README tells a new user to run it.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "core/csv.hpp"

namespace fleetsim {
namespace {

using testing::run_cli;

const std::string kDefault = std::string(FLEETSIM_SOURCE_ROOT) + "/scenarios/deepseek-v3-pretrain.yaml";

// JSON is YAML: yaml-cpp reads the report back, so the test checks structure, not strings.
YAML::Node report(const std::string& extra = "") {
  auto result = run_cli("run \"" + kDefault + "\" --json - " + extra);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return YAML::Load(result.out);
}

TEST(CliRun, DefaultScenarioPrintsTheSummary) {
  auto result = run_cli("run \"" + kDefault + "\"");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* needle : {"step time", "MFU", "tokens per day", "wall-clock", "GPU-hours", "memory per GPU",
                             "energy", "cost", "per trillion tokens"})
    EXPECT_NE(result.out.find(needle), std::string::npos) << needle << " missing from:\n" << result.out;
}

TEST(CliRun, JsonReportHasEveryContractKey) {
  YAML::Node json = report();
  for (const char* key : {"fleetsim_version", "scenario", "provenance", "training", "power", "cost"})
    EXPECT_TRUE(json[key]) << key;
  for (const char* key : {"profile", "network_backend", "seed"}) EXPECT_TRUE(json["provenance"][key]) << key;
  for (const char* key : {"step_time_s", "breakdown_s", "tokens_per_day", "tflops_per_gpu", "mfu",
                          "memory_per_gpu_bytes", "steps", "wall_time_days", "gpu_hours",
                          "gpu_hours_per_trillion_tokens"})
    EXPECT_TRUE(json["training"][key]) << key;
  for (const char* key : {"forward_chunk", "backward_input_chunk", "backward_weight_chunk", "bubble", "optimizer",
                          "exposed_communication"})
    EXPECT_TRUE(json["training"]["breakdown_s"][key]) << key;
  // The extension: the same phases on each of the 16 pipeline devices, device 0 first.
  const YAML::Node devices = json["training"]["breakdown_by_device_s"];
  ASSERT_TRUE(devices.IsSequence());
  ASSERT_EQ(devices.size(), 16u);
  for (std::size_t d = 0; d < devices.size(); ++d) {
    EXPECT_EQ(devices[d]["device"].as<int>(), static_cast<int>(d));
    for (const char* key : {"forward_chunk", "backward_input_chunk", "backward_weight_chunk",
                            "overlapped_forward_backward", "bubble", "optimizer"})
      EXPECT_TRUE(devices[d][key]) << d << " " << key;
  }
  for (const char* key : {"gpu_average_w", "facility_average_kw", "energy_mwh"}) EXPECT_TRUE(json["power"][key]);
  for (const char* key : {"total_usd", "compute_usd", "energy_usd", "per_day_usd"}) EXPECT_TRUE(json["cost"][key]);
}

TEST(CliRun, ReportIsInternallyConsistent) {
  YAML::Node t = report()["training"];
  YAML::Node cost = report()["cost"];
  const double step = t["step_time_s"].as<double>();
  // tokens/day follows from the step: 15360 sequences x 4096 tokens per step.
  EXPECT_NEAR(t["tokens_per_day"].as<double>(), 15360.0 * 4096.0 / step * 86400.0, 1e-6 * 2.7e11);
  // MFU is TFLOPS over the 989 TFLOPS BF16 peak.
  EXPECT_NEAR(t["mfu"].as<double>(), t["tflops_per_gpu"].as<double>() / 989.0, 1e-9);
  // GPU-hours = wall days x 24 x 2048 GPUs, and dollars = GPU-hours x $2 (+ energy).
  EXPECT_NEAR(t["gpu_hours"].as<double>(), t["wall_time_days"].as<double>() * 24.0 * 2048.0,
              1e-6 * t["gpu_hours"].as<double>());
  EXPECT_NEAR(cost["compute_usd"].as<double>(), 2.0 * t["gpu_hours"].as<double>(), 1.0);
  EXPECT_NEAR(cost["total_usd"].as<double>(), cost["compute_usd"].as<double>() + cost["energy_usd"].as<double>(),
              1.0);
  // Memory fits in the H800's 80 GB.
  EXPECT_LT(t["memory_per_gpu_bytes"].as<double>(), 80e9);
  // The 14.8T-token budget takes more steps than a constant 15360-sequence batch would (the ramp).
  EXPECT_GT(t["steps"].as<double>(), 14.8e12 / (15360.0 * 4096.0));
}

TEST(CliRun, RecomputationIsEchoedWithItsLayerCount) {
  // The default scenario recomputes selectively and gives no layer count: no recompute_layers key.
  YAML::Node t = report()["training"];
  EXPECT_EQ(t["recompute"].as<std::string>(), "selective");
  EXPECT_FALSE(t["recompute_layers"]);
  // Its selective set is DeepSeek-V3's, the norms and MLA's up-projections; a given one is echoed as given.
  ASSERT_EQ(t["recompute_modules"].size(), 2u);
  EXPECT_EQ(t["recompute_modules"][0].as<std::string>(), "layernorm");
  EXPECT_EQ(t["recompute_modules"][1].as<std::string>(), "mla_up_proj");
  YAML::Node chosen =
      report("--set training.recompute_modules=[moe_act,layernorm,mla_up_proj]")["training"]["recompute_modules"];
  ASSERT_EQ(chosen.size(), 3u);  // in fleetsim's order
  EXPECT_EQ(chosen[2].as<std::string>(), "moe_act");
  // Llama 3 8B as Megatron-Bridge runs it: the first 5 layers recomputed in full, in the JSON and the summary.
  const std::string llama = std::string(FLEETSIM_SOURCE_ROOT) + "/scenarios/llama-3-8b-megatron-h100.yaml";
  auto json = run_cli("run \"" + llama + "\" --json -");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  YAML::Node partial = YAML::Load(json.out)["training"];
  EXPECT_EQ(partial["recompute"].as<std::string>(), "full");
  EXPECT_EQ(partial["recompute_layers"].as<int>(), 5);
  auto text = run_cli("run \"" + llama + "\"");
  EXPECT_NE(text.out.find("full recompute of 5 layers per chunk"), std::string::npos) << text.out;
  // Five of 32 layers recomputed cost less than all 32 and more than one.
  auto step_of = [&](const std::string& extra) {
    auto result = run_cli("run \"" + llama + "\" --json - " + extra);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return YAML::Load(result.out)["training"]["step_time_s"].as<double>();
  };
  const double five = partial["step_time_s"].as<double>();
  EXPECT_LT(step_of("--set training.recompute_layers=1"), five);
  EXPECT_GT(step_of("--set training.recompute_layers=32"), five);
}

TEST(CliRun, AGivenStageSplitIsCostedAndEchoed) {
  // The default's own balanced split, given explicitly, gives the same report byte for byte; it is echoed.
  auto balanced = run_cli("run \"" + kDefault + "\" --json -");
  auto given =
      run_cli("run \"" + kDefault + "\" --json - --set training.stage_layers=[4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,1]");
  ASSERT_EQ(given.exit_code, 0) << given.err;
  // Byte for byte but for how the split came about.
  auto without_origin = [](std::string text, const std::string& origin) {
    const std::string line = "\"stage_split\": \"" + origin + "\"";
    const auto at = text.find(line);
    EXPECT_NE(at, std::string::npos) << origin;
    return at == std::string::npos ? text : text.erase(at, line.size());
  };
  EXPECT_EQ(without_origin(given.out, "given"), without_origin(balanced.out, "balanced"));
  YAML::Node layers = YAML::Load(balanced.out)["training"]["stage_layers"];
  ASSERT_EQ(layers.size(), 16u);
  EXPECT_EQ(layers[0].as<int>(), 4);
  EXPECT_EQ(layers[15].as<int>(), 1);
  // A heavier last stage (two layers beside the head and the MTP module) makes the busiest GPU busier: a longer step.
  YAML::Node moved = report("--set training.stage_layers=[3,4,4,4,4,4,4,4,4,4,4,4,4,4,4,2]")["training"];
  EXPECT_EQ(moved["stage_layers"][15].as<int>(), 2);
  EXPECT_GT(moved["step_time_s"].as<double>(), YAML::Load(balanced.out)["training"]["step_time_s"].as<double>());
  // Under interleaving there is one count per virtual stage.
  auto short_list = run_cli("run \"" + kDefault +
                            "\" --json - --set training.schedule=interleaved --set training.virtual_stages=2 "
                            "--set training.stage_layers=[4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,1]");
  EXPECT_EQ(short_list.exit_code, 2);
  EXPECT_NE(short_list.err.find("pp x virtual_stages = 16 x 2 = 32"), std::string::npos) << short_list.err;
}

TEST(CliRun, ASplitThatFitsIsFoundWhenTheBalancedOneDoesNot) {
  // A 31-layer DeepSeek-V3 at EP 16 on 256 GPUs (16 experts of every layer on each GPU): the time-balanced split
  // puts five layers on a DualPipe device pair (stages 2 and 13) and needs 91.9 GiB; moving layers off it finds a
  // split that fits. Given explicitly, the balanced split still exits 2.
  const std::string toy =
      " --set model.layers=31 --set cluster.gpus=256 --set training.parallelism.dp=16"
      " --set training.parallelism.ep=16 --set training.global_batch=512"
      " --set engine.backend=analytic";
  const auto fitted = run_cli("run \"" + kDefault + "\" --json -" + toy);
  ASSERT_EQ(fitted.exit_code, 0) << fitted.err;
  const YAML::Node training = YAML::Load(fitted.out)["training"];
  EXPECT_EQ(training["stage_split"].as<std::string>(), "memory");
  EXPECT_LE(training["memory_per_gpu_bytes"].as<double>(), training["memory_breakdown_bytes"]["capacity"].as<double>());
  int layers = 0;
  for (const auto& count : training["stage_layers"]) layers += count.as<int>();
  EXPECT_EQ(layers, 31);
  const auto balanced =
      run_cli("run \"" + kDefault + "\"" + toy + " --set training.stage_layers=[1,3,3,2,2,2,2,2,2,2,2,2,2,2,2,0]");
  EXPECT_EQ(balanced.exit_code, 2);
  EXPECT_NE(balanced.err.find("needs 91.9 GiB"), std::string::npos) << balanced.err;
  // The summary says the split was moved.
  EXPECT_NE(run_cli("run \"" + kDefault + "\"" + toy).out.find("moved off the fullest devices"), std::string::npos);
  // A plan no split can fit (every device's mean above the capacity) still exits 2.
  EXPECT_EQ(
      run_cli("run \"" + kDefault + "\" --set training.parallelism.pp=8 --set training.parallelism.dp=256").exit_code,
      2);
}

TEST(CliRun, RandomWhatIfsOnBundledScenariosExitZeroOrTwo) {
  // "Never a crash": random combinations of the what-if keys a planner sets on the bundled scenarios either run
  // (exit 0) or are refused as bad input with a message naming the key (exit 2), never an internal error (1) or a
  // signal. A fixed seed of std::mt19937 draws the same cases on every platform.
  const std::string root = std::string(FLEETSIM_SOURCE_ROOT) + "/scenarios/";
  const std::vector<std::string> scenarios{"deepseek-v3-pretrain.yaml", "llama-3-70b-megatron-h100.yaml",
                                           "qwen3-30b-megatron-h100.yaml", "mpt-7b-h100.yaml",
                                           "llama-3-8b-megatron-h100.yaml"};
  const std::vector<std::pair<std::string, std::vector<std::string>>> keys{
      {"training.schedule", {"1f1b", "interleaved", "zb1p", "dualpipe", "dualpipev"}},
      {"training.recompute", {"none", "selective", "full"}},
      {"training.recompute_layers", {"1", "5"}},
      {"training.recompute_modules", {"[layernorm,moe_act]", "[layernorm,mlp]", "[moe,layernorm,mla_up_proj]"}},
      {"training.micro_batch", {"1", "2", "3"}},
      {"training.precision", {"fp8", "bf16"}},
      {"training.virtual_stages", {"2", "3"}},
      {"engine.backend", {"simgrid", "analytic"}},
      {"engine.p2p", {"auto", "buffered", "rendezvous"}},
      {"training.dp_comm_overlap", {"true", "false"}},
      {"training.overlap_moe_all_to_all", {"true", "false"}},
      {"training.moe_dispatcher", {"deepep", "all_to_all"}},
      {"training.gemm_sms", {"all", "free", "100"}},
      {"engine.gpu_speed_spread", {"0", "0.01"}},
      {"cluster.gpu", {"h100", "h800", "h200", "a100", "h20"}},
  };
  std::mt19937 draw(20261129);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(draw() % n); };
  int ran = 0, refused = 0;
  for (int i = 0; i < 60; ++i) {
    std::string arguments = "run \"" + root + scenarios[pick(scenarios.size())] + "\" --json /dev/null";
    const std::size_t count = 1 + pick(4);
    for (std::size_t k = 0; k < count; ++k) {
      const auto& [key, values] = keys[pick(keys.size())];
      arguments += " --set " + key + "=" + values[pick(values.size())];
    }
    const auto result = run_cli(arguments);
    EXPECT_TRUE(result.exit_code == 0 || result.exit_code == 2)
        << arguments << "\nexit " << result.exit_code << ": " << result.err;
    if (result.exit_code == 2) {
      ++refused;
      EXPECT_NE(result.err.find("fleetsim: error: "), std::string::npos) << arguments << ": " << result.err;
    }
    if (result.exit_code == 0) ++ran;
  }
  // The draw covers both outcomes.
  EXPECT_GT(ran, 0);
  EXPECT_GT(refused, 0);
}

TEST(CliRun, ExtremeValuesAreRefusedNamingTheirKey) {
  // Values found by sweeping every numeric key with 0, 1e-300, 1e300 and 1e9 (2026-11-29): each once hung, crashed
  // on a floating-point trap or ended in an internal error; each must be bad input (exit 2) that names its key.
  const std::vector<std::string> cases{"training.tokens=1e300",
                                       "training.global_batch=1000000000",
                                       "engine.slow_gpu_factor=1e300",
                                       "engine.expert_skew=1e300",
                                       "cluster.network.oversubscription=1e300",
                                       "cluster.gpu.hbm_bandwidth=1e-300",
                                       "cluster.gpu.nvlink_bandwidth=1e-300",
                                       "cluster.gpu.hbm=1e300",
                                       "cluster.gpu.sm_count=1e9",
                                       "cost.pue=1e300",
                                       "model.layers=1e9",
                                       "model.mtp_depth=1e9"};
  for (const std::string& assignment : cases) {
    const auto result = run_cli("run \"" + kDefault + "\" --json /dev/null --set " + assignment);
    EXPECT_EQ(result.exit_code, 2) << assignment << ": " << result.err;
    const std::string key = assignment.substr(0, assignment.find('='));
    EXPECT_NE(result.err.find(key), std::string::npos) << assignment << ": " << result.err;
  }
}

TEST(CliRun, AQuintillionTokensAreCountedAfterTheRampInClosedForm) {
  // Past the batch ramp every step is the same, so the run's steps are counted at once: 10^18 tokens (6 x 10^4
  // times DeepSeek-V3's) take as long to estimate as 14.8T. Steps: the ramp's, then ceil(rest / 15,360 x 4,096).
  const YAML::Node small = report("--set engine.backend=analytic")["training"];
  const YAML::Node huge = report("--set engine.backend=analytic --set training.tokens=1e18")["training"];
  const double step_tokens = 15360.0 * 4096.0;
  const double ramp_steps = small["batch_ramp_steps"].as<double>();
  ASSERT_GT(ramp_steps, 0);
  EXPECT_EQ(huge["batch_ramp_steps"].as<double>(), ramp_steps);
  // The ramp's steps carry fewer tokens than full ones, so both runs need the same number of extra steps for them.
  const double extra_small = small["steps"].as<double>() - 14.8e12 / step_tokens;
  const double extra_huge = huge["steps"].as<double>() - 1e18 / step_tokens;
  EXPECT_NEAR(extra_huge, extra_small, 1.0);
  // Every step the longer run adds is a full one, on all 2,048 GPUs.
  const double added_gpu_hours =
      (huge["steps"].as<double>() - small["steps"].as<double>()) * small["step_time_s"].as<double>() * 2048.0 / 3600.0;
  EXPECT_NEAR(huge["gpu_hours"].as<double>() - small["gpu_hours"].as<double>(), added_gpu_hours,
              1e-6 * added_gpu_hours);
}

TEST(CliRun, SameScenarioAndSeedGiveIdenticalBytes) {
  auto first = run_cli("run \"" + kDefault + "\" --json - --seed 7");
  auto second = run_cli("run \"" + kDefault + "\" --json - --seed 7");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, second.out);
  EXPECT_NE(first.out.find("\"seed\": 7"), std::string::npos);
}

TEST(CliRun, OneF1BIsSlowerThanDualPipeAndTheBubbleGrows) {
  YAML::Node dualpipe = report()["training"];
  YAML::Node one_f_one_b = report("--set training.schedule=1f1b")["training"];
  EXPECT_GT(one_f_one_b["step_time_s"].as<double>(), dualpipe["step_time_s"].as<double>());
  EXPECT_GT(one_f_one_b["breakdown_s"]["bubble"].as<double>(), dualpipe["breakdown_s"]["bubble"].as<double>());
}

TEST(CliRun, DualPipeVCostsWhatItsHeavierFirstDeviceCosts) {
  // DualPipeV folds DualPipe's 16 stages into 32 half-size ones, device d running d and 31 - d: the same work per
  // device, half the parameter copies. The head and MTP module (3.9 layer-equivalents) cannot be halved, so device 0
  // carries 4.9 layer-equivalents against the others' 4 (DualPipe: 8.9 against 8), and the step is longer, by about
  // that difference, not by the 26% a per-stage split gave (2 layers beside the head on device 0, 5.9). Device 0
  // also runs both embedding gradients (the model's and the MTP module's), each a pass over the whole table (about
  // 0.09 of a MoE layer's op time: 3.7 of 42 ms), under either schedule: 5.1 against 4 and 9.1 against 8.
  YAML::Node dualpipe = report()["training"];
  YAML::Node v = report("--set training.schedule=dualpipev")["training"];
  std::vector<int> split;
  for (const auto& layers : v["stage_layers"]) split.push_back(layers.as<int>());
  std::vector<int> expected(32, 2);
  expected.front() = 1;
  expected.back() = 0;
  EXPECT_EQ(split, expected);
  const double ratio = v["step_time_s"].as<double>() / dualpipe["step_time_s"].as<double>();
  EXPECT_GT(ratio, 1.0);
  EXPECT_LT(ratio, 5.1 / 4.0 * 8.0 / 9.1);  // at most the first device's extra load over DualPipe's
  EXPECT_LT(v["memory_per_gpu_bytes"].as<double>(), dualpipe["memory_per_gpu_bytes"].as<double>());
}

TEST(CliRun, BothBackendsRefuseAFinalBatchTheScheduleCannotRun) {
  // 8,192 GPUs at PP 16 leave 30 micro-batches per pipeline for a 15,360-sequence step; DualPipe needs 2 x pp = 32.
  const std::string plan = " --set cluster.gpus=8192 --set training.parallelism.dp=auto";
  const auto simgrid = run_cli("run \"" + kDefault + "\"" + plan);
  const auto analytic = run_cli("run \"" + kDefault + "\"" + plan + " --set engine.backend=analytic");
  EXPECT_EQ(simgrid.exit_code, 2);
  EXPECT_EQ(analytic.exit_code, 2);
  EXPECT_NE(simgrid.err.find("training.schedule: schedule 'dualpipe'"), std::string::npos) << simgrid.err;
  EXPECT_EQ(simgrid.err, analytic.err);
}

TEST(CliRun, JsonFileIsWrittenWholeAndOnlyOnSuccess) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / "fleetsim-cli-json";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto ok = run_cli("run \"" + kDefault + "\" --json \"" + (dir / "report.json").string() + "\"");
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(YAML::LoadFile((dir / "report.json").string())["training"]);
  auto bad = run_cli("run \"" + kDefault + "\" --set training.parallelism.pp=3 --json \"" +
                     (dir / "bad.json").string() + "\"");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_FALSE(fs::exists(dir / "bad.json"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);  // no temporaries
  fs::remove_all(dir);
}

TEST(CliRun, HtmlReportIsOneSelfContainedPage) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "fleetsim-cli-html";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string page = (dir / "report.html").string(), again = (dir / "again.html").string();
  const auto ok = run_cli("run \"" + kDefault + "\" --html \"" + page + "\"");
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("step time"), std::string::npos);  // the summary still goes to stdout
  const std::string html = testing::read_file(page);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("<script"), std::string::npos);                               // nothing to fetch or run
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));         // no link but SVG's namespace
  EXPECT_NE(html.find("step time                   18.962 s"), std::string::npos);  // the text summary, escaped
  EXPECT_NE(html.find("device 15"), std::string::npos);                             // every device's phases
  EXPECT_NE(html.find("F68.s15&amp;B0.s0"), std::string::npos);                     // the timeline, escaped
  // The same input gives the same bytes.
  ASSERT_EQ(run_cli("run \"" + kDefault + "\" --html \"" + again + "\"").exit_code, 0);
  EXPECT_EQ(testing::read_file(again), html);
  // The analytic backend has no timeline, and says so.
  ASSERT_EQ(run_cli("run \"" + kDefault + "\" --set engine.backend=analytic --html \"" + again + "\"").exit_code, 0);
  EXPECT_NE(testing::read_file(again).find("keeps no timeline"), std::string::npos);
  // Bad input writes nothing.
  fs::remove(again);
  EXPECT_EQ(run_cli("run \"" + kDefault + "\" --set training.parallelism.pp=3 --html \"" + again + "\"").exit_code, 2);
  EXPECT_FALSE(fs::exists(again));
  fs::remove_all(dir);
}

TEST(CliRun, OpsCsvListsEveryCostedOpAndAddsUpToTheChunks) {
  // --ops: one row per op of one micro-batch on every stage; per stage, the forward rows add up to the forward
  // chunk's compute plus its all-to-all, which the report's phase totals are made of.
  namespace fs = std::filesystem;
  const fs::path path = fs::temp_directory_path() / "fleetsim-cli-ops.csv";
  fs::remove(path);
  auto result = run_cli("run \"" + kDefault + "\" --json - --ops \"" + path.string() + "\"");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto table = CsvTable::read(path.string());
  // 16 stages; every one of the report's cost-source counts is one row.
  YAML::Node sources = YAML::Load(result.out)["training"]["cost_sources"];
  double ops = 0;
  for (const char* source : {"profile", "profile_transferred", "roofline", "comm_model"})
    ops += sources[source]["ops"].as<double>();
  EXPECT_EQ(static_cast<double>(table.rows()), ops);
  std::map<std::string, double> forward_by_stage;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    EXPECT_GE(table.required_number(r, "seconds"), 0.0);
    if (table.text(r, "phase") == "forward") forward_by_stage[table.text(r, "stage")] += table.required_number(r, "seconds");
  }
  EXPECT_EQ(forward_by_stage.size(), 16u);
  // Stages 1-14 each hold four MoE layers: the same forward cost.
  EXPECT_NEAR(forward_by_stage["1"], forward_by_stage["14"], 1e-12);
  // Stage 15: layer 60 and the MTP module's MoE block (two of stage 1's four layers) plus two BF16 LM heads on top.
  EXPECT_GT(forward_by_stage["15"], forward_by_stage["1"] / 2.0);
  EXPECT_LT(forward_by_stage["15"], forward_by_stage["1"] * 1.5);
  fs::remove(path);
}

TEST(CliRun, ValidateRunsEveryPublishedCase) {
  // One row per case of scenarios/validation/published.csv, each with a prediction and its relative error.
  const auto cases = CsvTable::read(std::string(FLEETSIM_SOURCE_ROOT) + "/scenarios/validation/published.csv");
  auto result = run_cli("validate");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::size_t rows = 0;
  for (std::size_t begin = 0, end; (end = result.out.find('\n', begin)) != std::string::npos; begin = end + 1) {
    const std::string line = result.out.substr(begin, end - begin);
    if (line.rfind("scenario", 0) == 0 || line.empty()) continue;  // the header, the blank line
    if (line.rfind("summary:", 0) == 0) {
      EXPECT_NE(line.find("median |error|"), std::string::npos) << line;
      continue;
    }
    ++rows;
    EXPECT_NE(line.find('%'), std::string::npos) << line;
  }
  EXPECT_EQ(rows, cases.rows());
  EXPECT_NE(result.out.find("summary: built against (DeepSeek-V3)"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("summary: held-out checks"), std::string::npos) << result.out;
  for (std::size_t r = 0; r < cases.rows(); ++r)
    EXPECT_NE(result.out.find(cases.text(r, "scenario")), std::string::npos) << cases.text(r, "scenario");
}

TEST(CliRun, BadCommandLinesExitTwoWithAMessage) {
  for (const std::string& args : {std::string("run"), std::string("run /no/such/file.yaml"),
                                  "run \"" + kDefault + "\" --bogus", "run \"" + kDefault + "\" --seed -3",
                                  "run \"" + kDefault + "\" --set nokeyvalue", std::string("frobnicate"),
                                  // past 2^64 - 1: strtoull would have saturated it into another seed
                                  "run \"" + kDefault + "\" --seed 99999999999999999999",
                                  std::string("validate --bogus")}) {
    auto result = run_cli(args);
    EXPECT_EQ(result.exit_code, 2) << args;
    EXPECT_FALSE(result.err.empty()) << args;
  }
  EXPECT_EQ(run_cli("--version").exit_code, 0);
  EXPECT_EQ(run_cli("run --help").exit_code, 0);
}

TEST(CliRun, RendezvousOnAScheduleThatDoesNotModelItIsAnInputError) {
  // DualPipeV (with full recomputation, to fit) keeps buffered sends: its receive order is not encoded.
  auto result = run_cli("run \"" + kDefault +
                        "\" --set engine.p2p=rendezvous --set training.schedule=dualpipev --set training.recompute=full");
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("--set: engine.p2p: rendezvous send/receive is not modelled"), std::string::npos)
      << result.err;
  EXPECT_TRUE(result.out.empty());
}

// Golden report: every number of tests/golden/deepseek-v3-pretrain.json must be reproduced to 1e-9 relative.
// After an intended model change, regenerate it with
//   ./build/fleetsim run scenarios/deepseek-v3-pretrain.yaml --json tests/golden/deepseek-v3-pretrain.json
// and say in the commit why the numbers moved.
void compare_numbers(const YAML::Node& expected, const YAML::Node& actual, const std::string& path) {
  ASSERT_TRUE(actual.IsDefined()) << path << " missing";
  if (expected.IsMap()) {
    for (const auto& entry : expected)
      compare_numbers(entry.second, actual[entry.first.as<std::string>()], path + "." + entry.first.as<std::string>());
    return;
  }
  if (expected.IsSequence()) {
    ASSERT_TRUE(actual.IsSequence()) << path;
    ASSERT_EQ(actual.size(), expected.size()) << path;
    for (std::size_t i = 0; i < expected.size(); ++i)
      compare_numbers(expected[i], actual[i], path + "[" + std::to_string(i) + "]");
    return;
  }
  if (path == ".fleetsim_version") return;
  double want = 0;
  if (YAML::convert<double>::decode(expected, want)) {
    double got = actual.as<double>();
    EXPECT_NEAR(got, want, 1e-9 * std::max(1.0, std::fabs(want))) << path;
  } else {
    EXPECT_EQ(actual.as<std::string>(), expected.as<std::string>()) << path;
  }
}

TEST(CliRun, DefaultScenarioMatchesTheGoldenReport) {
  YAML::Node golden = YAML::LoadFile(std::string(FLEETSIM_SOURCE_ROOT) + "/tests/golden/deepseek-v3-pretrain.json");
  compare_numbers(golden, report(), "");
}

}  // namespace
}  // namespace fleetsim
