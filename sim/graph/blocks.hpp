// Internal to sim/graph: the blocks a transformer layer is made of, and the embedding, head and MTP parts.
//
// A layer is one attention block followed by one feed-forward block. Each kind of block is one file
// (blocks_attention.cpp, blocks_ffn.cpp, blocks_moe.cpp) that returns a LayerBlock: when it applies, how it adds
// its ops to the graph, and its closed-form parameter count and attention FLOPs, which model_counts.cpp and
// stage_split.cpp sum. Adding a block kind is one file plus one line in layer_blocks() (build_training_graph.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph_builder.hpp"

namespace fleetsim::graph_detail {

enum class LayerSlot { attention, feed_forward };

struct LayerBlock {
  const char* name;  // Op::block of its ops: "mla", "gqa", "ffn", "moe"
  LayerSlot slot;
  // Whether this block fills `slot` of `layer` (0-based; model.layers + i for MTP module i).
  bool (*applies)(const ModelSpec& model, std::int64_t layer);
  // Adds the block's forward ops (its residual add included) reading `input`; returns the block's output.
  Value (*build)(GraphBuilder& builder, const Site& site, Value input);
  // Closed-form parameters, its norm included; only those one token uses when `activated_only`.
  double (*parameters)(const ModelSpec& model, bool activated_only);
  // Forward FLOPs per token that no parameter accounts for (the attention core) at context `seq_len`.
  double (*core_flops_per_token)(const ModelSpec& model, std::int64_t seq_len);
};

// The block kinds, one line each in build_training_graph.cpp.
const std::vector<LayerBlock>& layer_blocks();
// The block filling `slot` of `layer`; throws std::invalid_argument when none or several apply.
const LayerBlock& block_for(const ModelSpec& model, std::int64_t layer, LayerSlot slot);

LayerBlock mla_block();
LayerBlock gqa_block();
LayerBlock dense_ffn_block();
LayerBlock moe_block();

// An MLP over `rows` rows: up (hidden -> intermediate; fused with the gate, hidden -> 2 x intermediate, when the
// activation is gated), the activation, down (intermediate -> hidden); op names get `name_prefix` ("" for the
// dense FFN, "shared_" for a shared expert).
Value add_mlp(GraphBuilder& builder, const Site& site, const std::string& name_prefix, double rows,
              std::int64_t intermediate, FfnActivation activation, Value x);

// Matrices of one MLP of width `intermediate`: 3 x hidden x intermediate when gated (gate, up, down), else 2.
double mlp_parameters(std::int64_t hidden, std::int64_t intermediate, FfnActivation activation);

// One transformer layer (attention block, then feed-forward block) at `layer`; returns its output.
Value add_transformer_layer(GraphBuilder& builder, int layer, Value input);

// Closed forms of one layer: parameters (all, or activated per token) and forward attention FLOPs per token.
double layer_parameters(const ModelSpec& model, std::int64_t layer, bool activated_only);
double layer_core_flops_per_token(const ModelSpec& model, std::int64_t layer, std::int64_t seq_len);

// blocks_embedding_head.cpp: the first stage's embedding, the last stage's LM head and MTP modules.
Value add_embedding(GraphBuilder& builder);
// Final RMSNorm, head GEMM and cross-entropy over the model output `hidden_states`.
void add_lm_head(GraphBuilder& builder, Value hidden_states);
// MTP module `depth` (0-based) on top of `previous` (the main model's output for depth 0); returns the module's
// transformer-layer output, which the next module reads.
Value add_mtp_module(GraphBuilder& builder, int depth, Value previous);

// Closed forms of those parts.
double embedding_parameters(const ModelSpec& model);
double head_parameters(const ModelSpec& model);  // final norm + head matrix (0 for the matrix when tied)
double head_matmul_parameters(const ModelSpec& model);  // the head GEMM's weights, shared or not: hidden x vocab
// MTP modules' own parameters (layer, projection, norms; the shared embedding and head excluded).
double mtp_parameters(const ModelSpec& model, bool activated_only);
// Forward FLOPs per token of the MTP modules: 2 x their activated parameters, the shared head's GEMM and attention.
double mtp_forward_flops_per_token(const ModelSpec& model, std::int64_t seq_len);

}  // namespace fleetsim::graph_detail
