// MLA prefill and decode: checks and benchmarks.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>

#include "attention/sm90_mla.hpp"
#include "common/cuda_util.hpp"
#include "common/numeric.hpp"
#include "driver/driver.hpp"
#include "reference/ref_attention.hpp"

namespace fleetsim::kernels {
namespace {

constexpr double kAttentionTolerance = 1e-2;  // BF16 inputs, P rounded to BF16 before P*V, BF16 output
const float kMlaScale = 1.0f / std::sqrt(192.0f);  // qk_head_dim 128 + 64 of the unabsorbed model

void attention_row(Context& ctx, const std::string& kernel, int batch, int heads, int q_len, int kv_len, int dqk, int dv,
                   bool causal, double flops, double bytes, const Timing& t) {
  const double s = t.median_us * 1e-6;
  ctx.attention->row({kernel, "bf16", CsvTable::cell(static_cast<long long>(batch)), CsvTable::cell(static_cast<long long>(heads)),
                      CsvTable::cell(static_cast<long long>(q_len)), CsvTable::cell(static_cast<long long>(kv_len)),
                      CsvTable::cell(static_cast<long long>(dqk)), CsvTable::cell(static_cast<long long>(dv)),
                      causal ? "1" : "0", CsvTable::cell(t.median_us, 3), CsvTable::cell(flops / s / 1e12, 1),
                      CsvTable::cell(bytes / s / 1e9, 1), CsvTable::cell(t.power.average_w, 1)});
  char rate[96];
  std::snprintf(rate, sizeof rate, "%8.1f TFLOPS %8.1f GB/s", flops / s / 1e12, bytes / s / 1e9);
  ctx.print_timing(kernel + " B=" + std::to_string(batch) + " H=" + std::to_string(heads) + " q=" + std::to_string(q_len) +
                       " kv=" + std::to_string(kv_len),
                   t, rate);
}

// A paged cache for `seqlens`: block ids shuffled so that a sequence's blocks are scattered.
struct PagedCache {
  std::vector<int> table;
  int max_blocks = 0, num_blocks = 0;
};
PagedCache make_table(const std::vector<int>& seqlens, std::uint64_t seed) {
  PagedCache c;
  for (int len : seqlens) c.max_blocks = std::max(c.max_blocks, (len + ref::kMlaBlockSize - 1) / ref::kMlaBlockSize);
  c.max_blocks = std::max(c.max_blocks, 1);
  c.num_blocks = static_cast<int>(seqlens.size()) * c.max_blocks;
  std::vector<int> ids(static_cast<std::size_t>(c.num_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  Rng rng(seed);
  for (std::size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[static_cast<std::size_t>(rng.uniform() * i) % i]);
  c.table = ids;  // batch x max_blocks
  return c;
}

}  // namespace

void check_attention(Context& ctx) {
  for (const bool causal : {true, false}) {
    const int batch = 2, seq = causal ? 256 : 128, heads = 3;
    const auto q = random_bf16(static_cast<std::size_t>(batch) * seq * heads * 192, ctx.next_seed());
    const auto k = random_bf16(q.size(), ctx.next_seed());
    const auto v = random_bf16(static_cast<std::size_t>(batch) * seq * heads * 128, ctx.next_seed());
    DeviceBuffer dq = to_device(q), dk = to_device(k), dv = to_device(v), dout(v.size() * 2);
    poison(dout.as(), dout.bytes(), ctx.stream);
    sm90_mla_prefill_fwd(dq.as<std::uint16_t>(), dk.as<std::uint16_t>(), dv.as<std::uint16_t>(), dout.as<std::uint16_t>(),
                         batch, seq, heads, kMlaScale, causal, ctx.stream);
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    const auto got = bf16_vector_to_float(to_host<std::uint16_t>(dout.as(), v.size()));
    const auto want = ref::mla_prefill(q, k, v, batch, seq, heads, 192, 128, kMlaScale, causal);
    ctx.report(std::string("mla_prefill_fwd B=2 S=") + std::to_string(seq) + " H=3" + (causal ? " causal" : " full"),
               relative_error(got, want), kAttentionTolerance, count_non_finite(got));
  }
  struct DecodeCase {
    std::vector<int> seqlens;
    int heads;
  };
  std::vector<DecodeCase> cases = {{{1, 100, 700}, 20}, {{64, 129}, 16}};
  if (!ctx.quick) cases.push_back({{4096, 33}, 128});
  for (const auto& c : cases) {
    const int batch = static_cast<int>(c.seqlens.size());
    const PagedCache pc = make_table(c.seqlens, ctx.next_seed());
    const auto q = random_bf16(static_cast<std::size_t>(batch) * c.heads * ref::kMlaQkDim, ctx.next_seed());
    const auto cache = random_bf16(static_cast<std::size_t>(pc.num_blocks) * ref::kMlaBlockSize * ref::kMlaQkDim, ctx.next_seed());
    const auto want = ref::mla_decode_paged(q, cache, pc.table, pc.max_blocks, c.seqlens, batch, c.heads, kMlaScale);
    DeviceBuffer dq = to_device(q), dc = to_device(cache), dt = to_device(pc.table), ds = to_device(c.seqlens);
    DeviceBuffer dout(want.size() * 2);
    MlaDecodeArgs args{dq.as<std::uint16_t>(), dc.as<std::uint16_t>(), dt.as<int>(), ds.as<int>(), dout.as<std::uint16_t>(),
                       batch, c.heads, pc.max_blocks, *std::max_element(c.seqlens.begin(), c.seqlens.end()), kMlaScale};
    DeviceBuffer ws(sm90_mla_decode_workspace(args, ctx.prop.multiProcessorCount));
    poison(dout.as(), dout.bytes(), ctx.stream);
    poison(ws.as(), ws.bytes(), ctx.stream);
    sm90_mla_decode(args, ws.as(), ctx.prop.multiProcessorCount, ctx.stream);
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    const auto got = bf16_vector_to_float(to_host<std::uint16_t>(dout.as(), want.size()));
    std::string lens;
    for (int l : c.seqlens) lens += (lens.empty() ? "" : ",") + std::to_string(l);
    ctx.report("mla_decode paged H=" + std::to_string(c.heads) + " seqlens=[" + lens + "]", relative_error(got, want),
               kAttentionTolerance, count_non_finite(got));
  }
}

void bench_attention(Context& ctx) {
  const auto p_batch = ctx.space.ints("mla_prefill_fwd.batch", {1});
  const auto p_seq = ctx.space.ints("mla_prefill_fwd.seq", {1024, 2048, 4096, 8192, 16384});
  const auto p_heads = ctx.space.ints("mla_prefill_fwd.heads", {16, 128});
  for (const auto b64 : p_batch)
    for (const auto h64 : p_heads)
      for (const auto s64 : p_seq) {
        const int batch = static_cast<int>(b64), heads = static_cast<int>(h64), seq = static_cast<int>(s64);
        if (ctx.quick && seq != 4096) continue;
        const std::size_t qk = static_cast<std::size_t>(batch) * seq * heads * 192, vv = static_cast<std::size_t>(batch) * seq * heads * 128;
        const int sets = ctx.rotations((2 * qk + 2 * vv) * 2);
        std::vector<DeviceBuffer> q, k, v, o;
        for (int i = 0; i < sets; ++i) {
          q.emplace_back(qk * 2);
          k.emplace_back(qk * 2);
          v.emplace_back(vv * 2);
          o.emplace_back(vv * 2);
          fill_random_bf16(q.back().as(), qk, ctx.next_seed(), 1.0f, ctx.stream);
          fill_random_bf16(k.back().as(), qk, ctx.next_seed(), 1.0f, ctx.stream);
          fill_random_bf16(v.back().as(), vv, ctx.next_seed(), 1.0f, ctx.stream);
          poison(o.back().as(), vv * 2, ctx.stream);
        }
        const Timing t = time_calls(
            [&](int i) {
              const auto j = static_cast<std::size_t>(i) % q.size();
              sm90_mla_prefill_fwd(q[j].as<std::uint16_t>(), k[j].as<std::uint16_t>(), v[j].as<std::uint16_t>(),
                                   o[j].as<std::uint16_t>(), batch, seq, heads, kMlaScale, true, ctx.stream);
            },
            sets, ctx.stream, ctx.timing, ctx.power.get());
        for (const auto& out : o)
          if (count_nan_bf16(out.as(), vv)) throw CudaError("mla_prefill_fwd left NaN outputs");
        // Causal: each of the S(S+1)/2 visible (query, key) pairs costs 2*(192 + 128) FLOPs.
        const double pairs = static_cast<double>(seq) * (seq + 1) / 2.0;
        const double flops = 2.0 * batch * heads * pairs * (192 + 128);
        const double bytes = static_cast<double>(2 * qk + 2 * vv) * 2;
        attention_row(ctx, "mla_prefill_fwd", batch, heads, seq, seq, 192, 128, true, flops, bytes, t);
      }
  const auto d_batch = ctx.space.ints("mla_decode.batch", {1, 8, 32, 64, 128, 256});
  const auto d_kv = ctx.space.ints("mla_decode.kv_len", {1024, 4096, 16384});
  const auto d_heads = ctx.space.ints("mla_decode.heads", {16, 128});
  for (const auto h64 : d_heads)
    for (const auto kv64 : d_kv)
      for (const auto b64 : d_batch) {
        const int batch = static_cast<int>(b64), heads = static_cast<int>(h64), kv = static_cast<int>(kv64);
        if (ctx.quick && (batch != 64 || kv != 4096)) continue;
        const std::vector<int> seqlens(static_cast<std::size_t>(batch), kv);
        const PagedCache pc = make_table(seqlens, ctx.next_seed());
        const std::size_t cache_elems = static_cast<std::size_t>(pc.num_blocks) * ref::kMlaBlockSize * ref::kMlaQkDim;
        const std::size_t q_elems = static_cast<std::size_t>(batch) * heads * ref::kMlaQkDim;
        const std::size_t o_elems = static_cast<std::size_t>(batch) * heads * ref::kMlaLatent;
        const int sets = ctx.rotations(cache_elems * 2);
        DeviceBuffer dt = to_device(pc.table), ds = to_device(seqlens);
        std::vector<DeviceBuffer> q, cache, o, ws;
        std::vector<MlaDecodeArgs> args;
        for (int i = 0; i < sets; ++i) {
          q.emplace_back(q_elems * 2);
          cache.emplace_back(cache_elems * 2);
          o.emplace_back(o_elems * 2);
          fill_random_bf16(q.back().as(), q_elems, ctx.next_seed(), 1.0f, ctx.stream);
          fill_random_bf16(cache.back().as(), cache_elems, ctx.next_seed(), 1.0f, ctx.stream);
          poison(o.back().as(), o_elems * 2, ctx.stream);
          args.push_back({q.back().as<std::uint16_t>(), cache.back().as<std::uint16_t>(), dt.as<int>(), ds.as<int>(),
                          o.back().as<std::uint16_t>(), batch, heads, pc.max_blocks, kv, kMlaScale});
          ws.emplace_back(sm90_mla_decode_workspace(args.back(), ctx.prop.multiProcessorCount));
        }
        const Timing t = time_calls(
            [&](int i) {
              const auto j = static_cast<std::size_t>(i) % args.size();
              sm90_mla_decode(args[j], ws[j].as(), ctx.prop.multiProcessorCount, ctx.stream);
            },
            sets, ctx.stream, ctx.timing, ctx.power.get());
        for (const auto& out : o)
          if (count_nan_bf16(out.as(), o_elems)) throw CudaError("mla_decode left NaN outputs");
        // As profiles/h800-published: FLOPs 2*B*H*q*kv*(576 + 512); bytes: the BF16 latent cache read once.
        const double flops = 2.0 * batch * heads * 1.0 * kv * (576 + 512);
        const double bytes = static_cast<double>(batch) * kv * 576 * 2;
        attention_row(ctx, "mla_decode", batch, heads, 1, kv, 576, 512, false, flops, bytes, t);
      }
}

}  // namespace fleetsim::kernels
