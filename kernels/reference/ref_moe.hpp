// CPU references for the MoE pieces that run on one GPU: the router (DeepSeek-V3's Gate), token permute (the
// on-GPU half of dispatch: gather each token's copies into per-expert contiguous rows) and unpermute (the
// on-GPU half of combine: weighted sum of a token's expert outputs). Plain C++17, no CUDA.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fleetsim::kernels::ref {

// DeepSeek-V3 config_671B.json: 256 routed experts, 8 groups, 4 groups per token, top-8, route scale 2.5.
struct RouterConfig {
  int experts = 256;
  int groups = 8;
  int topk_groups = 4;
  int topk = 8;
  float route_scale = 2.5f;
};

// As inference/model.py's Gate.forward with score_func "sigmoid" and a correction bias:
//   s = sigmoid(logits); b = s + bias; group score = sum of the top-2 of b in the group;
//   keep the topk_groups best groups; pick the topk best b among their experts (in descending order of b,
//   ties to the lower expert index); weight = s[picked] / sum(s[picked]) * route_scale.
// logits: tokens x experts (the gate GEMM's output), bias: experts. Outputs tokens x topk.
void router(const float* logits, const float* bias, int tokens, const RouterConfig& cfg, int* topk_idx,
            float* topk_weight);

// Checks one token's picks (topk expert ids, as a GPU returned them) against the rule, allowing near-ties: the
// picks must be distinct, come from at most topk_groups groups whose group scores are each >= every other group's
// score - tol, be in descending order of biased score (within tol), and no unpicked expert of a kept group (one the
// picks use, or one certainly among the best topk_groups) may beat the weakest pick by more than tol. Returns "" when valid, else the reason. (A GPU's exp may differ from the
// CPU's in the last bits, so exact ties of the rule can break either way.)
std::string validate_router_picks(const float* logits_row, const float* bias, const RouterConfig& cfg, const int* picks,
                                  float tol);

// Where each (token, k) copy goes in the permuted buffer. Experts' segments are laid out in expert order; each
// segment is padded to a multiple of `align` rows (1: packed; 128: the contiguous grouped GEMM's layout, whose
// padding rows have m_indices = -1).
struct PermuteLayout {
  int experts = 0, align = 1, rows = 0;   // rows: total rows of the permuted buffer, padding included
  std::vector<int> expert_begin;          // experts + 1 offsets (the last one equals rows)
  std::vector<int> expert_count;          // copies routed to each expert (padding not counted)
  std::vector<int> dest_row;              // tokens * topk: row of copy (t, k)
  std::vector<int> m_indices;             // rows: expert of the row, -1 for padding
};

// The canonical (stable) layout: inside an expert's segment copies are ordered by token, then k.
PermuteLayout permute_layout(const int* topk_idx, int tokens, int topk, int experts, int align);

// x: tokens x hidden (BF16 bits) -> out: layout.rows x hidden; padding rows are not written.
void permute(const std::uint16_t* x, int tokens, int hidden, int topk, const PermuteLayout& layout, std::uint16_t* out);

// y: layout.rows x hidden (BF16 bits); out[t] = sum_k weight[t][k] * y[dest_row(t, k)], in float.
void unpermute(const std::uint16_t* y, const float* weight, int tokens, int hidden, int topk, const PermuteLayout& layout,
               float* out);

// Checks a layout a GPU produced (whose order inside a segment may differ from the canonical one, since the
// GPU assigns slots with atomics): segment sizes and offsets must match the canonical layout, every copy's row
// must lie in its expert's segment, and no two copies may share a row. Returns "" when valid, else the reason.
std::string validate_layout(const int* topk_idx, int tokens, int topk, int experts, int align,
                            const std::vector<int>& expert_begin, const std::vector<int>& dest_row);

}  // namespace fleetsim::kernels::ref
