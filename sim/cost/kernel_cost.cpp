#include "cost/kernel_cost.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "cost/roofline.hpp"

namespace fleetsim {
namespace {

// A profile row answers for a GEMM whose N and K are each within this factor of the row's (beyond it the kernel
// tiles and pipelines differently, and the roofline is the more honest answer).
constexpr double kMaxShapeRatio = 8.0;

// One (N, K) shape of the profile: efficiency (achieved / peak of the profiled GPU) at increasing total M.
struct EfficiencyCurve {
  std::int64_t n = 0, k = 0;
  std::vector<std::pair<double, double>> m_to_efficiency;  // sorted by M

  // Linear in log M between measured points and constant beyond them: above the largest M the kernel is
  // saturated; below the smallest, the caller's memory floor (streaming the weights once) takes over.
  double at(double m) const {
    const auto& points = m_to_efficiency;
    if (m <= points.front().first) return points.front().second;
    if (m >= points.back().first) return points.back().second;
    for (std::size_t i = 1; i < points.size(); ++i) {
      if (m <= points[i].first) {
        double t = std::log(m / points[i - 1].first) / std::log(points[i].first / points[i - 1].first);
        return points[i - 1].second + t * (points[i].second - points[i - 1].second);
      }
    }
    return points.back().second;
  }
};

double log_distance(double n, double k, double row_n, double row_k) {
  double dn = std::log(n / row_n), dk = std::log(k / row_k);
  return std::sqrt(dn * dn + dk * dk);
}

}  // namespace

const char* to_string(CostSource source) {
  switch (source) {
    case CostSource::profile: return "profile";
    case CostSource::profile_transferred: return "profile_transferred";
    case CostSource::roofline: return "roofline";
    case CostSource::comm_model: return "comm_model";
  }
  return "?";
}

void CostSourceCounts::add(const OpCost& cost, double repeat) {
  auto index = static_cast<std::size_t>(cost.source);
  ops[index] += 1;
  seconds[index] += cost.seconds * repeat;
}

double roofline::seconds(double flops, double peak_flop_per_s, double compute_efficiency, double bytes,
                         double hbm_bytes_per_s) {
  double compute = peak_flop_per_s > 0 ? flops / (peak_flop_per_s * compute_efficiency) : 0.0;
  double memory = hbm_bytes_per_s > 0 ? bytes / (hbm_bytes_per_s * kMemoryEfficiency) : 0.0;
  return std::max(compute, memory);
}

KernelCostModel::KernelCostModel(KernelProfile profile, GpuSpec target, GpuSpec profiled)
    : profile_(std::move(profile)), target_(std::move(target)), profiled_(std::move(profiled)) {
  same_gpu_ = profiled_.name == target_.name;
}

double KernelCostModel::peak_flop_per_s(const GpuSpec& gpu, DataType dtype) const {
  // A GPU without FP8 tensor cores runs FP8-declared math at its BF16 rate (the scenario loader rejects FP8
  // training on such GPUs; this keeps inference what-ifs defined).
  if (dtype == DataType::fp8 && gpu.fp8_flop_per_s > 0) return gpu.fp8_flop_per_s;
  return gpu.bf16_flop_per_s;
}

OpCost KernelCostModel::compute_op(const Op& op) const {
  switch (op.kind) {
    case OpKind::gemm:
    case OpKind::grouped_gemm: {
      OpCost cost = gemm(op);
      // The FP8 cast kernels around the GEMM (Op::cast_bytes): memory-bound, at the profile's `fp8_cast` rate
      // where it has one, at the memory roofline otherwise.
      if (op.cast_bytes > 0) {
        cost.cast_seconds = streamed_seconds(op.cast_bytes, {"fp8_cast"}).seconds;
        cost.seconds += cost.cast_seconds;
      }
      return cost;
    }
    case OpKind::attention: return attention(op);
    case OpKind::all_to_all:
    case OpKind::tensor_parallel: return {0.0, CostSource::comm_model};  // CommModel times them
    default: return memory_bound(op);
  }
}

OpCost KernelCostModel::gemm(const Op& op) const {
  const double bytes = op.bytes_read + op.bytes_written;
  const double target_bw = target_.hbm_bandwidth_bytes_per_s;
  const double n = static_cast<double>(op.gemm.n), k = static_cast<double>(op.gemm.k);
  const double m = static_cast<double>(op.gemm.m);  // per group

  // Kernel family: grouped GEMMs use the grouped tables when the profile has them, else the dense ones.
  const char* family = op.kind == OpKind::grouped_gemm ? "grouped_contiguous" : "gemm";
  auto rows_of = [&](const char* kernel, const char* dtype) {
    std::map<std::pair<std::int64_t, std::int64_t>, EfficiencyCurve> curves;
    for (const auto& row : profile_.gemm) {
      if (row.kernel != kernel || row.dtype != dtype || row.flop_per_s <= 0) continue;
      DataType row_dtype = row.dtype == "fp8" ? DataType::fp8 : DataType::bf16;
      auto& curve = curves[{row.n, row.k}];
      curve.n = row.n;
      curve.k = row.k;
      // Efficiency follows the rows per group (each expert's GEMM is tiled on its own), so grouped rows with the
      // same total M but different group counts stay distinct points.
      curve.m_to_efficiency.emplace_back(static_cast<double>(row.m),
                                         row.flop_per_s / peak_flop_per_s(profiled_, row_dtype));
    }
    for (auto& [shape, curve] : curves) std::sort(curve.m_to_efficiency.begin(), curve.m_to_efficiency.end());
    return curves;
  };

  // Same dtype first; a BF16 GEMM with only FP8 rows (the published profile) borrows the FP8 efficiency curve.
  const char* own = to_string(op.dtype);
  const char* other = op.dtype == DataType::fp8 ? "bf16" : "fp8";
  bool transferred = !same_gpu_;
  auto curves = rows_of(family, own);
  if (curves.empty() && op.kind == OpKind::grouped_gemm) curves = rows_of("gemm", own);
  if (curves.empty()) {
    curves = rows_of(family, other);
    if (curves.empty() && op.kind == OpKind::grouped_gemm) curves = rows_of("gemm", other);
    transferred = true;
  }

  double nearest = std::numeric_limits<double>::infinity();
  for (const auto& [shape, curve] : curves)
    nearest = std::min(nearest, log_distance(n, k, static_cast<double>(curve.n), static_cast<double>(curve.k)));
  const double peak = peak_flop_per_s(target_, op.dtype);
  if (curves.empty() || nearest > std::log(kMaxShapeRatio)) {
    return {roofline::seconds(op.flops, peak, roofline::kGemmEfficiency, bytes, target_bw), CostSource::roofline};
  }

  // Inverse-distance weighting over the shapes close to the nearest one; an exact shape dominates.
  double weight_sum = 0, efficiency = 0;
  for (const auto& [shape, curve] : curves) {
    double d = log_distance(n, k, static_cast<double>(curve.n), static_cast<double>(curve.k));
    // An exact shape answers alone; otherwise the shapes within a factor 2 of the nearest share the answer.
    if (nearest < 1e-9 ? d > 1e-9 : d > nearest + std::log(2.0)) continue;
    double weight = 1.0 / ((d + 0.01) * (d + 0.01));
    weight_sum += weight;
    efficiency += weight * curve.at(m);
  }
  efficiency /= weight_sum;
  double seconds = op.flops / (peak * efficiency);
  // Never faster than streaming the operands once through HBM (matters when transferring to a slower-memory GPU).
  seconds = std::max(seconds, bytes / (target_bw * roofline::kMemoryEfficiency));
  return {seconds, transferred ? CostSource::profile_transferred : CostSource::profile};
}

OpCost KernelCostModel::attention(const Op& op) const {
  const double bytes = op.bytes_read + op.bytes_written;
  const auto& shape = op.attention;
  const bool decode = shape.q_len < shape.kv_len / 8;  // a few query tokens against a long cache
  const char* kernel = decode ? "mla_decode" : (op.phase == Phase::forward ? "mla_prefill_fwd" : "mla_prefill_bwd");
  // Nearest row by arithmetic intensity (FLOPs per cache byte grow with heads x query tokens).
  const AttentionRow* best = nullptr;
  double best_distance = std::numeric_limits<double>::infinity();
  for (const auto& row : profile_.attention) {
    if (row.kernel != kernel) continue;
    double d = std::fabs(std::log(static_cast<double>(shape.heads * shape.q_len * shape.batch) /
                                  static_cast<double>(row.heads * row.q_len * row.batch)));
    if (d < best_distance) best_distance = d, best = &row;
  }
  const double peak = target_.bf16_flop_per_s;
  if (best == nullptr) {
    return {roofline::seconds(op.flops, peak, roofline::kAttentionEfficiency, bytes,
                              target_.hbm_bandwidth_bytes_per_s),
            CostSource::roofline};
  }
  double compute_eff = best->flop_per_s / profiled_.bf16_flop_per_s;
  double memory_eff = best->bytes_per_s / profiled_.hbm_bandwidth_bytes_per_s;
  // A row without one of the two rates says nothing about that bound.
  double seconds = std::max(compute_eff > 0 ? op.flops / (peak * compute_eff) : 0.0,
                            memory_eff > 0 ? bytes / (target_.hbm_bandwidth_bytes_per_s * memory_eff) : 0.0);
  return {seconds, same_gpu_ ? CostSource::profile : CostSource::profile_transferred};
}

OpCost KernelCostModel::memory_bound(const Op& op) const {
  const double bytes = op.bytes_read + op.bytes_written;
  switch (op.kind) {
    case OpKind::norm: return streamed_seconds(bytes, {"rmsnorm"}, op.flops);
    case OpKind::loss:
      // The backward (softmax minus the one-hot, from the forward's log-sum-exp) has its own rows where a profile
      // measured it; otherwise it streams like the forward, the nearest kernel.
      return op.phase == Phase::forward ? streamed_seconds(bytes, {"cross_entropy"}, op.flops)
                                        : streamed_seconds(bytes, {"cross_entropy_bwd", "cross_entropy"}, op.flops);
    case OpKind::router: return streamed_seconds(bytes, {"router"}, op.flops);
    case OpKind::permute:
      return streamed_seconds(bytes, {op.name.find("unpermute") != std::string::npos ? "unpermute" : "permute"},
                              op.flops);
    case OpKind::embedding:
      // The weight gradient (a pass over the whole table under PyTorch's dense backward) has its own rows where a
      // profile measured it; otherwise it streams like the lookup.
      return op.weight_gradient ? streamed_seconds(bytes, {"embedding_dw", "embedding"}, op.flops)
                                : streamed_seconds(bytes, {"embedding"}, op.flops);
    default:
      if (op.name.find("rope") != std::string::npos) return streamed_seconds(bytes, {"rope"}, op.flops);
      // A residual add is a SwiGLU-like stream (two inputs, one output) where a profile has no row of its own.
      if (op.name.find("residual") != std::string::npos)
        return streamed_seconds(bytes, {"residual", "swiglu"}, op.flops);
      // Another activation streams like SwiGLU (one pass, in and out) where a profile has no row of its own.
      if (const auto activation = ffn_activation_of(op))
        return streamed_seconds(bytes, {to_string(*activation), "swiglu"}, op.flops);
      return streamed_seconds(bytes, {"swiglu"}, op.flops);
  }
}

OpCost KernelCostModel::streamed_seconds(double bytes, std::initializer_list<const char*> kernels,
                                         double flops) const {
  // The first kernel name with a row wins; among its rows the nearest by bytes moved (small calls do not reach
  // full bandwidth).
  for (const char* kernel : kernels) {
    const ElementwiseRow* best = nullptr;
    double best_distance = std::numeric_limits<double>::infinity();
    for (const auto& row : profile_.elementwise) {
      if (row.kernel != kernel || row.bytes <= 0 || row.bytes_per_s <= 0) continue;
      double d = std::fabs(std::log(std::max(bytes, 1.0) / row.bytes));
      if (d < best_distance) best_distance = d, best = &row;
    }
    if (best == nullptr) continue;
    double efficiency = best->bytes_per_s / profiled_.hbm_bandwidth_bytes_per_s;
    return {bytes / (target_.hbm_bandwidth_bytes_per_s * efficiency),
            same_gpu_ ? CostSource::profile : CostSource::profile_transferred};
  }
  // Memory-bound ops also do a little math (exp in softmax, sigmoid in the router): counted at the BF16 rate.
  return {roofline::seconds(flops, target_.bf16_flop_per_s, roofline::kGemmEfficiency, bytes,
                            target_.hbm_bandwidth_bytes_per_s),
          CostSource::roofline};
}

}  // namespace fleetsim
