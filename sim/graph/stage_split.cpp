// Splitting the model over pipeline stages.
//
// The rule: every stage holds at least one transformer layer, except that the first may hold only the embedding and the
// last only the LM head and MTP modules; the embedding goes on the first stage, the LM head and the MTP modules on the
// last. Each part is weighed by its forward FLOPs per token (2 x activated parameters plus the attention core at the
// given context; the backward is 2x the forward for every part, so the ratio holds for training too). The embedding
// lookup weighs nothing. What is balanced is the load of each pipeline DEVICE, the sum of the stages it computes
// (interleaved 1F1B: d, d + pp, ...; DualPipe: d and pp-1-d; DualPipeV: d and 2pp-1-d), since a device runs all of its
// stages for every micro-batch and the busiest device sets the pace. Starting from one layer on every stage between the
// ends, each remaining layer goes where it raises the heaviest device least, then to the lightest device, then to its
// lightest stage, then to the earliest stage: for identical layers this fills the devices evenly (water-filling), and
// within a device its stages. For DeepSeek-V3 at pp = 16 the head weighs 1.4 layers and the MTP module 2.5 (at 4K
// context), so stages 0-14 get 4 layers each and stage 15 gets layer 60, the head and the MTP module, 4.9
// layer-equivalents; under DualPipe (device d holds stages d and 15-d) the same split, device 0 at 8.9 against 8.
// Under DualPipeV (32 stages) the head and MTP stay alone on stage 31 and device 0's other stage takes one layer:
// device 0 at 4.9 layer-equivalents against 4 (one layer more on stage 0 would make it 5.9).
#include <algorithm>
#include <optional>
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
  if (pp <= 0) throw std::invalid_argument("split_into_stages: pp must be positive, got " + std::to_string(pp));
  std::vector<std::vector<std::int64_t>> one_stage_each(static_cast<std::size_t>(pp));
  for (std::int64_t d = 0; d < pp; ++d) one_stage_each[static_cast<std::size_t>(d)] = {d};
  return split_into_stages(model, pp, seq_len, one_stage_each);
}

std::vector<StageSlice> split_into_stages(const ModelSpec& model, std::int64_t stage_count, std::int64_t seq_len,
                                          const std::vector<std::vector<std::int64_t>>& device_stages) {
  using namespace graph_detail;
  if (stage_count <= 0)
    throw std::invalid_argument("split_into_stages: pp must be positive, got " + std::to_string(stage_count));
  if (seq_len <= 0) throw std::invalid_argument("split_into_stages: seq_len must be positive");
  const auto stages = static_cast<std::size_t>(stage_count);
  const auto layers = static_cast<std::size_t>(model.layers);
  for (const auto& held : device_stages)
    for (std::int64_t s : held)
      if (s < 0 || s >= stage_count)
        throw std::invalid_argument("split_into_stages: a device holds stage " + std::to_string(s) + " of " +
                                    std::to_string(stage_count));
  if (stages > layers + 2)
    throw std::invalid_argument("split_into_stages: " + std::to_string(stage_count) + " stages for the model's " +
                                std::to_string(model.layers) +
                                " layers (at most layers + 2: one stage may hold only the embedding, one only the "
                                "head)");

  std::vector<double> layer_load(layers);
  for (std::size_t layer = 0; layer < layers; ++layer) {
    const auto index = static_cast<std::int64_t>(layer);
    layer_load[layer] =
        2.0 * layer_parameters(model, index, true) + layer_core_flops_per_token(model, index, seq_len);
  }
  const double tail_load = 2.0 * head_matmul_parameters(model) + mtp_forward_flops_per_token(model, seq_len);

  // Every stage between the ends starts with one layer, the ends with none (only the embedding, only the head and
  // MTP); the remaining layers go one at a time where they raise the heaviest device least, then to the lightest
  // device, then to that device's lightest stage, then to the earliest stage.
  std::vector<std::size_t> counts(stages, 0);
  for (std::size_t s = 1; s + 1 < stages; ++s) counts[s] = 1;
  std::size_t placed = stages > 2 ? stages - 2 : 0;
  std::vector<double> stage_loads(stages), device_loads(device_stages.size());
  auto weigh = [&](const std::vector<std::size_t>& c) {
    std::size_t layer = 0;
    for (std::size_t s = 0; s < stages; ++s) {
      stage_loads[s] = s + 1 == stages ? tail_load : 0.0;
      for (std::size_t i = 0; i < c[s]; ++i) stage_loads[s] += layer_load[layer++];
    }
    for (std::size_t d = 0; d < device_stages.size(); ++d) {
      device_loads[d] = 0;
      for (std::int64_t s : device_stages[d]) device_loads[d] += stage_loads[static_cast<std::size_t>(s)];
    }
  };
  // Loads within a hundredth of a mean layer are equal: layers of one kind differ by less (DeepSeek-V3's dense FFN
  // and its MoE layer's activated experts differ by the 0.5% the gate adds), and where a layer goes should not turn
  // on such a difference.
  double mean_layer = 0;
  for (double load : layer_load) mean_layer += load / static_cast<double>(std::max<std::size_t>(layers, 1));
  const double tie = 0.01 * mean_layer;
  struct Key {
    double heaviest_device, receiving_device, receiving_stage;
    std::size_t stage;
    double tie;
    bool operator<(const Key& other) const {
      auto less = [this](double a, double b) { return a < b - tie; };
      if (less(heaviest_device, other.heaviest_device)) return true;
      if (less(other.heaviest_device, heaviest_device)) return false;
      if (less(receiving_device, other.receiving_device)) return true;
      if (less(other.receiving_device, receiving_device)) return false;
      if (less(receiving_stage, other.receiving_stage)) return true;
      if (less(other.receiving_stage, receiving_stage)) return false;
      return stage < other.stage;
    }
  };
  for (; placed < layers; ++placed) {
    std::optional<Key> best;
    for (std::size_t s = 0; s < stages; ++s) {
      ++counts[s];
      weigh(counts);
      Key key{0, 0, stage_loads[s], s, tie};
      for (std::size_t d = 0; d < device_stages.size(); ++d) {
        key.heaviest_device = std::max(key.heaviest_device, device_loads[d]);
        for (std::int64_t held : device_stages[d])
          if (static_cast<std::size_t>(held) == s)
            key.receiving_device = std::max(key.receiving_device, device_loads[d]);
      }
      --counts[s];
      if (!best || key < *best) best = key;
    }
    ++counts[best->stage];
  }
  return stages_of_split(model, std::vector<std::int64_t>(counts.begin(), counts.end()));
}

}  // namespace fleetsim
