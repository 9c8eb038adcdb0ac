// Internal to sim/graph: factories for the ops every block uses (linear layers, norms, elementwise ops, residual
// adds), with their FLOPs and HBM bytes. Blocks call these instead of filling Op fields by hand, so that the GEMM
// conventions below hold everywhere.
//
// GEMM conventions for a linear layer Y[rows x n] = X[rows x k] W[k x n]:
//   forward          Y  = X  W      GemmShape{m = rows, n = n, k = k}
//   backward_input   dX = dY W^T    GemmShape{m = rows, n = k, k = n}
//   backward_weight  dW = X^T dY    GemmShape{m = k,    n = n, k = rows}
// each 2 x rows x n x k FLOPs (times `groups` for a grouped GEMM, whose `rows` are per group). Bytes are the
// inputs and weights read plus the output written, at their element sizes: the math dtype for inputs and weights
// BF16 for activations and activation gradients written, FP32 for weight gradients (V3 §3.3: weight gradients
// accumulate in FP32). An FP8 GEMM's operands go through separate cast kernels (Op::cast_bytes, V3 §3.5.2):
//   forward          X to 1x128 FP8 tiles: read 2 B, write 1 B + a 4-byte scale per 128 elements
//   backward_input   dY to 1x128 tiles: read 2 B, write 1 + 4/128 B
//   backward_weight  dY to 128x1 tiles (written by the same pass that read dY: write 1 + 4/128 B) and the cached
//                    X read, transposed and re-quantised to 128x1 tiles (read and write 1 + 4/128 B)
// unless the input arrives in FP8 already (`InputCast::already_fp8`: the dispatched tokens, or an input another
// GEMM has just cast).
#pragma once

#include <cstdint>
#include <vector>

#include "graph/graph_builder.hpp"

namespace fleetsim::graph_detail {

// SwiGLU per output element: silu(g) * u = g * sigmoid(g) * u, with sigmoid an exp, an add and a divide, then two
// multiplies (Shazeer 2020, "GLU Variants Improve Transformer").
inline constexpr double kSwigluFlopsPerElement = 5;

// FLOPs per output element of a feed-forward activation, counted off its formula. GeLU in its tanh form
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (Hendrycks & Gimpel 2016): x^3 (2), the scale (1), the add (1),
// sqrt(2/pi) (1), tanh (1), the add (1), two multiplies (2) = 9; GeGLU one more multiply by the up half; ReLU a
// compare; squared ReLU a compare and a multiply. All are memory-bound: the bytes, not these, set their time.
double activation_flops_per_element(FfnActivation activation);

// Element sizes in bytes.
inline constexpr double kFp8Bytes = 1;   // E4M3 (V3 §3.3)
inline constexpr double kBf16Bytes = 2;
inline constexpr double kFp32Bytes = 4;
// V3 §3.3.2: FP8 activations are scaled per 1 x 128 tile, one FP32 scale per tile, which travel with the data.
inline constexpr double kFp8TileElements = 128;

double element_bytes(DataType dtype);
// Bytes per element of a tensor sent over the network in `dtype`, FP8 scales included (1 + 4/128 for FP8).
double wire_bytes(DataType dtype);

// Whether an FP8 GEMM's forward input needs its own cast kernel.
enum class InputCast { separate, already_fp8 };

// A dense linear layer over `rows` rows (tokens). Returns its forward output.
Value add_linear(GraphBuilder& builder, const Site& site, const char* name, double rows, std::int64_t k,
                 std::int64_t n, DataType dtype, Value x, InputCast cast = InputCast::separate);
// The same over the concatenation of several inputs along k (the MTP projection of [h; embedding]).
Value add_linear(GraphBuilder& builder, const Site& site, const char* name, double rows, std::int64_t k,
                 std::int64_t n, DataType dtype, const std::vector<Value>& inputs,
                 InputCast cast = InputCast::separate);

// `groups` linear layers (experts), `total_rows` rows spread evenly over them (the expected load of a balanced
// router): each group is an m x n x k GEMM with m = total_rows / groups (rounded up in the shape; the FLOPs use the
// exact expectation).
Value add_grouped_linear(GraphBuilder& builder, const Site& site, const char* name, double total_rows,
                         std::int64_t groups, std::int64_t k, std::int64_t n, DataType dtype, Value x,
                         InputCast cast = InputCast::separate);

// Sequence parallelism with tensor parallelism (Korthikanti et al. 2022; Megatron-LM): activations between the
// tensor-parallel regions are sharded over the tp GPUs by tokens. A column-parallel GEMM's input is all-gathered
// (`rows` tokens x `width`, BF16); in the backward its re-gather and its gradient's reduce-scatter overlap the
// GEMMs and cost nothing here. A row-parallel GEMM's output is reduce-scattered and its gradient all-gathered, both
// exposed. With tp = 1 both return `x` and add nothing.
Value add_tensor_parallel_all_gather(GraphBuilder& builder, const Site& site, const char* name, double rows,
                                     std::int64_t width, Value x);
Value add_tensor_parallel_reduce_scatter(GraphBuilder& builder, const Site& site, const char* name, double rows,
                                         std::int64_t width, Value x);

// RMSNorm over `rows` rows of `width`. Its weight gradient (`width` values) is produced by the same kernel as the
// input gradient, so it has no backward-weight vertex of its own.
Value add_norm(GraphBuilder& builder, const Site& site, const char* name, double rows, std::int64_t width, Value x);

// A memory-bound elementwise op reading `elements_in` and writing `elements_out` BF16 values, with `flops_per_out`
// FLOPs per output element forward and twice that backward (the backward reads the input and the output gradient
// and writes the input gradient).
Value add_elementwise(GraphBuilder& builder, const Site& site, const char* name, double elements_in,
                      double elements_out, double flops_per_out, const std::vector<Value>& inputs);

// The residual add of `terms` (the residual stream and the block outputs), `rows` x `width` each: its backward
// hands the gradient to every input unchanged, so it has no backward vertex.
Value add_residual(GraphBuilder& builder, const Site& site, double rows, std::int64_t width,
                   const std::vector<Value>& terms);

}  // namespace fleetsim::graph_detail
