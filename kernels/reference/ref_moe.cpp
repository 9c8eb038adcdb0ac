#include "reference/ref_moe.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <string>

#include "common/numeric.hpp"

namespace fleetsim::kernels::ref {

void router(const float* logits, const float* bias, int tokens, const RouterConfig& cfg, int* topk_idx,
            float* topk_weight) {
  const int per_group = cfg.experts / cfg.groups;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::vector<float> s(static_cast<std::size_t>(cfg.experts)), b(s.size());
  std::vector<float> group_score(static_cast<std::size_t>(cfg.groups));
  std::vector<char> group_kept(static_cast<std::size_t>(cfg.groups));
  for (int t = 0; t < tokens; ++t) {
    for (int e = 0; e < cfg.experts; ++e) {
      const float x = logits[static_cast<std::size_t>(t) * cfg.experts + e];
      s[static_cast<std::size_t>(e)] = 1.0f / (1.0f + std::exp(-x));
      b[static_cast<std::size_t>(e)] = s[static_cast<std::size_t>(e)] + bias[e];
    }
    for (int g = 0; g < cfg.groups; ++g) {
      float first = neg_inf, second = neg_inf;
      for (int e = g * per_group; e < (g + 1) * per_group; ++e) {
        const float v = b[static_cast<std::size_t>(e)];
        if (v > first) { second = first; first = v; }
        else if (v > second) second = v;
      }
      group_score[static_cast<std::size_t>(g)] = first + second;
    }
    std::fill(group_kept.begin(), group_kept.end(), 0);
    for (int round = 0; round < cfg.topk_groups; ++round) {  // best group not yet kept; ties to the lower index
      int best = -1;
      for (int g = 0; g < cfg.groups; ++g)
        if (!group_kept[static_cast<std::size_t>(g)] &&
            (best < 0 || group_score[static_cast<std::size_t>(g)] > group_score[static_cast<std::size_t>(best)]))
          best = g;
      group_kept[static_cast<std::size_t>(best)] = 1;
    }
    std::vector<char> taken(static_cast<std::size_t>(cfg.experts), 0);
    float sum = 0.0f;
    for (int k = 0; k < cfg.topk; ++k) {
      int best = -1;
      for (int e = 0; e < cfg.experts; ++e) {
        if (taken[static_cast<std::size_t>(e)] || !group_kept[static_cast<std::size_t>(e / per_group)]) continue;
        if (best < 0 || b[static_cast<std::size_t>(e)] > b[static_cast<std::size_t>(best)]) best = e;
      }
      taken[static_cast<std::size_t>(best)] = 1;
      topk_idx[static_cast<std::size_t>(t) * cfg.topk + k] = best;
      topk_weight[static_cast<std::size_t>(t) * cfg.topk + k] = s[static_cast<std::size_t>(best)];
      sum += s[static_cast<std::size_t>(best)];
    }
    for (int k = 0; k < cfg.topk; ++k) topk_weight[static_cast<std::size_t>(t) * cfg.topk + k] *= cfg.route_scale / sum;
  }
}

std::string validate_router_picks(const float* logits_row, const float* bias, const RouterConfig& cfg, const int* picks,
                                  float tol) {
  const int per_group = cfg.experts / cfg.groups;
  std::vector<float> b(static_cast<std::size_t>(cfg.experts));
  for (int e = 0; e < cfg.experts; ++e) b[static_cast<std::size_t>(e)] = 1.0f / (1.0f + std::exp(-logits_row[e])) + bias[e];
  std::vector<float> group_score(static_cast<std::size_t>(cfg.groups));
  for (int g = 0; g < cfg.groups; ++g) {
    std::vector<float> v(b.begin() + g * per_group, b.begin() + (g + 1) * per_group);
    std::partial_sort(v.begin(), v.begin() + 2, v.end(), std::greater<float>());
    group_score[static_cast<std::size_t>(g)] = v[0] + v[1];
  }
  std::vector<char> picked(static_cast<std::size_t>(cfg.experts), 0), kept(static_cast<std::size_t>(cfg.groups), 0);
  for (int k = 0; k < cfg.topk; ++k) {
    const int e = picks[k];
    if (e < 0 || e >= cfg.experts) return "pick " + std::to_string(k) + " is not an expert id: " + std::to_string(e);
    if (picked[static_cast<std::size_t>(e)]++) return "expert " + std::to_string(e) + " picked twice";
    kept[static_cast<std::size_t>(e / per_group)] = 1;
    if (k > 0 && b[static_cast<std::size_t>(e)] > b[static_cast<std::size_t>(picks[k - 1])] + tol)
      return "picks are not in descending order at " + std::to_string(k);
  }
  int kept_groups = 0;
  for (char c : kept) kept_groups += c;
  if (kept_groups > cfg.topk_groups) return std::to_string(kept_groups) + " groups used, limit " + std::to_string(cfg.topk_groups);
  // The groups used must be among the best topk_groups (within tol): at most topk_groups - 1 groups may beat the
  // weakest used group by more than tol.
  for (int g = 0; g < cfg.groups; ++g) {
    if (!kept[static_cast<std::size_t>(g)]) continue;
    int better = 0;
    for (int h = 0; h < cfg.groups; ++h)
      if (group_score[static_cast<std::size_t>(h)] > group_score[static_cast<std::size_t>(g)] + tol) ++better;
    if (better >= cfg.topk_groups) return "group " + std::to_string(g) + " is not among the best " + std::to_string(cfg.topk_groups);
  }
  // No unpicked expert of a kept group beats the weakest pick by more than tol. Kept groups: those used by the
  // picks, and those certainly among the best topk_groups (fewer than topk_groups other groups within tol of it).
  std::vector<char> must_keep = kept;
  for (int g = 0; g < cfg.groups; ++g) {
    int rivals = 0;
    for (int h = 0; h < cfg.groups; ++h)
      if (h != g && group_score[static_cast<std::size_t>(h)] >= group_score[static_cast<std::size_t>(g)] - tol) ++rivals;
    if (rivals < cfg.topk_groups) must_keep[static_cast<std::size_t>(g)] = 1;
  }
  float weakest = b[static_cast<std::size_t>(picks[0])];
  for (int k = 1; k < cfg.topk; ++k) weakest = std::min(weakest, b[static_cast<std::size_t>(picks[k])]);
  for (int e = 0; e < cfg.experts; ++e)
    if (must_keep[static_cast<std::size_t>(e / per_group)] && !picked[static_cast<std::size_t>(e)] &&
        b[static_cast<std::size_t>(e)] > weakest + tol)
      return "expert " + std::to_string(e) + " beats a pick but was not picked";
  return "";
}

PermuteLayout permute_layout(const int* topk_idx, int tokens, int topk, int experts, int align) {
  PermuteLayout layout;
  layout.experts = experts;
  layout.align = align;
  layout.expert_count.assign(static_cast<std::size_t>(experts), 0);
  for (int i = 0; i < tokens * topk; ++i) ++layout.expert_count[static_cast<std::size_t>(topk_idx[i])];
  layout.expert_begin.assign(static_cast<std::size_t>(experts) + 1, 0);
  for (int e = 0; e < experts; ++e) {
    const int padded = (layout.expert_count[static_cast<std::size_t>(e)] + align - 1) / align * align;
    layout.expert_begin[static_cast<std::size_t>(e) + 1] = layout.expert_begin[static_cast<std::size_t>(e)] + padded;
  }
  layout.rows = layout.expert_begin[static_cast<std::size_t>(experts)];
  layout.m_indices.assign(static_cast<std::size_t>(layout.rows), -1);
  layout.dest_row.assign(static_cast<std::size_t>(tokens) * topk, -1);
  std::vector<int> next(layout.expert_begin.begin(), layout.expert_begin.end() - 1);
  for (int i = 0; i < tokens * topk; ++i) {  // token-major order: stable by (token, k)
    const int e = topk_idx[i];
    const int row = next[static_cast<std::size_t>(e)]++;
    layout.dest_row[static_cast<std::size_t>(i)] = row;
    layout.m_indices[static_cast<std::size_t>(row)] = e;
  }
  return layout;
}

void permute(const std::uint16_t* x, int tokens, int hidden, int topk, const PermuteLayout& layout, std::uint16_t* out) {
  for (int t = 0; t < tokens; ++t)
    for (int k = 0; k < topk; ++k) {
      const auto row = static_cast<std::size_t>(layout.dest_row[static_cast<std::size_t>(t) * topk + k]);
      std::copy(x + static_cast<std::size_t>(t) * hidden, x + static_cast<std::size_t>(t + 1) * hidden, out + row * hidden);
    }
}

void unpermute(const std::uint16_t* y, const float* weight, int tokens, int hidden, int topk, const PermuteLayout& layout,
               float* out) {
  for (int t = 0; t < tokens; ++t) {
    float* o = out + static_cast<std::size_t>(t) * hidden;
    std::fill(o, o + hidden, 0.0f);
    for (int k = 0; k < topk; ++k) {
      const auto row = static_cast<std::size_t>(layout.dest_row[static_cast<std::size_t>(t) * topk + k]);
      const float w = weight[static_cast<std::size_t>(t) * topk + k];
      for (int h = 0; h < hidden; ++h) o[h] += w * bf16_to_float(y[row * hidden + static_cast<std::size_t>(h)]);
    }
  }
}

std::string validate_layout(const int* topk_idx, int tokens, int topk, int experts, int align,
                            const std::vector<int>& expert_begin, const std::vector<int>& dest_row) {
  const PermuteLayout want = permute_layout(topk_idx, tokens, topk, experts, align);
  if (expert_begin.size() != want.expert_begin.size()) return "expert_begin has the wrong length";
  for (std::size_t e = 0; e < want.expert_begin.size(); ++e)
    if (expert_begin[e] != want.expert_begin[e])
      return "expert_begin[" + std::to_string(e) + "] = " + std::to_string(expert_begin[e]) + ", want " +
             std::to_string(want.expert_begin[e]);
  if (dest_row.size() != want.dest_row.size()) return "dest_row has the wrong length";
  std::vector<char> used(static_cast<std::size_t>(want.rows), 0);
  for (std::size_t i = 0; i < dest_row.size(); ++i) {
    const int e = topk_idx[i];
    const int row = dest_row[i];
    if (row < want.expert_begin[static_cast<std::size_t>(e)] ||
        row >= want.expert_begin[static_cast<std::size_t>(e)] + want.expert_count[static_cast<std::size_t>(e)])
      return "copy " + std::to_string(i) + " of expert " + std::to_string(e) + " is at row " + std::to_string(row) +
             ", outside its segment";
    if (used[static_cast<std::size_t>(row)]++) return "row " + std::to_string(row) + " is used twice";
  }
  return "";
}

}  // namespace fleetsim::kernels::ref
