// The training graph of one micro-batch on one pipeline stage: embedding (first stage), the stage's transformer
// layers, LM head and MTP modules (last stage); forward ops from the blocks, backward ops from the builder.
#include <stdexcept>
#include <string>

#include "graph/blocks.hpp"

namespace fleetsim {
namespace graph_detail {

// The block kinds: one line each. A layer's attention and feed-forward slots are each filled by the one block
// whose `applies` says so.
const std::vector<LayerBlock>& layer_blocks() {
  static const std::vector<LayerBlock> blocks{
      mla_block(),
      gqa_block(),
      dense_ffn_block(),
      moe_block(),
  };
  return blocks;
}

const LayerBlock& block_for(const ModelSpec& model, std::int64_t layer, LayerSlot slot) {
  const LayerBlock* found = nullptr;
  for (const auto& block : layer_blocks()) {
    if (block.slot != slot || !block.applies(model, layer)) continue;
    if (found != nullptr)
      throw std::invalid_argument("op graph: blocks '" + std::string(found->name) + "' and '" + block.name +
                                  "' both claim layer " + std::to_string(layer));
    found = &block;
  }
  if (found == nullptr)
    throw std::invalid_argument("op graph: no block for layer " + std::to_string(layer) + " of model '" +
                                model.name + "'");
  return *found;
}

Value add_transformer_layer(GraphBuilder& builder, int layer, Value input) {
  for (LayerSlot slot : {LayerSlot::attention, LayerSlot::feed_forward}) {
    const LayerBlock& block = block_for(builder.model(), layer, slot);
    const Site site{"L" + std::to_string(layer) + "." + block.name, block.name, layer, true};
    input = block.build(builder, site, input);
  }
  return input;
}

double layer_parameters(const ModelSpec& model, std::int64_t layer, bool activated_only) {
  return block_for(model, layer, LayerSlot::attention).parameters(model, activated_only) +
         block_for(model, layer, LayerSlot::feed_forward).parameters(model, activated_only);
}

double layer_core_flops_per_token(const ModelSpec& model, std::int64_t layer, std::int64_t seq_len) {
  return block_for(model, layer, LayerSlot::attention).core_flops_per_token(model, seq_len) +
         block_for(model, layer, LayerSlot::feed_forward).core_flops_per_token(model, seq_len);
}

}  // namespace graph_detail

OpGraph build_training_graph(const ModelSpec& model, const StageSlice& slice, const MicroBatchWork& work) {
  using namespace graph_detail;
  if (slice.first_layer < 0 || slice.first_layer > slice.last_layer || slice.last_layer > model.layers)
    throw std::invalid_argument("op graph: stage layers [" + std::to_string(slice.first_layer) + ", " +
                                std::to_string(slice.last_layer) + ") outside the model's " +
                                std::to_string(model.layers) + " layers");
  GraphBuilder builder(model, work);
  Value x;  // the stage input: from the previous stage unless this stage embeds the tokens
  if (slice.has_embedding) x = add_embedding(builder);
  for (int layer = slice.first_layer; layer < slice.last_layer; ++layer) x = add_transformer_layer(builder, layer, x);
  if (slice.has_head) add_lm_head(builder, x);
  if (slice.has_mtp) {
    Value previous = x;  // MTP module 0 reads the main model's last hidden states, before the final norm
    for (int depth = 0; depth < model.mtp_depth; ++depth) previous = add_mtp_module(builder, depth, previous);
  }
  return builder.finish();
}

}  // namespace fleetsim
