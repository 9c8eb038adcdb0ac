// Attention references: closed forms (one key, equal keys) and paged decode equal to unpaged.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/harness.hpp"
#include "common/numeric.hpp"
#include "reference/ref_attention.hpp"

using namespace fleetsim::kernels;

namespace {
std::vector<std::uint16_t> random_bits(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::uint16_t> v(n);
  for (auto& x : v) x = float_to_bf16(rng.normal());
  return v;
}
}  // namespace

KTEST(attention, causal_first_query_sees_only_its_own_value) {
  const int b = 1, s = 4, h = 2, dqk = 192, dv = 128;
  const auto q = random_bits(b * s * h * dqk, 1), k = random_bits(b * s * h * dqk, 2), v = random_bits(b * s * h * dv, 3);
  const auto out = ref::mla_prefill(q, k, v, b, s, h, dqk, dv, 0.07f, true);
  for (int head = 0; head < h; ++head)
    for (int d = 0; d < dv; ++d)  // query 0, head `head`: softmax over one key = 1, output = v[0][head]
      KCHECK_NEAR(out[static_cast<std::size_t>(head) * dv + d], bf16_to_float(v[static_cast<std::size_t>(head) * dv + d]), 1e-6);
}

KTEST(attention, equal_keys_average_the_values) {
  const int b = 1, s = 5, h = 1, dqk = 192, dv = 128;
  const auto q = random_bits(s * dqk, 4), v = random_bits(s * dv, 5);
  std::vector<std::uint16_t> k(s * dqk);
  const auto one_key = random_bits(dqk, 6);
  for (int i = 0; i < s; ++i) std::copy(one_key.begin(), one_key.end(), k.begin() + i * dqk);
  const auto out = ref::mla_prefill(q, k, v, b, s, h, dqk, dv, 0.07f, false, {s - 1});
  for (int d = 0; d < dv; ++d) {
    double mean = 0;
    for (int i = 0; i < s; ++i) mean += bf16_to_float(v[static_cast<std::size_t>(i) * dv + d]);
    KCHECK_NEAR(out[d], mean / s, 1e-6);
  }
}

KTEST(attention, paged_decode_equals_unpaged) {
  const int batch = 3, heads = 5, max_len = 200;
  const std::vector<int> seqlens = {1, 64, 200};
  const int max_blocks = (max_len + 63) / 64;
  const auto q = random_bits(static_cast<std::size_t>(batch) * heads * ref::kMlaQkDim, 7);
  const auto kv = random_bits(static_cast<std::size_t>(batch) * max_len * ref::kMlaQkDim, 8);
  // Scatter each sequence's 64-token blocks to shuffled block ids of a cache with spare blocks.
  const int num_blocks = batch * max_blocks + 3;
  std::vector<int> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  Rng rng(9);
  for (int i = num_blocks - 1; i > 0; --i) std::swap(ids[i], ids[static_cast<int>(rng.uniform() * (i + 1)) % (i + 1)]);
  std::vector<int> table(batch * max_blocks);
  std::vector<std::uint16_t> cache(static_cast<std::size_t>(num_blocks) * 64 * ref::kMlaQkDim, float_to_bf16(NAN));
  for (int b = 0; b < batch; ++b)
    for (int blk = 0; blk < max_blocks; ++blk) {
      const int id = ids[b * max_blocks + blk];
      table[b * max_blocks + blk] = id;
      for (int t = 0; t < 64 && blk * 64 + t < seqlens[b]; ++t)
        std::copy_n(&kv[(static_cast<std::size_t>(b) * max_len + blk * 64 + t) * ref::kMlaQkDim], ref::kMlaQkDim,
                    &cache[(static_cast<std::size_t>(id) * 64 + t) * ref::kMlaQkDim]);
    }
  const float scale = 1.0f / std::sqrt(192.0f);
  const auto paged = ref::mla_decode_paged(q, cache, table, max_blocks, seqlens, batch, heads, scale);
  const auto flat = ref::mla_decode_unpaged(q, kv, max_len, seqlens, batch, heads, scale);
  KCHECK(count_non_finite(paged) == 0);  // tokens past seqlens (NaN in the cache) are never read
  KCHECK_NEAR(relative_error(paged, flat), 0.0, 0.0);
  // Sequence 0 has one token: every head's output is that token's first 512 latent values.
  for (int d = 0; d < ref::kMlaLatent; d += 37) KCHECK_NEAR(paged[d], bf16_to_float(kv[d]), 1e-6);
}
