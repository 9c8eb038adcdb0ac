#include "graph/ops.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace fleetsim::graph_detail {
namespace {

// RMSNorm, per element: square, accumulate, scale by the reciprocal root, multiply by the weight (4 FLOPs);
// the backward does two reductions and the products again, about twice that. Memory-bound either way: these
// counts only feed the roofline fallback, the kernel profile costs the op by its bytes.
constexpr double kNormFlopsPerElement = 4;
constexpr double kNormBackwardFlopsPerElement = 8;

Op gemm_op(OpKind kind, DataType dtype, std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t groups,
           double flops, double bytes_read, double bytes_written) {
  Op op;
  op.kind = kind;
  op.dtype = dtype;
  op.gemm = GemmShape{m, n, k, groups};
  op.flops = flops;
  op.bytes_read = bytes_read;
  op.bytes_written = bytes_written;
  return op;
}

Value add_gemm_triple(GraphBuilder& builder, const Site& site, const char* name, OpKind kind, double total_rows,
                      std::int64_t m, std::int64_t groups, std::int64_t k, std::int64_t n, DataType dtype,
                      const std::vector<Value>& inputs, InputCast cast) {
  if (k <= 0 || n <= 0 || groups <= 0 || total_rows < 0)
    throw std::invalid_argument(std::string("op graph: empty linear layer ") + site.prefix + "." + name);
  const double e = element_bytes(dtype);
  const double kd = static_cast<double>(k), nd = static_cast<double>(n), g = static_cast<double>(groups);
  const double flops = 2.0 * total_rows * nd * kd;  // the same for all three GEMMs
  const double weights = g * kd * nd;

  Op forward = gemm_op(kind, dtype, m, n, k, groups, flops, total_rows * kd * e + weights * e,
                       total_rows * nd * kBf16Bytes);
  forward.name = name;
  Backward backward;
  backward.dx = gemm_op(kind, dtype, m, k, n, groups, flops, total_rows * nd * e + weights * e,
                        total_rows * kd * kBf16Bytes);
  // The weight-gradient GEMM's reduction runs over the rows: per group, dW[k x n] = X^T[k x m] dY[m x n].
  backward.dw = gemm_op(kind, dtype, k, n, m, groups, flops, total_rows * kd * e + total_rows * nd * e,
                        weights * kFp32Bytes);
  if (dtype == DataType::fp8) {
    const double fp8_tile = wire_bytes(DataType::fp8);  // 1 byte + its share of the 1x128 tile's FP32 scale
    if (cast == InputCast::separate) forward.cast_bytes = total_rows * kd * (kBf16Bytes + fp8_tile);
    backward.dx->cast_bytes = total_rows * nd * (kBf16Bytes + fp8_tile);
    backward.dw->cast_bytes = total_rows * nd * fp8_tile + total_rows * kd * 2.0 * fp8_tile;
  }
  return builder.add(site, std::move(forward), std::move(backward), inputs);
}

}  // namespace

double element_bytes(DataType dtype) {
  switch (dtype) {
    case DataType::fp8: return kFp8Bytes;
    case DataType::bf16: return kBf16Bytes;
    case DataType::fp32: return kFp32Bytes;
  }
  return kBf16Bytes;
}

double wire_bytes(DataType dtype) {
  if (dtype == DataType::fp8) return kFp8Bytes + kFp32Bytes / kFp8TileElements;
  return element_bytes(dtype);
}

Value add_linear(GraphBuilder& builder, const Site& site, const char* name, double rows, std::int64_t k,
                 std::int64_t n, DataType dtype, Value x, InputCast cast) {
  return add_linear(builder, site, name, rows, k, n, dtype, std::vector<Value>{x}, cast);
}

Value add_linear(GraphBuilder& builder, const Site& site, const char* name, double rows, std::int64_t k,
                 std::int64_t n, DataType dtype, const std::vector<Value>& inputs, InputCast cast) {
  const auto m = static_cast<std::int64_t>(std::llround(rows));
  return add_gemm_triple(builder, site, name, OpKind::gemm, rows, m, 1, k, n, dtype, inputs, cast);
}

Value add_grouped_linear(GraphBuilder& builder, const Site& site, const char* name, double total_rows,
                         std::int64_t groups, std::int64_t k, std::int64_t n, DataType dtype, Value x,
                         InputCast cast) {
  if (groups <= 0) throw std::invalid_argument("op graph: a grouped GEMM needs at least one group");
  // Rounded up, with a relative slack so that an exact quotient computed in floating point is not bumped up.
  const auto m = static_cast<std::int64_t>(std::ceil(total_rows / static_cast<double>(groups) * (1 - 1e-12)));
  return add_gemm_triple(builder, site, name, OpKind::grouped_gemm, total_rows, m, groups, k, n, dtype, {x}, cast);
}

namespace {

Op tensor_parallel_op(const GraphBuilder& builder, const char* name, double rows, std::int64_t width) {
  Op op;
  op.name = name;  // the forward's; the builder names a backward op after its forward (".dx")
  op.kind = OpKind::tensor_parallel;
  op.dtype = DataType::bf16;
  op.comm_bytes = rows * static_cast<double>(width) * kBf16Bytes;
  op.overlapped = builder.work().tp_comm_overlap;
  return op;
}

}  // namespace

Value add_tensor_parallel_all_gather(GraphBuilder& builder, const Site& site, const char* name, double rows,
                                     std::int64_t width, Value x) {
  if (builder.tp() == 1) return x;
  // Backward: Megatron-LM gathers the input again for the weight gradient while the input-gradient GEMM runs, and
  // reduce-scatters the input gradient while the weight-gradient GEMM runs (LinearWithGradAccumulationAndAsync-
  // Communication, megatron/core/tensor_parallel/layers.py): both hide behind GEMMs several times longer, so the
  // gradient passes through with no exposed cost.
  Backward backward;
  backward.pass_through = true;
  return builder.add(site, tensor_parallel_op(builder, name, rows, width), std::move(backward), {x});
}

Value add_tensor_parallel_reduce_scatter(GraphBuilder& builder, const Site& site, const char* name, double rows,
                                         std::int64_t width, Value x) {
  if (builder.tp() == 1) return x;
  // Backward: the output gradient is all-gathered before the row-parallel GEMM's input gradient, on the critical
  // path like the forward's collectives (Megatron-LM without --tp-comm-overlap, its default).
  Backward backward;
  backward.dx = tensor_parallel_op(builder, name, rows, width);  // the all-gather of the output gradient
  return builder.add(site, tensor_parallel_op(builder, name, rows, width), std::move(backward), {x});
}

Value add_norm(GraphBuilder& builder, const Site& site, const char* name, double rows, std::int64_t width, Value x) {
  const double elements = rows * static_cast<double>(width);
  const double weight = static_cast<double>(width);
  Op forward;
  forward.name = name;
  forward.kind = OpKind::norm;
  forward.flops = kNormFlopsPerElement * elements;
  forward.bytes_read = elements * kBf16Bytes + weight * kBf16Bytes;
  forward.bytes_written = elements * kBf16Bytes;
  Op dx = forward;
  dx.flops = kNormBackwardFlopsPerElement * elements;
  // Reads the input and the output gradient, writes the input gradient and the weight's FP32 gradient.
  dx.bytes_read = 2 * elements * kBf16Bytes + weight * kBf16Bytes;
  dx.bytes_written = elements * kBf16Bytes + weight * kFp32Bytes;
  Backward backward;
  backward.dx = dx;
  return builder.add(site, std::move(forward), std::move(backward), {x});
}

double activation_flops_per_element(FfnActivation activation) {
  switch (activation) {
    case FfnActivation::swiglu: return kSwigluFlopsPerElement;
    case FfnActivation::geglu: return 10;
    case FfnActivation::gelu: return 9;
    case FfnActivation::relu: return 1;
    case FfnActivation::squared_relu: return 2;
  }
  return kSwigluFlopsPerElement;
}

Value add_elementwise(GraphBuilder& builder, const Site& site, const char* name, double elements_in,
                      double elements_out, double flops_per_out, const std::vector<Value>& inputs) {
  Op forward;
  forward.name = name;
  forward.kind = OpKind::elementwise;
  forward.flops = flops_per_out * elements_out;
  forward.bytes_read = elements_in * kBf16Bytes;
  forward.bytes_written = elements_out * kBf16Bytes;
  Op dx = forward;
  dx.flops = 2 * forward.flops;
  dx.bytes_read = (elements_in + elements_out) * kBf16Bytes;
  dx.bytes_written = elements_in * kBf16Bytes;
  Backward backward;
  backward.dx = dx;
  return builder.add(site, std::move(forward), std::move(backward), inputs);
}

Value add_residual(GraphBuilder& builder, const Site& site, double rows, std::int64_t width,
                   const std::vector<Value>& terms) {
  const double elements = rows * static_cast<double>(width);
  const double count = static_cast<double>(terms.size());
  Op forward;
  forward.name = "residual";
  forward.kind = OpKind::elementwise;
  forward.flops = (count - 1) * elements;
  forward.bytes_read = count * elements * kBf16Bytes;
  forward.bytes_written = elements * kBf16Bytes;
  Backward backward;
  backward.pass_through = true;
  return builder.add(site, std::move(forward), std::move(backward), terms);
}

}  // namespace fleetsim::graph_detail
