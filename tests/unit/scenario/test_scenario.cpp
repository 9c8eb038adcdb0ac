// The scenario stage: bundled scenarios load with the published numbers; overrides, inline models and GPUs work;
// every kind of bad input is an InputError naming the file, the line and the key path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "scenario/load.hpp"

namespace fleetsim {
namespace {

namespace fs = std::filesystem;

const std::string kRoot = FLEETSIM_SOURCE_ROOT;

std::string bundled(const std::string& name) { return kRoot + "/scenarios/" + name; }

// A valid DeepSeek-V3 training scenario, short enough to know its line numbers.
constexpr const char* kBase = R"(name: t
model: deepseek-v3
cluster:
  gpu: h800
  gpus: 2048
training:
  tokens: 14.8e12
  seq_len: 4096
  global_batch: 15360
  precision: fp8
  parallelism: {pp: 16, ep: 64, dp: 128, zero: 1}
  schedule: dualpipe
)";

// Replaces the first occurrence of `from` in `text`; fails the test when absent.
std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

class ScenarioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("fleetsim-scenario-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

  Scenario load(const std::string& text, std::vector<std::string> overrides = {}) {
    return load_scenario(write("scenario.yaml", text), LoadOptions{std::move(overrides), kRoot});
  }

  // Loads `text` expecting an InputError; returns it for the caller to inspect.
  InputError load_error(const std::string& text, std::vector<std::string> overrides = {}) {
    try {
      load(text, std::move(overrides));
    } catch (const InputError& error) {
      return error;
    }
    ADD_FAILURE() << "no InputError for:\n" << text;
    return InputError({}, "", "");
  }

  fs::path dir_;
};

// ----------------------------------------------------------------------------------------------------------------
// Bundled scenarios

TEST_F(ScenarioTest, DefaultScenarioHasThePublishedNumbers) {
  const Scenario s = load_scenario(bundled("deepseek-v3-pretrain.yaml"), LoadOptions{{}, kRoot});
  EXPECT_EQ(s.name, "deepseek-v3-pretrain");
  EXPECT_EQ(s.seed, 1u);

  EXPECT_EQ(s.model.name, "deepseek-v3");
  EXPECT_EQ(s.model.kind, ModelKind::moe);
  EXPECT_EQ(s.model.layers, 61);
  EXPECT_EQ(s.model.hidden, 7168);
  EXPECT_EQ(s.model.vocab, 129280);
  EXPECT_EQ(s.model.attention.kind, AttentionKind::mla);
  EXPECT_EQ(s.model.attention.heads, 128);
  EXPECT_EQ(s.model.attention.q_lora_rank, 1536);
  EXPECT_EQ(s.model.attention.kv_lora_rank, 512);
  EXPECT_EQ(s.model.attention.qk_nope_head_dim, 128);
  EXPECT_EQ(s.model.attention.qk_rope_head_dim, 64);
  EXPECT_EQ(s.model.attention.v_head_dim, 128);
  EXPECT_EQ(s.model.ffn.intermediate, 18432);
  EXPECT_EQ(s.model.moe.dense_layers, 3);
  EXPECT_EQ(s.model.moe.routed_experts, 256);
  EXPECT_EQ(s.model.moe.shared_experts, 1);
  EXPECT_EQ(s.model.moe.top_k, 8);
  EXPECT_EQ(s.model.moe.expert_intermediate, 2048);
  EXPECT_EQ(s.model.moe.groups, 8);
  EXPECT_EQ(s.model.moe.groups_per_token, 4);
  EXPECT_DOUBLE_EQ(s.model.moe.route_scale, 2.5);
  EXPECT_EQ(s.model.mtp_depth, 1);
  EXPECT_FALSE(s.model.tied_embeddings);

  EXPECT_EQ(s.cluster.gpu.name, "h800");
  EXPECT_DOUBLE_EQ(s.cluster.gpu.bf16_flop_per_s, 989e12);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.fp8_flop_per_s, 1979e12);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.hbm_bytes, 81559.0 * 1048576.0);  // "81559MiB", as nvidia-smi reports
  EXPECT_DOUBLE_EQ(s.cluster.gpu.hbm_bandwidth_bytes_per_s, 3.35e12);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.nvlink_bandwidth_bytes_per_s, 400e9);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.tdp_w, 700);
  EXPECT_EQ(s.cluster.gpu.sm_count, 132);
  EXPECT_EQ(s.cluster.gpus, 2048);
  EXPECT_EQ(s.cluster.gpus_per_node, 8);
  EXPECT_EQ(s.cluster.network.topology, TopologyKind::multi_plane_fat_tree);
  EXPECT_DOUBLE_EQ(s.cluster.network.nic_bandwidth_bytes_per_s, 5e10);
  EXPECT_EQ(s.cluster.network.switch_radix, 64);
  EXPECT_DOUBLE_EQ(s.cluster.network.oversubscription, 1.0);
  EXPECT_EQ(s.cluster.profile, "h800-dsv3-trace");
  EXPECT_EQ(fs::path(s.cluster.profile_dir), fs::path(kRoot) / "profiles" / "h800-dsv3-trace");
  EXPECT_TRUE(fs::path(s.cluster.profile_dir).is_absolute());
  EXPECT_EQ(s.cluster.profile_gpu.name, "h800");
  // The trace profile extends hopper-production, which extends h800-published: innermost base first.
  ASSERT_EQ(s.cluster.profile_base_dirs.size(), 2u);
  EXPECT_EQ(fs::path(s.cluster.profile_base_dirs[0]), fs::path(kRoot) / "profiles" / "h800-published");
  EXPECT_EQ(fs::path(s.cluster.profile_base_dirs[1]), fs::path(kRoot) / "profiles" / "hopper-production");

  ASSERT_TRUE(s.training);
  const TrainingJob& t = *s.training;
  EXPECT_DOUBLE_EQ(t.tokens, 14.8e12);
  EXPECT_EQ(t.seq_len, 4096);
  ASSERT_TRUE(t.ramp);
  EXPECT_EQ(t.ramp->from, 3072);
  EXPECT_EQ(t.ramp->to, 15360);
  EXPECT_DOUBLE_EQ(t.ramp->over_tokens, 469e9);
  EXPECT_EQ(t.global_batch, 15360);
  EXPECT_EQ(t.micro_batch, 1);
  EXPECT_EQ(t.precision, Precision::fp8);
  EXPECT_EQ(t.parallelism.tp, 1);
  EXPECT_EQ(t.parallelism.pp, 16);
  EXPECT_EQ(t.parallelism.ep, 64);
  EXPECT_EQ(t.parallelism.dp, 128);
  EXPECT_EQ(t.parallelism.cp, 1);
  EXPECT_EQ(t.parallelism.zero, 1);
  EXPECT_EQ(t.schedule, "dualpipe");
  EXPECT_EQ(t.recompute, Recompute::selective);  // V3 §3.2.3
  EXPECT_FALSE(s.inference);

  ASSERT_TRUE(s.cost.gpu_hour_usd);
  EXPECT_DOUBLE_EQ(*s.cost.gpu_hour_usd, 2.0);
  EXPECT_FALSE(s.cost.capex);
  EXPECT_DOUBLE_EQ(s.cost.electricity_usd_per_kwh, 0.08);
  EXPECT_DOUBLE_EQ(s.cost.pue, 1.3);
  ASSERT_TRUE(s.reliability);
  EXPECT_DOUBLE_EQ(s.reliability->gpu_mtbf_hours, 50000);
  EXPECT_DOUBLE_EQ(s.reliability->checkpoint_interval_s, 1800);
  EXPECT_DOUBLE_EQ(s.reliability->restart_overhead_s, 600);
}

TEST_F(ScenarioTest, LlamaScenarioIsDenseGqaOnH100) {
  const Scenario s = load_scenario(bundled("llama-3-405b-pretrain.yaml"), LoadOptions{{}, kRoot});
  EXPECT_EQ(s.model.kind, ModelKind::dense);
  EXPECT_EQ(s.model.layers, 126);
  EXPECT_EQ(s.model.hidden, 16384);
  EXPECT_EQ(s.model.vocab, 128256);
  EXPECT_EQ(s.model.attention.kind, AttentionKind::gqa);
  EXPECT_EQ(s.model.attention.kv_heads, 8);
  EXPECT_EQ(s.model.attention.head_dim, 128);
  EXPECT_EQ(s.model.ffn.intermediate, 53248);
  EXPECT_EQ(s.cluster.gpu.name, "h100");
  EXPECT_DOUBLE_EQ(s.cluster.gpu.nvlink_bandwidth_bytes_per_s, 900e9);
  EXPECT_EQ(s.cluster.network.topology, TopologyKind::fat_tree);
  EXPECT_DOUBLE_EQ(s.cluster.network.oversubscription, 7.0);
  // No profile given: the H100's default, published H800 kernels plus cuBLASLt BF16 GEMMs on the same die.
  EXPECT_EQ(s.cluster.profile, "hopper-production");
  EXPECT_EQ(s.cluster.profile_gpu.name, "h800");
  ASSERT_TRUE(s.training);
  EXPECT_EQ(s.training->precision, Precision::bf16);
  EXPECT_EQ(s.training->parallelism.tp, 8);
  EXPECT_EQ(s.training->parallelism.pp, 16);
  EXPECT_EQ(s.training->parallelism.dp, 128);
  EXPECT_EQ(s.training->parallelism.ep, 1);
  EXPECT_EQ(s.training->global_batch, 2048);
  EXPECT_FALSE(s.training->ramp);
}

TEST_F(ScenarioTest, ServingScenarioHasPoolsTrafficAndSlo) {
  const Scenario s = load_scenario(bundled("deepseek-v3-serving.yaml"), LoadOptions{{}, kRoot});
  EXPECT_FALSE(s.training);
  ASSERT_TRUE(s.inference);
  const InferenceJob& job = *s.inference;
  EXPECT_EQ(job.prefill.gpus, 32);
  EXPECT_EQ(job.prefill.parallelism.ep, 32);
  EXPECT_EQ(job.prefill.parallelism.dp, 32);
  EXPECT_EQ(job.decode.gpus, 320);
  EXPECT_EQ(job.decode.parallelism.tp, 4);
  EXPECT_EQ(job.decode.parallelism.ep, 320);  // redundant experts: ep need not divide 256 when serving
  EXPECT_EQ(job.decode.parallelism.dp, 80);
  EXPECT_EQ(job.decode.mtp_depth, 1);
  EXPECT_DOUBLE_EQ(job.decode.mtp_acceptance, 0.85);
  EXPECT_DOUBLE_EQ(job.input_tokens_per_day, 608e9);
  EXPECT_DOUBLE_EQ(job.output_tokens_per_day, 168e9);
  EXPECT_DOUBLE_EQ(job.requests_per_day, 608e9 / 4000);
  EXPECT_DOUBLE_EQ(job.input_length.mean, 4000);
  EXPECT_EQ(job.input_length.distribution, "fixed");
  EXPECT_DOUBLE_EQ(job.cache_hit_rate, 0.5);
  EXPECT_EQ(job.arrival, "diurnal");
  EXPECT_DOUBLE_EQ(job.slo_ttft_s, 2.0);
  EXPECT_DOUBLE_EQ(job.slo_tpot_s, 0.05);
}

TEST_F(ScenarioTest, EveryBundledGpuLoads) {
  struct Expected {
    const char* name;
    double bf16;
    double fp8;
    std::int64_t sms;
    double nic;
  };
  for (const Expected& e : {Expected{"h800", 989e12, 1979e12, 132, 5e10}, Expected{"h100", 989e12, 1979e12, 132, 5e10},
                            Expected{"h200", 989e12, 1979e12, 132, 5e10}, Expected{"h20", 148e12, 296e12, 78, 5e10},
                            Expected{"a100", 312e12, 0, 108, 2.5e10}}) {
    SCOPED_TRACE(e.name);
    const GpuSpec gpu = load_gpu_bundle(e.name, kRoot);
    EXPECT_EQ(gpu.name, e.name);
    EXPECT_DOUBLE_EQ(gpu.bf16_flop_per_s, e.bf16);
    EXPECT_DOUBLE_EQ(gpu.fp8_flop_per_s, e.fp8);
    EXPECT_EQ(gpu.sm_count, e.sms);
    EXPECT_DOUBLE_EQ(gpu.nic_bandwidth_bytes_per_s, e.nic);
    // Hopper SXM parts (the H800's die) default to the published kernels plus measured cuBLASLt BF16 GEMMs; the
    // H20 and A100, other dies, to the published tables alone (efficiencies transferred).
    const std::string name = e.name;
    EXPECT_EQ(gpu.default_profile, name == "h20" || name == "a100" ? "h800-published" : "hopper-production");
  }
  EXPECT_DOUBLE_EQ(load_gpu_bundle("h200", kRoot).hbm_bytes, 143771.0 * 1048576.0);
  EXPECT_EQ(load_model_bundle("llama-3-405b", kRoot).attention.heads, 128);
  // GPT-3 as Megatron-LM benchmarks it: multi-head attention (one KV head per query head), a plain GeLU MLP.
  const ModelSpec gpt = load_model_bundle("megatron-gpt-175b", kRoot);
  EXPECT_EQ(gpt.attention.kind, AttentionKind::gqa);
  EXPECT_EQ(gpt.attention.kv_heads, 96);
  EXPECT_EQ(gpt.attention.head_dim, 128);
  EXPECT_EQ(gpt.ffn.activation, FfnActivation::gelu);
  EXPECT_EQ(gpt.ffn.intermediate, 4 * 12288);
  EXPECT_TRUE(gpt.tied_embeddings);
  EXPECT_EQ(load_model_bundle("deepseek-v3", kRoot).moe.activation, FfnActivation::swiglu);
}

TEST_F(ScenarioTest, ActivationsMultiHeadAttentionAndFp16) {
  const std::string dense = "model={kind: dense, layers: 32, hidden: 4096, vocab: 32000, attention: {kind: mha, "
                            "heads: 32, head_dim: 128}, ffn: {intermediate: 16384, activation: relu}}";
  const Scenario s = load(kBase, {dense, "training.precision=fp16", "training.parallelism={tp: 1, pp: 16, dp: 128}"});
  EXPECT_EQ(s.model.attention.kv_heads, 32);
  EXPECT_EQ(s.model.ffn.activation, FfnActivation::relu);
  EXPECT_EQ(s.training->precision, Precision::fp16);
  // Without `activation` the FFN is SwiGLU; experts follow moe.activation.
  EXPECT_EQ(load(kBase).model.ffn.activation, FfnActivation::swiglu);
  EXPECT_EQ(load(kBase, {"model.moe.activation=geglu"}).model.moe.activation, FfnActivation::geglu);
  // Multi-head attention has as many KV heads as query heads, and no MLA dimensions.
  const std::string plan = "training.parallelism={tp: 1, pp: 16, dp: 128}";
  const std::string grouped = replace(dense, "heads: 32, head_dim", "heads: 32, kv_heads: 8, head_dim");
  const InputError kv = load_error(kBase, {grouped, "training.precision=bf16", plan});
  EXPECT_EQ(kv.key_path(), "model.attention.kv_heads");
  EXPECT_NE(std::string(kv.what()).find("kind: gqa"), std::string::npos) << kv.what();
  const InputError mla = load_error(
      kBase, {replace(dense, "head_dim: 128", "head_dim: 128, kv_lora_rank: 512"), "training.precision=bf16", plan});
  EXPECT_EQ(mla.key_path(), "model.attention.kv_lora_rank");
  const InputError act = load_error(kBase, {"model.moe.activation=silu"});
  EXPECT_EQ(act.key_path(), "model.moe.activation");
  EXPECT_NE(std::string(act.what()).find("swiglu, geglu, gelu, relu, squared_relu"), std::string::npos) << act.what();
}

TEST_F(ScenarioTest, UnknownBundleNamesListWhatIsInstalled) {
  try {
    load_gpu_bundle("h801", kRoot);
    FAIL() << "no error";
  } catch (const InputError& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("did you mean 'h800'?"), std::string::npos) << what;
    EXPECT_NE(what.find("a100, h100, h20, h200, h800"), std::string::npos) << what;
  }
  const InputError model = load_error(replace(kBase, "deepseek-v3", "deepseek-v4"));
  EXPECT_EQ(model.key_path(), "model");
  EXPECT_EQ(model.where().line, 2);
  EXPECT_NE(std::string(model.what()).find("deepseek-v3, llama-3-405b"), std::string::npos) << model.what();
}

// ----------------------------------------------------------------------------------------------------------------
// Profiles that extend others (MANIFEST `extends:`)

TEST_F(ScenarioTest, ProfileExtendingAnotherListsItsBaseFolders) {
  const Scenario s = load(kBase);  // the H800's default, hopper-production, extends h800-published
  EXPECT_EQ(s.cluster.profile, "hopper-production");
  EXPECT_EQ(fs::path(s.cluster.profile_dir), fs::path(kRoot) / "profiles" / "hopper-production");
  ASSERT_EQ(s.cluster.profile_base_dirs.size(), 1u);
  EXPECT_EQ(fs::path(s.cluster.profile_base_dirs[0]), fs::path(kRoot) / "profiles" / "h800-published");
  EXPECT_EQ(profile_directories(s.cluster).back(), s.cluster.profile_dir);
  const Scenario plain = load(kBase, {"cluster.profile=h800-published"});
  EXPECT_TRUE(plain.cluster.profile_base_dirs.empty());
}

TEST_F(ScenarioTest, ExtendsCyclesAndUnknownBasesNameTheManifest) {
  // A data folder of its own: the H800 bundle, the model, and three profiles that extend badly.
  const fs::path data = dir_ / "data";
  fs::create_directories(data / "profiles" / "h800");
  fs::create_directories(data / "scenarios" / "models");
  fs::copy_file(fs::path(kRoot) / "profiles" / "h800" / "gpu.yaml", data / "profiles" / "h800" / "gpu.yaml");
  fs::copy_file(fs::path(kRoot) / "scenarios" / "models" / "deepseek-v3.yaml",
                data / "scenarios" / "models" / "deepseek-v3.yaml");
  write("data/profiles/loop-a/MANIFEST.yaml", "gpu: h800\nextends: loop-b\n");
  write("data/profiles/loop-b/MANIFEST.yaml", "gpu: h800\nextends: loop-a\n");
  write("data/profiles/orphan/MANIFEST.yaml", "gpu: h800\nextends: nowhere\n");
  auto error_for = [&](const std::string& profile) {
    try {
      load_scenario(write("scenario.yaml", kBase), LoadOptions{{"cluster.profile=" + profile}, data.string()});
    } catch (const InputError& error) {
      return error;
    }
    ADD_FAILURE() << "no InputError for profile " << profile;
    return InputError({}, "", "");
  };
  const InputError cycle = error_for("loop-a");
  EXPECT_EQ(cycle.where().file, (data / "profiles" / "loop-b" / "MANIFEST.yaml").string());
  EXPECT_EQ(cycle.key_path(), "extends");
  EXPECT_NE(std::string(cycle.what()).find("'loop-a' is already in this chain"), std::string::npos) << cycle.what();
  const InputError orphan = error_for("orphan");
  EXPECT_EQ(orphan.where().file, (data / "profiles" / "orphan" / "MANIFEST.yaml").string());
  EXPECT_EQ(orphan.key_path(), "extends");
  EXPECT_NE(std::string(orphan.what()).find("unknown kernel profile 'nowhere'"), std::string::npos) << orphan.what();
}

// Defaults, inline model and GPU

TEST_F(ScenarioTest, DefaultsAreFilledIn) {
  const Scenario s = load(kBase);
  EXPECT_EQ(s.cluster.gpus_per_node, 8);
  EXPECT_EQ(s.cluster.network.topology, TopologyKind::multi_plane_fat_tree);
  EXPECT_DOUBLE_EQ(s.cluster.network.nic_bandwidth_bytes_per_s, 5e10);  // from the H800 bundle
  EXPECT_EQ(s.cluster.network.switch_radix, 64);
  EXPECT_EQ(s.cluster.profile, "hopper-production");
  EXPECT_EQ(s.training->micro_batch, 1);
  EXPECT_EQ(s.training->recompute, Recompute::none);
  EXPECT_EQ(s.training->parallelism.tp, 1);
  EXPECT_EQ(s.training->parallelism.cp, 1);
  EXPECT_FALSE(s.cost.gpu_hour_usd);
  EXPECT_DOUBLE_EQ(s.cost.pue, 1.0);
  EXPECT_FALSE(s.reliability);
  EXPECT_EQ(s.seed, 1u);
}

TEST_F(ScenarioTest, InlineModelAndInlineGpu) {
  const std::string text = R"(model:
  name: tiny
  kind: dense
  layers: 4
  hidden: 1024
  vocab: 32000
  attention: {kind: gqa, heads: 16, kv_heads: 4, head_dim: 64}
  ffn: {intermediate: 4096}
cluster:
  gpu:
    name: future
    bf16_flops: 2.5PFLOPS
    fp8_flops: 5e15
    hbm: 192GiB
    hbm_bandwidth: 8TB/s
    nvlink_bandwidth: 1800GB/s
    tdp: 1.2kW
    idle_power: 100W
    sm_count: 148
  gpus: 16
  network: {topology: rail-optimized, nic_bandwidth: 800Gbps, switch_radix: 32, oversubscription: 2}
  profile: h800-published
training:
  tokens: 1T
  seq_len: 2048
  global_batch: 64
  micro_batch: 2
  precision: bf16
  parallelism: {tp: 2, pp: 2, dp: 4}
  schedule: 1f1b
  recompute: selective
seed: 42
)";
  const Scenario s = load(text);
  EXPECT_EQ(s.name, "scenario");  // the file's stem
  EXPECT_EQ(s.seed, 42u);
  EXPECT_EQ(s.model.name, "tiny");
  EXPECT_EQ(s.model.kind, ModelKind::dense);
  EXPECT_EQ(s.model.attention.kv_heads, 4);
  EXPECT_EQ(s.cluster.gpu.name, "future");
  EXPECT_DOUBLE_EQ(s.cluster.gpu.bf16_flop_per_s, 2.5e15);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.hbm_bytes, 192.0 * 1073741824.0);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.tdp_w, 1200);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.idle_w, 100);
  EXPECT_DOUBLE_EQ(s.cluster.gpu.nic_bandwidth_bytes_per_s, 0);
  EXPECT_EQ(s.cluster.network.topology, TopologyKind::rail_optimized);
  EXPECT_DOUBLE_EQ(s.cluster.network.nic_bandwidth_bytes_per_s, 1e11);
  EXPECT_EQ(s.cluster.profile_gpu.name, "h800");
  EXPECT_DOUBLE_EQ(s.training->tokens, 1e12);
  EXPECT_EQ(s.training->recompute, Recompute::selective);
}

TEST_F(ScenarioTest, InlineGpuWithoutNicOrProfileNeedsThemFromTheCluster) {
  const std::string gpu = R"(cluster:
  gpu: {bf16_flops: 1e15, fp8_flops: 2e15, hbm: 80GB, hbm_bandwidth: 3TB/s, nvlink_bandwidth: 900GB/s,
        tdp: 700W, sm_count: 132}
  gpus: 2048)";
  const std::string text = replace(kBase, "cluster:\n  gpu: h800\n  gpus: 2048", gpu);
  const InputError nic = load_error(text);
  EXPECT_EQ(nic.key_path(), "cluster.network");
  EXPECT_NE(std::string(nic.what()).find("nic_bandwidth"), std::string::npos) << nic.what();
  const InputError profile = load_error(text, {"cluster.network.nic_bandwidth=400Gbps"});
  EXPECT_EQ(profile.key_path(), "cluster.profile");
  EXPECT_NO_THROW(load(text, {"cluster.network.nic_bandwidth=400Gbps", "cluster.profile=h800-published"}));
}

TEST_F(ScenarioTest, InferenceTrafficFromRequestsAndTrace) {
  write("arrivals.csv", "t,input,output\n0,4000,1000\n");
  const std::string inference = R"(inference:
  prefill: {gpus: 32, parallelism: {ep: 32, dp: 32}}
  decode: {gpus: 320, parallelism: {tp: 4, ep: 320, dp: 80}}
  traffic:
    requests_per_day: 1e8
    input_tokens_per_day: 400e9
    input_length: {mean: 4000, distribution: lognormal, sigma: 0.8}
    output_length: 1000
    arrival: {trace: arrivals.csv}
)";
  const std::string text = std::string(kBase).substr(0, std::string(kBase).find("training:")) + inference;
  const Scenario s = load(text);
  EXPECT_DOUBLE_EQ(s.inference->requests_per_day, 1e8);
  EXPECT_DOUBLE_EQ(s.inference->output_tokens_per_day, 1e11);
  EXPECT_EQ(s.inference->input_length.distribution, "lognormal");
  EXPECT_DOUBLE_EQ(s.inference->input_length.sigma, 0.8);
  EXPECT_EQ(s.inference->arrival, "trace");
  EXPECT_EQ(fs::path(s.inference->arrival_trace), dir_ / "arrivals.csv");
  EXPECT_DOUBLE_EQ(s.inference->slo_ttft_s, 0);

  const InputError contradiction = load_error(replace(text, "400e9", "500e9"));
  EXPECT_EQ(contradiction.key_path(), "inference.traffic.input_tokens_per_day");
  EXPECT_EQ(contradiction.where().line, 11);
}

// ----------------------------------------------------------------------------------------------------------------
// --set overrides

TEST_F(ScenarioTest, OverridesChangeKeysAndAreValidatedLikeTheFile) {
  const Scenario s = load(kBase, {"training.parallelism.pp=8", "training.parallelism.dp=256",
                                  "training.global_batch={from: 3072, to: 15360, over_tokens: 469e9}",
                                  "cluster.network.switch_radix=32", "seed=7"});
  EXPECT_EQ(s.training->parallelism.pp, 8);
  EXPECT_EQ(s.training->parallelism.dp, 256);
  EXPECT_EQ(s.training->parallelism.ep, 64);  // the rest of the flow mapping is kept
  ASSERT_TRUE(s.training->ramp);
  EXPECT_EQ(s.training->ramp->from, 3072);
  EXPECT_EQ(s.cluster.network.switch_radix, 32);
  EXPECT_DOUBLE_EQ(s.cluster.network.nic_bandwidth_bytes_per_s, 5e10);  // network created by --set: defaults apply
  EXPECT_EQ(s.seed, 7u);

  // pp alone breaks tp x pp x dp x cp == gpus.
  const InputError product = load_error(kBase, {"training.parallelism.pp=8"});
  EXPECT_EQ(product.key_path(), "training.parallelism");
  EXPECT_NE(std::string(product.what()).find("1024"), std::string::npos) << product.what();
}

TEST_F(ScenarioTest, OverridesReplaceAndEditBundles) {
  const Scenario llama =
      load(kBase, {"model=llama-3-405b", "training.parallelism={tp: 8, pp: 16, dp: 16}", "training.global_batch=2048",
                   "training.schedule=interleaved", "cluster.gpu=h100", "training.precision=bf16"});
  EXPECT_EQ(llama.model.name, "llama-3-405b");
  EXPECT_EQ(llama.cluster.gpu.name, "h100");

  const Scenario edited = load(kBase, {"model.layers=32", "cluster.gpu.hbm=141GB"});
  EXPECT_EQ(edited.model.layers, 32);
  EXPECT_EQ(edited.model.name, "deepseek-v3");  // the bundle's other keys are kept
  EXPECT_EQ(edited.model.moe.routed_experts, 256);
  EXPECT_DOUBLE_EQ(edited.cluster.gpu.hbm_bytes, 141e9);
  EXPECT_DOUBLE_EQ(edited.cluster.gpu.bf16_flop_per_s, 989e12);
}

TEST_F(ScenarioTest, BadOverridesNameSetAndTheKey) {
  const InputError typo = load_error(kBase, {"training.parallelism.ppp=8"});
  EXPECT_EQ(typo.where().file, "--set");
  EXPECT_EQ(typo.where().line, 0);
  EXPECT_EQ(typo.key_path(), "training.parallelism.ppp");
  EXPECT_NE(std::string(typo.what()).find("did you mean 'pp'?"), std::string::npos) << typo.what();

  const InputError unit = load_error(kBase, {"cluster.network.nic_bandwidth=80GiB"});
  EXPECT_EQ(std::string(unit.what()).rfind("--set: cluster.network.nic_bandwidth: ", 0), 0u) << unit.what();
  EXPECT_NE(std::string(unit.what()).find("'80GiB' is a size"), std::string::npos) << unit.what();

  const InputError unknown_top = load_error(kBase, {"traning.seq_len=8192"});
  EXPECT_EQ(unknown_top.where().file, "--set");
  EXPECT_NE(std::string(unknown_top.what()).find("did you mean 'training'?"), std::string::npos);

  const InputError inside_scalar = load_error(kBase, {"training.tokens.x=1"});
  EXPECT_EQ(inside_scalar.where().file, "--set");
  EXPECT_EQ(inside_scalar.key_path(), "training.tokens.x");

  const InputError no_equals = load_error(kBase, {"training.parallelism.pp"});
  EXPECT_EQ(no_equals.where().file, "--set");

  const InputError bad_yaml = load_error(kBase, {"training.parallelism={tp: 1"});
  EXPECT_EQ(bad_yaml.key_path(), "training.parallelism");

  const InputError bad_model = load_error(kBase, {"model=gpt-5"});
  EXPECT_EQ(bad_model.where().file, "--set");
  EXPECT_EQ(bad_model.key_path(), "model");

  // An error in a file value is still reported against the file, not against an unrelated override.
  const InputError file_error = load_error(replace(kBase, "seq_len: 4096", "seq_len: 4k"), {"seed=3"});
  EXPECT_EQ(file_error.where().line, 8);
}

// ----------------------------------------------------------------------------------------------------------------
// Errors: file, line, key path, what was expected

struct BadCase {
  const char* from;
  const char* to;
  const char* key;
  int line;
  const char* says;
};

TEST_F(ScenarioTest, BadValuesNameFileLineAndKey) {
  const BadCase cases[] = {
      {"gpus: 2048", "gpus: lots", "cluster.gpus", 5, "expected a positive whole number, got 'lots'"},
      {"gpus: 2048", "gpus: 2.5", "cluster.gpus", 5, "not whole"},
      {"gpus: 2048", "gpus: 0", "cluster.gpus", 5, "positive whole number"},
      {"gpus: 2048", "gpus: 2044", "cluster.gpus", 5, "multiple of gpus_per_node (8)"},
      {"seq_len: 4096", "seq_len: -4096", "training.seq_len", 8, "positive whole number"},
      {"tokens: 14.8e12", "tokens: 14.8 trillion", "training.tokens", 7, "expected a number"},
      {"precision: fp8", "precision: FP4", "training.precision", 10, "expected one of fp8, bf16"},
      {"schedule: dualpipe", "schedule: dualpip", "training.schedule", 12, "did you mean 'dualpipe'?"},
      {"global_batch: 15360", "global_batch: 15000", "training.global_batch", 9, "micro_batch x dp = 1 x 128 = 128"},
      {"dp: 128", "dp: 100", "training.parallelism.dp", 11, "must divide cluster.gpus (2048)"},
      {"dp: 128", "dp: 64", "training.parallelism", 11, "= 1024, but must equal cluster.gpus (2048)"},
      {"ep: 64", "ep: 512", "training.parallelism.ep", 11, "must divide dp x tp (128)"},
      {"zero: 1", "zero: 4", "training.parallelism.zero", 11, "ZeRO stage"},
      {"gpu: h800", "gpu: a100", "training.precision", 10, "needs FP8 tensor cores"},
      {"model: deepseek-v3", "model: [deepseek-v3]", "model", 2, "got a list"},
      {"  schedule: dualpipe\n", "  schedule: dualpipe\n  seq_len: 8192\n", "training.seq_len", 13, "duplicate key"},
      {"  schedule: dualpipe\n", "  schedule: dualpipe\nfleet: {pools: []}\n", "fleet", 13, "not supported yet"},
      {"name: t\n", "name: t\nhardware: {}\n", "hardware", 2, "unknown key"},
      {"  gpus: 2048\n", "  gpus: 2048\n  network: {nic_bandwidth: 80GiB}\n", "cluster.network.nic_bandwidth", 6,
       "expected a bandwidth"},
      {"  gpus: 2048\n", "  gpus: 2048\n  network: {switch_radix: 63}\n", "cluster.network.switch_radix", 6, "even"},
      {"  gpus: 2048\n", "  gpus: 2048\n  profile: h800-measured\n", "cluster.profile", 6,
       "Available: h200-measured, h800-cutlass36, h800-dsv3-trace, h800-published, hopper-production"},
      {"  seq_len: 4096\n", "", "training.seq_len", 7, "required key is missing"},
      {"name: t\nmodel: deepseek-v3\n", "name: t\n", "model", 1, "required key is missing"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.to);
    const std::string path = (dir_ / "scenario.yaml").string();
    const InputError error = load_error(replace(kBase, c.from, c.to));
    EXPECT_EQ(error.where().file, path);
    EXPECT_EQ(error.key_path(), c.key);
    EXPECT_EQ(error.where().line, c.line);
    const std::string what = error.what();
    EXPECT_EQ(what.rfind(path + ":" + std::to_string(c.line) + ": " + c.key + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(c.says), std::string::npos) << what;
  }
}

TEST_F(ScenarioTest, TyposGetDidYouMeanHints) {
  const InputError schedule = load_error(replace(kBase, "schedule:", "shedule:"));
  EXPECT_EQ(schedule.key_path(), "training.shedule");
  EXPECT_EQ(schedule.where().line, 12);
  EXPECT_NE(std::string(schedule.what()).find("unknown key; did you mean 'schedule'?"), std::string::npos)
      << schedule.what();

  const InputError per_node = load_error(replace(kBase, "  gpus: 2048\n", "  gpus: 2048\n  gpus_per_nod: 8\n"));
  EXPECT_EQ(per_node.key_path(), "cluster.gpus_per_nod");
  EXPECT_NE(std::string(per_node.what()).find("did you mean 'gpus_per_node'?"), std::string::npos);

  const InputError top = load_error(replace(kBase, "training:", "trainig:"));
  EXPECT_NE(std::string(top.what()).find("did you mean 'training'?"), std::string::npos);

  // Nothing close: no hint, but the allowed keys are listed.
  const InputError far = load_error(replace(kBase, "  gpus: 2048\n", "  gpus: 2048\n  colour: blue\n"));
  EXPECT_EQ(std::string(far.what()).find("did you mean"), std::string::npos);
  EXPECT_NE(std::string(far.what()).find("allowed here: gpu, gpus, gpus_per_node, network, profile"), std::string::npos)
      << far.what();
}

TEST_F(ScenarioTest, PlanChecks) {
  // DualPipe needs an even pp; 1,536 GPUs allow pp = 3.
  const std::string odd =
      replace(replace(kBase, "gpus: 2048", "gpus: 1536"), "pp: 16, ep: 64, dp: 128", "pp: 3, ep: 64, dp: 512");
  const InputError dualpipe = load_error(odd);
  EXPECT_EQ(dualpipe.key_path(), "training.schedule");
  EXPECT_NO_THROW(load(odd, {"training.schedule=1f1b"}));

  // ep must divide the routed experts (256) when training.
  const InputError experts = load_error(
      replace(replace(kBase, "gpus: 2048", "gpus: 1536"), "pp: 16, ep: 64, dp: 128", "pp: 16, ep: 96, dp: 96"));
  EXPECT_EQ(experts.key_path(), "training.parallelism.ep");
  EXPECT_NE(std::string(experts.what()).find("routed experts (256)"), std::string::npos) << experts.what();

  // tp must divide the attention heads (128).
  const InputError heads = load_error(kBase, {"training.parallelism={tp: 256, pp: 8, dp: 1, ep: 64}"});
  EXPECT_EQ(heads.key_path(), "training.parallelism.tp");

  // ep must be 1 for a dense model.
  const InputError dense = load_error(kBase, {"model=llama-3-405b", "training.precision=bf16"});
  EXPECT_EQ(dense.key_path(), "training.parallelism.ep");

  // pp must not exceed the layers.
  const InputError layers = load_error(kBase, {"model.layers=8"});
  EXPECT_EQ(layers.key_path(), "training.parallelism.pp");

  // Both ends of a batch ramp must split into micro-batches.
  const InputError ramp = load_error(kBase, {"training.global_batch={from: 3000, to: 15360, over_tokens: 469e9}"});
  EXPECT_EQ(ramp.key_path(), "training.global_batch.from");

  // A scenario needs something to simulate.
  const std::string nothing = std::string(kBase).substr(0, std::string(kBase).find("training:"));
  EXPECT_EQ(load_error(nothing).key_path(), "training");
}

TEST_F(ScenarioTest, RangesOfFractionsAndPue) {
  const std::string with_cost = std::string(kBase) + "cost: {gpu_hour: 2.0, pue: 0.5}\n";
  EXPECT_EQ(load_error(with_cost).key_path(), "cost.pue");
  EXPECT_EQ(load_error(std::string(kBase) + "cost: {pue: 1.2}\n").key_path(), "cost.gpu_hour");
  const Scenario capex = load(std::string(kBase) +
                              "cost: {capex: {gpu: \"$25000\", server_per_node: 150000, "
                              "years: 4, interest: 0.06}, electricity: 0.08}\n");
  ASSERT_TRUE(capex.cost.capex);
  EXPECT_DOUBLE_EQ(capex.cost.capex->gpu_usd, 25000);
  EXPECT_DOUBLE_EQ(capex.cost.capex->network_per_gpu_usd, 0);
  EXPECT_EQ(load_error(std::string(kBase) + "cost: {capex: {gpu: 1, server_per_node: 1, years: 4, interest: 6}}\n")
                .key_path(),
            "cost.capex.interest");
}

TEST_F(ScenarioTest, FileErrors) {
  const std::string missing = (dir_ / "nope.yaml").string();
  try {
    load_scenario(missing, LoadOptions{{}, kRoot});
    FAIL() << "no error";
  } catch (const InputError& error) {
    EXPECT_EQ(error.where().file, missing);
    EXPECT_NE(std::string(error.what()).find("no such file"), std::string::npos);
  }

  const InputError syntax = load_error(replace(kBase, "  gpus: 2048\n", "  gpus: 2048\n    bad: indent\n"));
  EXPECT_EQ(syntax.where().line, 6);
  EXPECT_NE(std::string(syntax.what()).find("YAML syntax error"), std::string::npos) << syntax.what();

  EXPECT_NE(std::string(load_error("").what()).find("must be a mapping"), std::string::npos);
}

TEST_F(ScenarioTest, ErrorsInABundleNameTheBundleFile) {
  const fs::path data = dir_ / "data";
  fs::create_directories(data / "profiles" / "p");
  std::ofstream(data / "profiles" / "p" / "MANIFEST.yaml") << "gpu: broken\n";
  fs::create_directories(data / "scenarios" / "models");
  fs::copy_file(fs::path(kRoot) / "scenarios" / "models" / "deepseek-v3.yaml",
                data / "scenarios" / "models" / "deepseek-v3.yaml");
  write("data/profiles/broken/gpu.yaml",
        "name: broken\nbf16_flops: 1e15\nhbm: fast\nhbm_bandwidth: 3TB/s\nnvlink_bandwidth: 900GB/s\ntdp: 700W\n"
        "sm_count: 1\nnic_bandwidth: 400Gbps\ndefault_profile: p\n");
  try {
    load_gpu_bundle("broken", data.string());
    FAIL() << "no error";
  } catch (const InputError& error) {
    EXPECT_EQ(error.where().file, (data / "profiles" / "broken" / "gpu.yaml").string());
    EXPECT_EQ(error.where().line, 3);
    EXPECT_EQ(error.key_path(), "hbm");
  }
  const std::string scenario = write("s.yaml", replace(kBase, "gpu: h800", "gpu: broken"));
  try {
    load_scenario(scenario, LoadOptions{{}, data.string()});
    FAIL() << "no error";
  } catch (const InputError& error) {
    EXPECT_EQ(error.where().file, (data / "profiles" / "broken" / "gpu.yaml").string());
    EXPECT_EQ(error.key_path(), "cluster.gpu.hbm");
  }
}

TEST(DataDir, EnvironmentOverridesTheSourceTree) {
  ::unsetenv("FLEETSIM_DATA_DIR");
  EXPECT_EQ(default_data_dir(), kRoot);
  ::setenv("FLEETSIM_DATA_DIR", "/somewhere/else", 1);
  EXPECT_EQ(default_data_dir(), "/somewhere/else");
  ::unsetenv("FLEETSIM_DATA_DIR");
}

}  // namespace
}  // namespace fleetsim

namespace fleetsim {
namespace {

TEST_F(ScenarioTest, DataParallelAutoFillsTheGpus) {
  // 2,048 GPUs at PP 16: dp auto is 128; at 4,096, 256.
  const std::string path = bundled("deepseek-v3-pretrain.yaml");
  EXPECT_EQ(load_scenario(path, LoadOptions{{"training.parallelism.dp=auto"}, kRoot}).training->parallelism.dp, 128);
  EXPECT_EQ(load_scenario(path, LoadOptions{{"training.parallelism.dp=auto", "cluster.gpus=4096"}, kRoot})
                .training->parallelism.dp,
            256);
  // 2,056 GPUs (257 nodes) are no multiple of PP 16: no data-parallel degree fills them.
  try {
    load_scenario(path, LoadOptions{{"training.parallelism.dp=auto", "cluster.gpus=2056"}, kRoot});
    ADD_FAILURE() << "dp auto on 2,056 GPUs";
  } catch (const InputError& error) {
    EXPECT_EQ(error.key_path(), "training.parallelism.dp");
    EXPECT_NE(error.detail().find("not a multiple of tp x pp x cp = 16"), std::string::npos) << error.what();
  }
  try {
    load_scenario(path, LoadOptions{{"training.parallelism.dp=lots"}, kRoot});
    ADD_FAILURE() << "dp lots";
  } catch (const InputError& error) {
    EXPECT_NE(error.detail().find("positive whole number or auto"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace fleetsim
