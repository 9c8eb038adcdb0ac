// RMSNorm, SwiGLU, RoPE, embedding, cross-entropy (forward and backward): checks and benchmarks.
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

#include "common/cuda_util.hpp"
#include "common/numeric.hpp"
#include "driver/driver.hpp"
#include "elementwise/sm90_elementwise.hpp"
#include "reference/ref_elementwise.hpp"

namespace fleetsim::kernels {
namespace {

constexpr double kBf16OutTolerance = 5e-3;
constexpr int kVocab = 129280, kRopeDim = 64;
constexpr float kEps = 1e-6f, kTheta = 10000.0f;

void row(Context& ctx, const std::string& kernel, long long rows, long long cols, double bytes, const Timing& t) {
  const double gbps = bytes / (t.median_us * 1e-6) / 1e9;
  ctx.elementwise->row({kernel, "bf16", CsvTable::cell(rows), CsvTable::cell(cols), CsvTable::cell(static_cast<long long>(bytes)),
                        CsvTable::cell(t.median_us, 3), CsvTable::cell(gbps, 1), CsvTable::cell(t.power.average_w, 1)});
  char rate[64];
  std::snprintf(rate, sizeof rate, "%8.1f GB/s", gbps);
  ctx.print_timing(kernel + " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols), t, rate);
}

// Rotating sets of one input buffer and one output buffer; `make` fills a set, `run` launches on a set.
struct Rotating {
  std::vector<DeviceBuffer> in, out;
};
Rotating make_rotating(Context& ctx, std::size_t in_bytes, std::size_t out_bytes) {
  Rotating r;
  const int sets = ctx.rotations(in_bytes + out_bytes);
  for (int i = 0; i < sets; ++i) {
    r.in.emplace_back(in_bytes);
    r.out.emplace_back(out_bytes);
    fill_random_bf16(r.in.back().as(), in_bytes / 2, ctx.next_seed(), 1.0f, ctx.stream);
    poison(r.out.back().as(), out_bytes, ctx.stream);
  }
  return r;
}
Timing time_rotating(Context& ctx, Rotating& r, const std::function<void(const void*, void*)>& run) {
  return time_calls(
      [&](int i) {
        const auto j = static_cast<std::size_t>(i) % r.in.size();
        run(r.in[j].as(), r.out[j].as());
      },
      static_cast<int>(r.in.size()), ctx.stream, ctx.timing, ctx.power.get());
}
void expect_written_bf16(const Rotating& r, const char* what) {
  for (const auto& o : r.out)
    if (count_nan_bf16(o.as(), o.bytes() / 2)) throw CudaError(std::string(what) + " left NaN outputs");
}

}  // namespace

void check_elementwise(Context& ctx) {
  // One case per launch shape of sm90_rmsnorm (threads per row 32/32/128/256), rows not a multiple of the rows per
  // block.
  for (const auto& [rows, cols] : std::vector<std::pair<int, int>>{{37, 512}, {19, 1536}, {33, 7168}, {3, 16384}}) {
    const auto x = random_bf16(static_cast<std::size_t>(rows) * cols, ctx.next_seed());
    const auto w = random_bf16(cols, ctx.next_seed());
    DeviceBuffer dx = to_device(x), dw = to_device(w), dy(x.size() * 2);
    poison(dy.as(), dy.bytes(), ctx.stream);
    sm90_rmsnorm(dx.as<std::uint16_t>(), dw.as<std::uint16_t>(), dy.as<std::uint16_t>(), rows, cols, kEps, ctx.stream);
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    std::vector<float> want(x.size());
    ref::rmsnorm(x.data(), w.data(), rows, cols, kEps, want.data());
    const auto got = bf16_vector_to_float(to_host<std::uint16_t>(dy.as(), x.size()));
    ctx.report("rmsnorm " + std::to_string(rows) + "x" + std::to_string(cols), relative_error(got, want),
               kBf16OutTolerance, count_non_finite(got));
  }
  {
    const int rows = 65, cols = 2048;
    const auto in = random_bf16(static_cast<std::size_t>(rows) * cols * 2, ctx.next_seed());
    DeviceBuffer din = to_device(in), dy(static_cast<std::size_t>(rows) * cols * 2);
    poison(dy.as(), dy.bytes(), ctx.stream);
    sm90_swiglu(din.as<std::uint16_t>(), dy.as<std::uint16_t>(), rows, cols, ctx.stream);
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    std::vector<float> want(static_cast<std::size_t>(rows) * cols);
    ref::swiglu(in.data(), rows, cols, want.data());
    const auto got = bf16_vector_to_float(to_host<std::uint16_t>(dy.as(), want.size()));
    ctx.report("swiglu 65x2048", relative_error(got, want), kBf16OutTolerance, count_non_finite(got));
  }
  {
    const int tokens = 77, heads = 16;
    const auto x = random_bf16(static_cast<std::size_t>(tokens) * heads * kRopeDim, ctx.next_seed());
    std::vector<int> pos(tokens);
    Rng rng(ctx.next_seed());
    for (auto& p : pos) p = static_cast<int>(rng.uniform() * 32768);
    DeviceBuffer dx = to_device(x), dp = to_device(pos), dy(x.size() * 2);
    poison(dy.as(), dy.bytes(), ctx.stream);
    sm90_rope(dx.as<std::uint16_t>(), dp.as<int>(), dy.as<std::uint16_t>(), tokens, heads, kTheta, ctx.stream);
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    std::vector<float> want(x.size());
    ref::rope(x.data(), pos.data(), tokens, heads, kRopeDim, kTheta, want.data());
    const auto got = bf16_vector_to_float(to_host<std::uint16_t>(dy.as(), x.size()));
    ctx.report("rope 77x16x64 (positions < 32768)", relative_error(got, want), kBf16OutTolerance, count_non_finite(got));
  }
  {
    const int tokens = 100, vocab = 1000, hidden = 7168;
    const auto table = random_bf16(static_cast<std::size_t>(vocab) * hidden, ctx.next_seed());
    std::vector<int> ids(tokens);
    Rng rng(ctx.next_seed());
    for (auto& i : ids) i = static_cast<int>(rng.uniform() * vocab) % vocab;
    DeviceBuffer dt = to_device(table), di = to_device(ids), dout(static_cast<std::size_t>(tokens) * hidden * 2);
    poison(dout.as(), dout.bytes(), ctx.stream);
    sm90_embedding(di.as<int>(), dt.as<std::uint16_t>(), dout.as<std::uint16_t>(), tokens, hidden, ctx.stream);
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    std::vector<float> want(static_cast<std::size_t>(tokens) * hidden);
    ref::embedding(ids.data(), table.data(), tokens, hidden, want.data());
    const auto got = bf16_vector_to_float(to_host<std::uint16_t>(dout.as(), want.size()));
    ctx.report("embedding 100 x 7168 (exact copy)", relative_error(got, want), 0.0, count_non_finite(got));
  }
  // The embedding's gradient, PyTorch's dense way. Distinct ids: each touched row is one BF16 row added once onto
  // zero (exact) and then into the FP32 gradient (one FP32 rounding). Shared ids: rows meet in BF16 atomics, in any
  // order, so a row's sum is rounded a few times where the reference rounds it once.
  for (const bool shared : {false, true}) {
    const int tokens = shared ? 200 : 100, vocab = shared ? 64 : 1000, hidden = 7168;
    const auto grad_out = random_bf16(static_cast<std::size_t>(tokens) * hidden, ctx.next_seed());
    const auto start = bf16_vector_to_float(random_bf16(static_cast<std::size_t>(vocab) * hidden, ctx.next_seed()));
    std::vector<int> ids(tokens);
    Rng rng(ctx.next_seed());
    for (int t = 0; t < tokens; ++t)
      ids[t] = shared ? static_cast<int>(rng.uniform() * vocab) % vocab : (t * 7) % vocab;  // 7 is prime to 1000
    DeviceBuffer di = to_device(ids), dg = to_device(grad_out), dmain = to_device(start),
                 dtable(static_cast<std::size_t>(vocab) * hidden * 2);
    poison(dtable.as(), dtable.bytes(), ctx.stream);
    sm90_embedding_backward_dense(di.as<int>(), dg.as<std::uint16_t>(), dtable.as<std::uint16_t>(), dmain.as<float>(),
                                  tokens, vocab, hidden, ctx.stream);
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    std::vector<float> want = start;
    ref::embedding_backward_dense(ids.data(), grad_out.data(), tokens, vocab, hidden, want.data());
    const auto got = to_host<float>(dmain.as(), want.size());
    ctx.report(shared ? "embedding gradient 200 tokens onto 64 rows (shared ids, BF16 atomics)"
                      : "embedding gradient 100 tokens onto 1000 x 7168 (distinct ids)",
               relative_error(got, want), shared ? 1e-2 : 1e-6, count_non_finite(got));
  }
  {
    const int rows = 9;
    const auto logits = random_bf16(static_cast<std::size_t>(rows) * kVocab, ctx.next_seed(), 3.0f);
    std::vector<int> labels(rows);
    std::vector<float> grad_loss(rows);
    Rng rng(ctx.next_seed());
    for (auto& l : labels) l = static_cast<int>(rng.uniform() * kVocab) % kVocab;
    for (auto& g : grad_loss) g = static_cast<float>(0.25 + rng.uniform());  // the loss weight of each token
    DeviceBuffer dl = to_device(logits), dlab = to_device(labels), dg = to_device(grad_loss), dloss(rows * 4),
                 dlse(rows * 4), dgrad(logits.size() * 2);
    poison(dloss.as(), dloss.bytes(), ctx.stream);
    poison(dlse.as(), dlse.bytes(), ctx.stream);
    poison(dgrad.as(), dgrad.bytes(), ctx.stream);
    sm90_cross_entropy(dl.as<std::uint16_t>(), dlab.as<int>(), dloss.as<float>(), dlse.as<float>(), rows, kVocab,
                       ctx.stream);
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    std::vector<float> want(rows), want_lse(rows);
    ref::cross_entropy(logits.data(), labels.data(), rows, kVocab, want.data(), want_lse.data());
    const auto got = to_host<float>(dloss.as(), rows);
    const auto got_lse = to_host<float>(dlse.as(), rows);
    ctx.report("cross_entropy 9 x 129280", relative_error(got, want), 1e-4, count_non_finite(got));
    ctx.report("cross_entropy log-sum-exp 9 x 129280", relative_error(got_lse, want_lse), 1e-5,
               count_non_finite(got_lse));
    // The backward from the reference's log-sum-exp, so that it is checked on its own.
    DeviceBuffer dref_lse = to_device(want_lse);
    sm90_cross_entropy_backward(dl.as<std::uint16_t>(), dlab.as<int>(), dref_lse.as<float>(), dg.as<float>(),
                                dgrad.as<std::uint16_t>(), rows, kVocab, ctx.stream);
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    std::vector<float> want_grad(logits.size());
    ref::cross_entropy_backward(logits.data(), labels.data(), want_lse.data(), grad_loss.data(), rows, kVocab,
                                want_grad.data());
    const auto got_grad = bf16_vector_to_float(to_host<std::uint16_t>(dgrad.as(), logits.size()));
    ctx.report("cross_entropy backward 9 x 129280", relative_error(got_grad, want_grad), kBf16OutTolerance,
               count_non_finite(got_grad));
  }
}

void bench_elementwise(Context& ctx) {
  const auto tokens_list = ctx.space.ints("elementwise.tokens", {64, 256, 1024, 4096, 16384});
  const auto norm_cols = ctx.space.ints("rmsnorm.cols", {7168, 1536, 512});
  const auto swiglu_cols = ctx.space.ints("swiglu.cols", {2048, 18432});
  const int rope_heads = static_cast<int>(ctx.space.int_value("rope.heads", 128));
  const int hidden = static_cast<int>(ctx.space.int_value("embedding.hidden", 7168));
  const int vocab = static_cast<int>(ctx.space.int_value("embedding.vocab", kVocab));
  const auto ce_tokens = ctx.space.ints("cross_entropy.tokens", {64, 256, 1024, 4096});
  DeviceBuffer table;  // the embedding table, made once
  for (const auto t64 : tokens_list) {
    const int tokens = static_cast<int>(t64);
    if (ctx.quick && tokens != 4096) continue;
    for (const auto c64 : norm_cols) {
      const int cols = static_cast<int>(c64);
      const std::size_t bytes = static_cast<std::size_t>(tokens) * cols * 2;
      DeviceBuffer w(static_cast<std::size_t>(cols) * 2);
      fill_random_bf16(w.as(), static_cast<std::size_t>(cols), ctx.next_seed(), 1.0f, ctx.stream);
      Rotating r = make_rotating(ctx, bytes, bytes);
      const Timing t = time_rotating(ctx, r, [&](const void* in, void* out) {
        sm90_rmsnorm(static_cast<const std::uint16_t*>(in), w.as<std::uint16_t>(), static_cast<std::uint16_t*>(out), tokens,
                     cols, kEps, ctx.stream);
      });
      expect_written_bf16(r, "rmsnorm");
      row(ctx, "rmsnorm", tokens, cols, 2.0 * bytes + cols * 2.0, t);
    }
    for (const auto c64 : swiglu_cols) {
      const int cols = static_cast<int>(c64);
      const std::size_t out_bytes = static_cast<std::size_t>(tokens) * cols * 2;
      Rotating r = make_rotating(ctx, 2 * out_bytes, out_bytes);
      const Timing t = time_rotating(ctx, r, [&](const void* in, void* out) {
        sm90_swiglu(static_cast<const std::uint16_t*>(in), static_cast<std::uint16_t*>(out), tokens, cols, ctx.stream);
      });
      expect_written_bf16(r, "swiglu");
      row(ctx, "swiglu", tokens, cols, 3.0 * out_bytes, t);
    }
    {
      const std::size_t bytes = static_cast<std::size_t>(tokens) * rope_heads * kRopeDim * 2;
      DeviceBuffer pos(static_cast<std::size_t>(tokens) * 4);
      fill_random_i32(pos.as<int>(), static_cast<std::size_t>(tokens), ctx.next_seed(), 0, 32768, ctx.stream);
      Rotating r = make_rotating(ctx, bytes, bytes);
      const Timing t = time_rotating(ctx, r, [&](const void* in, void* out) {
        sm90_rope(static_cast<const std::uint16_t*>(in), pos.as<int>(), static_cast<std::uint16_t*>(out), tokens, rope_heads,
                  kTheta, ctx.stream);
      });
      expect_written_bf16(r, "rope");
      row(ctx, "rope", tokens, static_cast<long long>(rope_heads) * kRopeDim, 2.0 * bytes + tokens * 4.0, t);
    }
    {
      // The table (129280 x 7168 BF16, 1.85 GB) is far larger than L2: one copy; the ids rotate.
      if (table.bytes() != static_cast<std::size_t>(vocab) * hidden * 2) {
        table = DeviceBuffer(static_cast<std::size_t>(vocab) * hidden * 2);
        fill_random_bf16(table.as(), static_cast<std::size_t>(vocab) * hidden, ctx.next_seed(), 1.0f, ctx.stream);
      }
      const std::size_t out_bytes = static_cast<std::size_t>(tokens) * hidden * 2;
      const int sets = ctx.rotations(out_bytes);
      std::vector<DeviceBuffer> ids, out;
      for (int i = 0; i < sets; ++i) {
        ids.emplace_back(static_cast<std::size_t>(tokens) * 4);
        out.emplace_back(out_bytes);
        fill_random_i32(ids.back().as<int>(), static_cast<std::size_t>(tokens), ctx.next_seed(), 0, vocab, ctx.stream);
        poison(out.back().as(), out_bytes, ctx.stream);
      }
      const Timing t = time_calls(
          [&](int i) {
            const auto j = static_cast<std::size_t>(i) % ids.size();
            sm90_embedding(ids[j].as<int>(), table.as<std::uint16_t>(), out[j].as<std::uint16_t>(), tokens, hidden, ctx.stream);
          },
          sets, ctx.stream, ctx.timing, ctx.power.get());
      for (const auto& o : out)
        if (count_nan_bf16(o.as(), out_bytes / 2)) throw CudaError("embedding left NaN outputs");
      row(ctx, "embedding", tokens, hidden, 2.0 * out_bytes + tokens * 4.0, t);
    }
  }
  for (const auto t64 : ce_tokens) {
    const int rows = static_cast<int>(t64);
    if (ctx.quick && rows != 1024) continue;
    // Forward: the logits in, each row's loss and log-sum-exp out. Backward: the logits, labels, log-sum-exps and
    // loss gradients in, the logits' gradient (BF16) out. Both as fleetsim's op graph counts them
    // (sim/graph/blocks_embedding_head.cpp), plus the backward's per-row loss gradient.
    const std::size_t bytes = static_cast<std::size_t>(rows) * kVocab * 2;
    const int sets = ctx.rotations(2 * bytes);
    std::vector<DeviceBuffer> logits, labels, loss, lse, grad_loss, grad;
    for (int i = 0; i < sets; ++i) {
      logits.emplace_back(bytes);
      labels.emplace_back(static_cast<std::size_t>(rows) * 4);
      loss.emplace_back(static_cast<std::size_t>(rows) * 4);
      lse.emplace_back(static_cast<std::size_t>(rows) * 4);
      grad_loss.emplace_back(static_cast<std::size_t>(rows) * 4);
      grad.emplace_back(bytes);
      fill_random_bf16(logits.back().as(), bytes / 2, ctx.next_seed(), 3.0f, ctx.stream);
      fill_random_i32(labels.back().as<int>(), static_cast<std::size_t>(rows), ctx.next_seed(), 0, kVocab, ctx.stream);
      fill_random_f32(grad_loss.back().as<float>(), static_cast<std::size_t>(rows), ctx.next_seed(), 0.25f, 1.25f,
                      ctx.stream);
      poison(loss.back().as(), loss.back().bytes(), ctx.stream);
      poison(lse.back().as(), lse.back().bytes(), ctx.stream);
      poison(grad.back().as(), bytes, ctx.stream);
    }
    const Timing forward = time_calls(
        [&](int i) {
          const auto j = static_cast<std::size_t>(i) % logits.size();
          sm90_cross_entropy(logits[j].as<std::uint16_t>(), labels[j].as<int>(), loss[j].as<float>(),
                             lse[j].as<float>(), rows, kVocab, ctx.stream);
        },
        sets, ctx.stream, ctx.timing, ctx.power.get());
    for (std::size_t j = 0; j < loss.size(); ++j)
      if (count_nan_f32(loss[j].as<float>(), static_cast<std::size_t>(rows)) ||
          count_nan_f32(lse[j].as<float>(), static_cast<std::size_t>(rows)))
        throw CudaError("cross_entropy left NaN outputs");
    row(ctx, "cross_entropy", rows, kVocab, static_cast<double>(bytes) + rows * 12.0, forward);
    const Timing backward = time_calls(
        [&](int i) {
          const auto j = static_cast<std::size_t>(i) % logits.size();
          sm90_cross_entropy_backward(logits[j].as<std::uint16_t>(), labels[j].as<int>(), lse[j].as<float>(),
                                      grad_loss[j].as<float>(), grad[j].as<std::uint16_t>(), rows, kVocab, ctx.stream);
        },
        sets, ctx.stream, ctx.timing, ctx.power.get());
    for (const auto& g : grad)
      if (count_nan_bf16(g.as(), bytes / 2)) throw CudaError("cross_entropy_bwd left NaN outputs");
    row(ctx, "cross_entropy_bwd", rows, kVocab, 2.0 * static_cast<double>(bytes) + rows * 12.0, backward);
  }
  // The embedding's gradient as PyTorch computes it, on the whole 129,280 x 7,168 table (the default
  // training.embedding_gradient: dense), with its bytes as fleetsim's op graph counts them: the BF16 table
  // zero-filled, the tokens' rows read and added in, the table read again with the FP32 gradient and that written.
  {
    const std::size_t entries = static_cast<std::size_t>(vocab) * hidden;
    DeviceBuffer grad_table(entries * 2), main_grad(entries * 4);
    fill_random_f32(main_grad.as<float>(), entries, ctx.next_seed(), -1.0f, 1.0f, ctx.stream);
    for (const auto t64 : ctx.space.ints("embedding_dw.tokens", {1024, 4096})) {
      const int tokens = static_cast<int>(t64);
      if (ctx.quick && tokens != 4096) continue;
      const std::size_t rows_bytes = static_cast<std::size_t>(tokens) * hidden * 2;
      const int sets = ctx.rotations(rows_bytes);
      std::vector<DeviceBuffer> ids, grad_out;
      for (int i = 0; i < sets; ++i) {
        ids.emplace_back(static_cast<std::size_t>(tokens) * 4);
        grad_out.emplace_back(rows_bytes);
        fill_random_i32(ids.back().as<int>(), static_cast<std::size_t>(tokens), ctx.next_seed(), 0, vocab, ctx.stream);
        fill_random_bf16(grad_out.back().as(), rows_bytes / 2, ctx.next_seed(), 1.0f, ctx.stream);
      }
      const Timing t = time_calls(
          [&](int i) {
            const auto j = static_cast<std::size_t>(i) % ids.size();
            sm90_embedding_backward_dense(ids[j].as<int>(), grad_out[j].as<std::uint16_t>(),
                                          grad_table.as<std::uint16_t>(), main_grad.as<float>(), tokens, vocab, hidden,
                                          ctx.stream);
          },
          sets, ctx.stream, ctx.timing, ctx.power.get());
      if (count_nan_f32(main_grad.as<float>(), entries)) throw CudaError("embedding_dw left NaN in the FP32 gradient");
      const double table_entries = static_cast<double>(entries);
      row(ctx, "embedding_dw", tokens, hidden,
          table_entries * 2 + 2.0 * static_cast<double>(rows_bytes) + tokens * 4.0 + table_entries * (2 + 4 + 4), t);
    }
  }
}

}  // namespace fleetsim::kernels
