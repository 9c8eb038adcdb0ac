// Kernel cost: the time of one op of the op graph on one GPU.
//
// The answer comes from the kernel profile where a row covers the op (interpolating in shape), and from the
// roofline with a documented efficiency (cost/roofline.hpp) otherwise. Each answer says where it came from, so the
// report can count how much of a step rests on measurement.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "cost/kernel_profile.hpp"
#include "graph/op_graph.hpp"
#include "spec/cluster.hpp"

namespace fleetsim {

enum class CostSource {
  profile,              // a row of the profile, measured on the same GPU kind, covers the op
  profile_transferred,  // a row covers the op but was measured on another GPU or dtype: efficiency transferred
  roofline,             // no row covers the op: datasheet peak x documented efficiency
  comm_model,           // a communication op, timed by the collective model
};
inline constexpr std::size_t kCostSourceCount = 4;
const char* to_string(CostSource source);

struct OpCost {
  double seconds = 0;
  CostSource source = CostSource::roofline;
  double cast_seconds = 0;  // part of `seconds`: a GEMM's FP8 cast kernels (memory-bound, Op::cast_bytes)
};

// How many op evaluations each source answered, and how many seconds of work they account for.
struct CostSourceCounts {
  std::array<std::int64_t, kCostSourceCount> ops{};
  std::array<double, kCostSourceCount> seconds{};
  void add(const OpCost& cost, double repeat = 1.0);
};

class KernelCostModel {
 public:
  // `target` is the GPU being simulated, `profiled` the GPU the profile was measured on (they may differ:
  // efficiencies, i.e. achieved / peak, are transferred to the target's peaks).
  KernelCostModel(KernelProfile profile, GpuSpec target, GpuSpec profiled);

  // Compute ops only; communication ops (all_to_all) are timed by the collective model.
  OpCost compute_op(const Op& op) const;

  const GpuSpec& target() const { return target_; }
  const KernelProfile& profile() const { return profile_; }

  double peak_flop_per_s(const GpuSpec& gpu, DataType dtype) const;

 private:
  OpCost gemm(const Op& op) const;
  OpCost attention(const Op& op) const;
  OpCost memory_bound(const Op& op) const;
  // `bytes` streamed through HBM by the first of `kernels` (elementwise.csv names) the profile has a row for;
  // the roofline (with `flops` at the BF16 rate) when it has none.
  OpCost streamed_seconds(double bytes, std::initializer_list<const char*> kernels, double flops = 0) const;

  KernelProfile profile_;
  GpuSpec target_;
  GpuSpec profiled_;
  bool same_gpu_ = false;
};

}  // namespace fleetsim
