// Router, permute and unpermute: checks and benchmarks.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "common/cuda_util.hpp"
#include "common/numeric.hpp"
#include "driver/driver.hpp"
#include "moe/sm90_moe.hpp"
#include "reference/ref_moe.hpp"

namespace fleetsim::kernels {
namespace {

constexpr int kExperts = 256, kTopk = 8;

void elementwise_row(Context& ctx, const std::string& kernel, const std::string& dtype, long long rows, long long cols,
                     double bytes, const Timing& t) {
  const double gbps = bytes / (t.median_us * 1e-6) / 1e9;
  ctx.elementwise->row({kernel, dtype, CsvTable::cell(rows), CsvTable::cell(cols),
                        CsvTable::cell(static_cast<long long>(bytes)), CsvTable::cell(t.median_us, 3),
                        CsvTable::cell(gbps, 1), CsvTable::cell(t.power.average_w, 1)});
  char rate[64];
  std::snprintf(rate, sizeof rate, "%8.1f GB/s", gbps);
  ctx.print_timing(kernel + " " + dtype + " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols), t, rate);
}

}  // namespace

void check_moe(Context& ctx) {
  // Router: random logits and bias; a token passes when the GPU's picks equal the reference's, or differ only by
  // near-ties (biased scores within 1e-5: __expf and std::exp may order a near-tie differently).
  {
    const int tokens = 1000;
    Rng rng(ctx.next_seed());
    std::vector<float> logits(static_cast<std::size_t>(tokens) * kExperts), bias(kExperts);
    for (auto& v : logits) v = rng.normal() * 2.0f;
    for (auto& v : bias) v = rng.normal() * 0.1f;
    std::vector<int> ref_idx(static_cast<std::size_t>(tokens) * kTopk);
    std::vector<float> ref_w(ref_idx.size());
    ref::router(logits.data(), bias.data(), tokens, ref::RouterConfig{}, ref_idx.data(), ref_w.data());
    DeviceBuffer dl = to_device(logits), db = to_device(bias), di(ref_idx.size() * 4), dw(ref_w.size() * 4);
    poison(di.as(), di.bytes(), ctx.stream);
    poison(dw.as(), dw.bytes(), ctx.stream);
    sm90_router(dl.as<float>(), db.as<float>(), tokens, 2.5f, di.as<int>(), dw.as<float>(), ctx.stream);
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    const auto idx = to_host<int>(di.as(), ref_idx.size());
    const auto w = to_host<float>(dw.as(), ref_w.size());
    // Every token's picks must follow the rule (near-ties within 1e-5 may break either way); the weights are
    // compared with the reference formula applied to the GPU's own picks.
    int exact = 0, near_tie = 0, wrong = 0;
    std::string first_error;
    std::vector<float> want_w(w.size());
    for (int t = 0; t < tokens; ++t) {
      const auto off = static_cast<std::size_t>(t) * kTopk;
      const bool same = std::equal(idx.begin() + static_cast<long>(off), idx.begin() + static_cast<long>(off + kTopk),
                                   ref_idx.begin() + static_cast<long>(off));
      const std::string why = ref::validate_router_picks(&logits[static_cast<std::size_t>(t) * kExperts], bias.data(),
                                                         ref::RouterConfig{}, &idx[off], 1e-5f);
      if (!why.empty()) {
        ++wrong;
        if (first_error.empty()) first_error = "token " + std::to_string(t) + ": " + why;
        continue;
      }
      (same ? exact : near_tie)++;
      float sum = 0.0f;
      for (int k = 0; k < kTopk; ++k) sum += 1.0f / (1.0f + std::exp(-logits[static_cast<std::size_t>(t) * kExperts + idx[off + k]]));
      for (int k = 0; k < kTopk; ++k)
        want_w[off + k] = 1.0f / (1.0f + std::exp(-logits[static_cast<std::size_t>(t) * kExperts + idx[off + k]])) / sum * 2.5f;
    }
    ctx.report_bool("router T=1000 (256 experts, 8 groups, top-4 groups, top-8)", wrong == 0,
                    std::to_string(exact) + " as the reference, " + std::to_string(near_tie) + " near-ties broken otherwise, " +
                        std::to_string(wrong) + " wrong" + (first_error.empty() ? "" : " (" + first_error + ")"));
    if (wrong == 0) ctx.report("router weights", relative_error(w, want_w), 1e-5, count_non_finite(w));
  }
  // Permute / unpermute with the contiguous grouped GEMM's 128-row alignment and packed.
  for (int align : {128, 1}) {
    const int tokens = 512, hidden = 7168;
    Rng rng(ctx.next_seed());
    std::vector<int> topk(static_cast<std::size_t>(tokens) * kTopk);
    for (int t = 0; t < tokens; ++t) {  // distinct experts per token, skewed towards the low ids
      std::vector<int> picked;
      while (static_cast<int>(picked.size()) < kTopk) {
        const int e = static_cast<int>(std::pow(rng.uniform(), 2.0) * kExperts) % kExperts;
        if (std::find(picked.begin(), picked.end(), e) == picked.end()) picked.push_back(e);
      }
      std::copy(picked.begin(), picked.end(), topk.begin() + static_cast<long>(t) * kTopk);
    }
    const auto x = random_bf16(static_cast<std::size_t>(tokens) * hidden, ctx.next_seed());
    const int capacity = tokens * kTopk + kExperts * (align - 1);
    DeviceBuffer dx = to_device(x), dt = to_device(topk), dbegin((kExperts + 1) * 4), drow(topk.size() * 4),
        didx(static_cast<std::size_t>(capacity) * 4), dws(2 * kExperts * 4), dout(static_cast<std::size_t>(capacity) * hidden * 2);
    for (DeviceBuffer* b : {&dbegin, &drow, &didx, &dout}) poison(b->as(), b->bytes(), ctx.stream);
    const PermuteBuffers bufs{dbegin.as<int>(), drow.as<int>(), didx.as<int>(), dws.as<int>(), dout.as<std::uint16_t>(), capacity};
    sm90_permute(dx.as<std::uint16_t>(), dt.as<int>(), tokens, hidden, kTopk, kExperts, align, bufs, ctx.stream);
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    const auto begin = to_host<int>(dbegin.as(), kExperts + 1);
    const auto rows = to_host<int>(drow.as(), topk.size());
    const std::string name = "permute T=512 H=7168 top-8 align=" + std::to_string(align);
    const std::string layout_error = ref::validate_layout(topk.data(), tokens, kTopk, kExperts, align, begin, rows);
    ctx.report_bool(name + " layout", layout_error.empty(), layout_error);
    if (!layout_error.empty()) continue;
    const auto out = to_host<std::uint16_t>(dout.as(), static_cast<std::size_t>(capacity) * hidden);
    const auto m_idx = to_host<int>(didx.as(), static_cast<std::size_t>(begin[kExperts]));
    std::size_t mismatched = 0;
    for (std::size_t c = 0; c < rows.size(); ++c) {
      const std::size_t t = c / kTopk;
      mismatched += std::equal(x.begin() + static_cast<long>(t * hidden), x.begin() + static_cast<long>((t + 1) * hidden),
                               out.begin() + static_cast<long>(static_cast<std::size_t>(rows[c]) * hidden)) ? 0 : 1;
    }
    const ref::PermuteLayout want = ref::permute_layout(topk.data(), tokens, kTopk, kExperts, align);
    ctx.report_bool(name + " rows and m_indices", mismatched == 0 && m_idx == want.m_indices,
                    std::to_string(mismatched) + " copies differ from their token's row");
    // Unpermute: y random in the permuted layout, weights random; uses the GPU's layout.
    const auto y = random_bf16(static_cast<std::size_t>(begin[kExperts]) * hidden, ctx.next_seed());
    std::vector<float> w(topk.size());
    for (auto& v : w) v = rng.uniform(0.05f, 0.5f);
    DeviceBuffer dy = to_device(y), dw = to_device(w), dc(static_cast<std::size_t>(tokens) * hidden * 2);
    poison(dc.as(), dc.bytes(), ctx.stream);
    sm90_unpermute(dy.as<std::uint16_t>(), drow.as<int>(), dw.as<float>(), tokens, hidden, kTopk, dc.as<std::uint16_t>(), ctx.stream);
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    ref::PermuteLayout gpu_layout = want;
    gpu_layout.dest_row = rows;
    std::vector<float> ref_out(static_cast<std::size_t>(tokens) * hidden);
    ref::unpermute(y.data(), w.data(), tokens, hidden, kTopk, gpu_layout, ref_out.data());
    const auto got = bf16_vector_to_float(to_host<std::uint16_t>(dc.as(), ref_out.size()));
    ctx.report("unpermute T=512 H=7168 top-8 align=" + std::to_string(align), relative_error(got, ref_out), 5e-3,
               count_non_finite(got));
  }
}

void bench_moe(Context& ctx) {
  const auto token_counts = ctx.space.ints("moe.tokens", {64, 256, 1024, 4096, 16384});
  const int hidden = static_cast<int>(ctx.space.int_value("moe.hidden", 7168));
  const int align = static_cast<int>(ctx.space.int_value("permute.align", 128));
  for (const auto t64 : token_counts) {
    const int tokens = static_cast<int>(t64);
    if (ctx.quick && tokens != 4096) continue;
    {  // router
      const std::size_t set = static_cast<std::size_t>(tokens) * kExperts * 4;
      const int sets = ctx.rotations(set);
      std::vector<DeviceBuffer> logits, idx, w;
      DeviceBuffer bias(kExperts * 4);
      fill_random_f32(bias.as<float>(), kExperts, ctx.next_seed(), -0.1f, 0.1f, ctx.stream);
      for (int i = 0; i < sets; ++i) {
        logits.emplace_back(set);
        idx.emplace_back(static_cast<std::size_t>(tokens) * kTopk * 4);
        w.emplace_back(static_cast<std::size_t>(tokens) * kTopk * 4);
        fill_random_f32(logits.back().as<float>(), set / 4, ctx.next_seed(), -4.0f, 4.0f, ctx.stream);
      }
      const Timing t = time_calls(
          [&](int i) {
            const auto j = static_cast<std::size_t>(i) % logits.size();
            sm90_router(logits[j].as<float>(), bias.as<float>(), tokens, 2.5f, idx[j].as<int>(), w[j].as<float>(), ctx.stream);
          },
          sets, ctx.stream, ctx.timing, ctx.power.get());
      const double bytes = static_cast<double>(set) + kExperts * 4 + static_cast<double>(tokens) * kTopk * 8;
      elementwise_row(ctx, "router", "fp32", tokens, kExperts, bytes, t);
    }
    // Permute and unpermute: the routing is random top-8 of 256 (uniform), hidden BF16.
    const int capacity = tokens * kTopk + kExperts * (align - 1);
    const std::size_t x_bytes = static_cast<std::size_t>(tokens) * hidden * 2;
    const std::size_t out_bytes = static_cast<std::size_t>(capacity) * hidden * 2;
    const int sets = ctx.rotations(x_bytes + out_bytes);
    struct Set {
      DeviceBuffer x, topk, begin, rows, idx, ws, out, y, w, comb;
    };
    std::vector<Set> s(static_cast<std::size_t>(sets));
    Rng rng(ctx.next_seed());
    std::vector<int> topk(static_cast<std::size_t>(tokens) * kTopk);
    for (int t = 0; t < tokens; ++t)
      for (int k = 0; k < kTopk; ++k)  // 8 distinct experts: a random start and stride 32 (one per group)
        topk[static_cast<std::size_t>(t) * kTopk + k] = (static_cast<int>(rng.uniform() * 32) + 32 * k) % kExperts;
    for (auto& e : s) {
      e.x = DeviceBuffer(x_bytes);
      e.topk = to_device(topk);
      e.begin = DeviceBuffer((kExperts + 1) * 4);
      e.rows = DeviceBuffer(topk.size() * 4);
      e.idx = DeviceBuffer(static_cast<std::size_t>(capacity) * 4);
      e.ws = DeviceBuffer(2 * kExperts * 4);
      e.out = DeviceBuffer(out_bytes);
      e.w = DeviceBuffer(topk.size() * 4);
      e.comb = DeviceBuffer(x_bytes);
      fill_random_bf16(e.x.as(), x_bytes / 2, ctx.next_seed(), 1.0f, ctx.stream);
      fill_random_bf16(e.out.as(), out_bytes / 2, ctx.next_seed(), 1.0f, ctx.stream);  // y for unpermute
      fill_random_f32(e.w.as<float>(), topk.size(), ctx.next_seed(), 0.05f, 0.5f, ctx.stream);
      poison(e.comb.as(), x_bytes, ctx.stream);
    }
    const Timing tp = time_calls(
        [&](int i) {
          auto& e = s[static_cast<std::size_t>(i) % s.size()];
          const PermuteBuffers b{e.begin.as<int>(), e.rows.as<int>(), e.idx.as<int>(), e.ws.as<int>(), e.out.as<std::uint16_t>(), capacity};
          sm90_permute(e.x.as<std::uint16_t>(), e.topk.as<int>(), tokens, hidden, kTopk, kExperts, align, b, ctx.stream);
        },
        sets, ctx.stream, ctx.timing, ctx.power.get());
    const double copies = static_cast<double>(tokens) * kTopk;
    elementwise_row(ctx, "permute", "bf16", tokens, hidden,
                    static_cast<double>(x_bytes) + copies * hidden * 2 + copies * 4 * 3, tp);
    // Every set gets a layout (dest_row) before unpermute reads through it, whatever the permute loop covered.
    for (auto& e : s) {
      const PermuteBuffers b{e.begin.as<int>(), e.rows.as<int>(), e.idx.as<int>(), e.ws.as<int>(), e.out.as<std::uint16_t>(), capacity};
      sm90_permute(e.x.as<std::uint16_t>(), e.topk.as<int>(), tokens, hidden, kTopk, kExperts, align, b, ctx.stream);
    }
    const Timing tu = time_calls(
        [&](int i) {
          auto& e = s[static_cast<std::size_t>(i) % s.size()];
          sm90_unpermute(e.out.as<std::uint16_t>(), e.rows.as<int>(), e.w.as<float>(), tokens, hidden, kTopk,
                         e.comb.as<std::uint16_t>(), ctx.stream);
        },
        sets, ctx.stream, ctx.timing, ctx.power.get());
    for (auto& e : s)
      if (count_nan_bf16(e.comb.as(), x_bytes / 2)) throw CudaError("unpermute produced NaN outputs");
    elementwise_row(ctx, "unpermute", "bf16", tokens, hidden,
                    copies * hidden * 2 + static_cast<double>(x_bytes) + copies * 8, tu);
  }
}

}  // namespace fleetsim::kernels
