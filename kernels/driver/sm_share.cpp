// SM share: how much longer a kernel runs while other work holds some of the GPU's SMs. fleetsim stretches a
// kernel that spreads over every SM by SMs / (SMs - held) while DeepEP holds its 20 (sim/analytic's
// ComputeStretch), and the DeepSeek trace profile scales every traced kernel by 112 / 132 to the whole GPU; a
// memory-bound kernel that already saturates HBM on fewer SMs would not speed up that much. This measures it on the
// kernels of a DeepSeek-V3 layer (docs/calibration.md, "SM share").
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "common/cuda_util.hpp"
#include "common/sm90_sm_hold.hpp"
#include "driver/driver.hpp"
#include "elementwise/sm90_elementwise.hpp"
#include "gemm/cublaslt_gemm.hpp"

namespace fleetsim::kernels {
namespace {

struct Work {
  std::string kernel, shape;
  std::function<void(int)> launch;  // call i uses input set i % rotations
  int rotations = 1;
};

constexpr float kEps = 1e-6f;

}  // namespace

void measure_sm_share(Context& ctx, int sms, CsvTable& table) {
  const int device_sms = ctx.prop.multiProcessorCount;
  // Every buffer is allocated and filled before the SMs are held: freeing one while they are would wait forever.
  const int tokens = 4096;  // one 4,096-token micro-batch (V3 §4.2)
  const int hidden = 7168, expert_rows = 32768, expert_width = 2048;  // EP 64: 4 local experts x 8,192 rows
  DeviceBuffer x(std::size_t(tokens) * hidden * 2), w(std::size_t(hidden) * 2), y(std::size_t(tokens) * hidden * 2);
  DeviceBuffer gate_up(std::size_t(expert_rows) * 2 * expert_width * 2), act(std::size_t(expert_rows) * expert_width * 2);
  fill_random_bf16(x.as(), std::size_t(tokens) * hidden, ctx.next_seed(), 1.0f, ctx.stream);
  fill_random_bf16(w.as(), hidden, ctx.next_seed(), 1.0f, ctx.stream);
  fill_random_bf16(gate_up.as(), std::size_t(expert_rows) * 2 * expert_width, ctx.next_seed(), 1.0f, ctx.stream);
  std::vector<Work> work;
  work.push_back({"rmsnorm", "4096x7168", [&](int) {
                    sm90_rmsnorm(x.as<std::uint16_t>(), w.as<std::uint16_t>(), y.as<std::uint16_t>(), tokens, hidden,
                                 kEps, ctx.stream);
                  }});
  work.push_back({"swiglu", "32768x2048", [&](int) {
                    sm90_swiglu(gate_up.as<std::uint16_t>(), act.as<std::uint16_t>(), expert_rows, expert_width,
                                ctx.stream);
                  }});
  // FP8 GEMMs of a MoE layer at M = 4,096 (the implementation the bench times): the shared expert's down projection
  // and the MLA query up-projection.
  std::vector<Fp8Sets> gemms;
  gemms.push_back(make_fp8_sets(ctx, GemmLayout::kNormal, 1, tokens, hidden, expert_width));
  gemms.push_back(make_fp8_sets(ctx, GemmLayout::kNormal, 1, tokens, 24576, 1536));
  for (const Fp8Sets& s : gemms) {
    const Fp8GemmArgs& a = s.args.front();
    work.push_back({std::string("gemm_fp8_") + to_string(ctx.gemm_impl),
                    std::to_string(a.m) + "x" + std::to_string(a.n) + "x" + std::to_string(a.k),
                    [&s, &ctx](int i) { sm90_fp8_gemm(s.args[static_cast<std::size_t>(i) % s.args.size()], ctx.gemm_impl, ctx.stream); },
                    static_cast<int>(s.args.size())});
  }
  std::unique_ptr<CublasLt> lt;
  DeviceBuffer ba, bb, bd;
  if (CublasLt::available()) {  // cuBLASLt sizes its grid to the whole GPU, as a framework's BF16 GEMMs do
    lt = std::make_unique<CublasLt>();
    ba = DeviceBuffer(std::size_t(tokens) * hidden * 2);
    bb = DeviceBuffer(std::size_t(hidden) * hidden * 2);
    bd = DeviceBuffer(std::size_t(tokens) * hidden * 2);
    fill_random_bf16(ba.as(), std::size_t(tokens) * hidden, ctx.next_seed(), 1.0f, ctx.stream);
    fill_random_bf16(bb.as(), std::size_t(hidden) * hidden, ctx.next_seed(), 1.0f, ctx.stream);
    work.push_back({"gemm_bf16_cublaslt", "4096x7168x7168",
                    [&](int) { lt->bf16_gemm(ba.as(), bb.as(), bd.as(), tokens, hidden, hidden, ctx.stream); }});
  }
  CUDA_CHECK(cudaStreamSynchronize(ctx.stream));

  std::vector<Timing> whole;
  for (const Work& item : work) {  // on every SM (warm-up included: cuBLASLt's workspace is allocated here)
    whole.push_back(time_calls(item.launch, item.rotations, ctx.stream, ctx.timing, ctx.power.get()));
    ctx.print_timing(item.kernel + " " + item.shape + " on " + std::to_string(device_sms) + " SMs", whole.back(), "");
  }
  std::vector<Timing> held;
  int held_sms = 0;
  {
    SmHold hold(sms, device_sms);
    held_sms = hold.held();
    std::printf("holding %d of %d SMs (asked %d)\n", held_sms, device_sms, sms);
    if (held_sms > 0)
      for (const Work& item : work) {
        held.push_back(time_calls(item.launch, item.rotations, ctx.stream, ctx.timing, ctx.power.get()));
        ctx.print_timing(item.kernel + " " + item.shape + " beside " + std::to_string(held_sms) + " held SMs",
                         held.back(), "");
      }
  }
  if (held_sms == 0) throw CudaError("sm-share: no SM could be held (is the GPU shared with other work?)");
  const double sm_ratio = static_cast<double>(device_sms) / (device_sms - held_sms);
  for (std::size_t i = 0; i < work.size(); ++i) {
    const double ratio = held[i].median_us / whole[i].median_us;
    table.row({work[i].kernel, work[i].shape, CsvTable::cell(static_cast<long long>(device_sms)),
               CsvTable::cell(static_cast<long long>(held_sms)), CsvTable::cell(whole[i].median_us, 3),
               CsvTable::cell(held[i].median_us, 3), CsvTable::cell(ratio, 4), CsvTable::cell(sm_ratio, 4)});
    std::printf("sm-share %-22s %-16s %9.1f us -> %9.1f us beside %d held SMs: x%.3f (SMs ratio x%.3f)\n",
                work[i].kernel.c_str(), work[i].shape.c_str(), whole[i].median_us, held[i].median_us, held_sms, ratio,
                sm_ratio);
  }
}

}  // namespace fleetsim::kernels
