// MLA attention kernels (sm_90, BF16 tensor cores through mma.sync): prefill forward and paged decode.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace fleetsim::kernels {

// Prefill, flash-attention style (online softmax, 64 x 64 tiles, no S x S matrix in memory).
// q, k: batch x seq x heads x 192; v, out: batch x seq x heads x 128 (BF16). seq must be a multiple of 64.
void sm90_mla_prefill_fwd(const std::uint16_t* q, const std::uint16_t* k, const std::uint16_t* v, std::uint16_t* out,
                          int batch, int seq, int heads, float scale, bool causal, cudaStream_t stream);

// Decode with absorbed projections over a paged latent cache (block size 64, 576 = 512 latent + 64 rope per
// token, shared by all heads; the value is the first 512 elements). q: batch x heads x 576; out: batch x heads x
// 512 (BF16). Split-KV: each CTA handles 16 heads of one sequence over a range of cache blocks and writes a
// partial result; a second kernel combines the splits by their log-sum-exp.
struct MlaDecodeArgs {
  const std::uint16_t* q;
  const std::uint16_t* cache;   // num_blocks x 64 x 576
  const int* block_table;       // batch x max_blocks
  const int* seqlens;           // batch
  std::uint16_t* out;           // batch x heads x 512
  int batch, heads, max_blocks;
  int max_seqlen;               // the largest seqlens[b]: sizes the split
  float scale;
};
// Bytes of the workspace (partial outputs and log-sum-exps) for these arguments on a GPU with `sms` SMs.
std::size_t sm90_mla_decode_workspace(const MlaDecodeArgs& args, int sms);
void sm90_mla_decode(const MlaDecodeArgs& args, void* workspace, int sms, cudaStream_t stream);

}  // namespace fleetsim::kernels
