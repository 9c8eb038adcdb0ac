// The fleetsim-kernels driver: shared state of one run (device, stream, power sampler, output tables) and the
// per-family entry points. Each family has a check (GPU result against the CPU reference on fresh random
// inputs, outputs poisoned first) and a bench (timed over the problem space, rows appended to the CSV tables).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/csv.hpp"
#include "common/cuda_util.hpp"
#include "common/power.hpp"
#include "common/space.hpp"
#include "common/timing.hpp"
#include "gemm/sm90_fp8_gemm.hpp"

namespace fleetsim::kernels {

struct Context {
  int device = 0;
  cudaDeviceProp prop{};
  cudaStream_t stream = nullptr;
  std::unique_ptr<PowerSampler> power;
  TimingOptions timing;
  bool quick = false;          // fewer shapes (smoke runs)
  std::uint64_t seed = 0;      // fresh per run unless --seed is given
  std::size_t rotate_bytes = std::size_t(256) << 20;  // rotating input sets add up to at least this (L2: 50-60 MB)
  Space space;
  std::string out_dir;
  std::unique_ptr<CsvTable> gemm, attention, elementwise, baselines;
  Fp8GemmImpl gemm_impl = Fp8GemmImpl::kWgmma;                                    // timed by bench
  std::vector<Fp8GemmImpl> check_impls = {Fp8GemmImpl::kMmaSync, Fp8GemmImpl::kWgmma};  // checked by check
  int passed = 0, failed = 0;

  std::uint64_t next_seed() { return seed = seed * 6364136223846793005ull + 1442695040888963407ull; }
  // Input sets to rotate through so that together they exceed rotate_bytes (1 when one set already does).
  int rotations(std::size_t set_bytes) const;
  // Records one correctness result: prints "[ok]" or "[FAIL]" with the numbers; returns pass.
  bool report(const std::string& what, double rel_err, double tolerance, std::size_t unwritten);
  bool report_bool(const std::string& what, bool ok, const std::string& detail);
  // Prints one timing line to stdout.
  void print_timing(const std::string& what, const Timing& t, const std::string& rate) const;
};

// Correctness (returns nothing; results go through Context::report).
void check_gemm(Context& ctx);
void check_moe(Context& ctx);
void check_attention(Context& ctx);
void check_elementwise(Context& ctx);
// Picks the FP8 GEMM implementation for timing: wgmma if it passes a quick check, else mma.sync.
Fp8GemmImpl select_gemm_impl(Context& ctx);

// Timing over ctx.space (rows appended to ctx's tables).
void bench_gemm(Context& ctx);
void bench_moe(Context& ctx);
void bench_attention(Context& ctx);
void bench_elementwise(Context& ctx);

// Device operands of one timed FP8 GEMM shape: rotating copies of A, its scales and D (and B when it is small
// enough to need rotating too: every set gets its own B), enough to exceed the L2 together.
struct Fp8Sets {
  std::vector<DeviceBuffer> a, sfa, b, sfb, d;
  DeviceBuffer idx, mask;
  std::vector<Fp8GemmArgs> args;
};
Fp8Sets make_fp8_sets(Context& ctx, GemmLayout layout, int groups, int m, int n, int k);

// SM share: each kernel timed on the whole GPU and again while `sms` SMs are held busy (common/sm90_sm_hold.hpp),
// as DeepEP holds 20 during DualPipe's overlapped chunks; rows appended to `table` (header kSmShareHeader).
inline constexpr const char* kSmShareHeader = "kernel,shape,sms,sms_held,time_us,time_held_us,ratio,sm_ratio";
void measure_sm_share(Context& ctx, int sms, CsvTable& table);

// Ceilings: device-to-device copy bandwidth and large BF16 / FP8 GEMM rates (cuBLASLt), on random data.
struct Ceilings {
  double hbm_gbps = 0, bf16_tflops = 0, fp8_tflops = 0;
};
Ceilings measure_ceilings(Context& ctx);

// Random host data helpers shared by the checks.
std::vector<std::uint16_t> random_bf16(std::size_t count, std::uint64_t seed, float stddev = 1.0f);
std::vector<float> bf16_vector_to_float(const std::vector<std::uint16_t>& v);
// Up to `count` distinct row indices from `valid` (always its first and last), sorted.
std::vector<int> sample_rows(const std::vector<int>& valid, std::size_t count, std::uint64_t seed);

}  // namespace fleetsim::kernels
