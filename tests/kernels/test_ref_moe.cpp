// MoE references: router group limit on a constructed score matrix, permute layout, unpermute closed form.
#include <cmath>

#include "common/harness.hpp"
#include "common/numeric.hpp"
#include "reference/ref_moe.hpp"

using namespace fleetsim::kernels;

namespace {
float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
}  // namespace

KTEST(moe, router_respects_the_group_limit) {
  // One token. Background logits -5. Group 4 holds the single best expert (128: 4.5) but its second-best is
  // -5, so its top-2 sum (0.996) loses to groups 0-3 (each with two high experts); the top-8 must come from
  // groups 0-3 only, even though expert 128 would be the global first.
  std::vector<float> logits(256, -5.0f), bias(256, 0.0f);
  logits[0] = 4.0f; logits[1] = 3.9f; logits[2] = 3.8f;
  logits[32] = 3.0f; logits[33] = 2.9f;
  logits[64] = 2.5f; logits[65] = 2.4f;
  logits[96] = 2.0f; logits[97] = 1.9f;
  logits[128] = 4.5f;
  int idx[8];
  float w[8];
  ref::router(logits.data(), bias.data(), 1, ref::RouterConfig{}, idx, w);
  const int want[8] = {0, 1, 2, 32, 33, 64, 65, 96};
  for (int k = 0; k < 8; ++k) KCHECK(idx[k] == want[k]);
  float sum = 0;
  for (int e : want) sum += sigmoid(logits[e]);
  for (int k = 0; k < 8; ++k) KCHECK_NEAR(w[k], sigmoid(logits[want[k]]) / sum * 2.5f, 1e-6);
  float total = 0;
  for (float v : w) total += v;
  KCHECK_NEAR(total, 2.5, 1e-5);  // normalised, times the route scale
}

KTEST(moe, router_bias_selects_but_does_not_weight) {
  // The bias lifts experts 10 and 11 (group 0): it picks their group and them first, while their weights use the
  // unbiased scores.
  std::vector<float> logits(256, 0.0f), bias(256, 0.0f);
  for (int e = 0; e < 256; ++e) logits[e] = 0.001f * e;  // distinct, increasing: groups 4..7 win without bias
  bias[10] = 1.0f;  // group 0 via expert 10
  bias[11] = 1.0f;
  int idx[8];
  float w[8];
  ref::router(logits.data(), bias.data(), 1, ref::RouterConfig{}, idx, w);
  KCHECK(idx[0] == 11 && idx[1] == 10);  // biased scores ~1.5 lead
  // Kept groups: 0 (biased) and the three best unbiased groups 5, 6, 7; the rest of the top-8 from group 7 down.
  for (int k = 2; k < 8; ++k) KCHECK(idx[k] == 255 - (k - 2));
  float sum = 0;
  for (int k = 0; k < 8; ++k) sum += sigmoid(logits[idx[k]]);
  KCHECK_NEAR(w[0], sigmoid(logits[11]) / sum * 2.5f, 1e-6);
}

KTEST(moe, permute_layout_known_example) {
  const int topk_idx[] = {0, 2, 2, 1, 0, 1};  // 3 tokens, top-2, 3 experts
  const auto packed = ref::permute_layout(topk_idx, 3, 2, 3, 1);
  KCHECK((packed.expert_begin == std::vector<int>{0, 2, 4, 6}));
  KCHECK((packed.dest_row == std::vector<int>{0, 4, 5, 2, 1, 3}));
  KCHECK((packed.m_indices == std::vector<int>{0, 0, 1, 1, 2, 2}));
  const auto aligned = ref::permute_layout(topk_idx, 3, 2, 3, 4);
  KCHECK((aligned.expert_begin == std::vector<int>{0, 4, 8, 12}));
  KCHECK((aligned.dest_row == std::vector<int>{0, 8, 9, 4, 1, 5}));
  KCHECK((aligned.m_indices == std::vector<int>{0, 0, -1, -1, 1, 1, -1, -1, 2, 2, -1, -1}));
}

KTEST(moe, unpermute_of_permute_with_unit_weights_is_identity) {
  const int tokens = 6, hidden = 16, topk = 3, experts = 4;
  const int topk_idx[] = {0, 1, 2, 1, 2, 3, 3, 0, 1, 2, 0, 3, 0, 1, 3, 2, 1, 0};
  std::vector<std::uint16_t> x(tokens * hidden);
  Rng rng(9);
  for (auto& v : x) v = float_to_bf16(rng.normal());
  const auto layout = ref::permute_layout(topk_idx, tokens, topk, experts, 8);
  std::vector<std::uint16_t> permuted(static_cast<std::size_t>(layout.rows) * hidden, 0);
  ref::permute(x.data(), tokens, hidden, topk, layout, permuted.data());
  std::vector<float> w(tokens * topk, 1.0f / topk), out(tokens * hidden);
  ref::unpermute(permuted.data(), w.data(), tokens, hidden, topk, layout, out.data());
  std::vector<float> xf(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xf[i] = bf16_to_float(x[i]);
  KCHECK(relative_error(out, xf) < 1e-6);
}

KTEST(moe, validate_layout_accepts_reorders_and_rejects_errors) {
  const int topk_idx[] = {0, 2, 2, 1, 0, 1};
  const auto canon = ref::permute_layout(topk_idx, 3, 2, 3, 1);
  KCHECK(ref::validate_layout(topk_idx, 3, 2, 3, 1, canon.expert_begin, canon.dest_row).empty());
  std::vector<int> swapped = canon.dest_row;  // the two copies of expert 0 (rows 0 and 1) exchanged
  std::swap(swapped[0], swapped[4]);
  KCHECK(ref::validate_layout(topk_idx, 3, 2, 3, 1, canon.expert_begin, swapped).empty());
  std::vector<int> outside = canon.dest_row;
  outside[0] = 2;  // expert 0's copy in expert 1's segment
  KCHECK(!ref::validate_layout(topk_idx, 3, 2, 3, 1, canon.expert_begin, outside).empty());
  std::vector<int> twice = canon.dest_row;
  twice[4] = twice[0];
  KCHECK(!ref::validate_layout(topk_idx, 3, 2, 3, 1, canon.expert_begin, twice).empty());
  std::vector<int> begin = canon.expert_begin;
  begin[1] = 3;
  KCHECK(!ref::validate_layout(topk_idx, 3, 2, 3, 1, begin, canon.dest_row).empty());
}

KTEST(moe, validate_router_picks_accepts_the_rule_and_rejects_violations) {
  std::vector<float> logits(256, -5.0f), bias(256, 0.0f);
  logits[0] = 4.0f; logits[1] = 3.9f; logits[2] = 3.8f;
  logits[32] = 3.0f; logits[33] = 2.9f;
  logits[64] = 2.5f; logits[65] = 2.4f;
  logits[96] = 2.0f; logits[97] = 1.9f;
  logits[128] = 4.5f;
  const ref::RouterConfig cfg;
  const int good[8] = {0, 1, 2, 32, 33, 64, 65, 96};
  KCHECK(ref::validate_router_picks(logits.data(), bias.data(), cfg, good, 1e-5f).empty());
  const int excluded_group[8] = {128, 0, 1, 2, 32, 33, 64, 65};  // group 4 is not among the best 4
  KCHECK(!ref::validate_router_picks(logits.data(), bias.data(), cfg, excluded_group, 1e-5f).empty());
  const int unordered[8] = {1, 0, 2, 32, 33, 64, 65, 96};
  KCHECK(!ref::validate_router_picks(logits.data(), bias.data(), cfg, unordered, 1e-5f).empty());
  const int twice[8] = {0, 0, 2, 32, 33, 64, 65, 96};
  KCHECK(!ref::validate_router_picks(logits.data(), bias.data(), cfg, twice, 1e-5f).empty());
  const int missed[8] = {0, 1, 2, 32, 33, 64, 65, 5};  // expert 97 (kept group 3) beats expert 5
  KCHECK(!ref::validate_router_picks(logits.data(), bias.data(), cfg, missed, 1e-5f).empty());
  // A near-tie: experts 96 and 97 made equal up to 1e-7: either may be eighth.
  logits[97] = logits[96];
  const int tie[8] = {0, 1, 2, 32, 33, 64, 65, 97};
  KCHECK(ref::validate_router_picks(logits.data(), bias.data(), cfg, tie, 1e-5f).empty());
  // The reference's own picks on random tokens always validate.
  Rng rng(21);
  for (int t = 0; t < 200; ++t) {
    std::vector<float> l(256), bb(256);
    for (auto& v : l) v = rng.normal() * 2.0f;
    for (auto& v : bb) v = rng.normal() * 0.1f;
    int idx[8];
    float w[8];
    ref::router(l.data(), bb.data(), 1, cfg, idx, w);
    KCHECK(ref::validate_router_picks(l.data(), bb.data(), cfg, idx, 1e-5f).empty());
  }
}
