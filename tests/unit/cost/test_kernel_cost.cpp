#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "../graph/test_models.hpp"
#include "collective/algorithms.hpp"
#include "cost/comm_model.hpp"
#include "cost/kernel_cost.hpp"
#include "cost/roofline.hpp"

namespace fleetsim {
namespace {

// Datasheet numbers (public-figures.md §5) written inline so these tests do not depend on the YAML bundles.
GpuSpec h800() {
  GpuSpec gpu;
  gpu.name = "h800";
  gpu.bf16_flop_per_s = 989e12;
  gpu.fp8_flop_per_s = 1979e12;
  gpu.hbm_bytes = 80e9;
  gpu.hbm_bandwidth_bytes_per_s = 3.35e12;
  gpu.nvlink_bandwidth_bytes_per_s = 400e9;
  gpu.sm_count = 132;
  return gpu;
}

GpuSpec h200() {
  GpuSpec gpu = h800();
  gpu.name = "h200";
  gpu.hbm_bandwidth_bytes_per_s = 4.8e12;
  gpu.nvlink_bandwidth_bytes_per_s = 900e9;
  return gpu;
}

KernelProfile published() {
  return load_kernel_profile("h800-published", std::string(FLEETSIM_SOURCE_ROOT) + "/profiles/h800-published");
}

Op gemm_op(std::int64_t m, std::int64_t n, std::int64_t k, DataType dtype = DataType::fp8,
           std::int64_t groups = 1) {
  Op op;
  op.name = "test.gemm";
  op.kind = groups > 1 ? OpKind::grouped_gemm : OpKind::gemm;
  op.dtype = dtype;
  op.gemm = {m, n, k, groups};
  op.flops = 2.0 * static_cast<double>(m * groups) * static_cast<double>(n) * static_cast<double>(k);
  op.bytes_read = static_cast<double>(m * k + k * n);  // FP8 operands
  op.bytes_written = 2.0 * static_cast<double>(m * n);
  return op;
}

TEST(KernelCost, ExactProfileRowGivesThePublishedThroughput) {
  KernelCostModel model(published(), h800(), h800());
  Op op = gemm_op(4096, 7168, 2048);
  OpCost cost = model.compute_op(op);
  EXPECT_EQ(cost.source, CostSource::profile);
  EXPECT_NEAR(op.flops / cost.seconds, 1025e12, 1e9);  // DeepGEMM: 1025 TFLOPS at M=4096, 7168 x 2048
}

TEST(KernelCost, InterpolatesLinearlyInLogM) {
  KernelCostModel model(published(), h800(), h800());
  Op op = gemm_op(1024, 7168, 2048);
  // 1024 lies 3/5 of the way from 128 to 4096 in log2: 510 + 0.6 * (1025 - 510) = 819 TFLOPS.
  EXPECT_NEAR(op.flops / model.compute_op(op).seconds, 819e12, 1e9);
}

TEST(KernelCost, BelowTheSmallestMeasuredMTheKernelIsBoundByReadingItsWeights) {
  KernelCostModel model(published(), h800(), h800());
  Op op = gemm_op(16, 4096, 7168);
  // Efficiency held at M = 64 (287 TFLOPS), but streaming 29 MB of FP8 weights at 3000 GB/s takes longer.
  const double compute = op.flops / 287e12;
  const double memory = (op.bytes_read + op.bytes_written) / (3.35e12 * roofline::kMemoryEfficiency);
  ASSERT_GT(memory, compute);
  EXPECT_NEAR(model.compute_op(op).seconds, memory, 1e-15);
}

TEST(KernelCost, GroupedGemmEfficiencyFollowsTheRowsPerExpert) {
  KernelCostModel model(published(), h800(), h800());
  Op eight = gemm_op(4096, 4096, 7168, DataType::fp8, 8);
  EXPECT_NEAR(eight.flops / model.compute_op(eight).seconds, 1288e12, 1e9);  // DeepGEMM: 8 groups x 4096
}

TEST(KernelCost, GroupedGemmUsesTheGroupedTable) {
  KernelCostModel model(published(), h800(), h800());
  Op op = gemm_op(8192, 4096, 7168, DataType::fp8, 4);
  EXPECT_NEAR(op.flops / model.compute_op(op).seconds, 1297e12, 1e9);  // DeepGEMM contiguous, 4 groups
}

TEST(KernelCost, FarShapesFallBackToTheRoofline) {
  KernelCostModel model(published(), h800(), h800());
  Op op = gemm_op(4096, 128, 128);
  OpCost cost = model.compute_op(op);
  EXPECT_EQ(cost.source, CostSource::roofline);
  double expected = std::max(op.flops / (1979e12 * roofline::kGemmEfficiency),
                             (op.bytes_read + op.bytes_written) / (3.35e12 * roofline::kMemoryEfficiency));
  EXPECT_NEAR(cost.seconds, expected, 1e-15);
}

TEST(KernelCost, EfficiencyTransfersToAnotherGpuAndDtype) {
  KernelCostModel on_h800(published(), h800(), h800());
  KernelCostModel on_h200(published(), h200(), h800());
  Op fp8 = gemm_op(4096, 4096, 7168);
  OpCost transferred = on_h200.compute_op(fp8);
  EXPECT_EQ(transferred.source, CostSource::profile_transferred);
  EXPECT_NEAR(transferred.seconds, on_h800.compute_op(fp8).seconds, 1e-12);  // same tensor-core peak
  // BF16 borrows the FP8 efficiency (1304 / 1979) against the BF16 peak.
  Op bf16 = gemm_op(4096, 4096, 7168, DataType::bf16);
  OpCost cost = on_h800.compute_op(bf16);
  EXPECT_EQ(cost.source, CostSource::profile_transferred);
  EXPECT_NEAR(bf16.flops / cost.seconds, 1304.0 / 1979.0 * 989e12, 1e9);
}

TEST(KernelCost, TrainingAttentionRunsAtFlashAttention3sPublishedRates) {
  // profiles/h800-published/attention.csv: causal forward 579 TFLOPS, backward 542 x 579/638 = 491.9 TFLOPS
  // (FlashAttention-3, H100 SXM5, head dim 128, 4k tokens); compute-bound at DeepSeek-V3's 4k MLA shape.
  KernelCostModel model(published(), h800(), h800());
  Op op;
  op.kind = OpKind::attention;
  op.attention = {1, 128, 4096, 4096, 192, 128, true};
  op.flops = 2.0 * 128 * (192 + 128) * 4096.0 * 4096.0 / 2.0;
  op.bytes_read = 1e6;
  OpCost forward = model.compute_op(op);
  EXPECT_EQ(forward.source, CostSource::profile);
  EXPECT_NEAR(op.flops / forward.seconds, 579e12, 1e9);
  op.phase = Phase::backward_input;
  op.flops *= 2.5;
  OpCost backward = model.compute_op(op);
  EXPECT_NEAR(op.flops / backward.seconds, 491.9e12, 1e9);
}

TEST(KernelCost, Fp8CastKernelsAddTheirBytesAtTheMemoryRoofline) {
  // A GEMM's time plus its cast bytes at 3000 GB/s (FlashMLA's memory-bound rate on H800).
  KernelCostModel model(published(), h800(), h800());
  Op op;
  op.kind = OpKind::gemm;
  op.dtype = DataType::fp8;
  op.gemm = {4096, 7168, 2048, 1};
  op.flops = 2.0 * 4096 * 7168 * 2048;
  const double bare = model.compute_op(op).seconds;
  op.cast_bytes = 3e9;
  EXPECT_NEAR(model.compute_op(op).seconds - bare, 1e-3, 1e-12);
}

TEST(KernelCost, MemoryBoundOpsRunAtTheDocumentedFractionOfHbm) {
  KernelCostModel model(published(), h800(), h800());
  Op op;
  op.name = "L0.attn_norm.fwd";
  op.kind = OpKind::norm;
  op.bytes_read = 1e9;
  op.bytes_written = 1e9;
  EXPECT_NEAR(model.compute_op(op).seconds, 2e9 / 3000e9, 1e-12);
}

TEST(KernelCost, ElementwiseRowsTimeCastsNormsAndResidualAddsAtTheirOwnRates) {
  // A profile's fp8_cast row times a GEMM's cast bytes; a residual row its residual adds; without a residual row
  // the SwiGLU row (the same two-in, one-out stream) answers; kinds with no row keep the roofline.
  KernelProfile profile = published();
  profile.elementwise.push_back({"fp8_cast", 1e8, 1000e9});
  profile.elementwise.push_back({"swiglu", 1e8, 2000e9});
  profile.elementwise.push_back({"rmsnorm", 1e8, 1250e9});
  KernelCostModel model(profile, h800(), h800());
  Op gemm = gemm_op(4096, 7168, 2048);
  const double bare = model.compute_op(gemm).seconds;
  gemm.cast_bytes = 3e9;
  EXPECT_NEAR(model.compute_op(gemm).seconds - bare, 3e9 / 1000e9, 1e-12);  // 3 ms, not 1 ms at the roofline

  Op residual;
  residual.name = "L4.moe.residual.fwd";
  residual.kind = OpKind::elementwise;
  residual.bytes_read = 1e9;
  residual.bytes_written = 1e9;
  EXPECT_NEAR(model.compute_op(residual).seconds, 2e9 / 2000e9, 1e-12);  // the SwiGLU row
  profile.elementwise.push_back({"residual", 1e8, 500e9});
  KernelCostModel with_residual(profile, h800(), h800());
  const OpCost own = with_residual.compute_op(residual);
  EXPECT_NEAR(own.seconds, 2e9 / 500e9, 1e-12);
  EXPECT_EQ(own.source, CostSource::profile);

  Op norm = residual;
  norm.name = "L4.mla.norm.fwd";
  norm.kind = OpKind::norm;
  EXPECT_NEAR(with_residual.compute_op(norm).seconds, 2e9 / 1250e9, 1e-12);
  Op rope = residual;
  rope.name = "L4.mla.rope.fwd";
  const OpCost roofline = with_residual.compute_op(rope);  // no rope row
  EXPECT_EQ(roofline.source, CostSource::roofline);
  EXPECT_NEAR(roofline.seconds, 2e9 / 3000e9, 1e-12);
  // The same rates on another GPU scale with its HBM bandwidth (efficiency transferred): H200's 4.8 TB/s.
  KernelCostModel transferred(profile, h200(), h800());
  EXPECT_NEAR(transferred.compute_op(norm).seconds, 2e9 / (1250e9 * 4.8 / 3.35), 1e-12);
}

TEST(KernelCost, FfnActivationsUseTheirOwnRowElseTheSwigluRow) {
  KernelProfile profile = published();
  profile.elementwise.push_back({"swiglu", 1e8, 2000e9});
  Op gelu;
  gelu.name = "L0.ffn.gelu.fwd";
  gelu.kind = OpKind::elementwise;
  gelu.bytes_read = 1e9;
  gelu.bytes_written = 1e9;
  Op experts = gelu;
  experts.name = "L3.moe.experts_squared_relu.dx";
  const KernelCostModel fallback(profile, h800(), h800());
  EXPECT_NEAR(fallback.compute_op(gelu).seconds, 2e9 / 2000e9, 1e-12);
  EXPECT_NEAR(fallback.compute_op(experts).seconds, 2e9 / 2000e9, 1e-12);
  profile.elementwise.push_back({"gelu", 1e8, 1600e9});
  const KernelCostModel own(profile, h800(), h800());
  EXPECT_NEAR(own.compute_op(gelu).seconds, 2e9 / 1600e9, 1e-12);
  EXPECT_NEAR(own.compute_op(experts).seconds, 2e9 / 2000e9, 1e-12);  // no squared_relu row
  // Without any activation row: the memory roofline.
  const KernelCostModel roofline(published(), h800(), h800());
  EXPECT_EQ(roofline.compute_op(gelu).source, CostSource::roofline);
  EXPECT_NEAR(roofline.compute_op(gelu).seconds, 2e9 / 3000e9, 1e-12);
}

TEST(KernelCost, TheLossBackwardUsesItsOwnRowElseTheForwardsElseTheRoofline) {
  Op forward;
  forward.name = "head.loss.fwd";
  forward.kind = OpKind::loss;
  forward.phase = Phase::forward;
  forward.bytes_read = 1e9;
  forward.bytes_written = 1e6;
  Op backward = forward;
  backward.name = "head.loss.dx";
  backward.phase = Phase::backward_input;
  backward.bytes_written = 1e9;  // 2e9 bytes in all
  // No row: both at the 3,000 GB/s roofline.
  const KernelCostModel roofline(published(), h800(), h800());
  EXPECT_EQ(roofline.compute_op(backward).source, CostSource::roofline);
  EXPECT_NEAR(roofline.compute_op(backward).seconds, 2e9 / 3000e9, 1e-12);
  // A forward row only (profiles measured before the backward kernel existed): the backward streams like it.
  KernelProfile profile = published();
  profile.elementwise.push_back({"cross_entropy", 1e9, 2500e9});
  const KernelCostModel forward_only(profile, h800(), h800());
  EXPECT_NEAR(forward_only.compute_op(forward).seconds, 1.001e9 / 2500e9, 1e-12);
  EXPECT_NEAR(forward_only.compute_op(backward).seconds, 2e9 / 2500e9, 1e-12);
  // Its own row: each phase at its own rate; the forward never takes the backward's row, even when the
  // backward's bytes are nearer to its own.
  profile.elementwise.push_back({"cross_entropy_bwd", 1.001e9, 2000e9});
  const KernelCostModel both(profile, h800(), h800());
  EXPECT_NEAR(both.compute_op(forward).seconds, 1.001e9 / 2500e9, 1e-12);
  EXPECT_NEAR(both.compute_op(backward).seconds, 2e9 / 2000e9, 1e-12);
  EXPECT_EQ(both.compute_op(backward).source, CostSource::profile);
}

TEST(KernelCost, TheEmbeddingGradientUsesItsOwnRowElseTheLookupsElseTheRoofline) {
  Op lookup;
  lookup.name = "embed.embed.fwd";
  lookup.kind = OpKind::embedding;
  lookup.bytes_read = 1e8;
  lookup.bytes_written = 1e8;
  Op gradient = lookup;
  gradient.name = "embed.embed.dw";
  gradient.phase = Phase::backward_input;
  gradient.weight_gradient = true;
  gradient.bytes_read = 7e9;
  gradient.bytes_written = 4e9;
  const KernelCostModel roofline(published(), h800(), h800());
  EXPECT_EQ(roofline.compute_op(gradient).source, CostSource::roofline);
  EXPECT_NEAR(roofline.compute_op(gradient).seconds, 11e9 / 3000e9, 1e-12);
  KernelProfile profile = published();
  profile.elementwise.push_back({"embedding", 2e8, 2400e9});
  const KernelCostModel lookup_only(profile, h800(), h800());
  EXPECT_NEAR(lookup_only.compute_op(gradient).seconds, 11e9 / 2400e9, 1e-12);
  profile.elementwise.push_back({"embedding_dw", 11e9, 2800e9});
  const KernelCostModel both(profile, h800(), h800());
  EXPECT_NEAR(both.compute_op(gradient).seconds, 11e9 / 2800e9, 1e-12);
  EXPECT_NEAR(both.compute_op(lookup).seconds, 2e8 / 2400e9, 1e-12);  // the lookup keeps its own row
}

ClusterSpec h800_cluster() {
  ClusterSpec cluster;
  cluster.gpu = h800();
  cluster.gpus = 2048;
  cluster.gpus_per_node = 8;
  cluster.network.nic_bandwidth_bytes_per_s = 50e9;  // 400 Gb/s CX7
  return cluster;
}

// profiles/h200-measured: our kernels, timed on an H200 by calibration/run-on-gpu.sh. The cost model must read
// every table the script writes and time a measured shape at exactly its measured rate.
KernelProfile measured_h200() {
  return load_kernel_profile("h200-measured", std::string(FLEETSIM_SOURCE_ROOT) + "/profiles/h200-measured");
}

TEST(KernelCost, MeasuredH200ProfileHoldsEveryKernelFamilyTheCostModelReads) {
  const KernelProfile p = measured_h200();
  auto gemm_rows = [&](const std::string& kernel, const std::string& dtype) {
    return std::count_if(p.gemm.begin(), p.gemm.end(),
                         [&](const GemmRow& r) { return r.kernel == kernel && r.dtype == dtype; });
  };
  // calibration/spaces/gemm.yaml: 9 M x 6 DeepSeek shapes (FP8), the same plus 7 BF16-only shapes (BF16),
  // 3 groups x 7 M x 2 shapes (contiguous), 5 groups x 8 M x 2 shapes (masked).
  EXPECT_EQ(gemm_rows("gemm", "fp8"), 9 * 6);
  EXPECT_EQ(gemm_rows("gemm", "bf16"), 9 * (6 + 7));
  EXPECT_EQ(gemm_rows("grouped_contiguous", "fp8"), 3 * 7 * 2);
  EXPECT_EQ(gemm_rows("grouped_masked", "fp8"), 5 * 8 * 2);
  for (const auto& r : p.gemm) EXPECT_GT(r.flop_per_s, 1e12) << r.kernel << " " << r.m << "x" << r.n << "x" << r.k;
  // calibration/spaces/attention.yaml: prefill 5 lengths x 2 head counts, decode 6 batches x 3 lengths x 2.
  const auto decode = std::count_if(p.attention.begin(), p.attention.end(),
                                    [](const AttentionRow& r) { return r.kernel == "mla_decode"; });
  EXPECT_EQ(decode, 6 * 3 * 2);
  EXPECT_EQ(static_cast<long>(p.attention.size()) - decode, 5 * 2);
  for (const std::string kernel :
       {"rmsnorm", "swiglu", "rope", "embedding", "cross_entropy", "router", "permute", "unpermute"})
    EXPECT_TRUE(std::any_of(p.elementwise.begin(), p.elementwise.end(), [&](const ElementwiseRow& r) {
      return r.kernel == kernel;
    })) << kernel;
}

TEST(KernelCost, MeasuredShapesAreTimedAtTheirMeasuredRateOnTheGpuTheyWereMeasuredOn) {
  const KernelProfile p = measured_h200();
  KernelCostModel model(p, h200(), h200());
  for (const auto& [dtype, m, n, k] :
       {std::tuple{DataType::fp8, 4096, 7168, 2048}, std::tuple{DataType::bf16, 4096, 129280, 7168},
        std::tuple{DataType::bf16, 128, 4096, 4096}}) {
    const std::string name = dtype == DataType::fp8 ? "fp8" : "bf16";
    const auto row = std::find_if(p.gemm.begin(), p.gemm.end(), [&](const GemmRow& r) {
      return r.kernel == "gemm" && r.dtype == name && r.m == m && r.n == n && r.k == k;
    });
    ASSERT_NE(row, p.gemm.end()) << name << " " << m << "x" << n << "x" << k;
    Op op = gemm_op(m, n, k, dtype);
    const OpCost cost = model.compute_op(op);
    EXPECT_EQ(cost.source, CostSource::profile) << name;  // BF16 has rows of its own: nothing borrowed from FP8
    EXPECT_NEAR(op.flops / cost.seconds / row->flop_per_s, 1.0, 1e-9) << name << " " << m << "x" << n << "x" << k;
  }
}

TEST(KernelProfile, AnExtendingProfileAddsRowsAndReplacesThoseWithTheSameKey) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("fleetsim-profile-layers-" + std::to_string(::getpid()));
  fs::create_directories(root / "base");
  fs::create_directories(root / "top");
  const std::string header = "kernel,dtype,groups,m,n,k,time_us,tflops,power_w\n";
  std::ofstream(root / "base" / "gemm.csv") << header << "gemm,fp8,1,4096,7168,2048,,1025,\n"
                                            << "gemm,bf16,1,4096,7168,2048,,500,\n";
  std::ofstream(root / "base" / "elementwise.csv") << "kernel,dtype,rows,cols,bytes,time_us,gbps,power_w\n"
                                                   << "rmsnorm,bf16,4096,7168,1e8,,3000,\n";
  std::ofstream(root / "top" / "gemm.csv") << header << "gemm,bf16,1,4096,7168,2048,,650,\n"
                                           << "gemm,bf16,1,128,7168,2048,,340,\n";
  const KernelProfile p =
      load_kernel_profile("layers", std::vector<std::string>{(root / "base").string(), (root / "top").string()});
  fs::remove_all(root);
  ASSERT_EQ(p.gemm.size(), 3u);  // base FP8 kept, base BF16 at M = 4096 replaced, a new BF16 row added
  EXPECT_EQ(p.gemm[0].dtype, "fp8");
  EXPECT_DOUBLE_EQ(p.gemm[0].flop_per_s, 1025e12);
  EXPECT_EQ(p.gemm[1].m, 4096);
  EXPECT_DOUBLE_EQ(p.gemm[1].flop_per_s, 650e12);
  EXPECT_EQ(p.gemm[2].m, 128);
  ASSERT_EQ(p.elementwise.size(), 1u);  // a table the top layer lacks comes from the base
  EXPECT_DOUBLE_EQ(p.elementwise[0].bytes_per_s, 3000e9);
}

// profiles/hopper-production: h800-published plus the BF16 rows of h200-measured, copied by its make_tables.sh.
TEST(KernelCost, HopperProductionTimesBf16GemmsAtCublasLtsMeasuredRates) {
  const std::string root = std::string(FLEETSIM_SOURCE_ROOT) + "/profiles/";
  const KernelProfile own = load_kernel_profile("hopper-production", root + "hopper-production");
  std::vector<GemmRow> measured_bf16;
  for (const auto& r : measured_h200().gemm)
    if (r.dtype == "bf16") measured_bf16.push_back(r);
  ASSERT_EQ(own.gemm.size(), measured_bf16.size()) << "re-run profiles/hopper-production/make_tables.sh";
  for (std::size_t i = 0; i < own.gemm.size(); ++i) {
    EXPECT_EQ(std::tie(own.gemm[i].kernel, own.gemm[i].m, own.gemm[i].n, own.gemm[i].k),
              std::tie(measured_bf16[i].kernel, measured_bf16[i].m, measured_bf16[i].n, measured_bf16[i].k));
    EXPECT_DOUBLE_EQ(own.gemm[i].flop_per_s, measured_bf16[i].flop_per_s);
  }
  const KernelProfile layered = load_kernel_profile(
      "hopper-production", std::vector<std::string>{root + "h800-published", root + "hopper-production"});
  EXPECT_EQ(layered.gemm.size(), published().gemm.size() + own.gemm.size());  // no key in common
  EXPECT_EQ(layered.attention.size(), published().attention.size());
  // A BF16 GEMM now has rows of its own (H800 peaks: the same BF16 peak as the H200 it was measured on) ...
  KernelCostModel model(layered, h800(), h800());
  Op head = gemm_op(4096, 129280, 7168, DataType::bf16);
  const OpCost cost = model.compute_op(head);
  EXPECT_EQ(cost.source, CostSource::profile);
  const auto row = std::find_if(own.gemm.begin(), own.gemm.end(),
                                [](const GemmRow& r) { return r.m == 4096 && r.n == 129280 && r.k == 7168; });
  ASSERT_NE(row, own.gemm.end());
  EXPECT_NEAR(head.flops / cost.seconds / row->flop_per_s, 1.0, 1e-9);
  // ... and FP8 GEMMs keep DeepGEMM's published rates.
  Op fp8 = gemm_op(4096, 7168, 2048);
  EXPECT_NEAR(fp8.flops / model.compute_op(fp8).seconds, 1025e12, 1e9);
}

TEST(CommModel, RemoteNodesPerTokenFollowNodeLimitedRouting) {
  // The routing the all-to-all is timed from (collective::moe_traffic). 8 nodes, one expert group each; a token
  // uses 4 groups and picks 8 experts among 4 candidate nodes: 4 * (1 - (3/4)^8) distinct nodes, of which 7/8 are
  // remote.
  const MoeSpec& moe = test::deepseek_v3().moe;
  EXPECT_NEAR(collective::moe_traffic(moe, 64, 8).remote_nodes, 4.0 * (1.0 - std::pow(0.75, 8)) * 7.0 / 8.0, 1e-12);
  EXPECT_EQ(collective::moe_traffic(moe, 8, 8).remote_nodes, 0.0);
}

TEST(CommModel, TensorParallelCollectivesRingOverNvlinkInsideANodeElseTheNic) {
  // A ring all-gather or reduce-scatter moves (tp-1)/tp of the gathered buffer per GPU: over NVLink at 160 of the
  // H800's 200 GB/s per direction (V3 §3.2.2) inside a node, over the NIC at 40 of 50 GB/s across nodes.
  ParallelPlan plan;
  plan.tp = 8;
  auto profile = published();
  ClusterSpec cluster = h800_cluster();
  cluster.gpu.nvlink_bandwidth_bytes_per_s = 400e9;
  Op gather;
  gather.kind = OpKind::tensor_parallel;
  gather.comm_bytes = 4096.0 * 7168 * 2;
  CommModel in_node(cluster, test::deepseek_v3(), plan, profile);
  EXPECT_NEAR(in_node.tensor_parallel_seconds(gather), gather.comm_bytes * 7.0 / 8.0 / 160e9, 1e-15);
  plan.tp = 16;
  CommModel across(cluster, test::deepseek_v3(), plan, profile);
  EXPECT_NEAR(across.tensor_parallel_seconds(gather), gather.comm_bytes * 15.0 / 16.0 / 40e9, 1e-15);
  plan.tp = 1;
  CommModel none(cluster, test::deepseek_v3(), plan, profile);
  EXPECT_EQ(none.tensor_parallel_seconds(gather), 0.0);
}

TEST(CommModel, ContextParallelRingUsesNvlinkWhenTpTimesCpFitsANode) {
  ParallelPlan plan;
  plan.tp = 4;
  plan.cp = 2;
  auto profile = published();
  ClusterSpec cluster = h800_cluster();
  cluster.gpu.nvlink_bandwidth_bytes_per_s = 400e9;
  Op core;
  core.kind = OpKind::attention;
  core.comm_bytes = 64e6;
  EXPECT_NEAR(CommModel(cluster, test::deepseek_v3(), plan, profile).context_parallel_seconds(core), 64e6 / 160e9,
              1e-15);
  plan.cp = 4;  // 16 GPUs: the ring leaves the node
  EXPECT_NEAR(CommModel(cluster, test::deepseek_v3(), plan, profile).context_parallel_seconds(core), 64e6 / 40e9,
              1e-15);
  plan.cp = 1;
  EXPECT_EQ(CommModel(cluster, test::deepseek_v3(), plan, profile).context_parallel_seconds(core), 0.0);
}

TEST(CommModel, DispatchTimeIsDeepEpsCountedCopiesOverItsPublishedBandwidth) {
  // DeepEP's RDMA figure counts a token once per distinct node of its experts, the sender's own included
  // (tests/test_internode.py: num_rdma_token_sent): at EP 64 on 8 nodes with 4 node groups per token, 3.60 nodes.
  ParallelPlan plan;
  plan.ep = 64;
  auto profile = published();
  CommModel comm(h800_cluster(), test::deepseek_v3(), plan, profile);
  Op dispatch;
  dispatch.name = "L3.moe.dispatch.fwd";
  dispatch.kind = OpKind::all_to_all;
  const double tokens = 4096, copies = 8.0 * 63.0 / 64.0;
  dispatch.comm_bytes = tokens * copies * 7168.0;  // FP8 payload
  const double counted = tokens * 4.0 * (1.0 - std::pow(0.75, 8)) * 7168.0;
  EXPECT_NEAR(comm.moe_all_to_all_seconds(dispatch), counted / 51e9, 1e-12);  // DeepEP EP64 dispatch 51 GB/s
  dispatch.name = "L3.moe.combine.fwd";
  EXPECT_NEAR(comm.moe_all_to_all_seconds(dispatch), counted / 50e9, 1e-12);  // combine 50 GB/s
  // Inside one node the NVL figure counts a token once per distinct GPU of its experts, its own included: with
  // DeepSeek-V3's 4 groups of 8 a token picks 8 experts among 4 of the 8 GPUs, 3.60 distinct GPUs.
  plan.ep = 8;
  CommModel intranode(h800_cluster(), test::deepseek_v3(), plan, profile);
  dispatch.name = "L3.moe.dispatch.fwd";
  dispatch.comm_bytes = tokens * 8.0 * 7.0 / 8.0 * 7168.0;
  EXPECT_NEAR(intranode.moe_all_to_all_seconds(dispatch), counted / 153e9, 1e-12);  // DeepEP EP8 dispatch 153 GB/s
}

TEST(CommModel, APlainAllToAllSendsEveryExpertCopyOverTheNicOrNvlink) {
  // MoeDispatcher::all_to_all (Megatron-Core's AlltoAll dispatcher): no per-node deduplication. At EP 64 on 8 nodes,
  // 56 of a copy's 63 other destinations are behind the NIC (40 GB/s achievable), 7 share the node (NVLink, 160 GB/s
  // achievable on the H800): the NIC's share sets the time. Dispatch and combine alike, whatever the profile says.
  ParallelPlan plan;
  plan.ep = 64;
  auto profile = published();
  CommModel comm(h800_cluster(), test::deepseek_v3(), plan, profile, nullptr, MoeDispatcher::all_to_all);
  Op dispatch;
  dispatch.name = "L3.moe.dispatch.fwd";
  dispatch.kind = OpKind::all_to_all;
  dispatch.comm_bytes = 4096.0 * 8.0 * 63.0 / 64.0 * 7168.0 * 2.0;  // BF16 copies leaving the GPU
  EXPECT_NEAR(comm.moe_all_to_all_seconds(dispatch), dispatch.comm_bytes * 56.0 / 63.0 / 40e9, 1e-12);
  dispatch.name = "L3.moe.combine.fwd";
  EXPECT_NEAR(comm.moe_all_to_all_seconds(dispatch), dispatch.comm_bytes * 56.0 / 63.0 / 40e9, 1e-12);
  // 2.4 times DeepEP's time for the same bytes: 7.0 copies per token cross the NIC instead of the 3.6 node copies
  // DeepEP's figure counts, at 40 GB/s instead of its measured 50.
  const double deepep = CommModel(h800_cluster(), test::deepseek_v3(), plan, profile).moe_all_to_all_seconds(dispatch);
  EXPECT_GT(comm.moe_all_to_all_seconds(dispatch), 2.0 * deepep);
  // Inside one node it is NVLink's: 7 of 7 others.
  plan.ep = 8;
  CommModel intranode(h800_cluster(), test::deepseek_v3(), plan, profile, nullptr, MoeDispatcher::all_to_all);
  dispatch.comm_bytes = 4096.0 * 8.0 * 7.0 / 8.0 * 7168.0 * 2.0;
  EXPECT_NEAR(intranode.moe_all_to_all_seconds(dispatch), dispatch.comm_bytes / 160e9, 1e-12);
}

TEST(CommModel, RingCollectivesMoveAllButOneShardOverTheNic) {
  ParallelPlan plan;
  auto profile = published();
  CommModel comm(h800_cluster(), test::deepseek_v3(), plan, profile);
  // 40 GB/s achievable of a 50 GB/s port (V3 §3.2.2).
  EXPECT_NEAR(comm.ring_shard_collective_seconds(1e9, 128), 127.0 / 128.0 * 1e9 / 40e9, 1e-15);
  EXPECT_EQ(comm.ring_shard_collective_seconds(1e9, 1), 0.0);
}

}  // namespace
}  // namespace fleetsim
