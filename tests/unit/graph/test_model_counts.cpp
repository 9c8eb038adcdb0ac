// Closed-form model facts against published figures and hand-computed sums.
#include <gtest/gtest.h>

#include "graph/op_graph.hpp"
#include "test_models.hpp"

namespace fleetsim {
namespace {

constexpr double kHidden = 7168, kVocab = 129280;  // DeepSeek-V3 [config_671B.json]

// One MLA block: input norm, q_down, q_norm, q_up, kv_down, kv_norm, kv_up, o_proj [config_671B.json].
constexpr double kMlaParams = kHidden + kHidden * 1536 + 1536 + 1536 * 128 * 192 + kHidden * 576 + 512 +
                              512 * 128 * 256 + 128 * 128 * kHidden;
constexpr double kExpertParams = 3 * kHidden * 2048;  // gate, up, down of one expert

TEST(ModelCounts, DeepSeekV3ParametersMatchTheReport) {
  const ParameterCounts p = count_parameters(test::deepseek_v3());
  EXPECT_DOUBLE_EQ(kMlaParams, 187114496.0);
  // 61 MLA + 3 dense FFN + 58 MoE (256 + 1 experts, gate, selection bias, norm) + embedding + head + final norm.
  EXPECT_DOUBLE_EQ(p.total, 671026419200.0);
  EXPECT_NEAR(p.total, 671e9, 0.001 * 671e9);  // V3: 671B
  EXPECT_DOUBLE_EQ(p.activated, 37552297472.0);
  EXPECT_GT(p.activated, 37.4e9);  // V3: 37B activated
  EXPECT_LT(p.activated, 37.6e9);
  EXPECT_DOUBLE_EQ(p.embedding, kVocab * kHidden);
  EXPECT_DOUBLE_EQ(p.head, kVocab * kHidden + kHidden);
  // MTP: one MoE layer with all experts, eh_proj, three norms.
  EXPECT_DOUBLE_EQ(p.mtp, kMlaParams + kHidden + 256 * kHidden + 256 + 257 * kExpertParams + 2 * kHidden * kHidden +
                              3 * kHidden);
  EXPECT_NEAR(p.mtp, 11.61e9, 0.01e9);
  // With the copies of the embedding and head the checkpoint stores beside it, the report's "14B" (13.46B).
  EXPECT_NEAR(p.mtp + p.embedding + p.head, 13.46e9, 0.01e9);
  EXPECT_DOUBLE_EQ(p.mtp_activated, 688100608.0);
}

TEST(ModelCounts, DeepSeekV3TrainingFlopsPerTokenMatchIscaTable2) {
  const ModelSpec model = test::deepseek_v3();
  const double flops = training_flops_per_token(model, 4096);
  // 6 x (activated - embedding) + 3 x 61 layers x causal attention 2 x 128 heads x (192 + 128) x 4096 / 2.
  EXPECT_DOUBLE_EQ(flops, 6 * (37552297472.0 - kVocab * kHidden) + 3 * 61 * (2.0 * 128 * 320 * 4096 / 2));
  EXPECT_NEAR(flops, 250e9, 0.02 * 250e9);  // ISCA Table 2: 250 GFLOP per token at 4K
  // The MTP module: its activated parameters and the shared head's GEMM, 6x; its attention, 3x.
  EXPECT_DOUBLE_EQ(mtp_training_flops_per_token(model, 4096),
                   6 * (688100608.0 + kVocab * kHidden) + 3 * (2.0 * 128 * 320 * 4096 / 2));
  // Attention grows linearly with context: at 32K the attention part is 8x.
  const double attention_4k = flops - 6 * (37552297472.0 - kVocab * kHidden);
  EXPECT_NEAR(training_flops_per_token(model, 32768) - 6 * (37552297472.0 - kVocab * kHidden), 8 * attention_4k,
              1.0);
}

TEST(ModelCounts, DeepSeekV3KvCacheMatchesIscaTable1) {
  EXPECT_DOUBLE_EQ(kv_cache_bytes_per_token(test::deepseek_v3(), 2), 70272.0);  // (512 + 64) x 2 B x 61
}

TEST(ModelCounts, Llama405B) {
  const ModelSpec model = test::llama3_405b();
  const ParameterCounts p = count_parameters(model);
  const double attention = 16384.0 + 16384.0 * (128 + 16) * 128 + 128.0 * 128 * 16384;  // norm, q/k/v, o
  const double ffn = 16384.0 + 3 * 16384.0 * 53248;
  const double embedding = 128256.0 * 16384;
  EXPECT_DOUBLE_EQ(p.total, 126 * (attention + ffn) + 2 * embedding + 16384);
  EXPECT_NEAR(p.total, 405e9, 0.01 * 405e9);
  EXPECT_DOUBLE_EQ(p.activated, p.total);  // dense
  EXPECT_DOUBLE_EQ(p.mtp, 0.0);
  // 6N (non-embedding) + 3 x causal attention: 2 x 128 heads x (128 + 128) x 4096 / 2 per layer.
  EXPECT_DOUBLE_EQ(training_flops_per_token(model, 4096),
                   6 * (p.total - embedding) + 3 * 126 * (2.0 * 128 * 256 * 4096 / 2));
  EXPECT_DOUBLE_EQ(kv_cache_bytes_per_token(model, 2), 2.0 * 8 * 128 * 126 * 2);
}

TEST(ModelCounts, Gpt3WithAPlainGeluMlp) {
  // Two matrices per MLP (up, down), not SwiGLU's three: 12 h^2 per layer, the "175B" of Brown et al. Table 2.1.
  const ModelSpec model = test::gpt3_175b();
  const ParameterCounts p = count_parameters(model);
  const double h = 12288;
  const double attention = h + 4 * h * h;  // norm, q/k/v (96 heads each), o
  const double ffn = h + 2 * h * (4 * h);  // norm, up, down
  const double embedding = 50257.0 * h;    // tied with the head
  EXPECT_DOUBLE_EQ(p.total, 96 * (attention + ffn) + embedding + h);
  EXPECT_NEAR(p.total, 175e9, 0.005 * 175e9);
  // 6N (the non-embedding weights, and the head GEMM on the tied matrix) + 3 x causal attention at 2,048 tokens:
  // 2 x 96 heads x (128 + 128) x 2,048 / 2 per layer.
  EXPECT_DOUBLE_EQ(training_flops_per_token(model, 2048),
                   6 * (p.total - embedding + embedding) + 3 * 96 * (2.0 * 96 * 256 * 2048 / 2));
  // The same widths gated (SwiGLU) carry half as many MLP weights again.
  ModelSpec gated = model;
  gated.ffn.activation = FfnActivation::swiglu;
  EXPECT_DOUBLE_EQ(count_parameters(gated).total - p.total, 96 * h * (4 * h));
}

TEST(ModelCounts, TiedEmbeddingsCountTheMatrixOnceButTheHeadGemmStill) {
  ModelSpec model = test::llama3_405b();
  const ParameterCounts untied = count_parameters(model);
  const double untied_flops = training_flops_per_token(model, 4096);
  model.tied_embeddings = true;
  const ParameterCounts tied = count_parameters(model);
  EXPECT_DOUBLE_EQ(untied.total - tied.total, 128256.0 * 16384);
  EXPECT_DOUBLE_EQ(tied.head, 16384.0);  // the final norm only
  EXPECT_DOUBLE_EQ(training_flops_per_token(model, 4096), untied_flops);
}

}  // namespace
}  // namespace fleetsim
