// FP8 / BF16 GEMM and grouped-GEMM checks and benchmarks.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "common/cuda_util.hpp"
#include "common/numeric.hpp"
#include "driver/driver.hpp"
#include "gemm/cublaslt_gemm.hpp"
#include "gemm/sm90_fp8_gemm.hpp"
#include "reference/ref_gemm.hpp"

namespace fleetsim::kernels {
namespace {

constexpr double kFp8GemmTolerance = 5e-3;  // same quantized inputs on both sides: accumulation order + BF16 output
constexpr double kBf16GemmTolerance = 5e-3;

// Activations with rows of very different magnitudes (so per-row scales matter), quantized 1x128. Values are
// uniform with unit variance (cheaper than normal: the checks generate hundreds of millions of them).
Fp8Activation make_activation(int rows, int k, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(static_cast<std::size_t>(rows) * k);
  for (int r = 0; r < rows; ++r) {
    const float mag = std::exp2(rng.uniform(-4.0f, 4.0f));
    for (int c = 0; c < k; ++c) x[static_cast<std::size_t>(r) * k + c] = rng.uniform(-1.7320508f, 1.7320508f) * mag;
  }
  return quantize_activation_1x128(x, rows, k);
}
// `groups` weight matrices N x K with blocks of different magnitudes, quantized 128x128, concatenated.
Fp8Weight make_weights(int groups, int n, int k, std::uint64_t seed) {
  Rng rng(seed);
  Fp8Weight all;
  for (int g = 0; g < groups; ++g) {
    std::vector<float> w(static_cast<std::size_t>(n) * k);
    for (int r = 0; r < n; ++r) {
      const float mag = std::exp2(rng.uniform(-3.0f, 3.0f));
      for (int c = 0; c < k; ++c) w[static_cast<std::size_t>(r) * k + c] = rng.uniform(-1.7320508f, 1.7320508f) * mag * 0.05f;
    }
    Fp8Weight one = quantize_weight_128x128(w, n, k);
    all.rows += n;
    all.cols = k;
    all.data.insert(all.data.end(), one.data.begin(), one.data.end());
    all.scales.insert(all.scales.end(), one.scales.begin(), one.scales.end());
  }
  return all;
}
// Row-major (rows x K/128) scales -> the kernels' MN-major (K/128 x ld) layout.
std::vector<float> sfa_mn_major(const std::vector<float>& row_major, int rows, int k) {
  const int kb = k / kScaleBlock, ld = sfa_leading_dim(rows);
  std::vector<float> out(static_cast<std::size_t>(kb) * ld, 1.0f);
  for (int r = 0; r < rows; ++r)
    for (int b = 0; b < kb; ++b) out[static_cast<std::size_t>(b) * ld + r] = row_major[static_cast<std::size_t>(r) * kb + b];
  return out;
}

// Runs one FP8 GEMM case with both implementations against the reference rows.
void check_fp8_case(Context& ctx, const std::string& name, GemmLayout layout, int groups, int m, int n, int k,
                    const std::vector<int>& m_indices, const std::vector<int>& masked_m,
                    const std::vector<Fp8GemmImpl>& impls) {
  const int a_rows = layout == GemmLayout::kGroupedMasked ? groups * m : m;
  const Fp8Activation act = make_activation(a_rows, k, ctx.next_seed());
  const Fp8Weight wt = make_weights(groups, n, k, ctx.next_seed());
  std::vector<int> valid;
  for (int r = 0; r < a_rows; ++r) {
    if (layout == GemmLayout::kGroupedContiguous && m_indices[static_cast<std::size_t>(r)] < 0) continue;
    if (layout == GemmLayout::kGroupedMasked && r % m >= masked_m[static_cast<std::size_t>(r / m)]) continue;
    valid.push_back(r);
  }
  const std::vector<int> rows = sample_rows(valid, 48, ctx.next_seed());
  std::vector<float> ref;
  if (layout == GemmLayout::kNormal) ref = ref::fp8_gemm(act.data, act.scales, wt.data, wt.scales, m, n, k, rows);
  else if (layout == GemmLayout::kGroupedContiguous)
    ref = ref::fp8_grouped_contiguous(act.data, act.scales, m_indices, wt.data, wt.scales, m, n, k, rows);
  else ref = ref::fp8_grouped_masked(act.data, act.scales, masked_m, wt.data, wt.scales, groups, m, n, k, rows);

  DeviceBuffer da = to_device(act.data), db = to_device(wt.data);
  DeviceBuffer dsfa = to_device(sfa_mn_major(act.scales, a_rows, k)), dsfb = to_device(wt.scales);
  DeviceBuffer didx = to_device(m_indices.empty() ? std::vector<int>{0} : m_indices);
  DeviceBuffer dmask = to_device(masked_m.empty() ? std::vector<int>{0} : masked_m);
  DeviceBuffer dd(static_cast<std::size_t>(a_rows) * n * 2);
  Fp8GemmArgs args;
  args.layout = layout;
  args.m = m;
  args.n = n;
  args.k = k;
  args.groups = groups;
  args.a = da.as<std::uint8_t>();
  args.sfa = dsfa.as<float>();
  args.b = db.as<std::uint8_t>();
  args.sfb = dsfb.as<float>();
  args.d = dd.as<std::uint16_t>();
  args.m_indices = didx.as<int>();
  args.masked_m = dmask.as<int>();
  for (Fp8GemmImpl impl : impls) {
    const std::string what = name + " [" + to_string(impl) + "]";
    try {
      poison(dd.as(), dd.bytes(), ctx.stream);
      sm90_fp8_gemm(args, impl, ctx.stream);
      CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
      const auto d = to_host<std::uint16_t>(dd.as(), static_cast<std::size_t>(a_rows) * n);
      std::size_t unwritten = 0;
      for (int r : valid)
        for (int c = 0; c < n; ++c)
          if (!std::isfinite(bf16_to_float(d[static_cast<std::size_t>(r) * n + c]))) ++unwritten;
      std::vector<float> got(rows.size() * static_cast<std::size_t>(n));
      for (std::size_t i = 0; i < rows.size(); ++i)
        for (int c = 0; c < n; ++c) got[i * n + c] = bf16_to_float(d[static_cast<std::size_t>(rows[i]) * n + c]);
      ctx.report(what, relative_error(got, ref), kFp8GemmTolerance, unwritten);
    } catch (const CudaError& e) {
      ctx.report_bool(what, false, e.what());
      throw;  // a failed launch leaves the context unusable: stop this family
    }
  }
}

std::vector<int> contiguous_indices(const std::vector<int>& counts) {
  std::vector<int> idx;
  for (std::size_t g = 0; g < counts.size(); ++g) {
    const int padded = (counts[g] + 127) / 128 * 128;
    for (int i = 0; i < padded; ++i) idx.push_back(i < counts[g] ? static_cast<int>(g) : -1);
  }
  return idx;
}

void check_cublaslt(Context& ctx, CublasLt& lt, int m, int n, int k) {
  const std::string shape = " M=" + std::to_string(m) + " N=" + std::to_string(n) + " K=" + std::to_string(k);
  std::vector<int> all(static_cast<std::size_t>(m));
  for (int i = 0; i < m; ++i) all[static_cast<std::size_t>(i)] = i;
  const std::vector<int> rows = sample_rows(all, 48, ctx.next_seed());
  DeviceBuffer dd(static_cast<std::size_t>(m) * n * 2);
  auto compare = [&](const std::string& what, const std::vector<float>& ref) {
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    const auto d = to_host<std::uint16_t>(dd.as(), static_cast<std::size_t>(m) * n);
    std::size_t unwritten = 0;
    for (auto v : d) unwritten += std::isfinite(bf16_to_float(v)) ? 0 : 1;
    std::vector<float> got(rows.size() * static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < rows.size(); ++i)
      for (int c = 0; c < n; ++c) got[i * n + c] = bf16_to_float(d[static_cast<std::size_t>(rows[i]) * n + c]);
    ctx.report(what + shape, relative_error(got, ref), kBf16GemmTolerance, unwritten);
  };
  {
    const auto a = random_bf16(static_cast<std::size_t>(m) * k, ctx.next_seed());
    const auto b = random_bf16(static_cast<std::size_t>(n) * k, ctx.next_seed());
    DeviceBuffer da = to_device(a), db = to_device(b);
    poison(dd.as(), dd.bytes(), ctx.stream);
    lt.bf16_gemm(da.as(), db.as(), dd.as(), m, n, k, ctx.stream);
    compare("gemm bf16 [cublaslt]", ref::bf16_gemm(a, b, m, n, k, rows));
  }
  // The FP8 per-tensor GEMM is a baseline only (not read by the cost model): a cuBLASLt refusal is reported as a
  // failed baseline check and the other checks go on (a cuBLASLt status leaves the CUDA context usable).
  try {
    Rng rng(ctx.next_seed());
    std::vector<std::uint8_t> a(static_cast<std::size_t>(m) * k), b(static_cast<std::size_t>(n) * k);
    for (auto& v : a) v = float_to_e4m3(rng.normal() * 64.0f);
    for (auto& v : b) v = float_to_e4m3(rng.normal() * 64.0f);
    // The two per-tensor scales 16 bytes apart: cuBLASLt may refuse a scale pointer that is not 16-byte aligned.
    const std::vector<float> scales = {1.0f / 512.0f, 0.0f, 0.0f, 0.0f, 1.0f / 256.0f};
    DeviceBuffer da = to_device(a), db = to_device(b), ds = to_device(scales);
    poison(dd.as(), dd.bytes(), ctx.stream);
    lt.fp8_gemm_per_tensor(da.as(), ds.as<float>(), db.as(), ds.as<float>() + 4, dd.as(), m, n, k, ctx.stream);
    compare("gemm fp8 per-tensor [cublaslt baseline]",
            ref::fp8_gemm_per_tensor(a, scales[0], b, scales[4], m, n, k, rows));
  } catch (const CudaError& e) {
    if (std::string(e.what()).rfind("cuBLASLt", 0) != 0) throw;  // a CUDA fault: the context is gone
    ctx.report_bool("gemm fp8 per-tensor [cublaslt baseline]" + shape, false, e.what());
  }
}

}  // namespace

void check_gemm(Context& ctx) {
  // mma.sync first: if the wgmma kernel faults (which ends the process), the fallback's results are already out.
  const std::vector<Fp8GemmImpl>& both = ctx.check_impls;
  auto dense = [&](int m, int n, int k) {
    check_fp8_case(ctx, "gemm fp8 M=" + std::to_string(m) + " N=" + std::to_string(n) + " K=" + std::to_string(k),
                   GemmLayout::kNormal, 1, m, n, k, {}, {}, both);
  };
  dense(256, 2112, 7168);  // DeepSeek shape, N not a multiple of 128
  dense(200, 4096, 512);   // M not a multiple of the tile
  dense(64, 7168, 2048);   // BLOCK_M 64 path
  dense(1, 1536, 1024);    // one row
  if (!ctx.quick) dense(1024, 24576, 1536);
  {
    const std::vector<int> counts = {100, 256, 0, 300};
    const auto idx = contiguous_indices(counts);
    check_fp8_case(ctx, "grouped_contiguous fp8 G=4 rows=[100,256,0,300] N=4096 K=7168", GemmLayout::kGroupedContiguous,
                   4, static_cast<int>(idx.size()), 4096, 7168, idx, {}, both);
  }
  check_fp8_case(ctx, "grouped_masked fp8 G=4 M_max=128 masked=[1,64,128,0] N=7168 K=2048", GemmLayout::kGroupedMasked, 4,
                 128, 7168, 2048, {}, {1, 64, 128, 0}, both);
  check_fp8_case(ctx, "grouped_masked fp8 G=3 M_max=32 masked=[32,17,5] N=4096 K=7168", GemmLayout::kGroupedMasked, 3,
                 32, 4096, 7168, {}, {32, 17, 5}, both);
  // Groups whose first row is not a multiple of 4 (1 and 5 rows per group): the bench's decode shapes (M = 1 per
  // expert) hung the first wgmma version on an H200; the checks above all started groups at multiples of 32.
  check_fp8_case(ctx, "grouped_masked fp8 G=2 M_max=1 masked=[1,1] N=4096 K=7168", GemmLayout::kGroupedMasked, 2, 1,
                 4096, 7168, {}, {1, 1}, both);
  check_fp8_case(ctx, "grouped_masked fp8 G=3 M_max=5 masked=[5,3,0] N=2112 K=1536", GemmLayout::kGroupedMasked, 3, 5,
                 2112, 1536, {}, {5, 3, 0}, both);
  if (!CublasLt::available()) {
    std::printf("[skip] cuBLASLt GEMMs: built without cuBLASLt\n");
    return;
  }
  CublasLt lt;
  check_cublaslt(ctx, lt, 128, 2112, 7168);
  check_cublaslt(ctx, lt, 333, 4096, 512);
}

Fp8GemmImpl select_gemm_impl(Context& ctx) {
  const int failed_before = ctx.failed;
  try {
    check_fp8_case(ctx, "gemm fp8 selection check M=256 N=2112 K=1536", GemmLayout::kNormal, 1, 256, 2112, 1536, {}, {},
                   {Fp8GemmImpl::kWgmma});
  } catch (const CudaError&) {
    std::printf("wgmma FP8 GEMM failed to run; the rest of this process cannot use the GPU\n");
    throw;
  }
  const bool wgmma_ok = ctx.failed == failed_before;
  ctx.failed = failed_before;  // a selection, not a test result
  std::printf("FP8 GEMM implementation for timing: %s\n", wgmma_ok ? "wgmma" : "mma_sync (wgmma failed its check)");
  return wgmma_ok ? Fp8GemmImpl::kWgmma : Fp8GemmImpl::kMmaSync;
}

Fp8Sets make_fp8_sets(Context& ctx, GemmLayout layout, int groups, int m, int n, int k) {
  Fp8Sets s;
  const int a_rows = layout == GemmLayout::kGroupedMasked ? groups * m : m;
  const int kb = k / 128, nb = (n + 127) / 128;
  const std::size_t a_bytes = static_cast<std::size_t>(a_rows) * k, b_bytes = static_cast<std::size_t>(groups) * n * k;
  const std::size_t d_bytes = static_cast<std::size_t>(a_rows) * n * 2;
  const std::size_t sfa_count = static_cast<std::size_t>(kb) * sfa_leading_dim(a_rows);
  const std::size_t sfb_count = static_cast<std::size_t>(groups) * nb * kb;
  const int sets = ctx.rotations(a_bytes + b_bytes + d_bytes + 4 * (sfa_count + sfb_count));
  std::vector<int> idx, mask;
  if (layout == GemmLayout::kGroupedContiguous)
    for (int r = 0; r < a_rows; ++r) idx.push_back(r / (a_rows / groups));
  if (layout == GemmLayout::kGroupedMasked) mask.assign(static_cast<std::size_t>(groups), m);
  s.idx = to_device(idx.empty() ? std::vector<int>{0} : idx);
  s.mask = to_device(mask.empty() ? std::vector<int>{0} : mask);
  for (int i = 0; i < sets; ++i) {
    s.a.emplace_back(a_bytes);
    s.b.emplace_back(b_bytes);
    s.d.emplace_back(d_bytes);
    s.sfa.emplace_back(sfa_count * 4);
    s.sfb.emplace_back(sfb_count * 4);
    fill_random_fp8(s.a.back().as(), a_bytes, ctx.next_seed(), 64.0f, ctx.stream);
    fill_random_fp8(s.b.back().as(), b_bytes, ctx.next_seed(), 64.0f, ctx.stream);
    fill_random_f32(s.sfa.back().as<float>(), sfa_count, ctx.next_seed(), 1e-3f, 1e-2f, ctx.stream);
    fill_random_f32(s.sfb.back().as<float>(), sfb_count, ctx.next_seed(), 1e-3f, 1e-2f, ctx.stream);
    poison(s.d.back().as(), d_bytes, ctx.stream);
    Fp8GemmArgs a;
    a.layout = layout;
    a.m = m;
    a.n = n;
    a.k = k;
    a.groups = groups;
    a.a = s.a.back().as<std::uint8_t>();
    a.sfa = s.sfa.back().as<float>();
    a.b = s.b.back().as<std::uint8_t>();
    a.sfb = s.sfb.back().as<float>();
    a.d = s.d.back().as<std::uint16_t>();
    a.m_indices = s.idx.as<int>();
    a.masked_m = s.mask.as<int>();
    s.args.push_back(a);
  }
  return s;
}

namespace {

std::size_t unwritten_bf16(const std::vector<DeviceBuffer>& outputs) {
  std::size_t n = 0;
  for (const auto& d : outputs) n += count_nan_bf16(d.as(), d.bytes() / 2);
  return n;
}

void gemm_csv_row(Context& ctx, const std::string& kernel, const std::string& dtype, int groups, int m, int n, int k,
                  const Timing& t) {
  const double tflops = 2.0 * groups * m * static_cast<double>(n) * k / (t.median_us * 1e-6) / 1e12;
  ctx.gemm->row({kernel, dtype, CsvTable::cell(static_cast<long long>(groups)), CsvTable::cell(static_cast<long long>(m)),
                 CsvTable::cell(static_cast<long long>(n)), CsvTable::cell(static_cast<long long>(k)),
                 CsvTable::cell(t.median_us, 3), CsvTable::cell(tflops, 1), CsvTable::cell(t.power.average_w, 1)});
  char rate[64];
  std::snprintf(rate, sizeof rate, "%8.1f TFLOPS", tflops);
  ctx.print_timing(kernel + " " + dtype + " G=" + std::to_string(groups) + " M=" + std::to_string(m) + " N=" +
                       std::to_string(n) + " K=" + std::to_string(k),
                   t, rate);
}

void baseline_row(Context& ctx, const std::string& kernel, const std::string& impl, const std::string& dtype, int groups,
                  int m, int n, int k, const Timing& t) {
  const double tflops = 2.0 * groups * m * static_cast<double>(n) * k / (t.median_us * 1e-6) / 1e12;
  ctx.baselines->row({kernel, impl, dtype, CsvTable::cell(static_cast<long long>(groups)),
                      CsvTable::cell(static_cast<long long>(m)), CsvTable::cell(static_cast<long long>(n)),
                      CsvTable::cell(static_cast<long long>(k)), CsvTable::cell(t.median_us, 3), CsvTable::cell(tflops, 1),
                      CsvTable::cell(t.power.average_w, 1)});
  char rate[64];
  std::snprintf(rate, sizeof rate, "%8.1f TFLOPS", tflops);
  ctx.print_timing("baseline " + impl + " " + kernel + " " + dtype + " M=" + std::to_string(m) + " N=" + std::to_string(n) +
                       " K=" + std::to_string(k),
                   t, rate);
}

Timing time_fp8(Context& ctx, Fp8Sets& s, Fp8GemmImpl impl) {
  const Timing t = time_calls(
      [&](int i) { sm90_fp8_gemm(s.args[static_cast<std::size_t>(i) % s.args.size()], impl, ctx.stream); },
      static_cast<int>(s.args.size()), ctx.stream, ctx.timing, ctx.power.get());
  if (const std::size_t bad = unwritten_bf16(s.d))
    throw CudaError("FP8 GEMM left " + std::to_string(bad) + " output elements unwritten");
  return t;
}

}  // namespace

void bench_gemm(Context& ctx) {
  const auto ms = ctx.space.ints("gemm.m", {64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384});
  const auto nks = ctx.space.pairs("gemm.nk", {{2112, 7168}, {24576, 1536}, {32768, 512}, {7168, 16384}, {4096, 7168}, {7168, 2048}});
  const auto dtypes = ctx.space.strings("gemm.dtypes", {"fp8", "bf16"});
  const auto baseline_ms = ctx.space.ints("gemm.baseline_m", {128, 4096});
  const auto baselines = ctx.space.strings("gemm.baselines", {"cublaslt_fp8_per_tensor", "mma_sync"});
  const bool have_lt = CublasLt::available();
  if (!have_lt) std::printf("built without cuBLASLt: no BF16 rows, no cuBLASLt baseline\n");
  auto has = [&](const std::vector<std::string>& v, const std::string& s) {
    if (!have_lt && (s == "bf16" || s == "cublaslt_fp8_per_tensor")) return false;
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  auto is_baseline_m = [&](std::int64_t m) { return std::find(baseline_ms.begin(), baseline_ms.end(), m) != baseline_ms.end(); };
  std::unique_ptr<CublasLt> lt_owner = have_lt ? std::make_unique<CublasLt>() : nullptr;
  CublasLt* lt_ptr = lt_owner.get();
  // BF16 through cuBLASLt (the rate the cost model transfers to BF16 ops: attention projections, the head, dense
  // models); rotating input sets larger than the L2, outputs poisoned and checked for unwritten (NaN) elements.
  auto time_bf16 = [&](int m, int n, int k) {
    const std::size_t a_bytes = static_cast<std::size_t>(m) * k * 2, b_bytes = static_cast<std::size_t>(n) * k * 2;
    const std::size_t d_bytes = static_cast<std::size_t>(m) * n * 2;
    const int sets = ctx.rotations(a_bytes + b_bytes + d_bytes);
    std::vector<DeviceBuffer> a, b, d;
    for (int i = 0; i < sets; ++i) {
      a.emplace_back(a_bytes);
      b.emplace_back(b_bytes);
      d.emplace_back(d_bytes);
      fill_random_bf16(a.back().as(), a_bytes / 2, ctx.next_seed(), 1.0f, ctx.stream);
      fill_random_bf16(b.back().as(), b_bytes / 2, ctx.next_seed(), 0.05f, ctx.stream);
      poison(d.back().as(), d_bytes, ctx.stream);
    }
    const Timing t = time_calls(
        [&](int i) {
          const auto j = static_cast<std::size_t>(i) % a.size();
          lt_ptr->bf16_gemm(a[j].as(), b[j].as(), d[j].as(), m, n, k, ctx.stream);
        },
        sets, ctx.stream, ctx.timing, ctx.power.get());
    if (const std::size_t bad = unwritten_bf16(d))
      throw CudaError("BF16 GEMM left " + std::to_string(bad) + " NaN outputs");
    gemm_csv_row(ctx, "gemm", "bf16", 1, m, n, k, t);
  };
  for (const auto& [n64, k64] : nks) {
    const int n = static_cast<int>(n64), k = static_cast<int>(k64);
    for (const auto m64 : ms) {
      const int m = static_cast<int>(m64);
      if (ctx.quick && m != 128 && m != 4096) continue;
      if (has(dtypes, "fp8")) {
        Fp8Sets s = make_fp8_sets(ctx, GemmLayout::kNormal, 1, m, n, k);
        gemm_csv_row(ctx, "gemm", "fp8", 1, m, n, k, time_fp8(ctx, s, ctx.gemm_impl));
        if (is_baseline_m(m) && has(baselines, "mma_sync") && ctx.gemm_impl != Fp8GemmImpl::kMmaSync)
          baseline_row(ctx, "gemm", "mma_sync", "fp8", 1, m, n, k, time_fp8(ctx, s, Fp8GemmImpl::kMmaSync));
        if (is_baseline_m(m) && has(baselines, "cublaslt_fp8_per_tensor")) try {
            DeviceBuffer scales(32);  // the two scales at floats 0 and 4 (16-byte aligned)
            fill_random_f32(scales.as<float>(), 8, ctx.next_seed(), 1e-3f, 1e-2f, ctx.stream);
            const Timing t = time_calls(
                [&](int i) {
                  const auto& a = s.args[static_cast<std::size_t>(i) % s.args.size()];
                  lt_ptr->fp8_gemm_per_tensor(a.a, scales.as<float>(), a.b, scales.as<float>() + 4, a.d, m, n, k,
                                              ctx.stream);
                },
                static_cast<int>(s.args.size()), ctx.stream, ctx.timing, ctx.power.get());
            baseline_row(ctx, "gemm", "cublaslt_per_tensor", "fp8", 1, m, n, k, t);
          } catch (const CudaError& e) {  // a baseline: its refusal leaves the profile's rows alone
            if (std::string(e.what()).rfind("cuBLASLt", 0) != 0) throw;
            std::printf("baseline cublaslt_per_tensor M=%d N=%d K=%d not measured: %s\n", m, n, k, e.what());
          }
      }
      if (has(dtypes, "bf16")) time_bf16(m, n, k);
    }
  }
  // BF16-only shapes beside DeepSeek's (gemm.bf16_nk): its BF16 output head and the dense models' projections.
  if (has(dtypes, "bf16"))
    for (const auto& [n64, k64] : ctx.space.pairs("gemm.bf16_nk", {}))
      for (const auto m64 : ms) {
        if (ctx.quick && m64 != 128 && m64 != 4096) continue;
        time_bf16(static_cast<int>(m64), static_cast<int>(n64), static_cast<int>(k64));
      }
  // Grouped GEMMs for MoE experts (FP8, the V3 recipe).
  const auto c_groups = ctx.space.ints("grouped_contiguous.groups", {4, 8, 32});
  const auto c_ms = ctx.space.ints("grouped_contiguous.m", {128, 256, 512, 1024, 2048, 4096, 8192});
  const auto c_nks = ctx.space.pairs("grouped_contiguous.nk", {{4096, 7168}, {7168, 2048}});
  for (const auto& [n64, k64] : c_nks)
    for (const auto g64 : c_groups)
      for (const auto m64 : c_ms) {
        const int g = static_cast<int>(g64), m = static_cast<int>(m64), n = static_cast<int>(n64), k = static_cast<int>(k64);
        if (m % 128 != 0) throw std::runtime_error("grouped_contiguous.m values must be multiples of 128");
        if (ctx.quick && m != 4096) continue;
        Fp8Sets s = make_fp8_sets(ctx, GemmLayout::kGroupedContiguous, g, g * m, n, k);
        gemm_csv_row(ctx, "grouped_contiguous", "fp8", g, m, n, k, time_fp8(ctx, s, ctx.gemm_impl));
      }
  const auto k_groups = ctx.space.ints("grouped_masked.groups", {1, 2, 4, 8, 32});
  const auto k_ms = ctx.space.ints("grouped_masked.m", {1, 8, 32, 64, 128, 256, 512, 1024});
  const auto k_nks = ctx.space.pairs("grouped_masked.nk", {{4096, 7168}, {7168, 2048}});
  for (const auto& [n64, k64] : k_nks)
    for (const auto g64 : k_groups)
      for (const auto m64 : k_ms) {
        const int g = static_cast<int>(g64), m = static_cast<int>(m64), n = static_cast<int>(n64), k = static_cast<int>(k64);
        if (ctx.quick && m != 128) continue;
        Fp8Sets s = make_fp8_sets(ctx, GemmLayout::kGroupedMasked, g, m, n, k);
        gemm_csv_row(ctx, "grouped_masked", "fp8", g, m, n, k, time_fp8(ctx, s, ctx.gemm_impl));
      }
}

}  // namespace fleetsim::kernels
