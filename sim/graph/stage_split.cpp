// Splitting the model over pipeline stages.
//
// The rule: every stage holds at least one transformer layer, except that the first may hold only the embedding and the
// last only the LM head and MTP modules where that lightens the heaviest stage (or there are more stages than layers);
// the embedding goes on the first stage, the LM head and the MTP modules on the last. Each part is weighed by its
// forward FLOPs per token (2 x activated parameters plus the attention core at the given context; the backward is 2x
// the forward for every part, so the ratio holds for training too). The embedding lookup weighs nothing. For every
// possible layer count n of the last stage, the other layers are spread as evenly as whole layers allow over the first
// pp-1 stages (the earlier stages take the one extra layer), and the n with the lightest heaviest stage wins (ties: the
// heaviest stage repeated least, then the larger n). For DeepSeek-V3 at pp = 16 the head weighs 1.4 layers and the MTP
// module 2.5 (at 4K context), so stages 0-14 get 4 layers each and stage 15 gets layer 60, the head and the MTP module,
// 4.9 layer-equivalents.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "graph/blocks.hpp"

namespace fleetsim {
namespace {

// V3 §4.2: pre-training runs at 4,096 tokens, the context the 2-argument split weighs attention at.
constexpr std::int64_t kDefaultSplitSeqLen = 4096;

}  // namespace

std::vector<StageSlice> split_into_stages(const ModelSpec& model, std::int64_t pp) {
  return split_into_stages(model, pp, kDefaultSplitSeqLen);
}

std::vector<StageSlice> stages_of_split(const ModelSpec& model, const std::vector<std::int64_t>& layers) {
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i] < 0 || (layers[i] == 0 && i != 0 && i + 1 != layers.size()))
      throw std::invalid_argument("stages_of_split: stage " + std::to_string(i) + " holds " +
                                  std::to_string(layers[i]) + " layers (only the first or last may hold none)");
    sum += layers[i];
  }
  if (layers.empty() || sum != model.layers)
    throw std::invalid_argument("stages_of_split: the stages hold " + std::to_string(sum) + " layers, the model " +
                                std::to_string(model.layers));
  std::vector<StageSlice> slices(layers.size());
  int next = 0;
  for (std::size_t s = 0; s < layers.size(); ++s) {
    slices[s].first_layer = next;
    next += static_cast<int>(layers[s]);
    slices[s].last_layer = next;
  }
  slices.front().has_embedding = true;
  slices.back().has_head = true;
  slices.back().has_mtp = model.mtp_depth > 0;
  return slices;
}

std::vector<StageSlice> split_into_stages(const ModelSpec& model, std::int64_t pp, std::int64_t seq_len) {
  using namespace graph_detail;
  if (pp <= 0) throw std::invalid_argument("split_into_stages: pp must be positive, got " + std::to_string(pp));
  if (seq_len <= 0) throw std::invalid_argument("split_into_stages: seq_len must be positive");

  const auto layers = static_cast<std::size_t>(model.layers);
  std::vector<double> layer_load(layers);
  for (std::size_t layer = 0; layer < layers; ++layer) {
    const auto index = static_cast<std::int64_t>(layer);
    layer_load[layer] =
        2.0 * layer_parameters(model, index, true) + layer_core_flops_per_token(model, index, seq_len);
  }
  const double tail_load = 2.0 * head_matmul_parameters(model) + mtp_forward_flops_per_token(model, seq_len);

  // Layer counts of every stage when the last one holds `last` layers and the first holds none (only the
  // embedding) or its share; the stages between take the rest as evenly as whole layers allow, the earlier ones the
  // one extra layer. Empty when some stage between would get no layer.
  const auto stages = static_cast<std::size_t>(pp);
  auto counts_for = [&](bool embedding_only_first, std::size_t last) {
    std::vector<std::size_t> counts(stages, 0);
    if (last > layers) return std::vector<std::size_t>{};
    counts.back() = last;
    if (stages == 1) return last == layers ? counts : std::vector<std::size_t>{};
    const std::size_t first = embedding_only_first ? 1 : 0;
    const std::size_t rest = layers - last, others = stages - 1 - first;
    if (others == 0) return rest == 0 ? counts : std::vector<std::size_t>{};
    if (rest < others) return std::vector<std::size_t>{};
    for (std::size_t s = 0; s < others; ++s) counts[first + s] = rest / others + (s < rest % others ? 1 : 0);
    return counts;
  };
  struct Score {
    double heaviest = 0;
    int ties = 0;
  };
  auto score_of = [&](const std::vector<std::size_t>& counts) {
    std::vector<double> loads(stages, 0);
    std::size_t layer = 0;
    for (std::size_t s = 0; s < stages; ++s)
      for (std::size_t i = 0; i < counts[s]; ++i) loads[s] += layer_load[layer++];
    loads.back() += tail_load;
    Score score;
    score.heaviest = *std::max_element(loads.begin(), loads.end());
    for (double load : loads)
      if (load >= score.heaviest * (1 - 1e-12)) ++score.ties;
    return score;
  };

  // Every stage with a layer of its own first; ties go to the heaviest stage repeated least, then the larger n.
  std::vector<std::size_t> best;
  Score best_score;
  for (std::size_t last = 1; last <= layers; ++last) {
    auto counts = counts_for(false, last);
    if (counts.empty()) continue;
    Score score = score_of(counts);
    const bool better = best.empty() || score.heaviest < best_score.heaviest * (1 - 1e-12) ||
                        (score.heaviest <= best_score.heaviest * (1 + 1e-12) && score.ties <= best_score.ties);
    if (better) {
      best = std::move(counts);
      best_score = score;
    }
  }
  // Then a first stage with only the embedding and/or a last one with only the head and MTP, as Llama 3 balances
  // its pipeline (L3 2407.21783 §3.3.2: "the first model chunk on the first stage has only the embedding, and the
  // last model chunk on the last stage has only output projection and loss calculation"): only where that makes
  // the heaviest stage strictly lighter, or where there are more stages than layers.
  if (stages > 1)
    for (const bool embedding_only_first : {false, true})
      for (std::size_t last = 0; last <= layers; ++last) {
        if (!embedding_only_first && last > 0) break;
        auto counts = counts_for(embedding_only_first, last);
        if (counts.empty()) continue;
        Score score = score_of(counts);
        if (best.empty() || score.heaviest < best_score.heaviest * (1 - 1e-12)) {
          best = std::move(counts);
          best_score = score;
        }
      }
  if (best.empty())
    throw std::invalid_argument("split_into_stages: " + std::to_string(pp) + " stages for the model's " +
                                std::to_string(model.layers) +
                                " layers (at most layers + 2: one stage may hold only the embedding, one only the "
                                "head)");

  return stages_of_split(model, std::vector<std::int64_t>(best.begin(), best.end()));
}

}  // namespace fleetsim
