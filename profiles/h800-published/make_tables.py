#!/usr/bin/env python3
"""Writes the CSV tables of profiles/h800-published/ from the published H800 kernel figures.

Run from this folder: `python3 make_tables.py`. The figures are copied from the sources named beside each row
(see README.md); times are derived from the published throughput (time = work / throughput), so every row is
consistent with the CSV columns the cost model reads (docs/calibration.md).
"""

# DeepGEMM README, first release: normal FP8 GEMMs on H800 SXM5 (NVCC 12.8), (TFLOPS, speedup) by M for each N x K.
# The speedup column is DeepGEMM's over "our internally and carefully optimized implementation based on CUTLASS
# 3.6", the README's baseline for every row.
DEEPGEMM_DENSE = {
    (2112, 7168): {64: (206, 2.7), 128: (352, 2.4), 4096: (1058, 1.1)},
    (24576, 1536): {64: (289, 1.7), 128: (535, 1.6), 4096: (990, 1.0)},
    (32768, 512): {64: (219, 1.8), 128: (358, 1.5), 4096: (590, 1.0)},
    (7168, 16384): {64: (336, 1.4), 128: (645, 1.4), 4096: (1358, 1.2)},
    (4096, 7168): {64: (287, 1.4), 128: (533, 2.0), 4096: (1304, 1.1)},
    (7168, 2048): {64: (295, 1.7), 128: (510, 1.7), 4096: (1025, 1.1)},
}
# DeepGEMM README: grouped GEMMs for MoE, (groups, M per group, N, K) -> (TFLOPS, speedup).
DEEPGEMM_CONTIGUOUS = [(4, 8192, 4096, 7168, (1297, 1.2)), (4, 8192, 7168, 2048, (1099, 1.2)),
                       (8, 4096, 4096, 7168, (1288, 1.2)), (8, 4096, 7168, 2048, (1093, 1.1))]
DEEPGEMM_MASKED = [(1, 1024, 4096, 7168, (1233, 1.2)), (1, 1024, 7168, 2048, (925, 1.2)),
                   (2, 512, 4096, 7168, (1040, 1.2)), (2, 512, 7168, 2048, (916, 1.2)),
                   (4, 256, 4096, 7168, (932, 1.1)), (4, 256, 7168, 2048, (815, 1.2))]

def gemm_rows(baseline=False):
    """DeepGEMM's rows; with baseline=True, the CUTLASS-3.6-based kernels it was compared with (TFLOPS / speedup)."""
    rows = ["kernel,dtype,groups,m,n,k,time_us,tflops,power_w"]
    def row(kernel, groups, m, n, k, figures):
        published, speedup = figures
        tflops = round(published / speedup, 1) if baseline else published
        time_us = 2.0 * groups * m * n * k / (tflops * 1e12) * 1e6
        rows.append(f"{kernel},fp8,{groups},{m},{n},{k},{time_us:.3f},{tflops:g},")
    for (n, k), by_m in DEEPGEMM_DENSE.items():
        for m, tflops in by_m.items():
            row("gemm", 1, m, n, k, tflops)
    for groups, m, n, k, tflops in DEEPGEMM_CONTIGUOUS:
        row("grouped_contiguous", groups, m, n, k, tflops)
    for groups, m, n, k, tflops in DEEPGEMM_MASKED:
        row("grouped_masked", groups, m, n, k, tflops)
    return rows

# FlashMLA README (H800 SXM5, CUDA 12.8): decode with a paged latent cache reaches 3000 GB/s memory-bound and
# 580-660 TFLOPS compute-bound. The README gives no shapes beside the peaks, so the two rows below are the regimes
# the peaks describe: a memory-bound shape (1 query token per sequence) and a compute-bound one (many query
# heads x tokens per KV byte); the compute-bound row uses the range's midpoint, 620 TFLOPS.
def attention_rows():
    rows = ["kernel,dtype,batch,heads,q_len,kv_len,qk_head_dim,v_head_dim,causal,time_us,tflops,gbps,power_w"]
    # Absorbed MLA decode: each query head attends over the 576-wide latent (512 + 64 rope), values are the
    # 512-wide latent. Bytes are dominated by the BF16 latent cache: batch * kv_len * 576 * 2.
    def decode(batch, heads, q_len, kv_len, tflops=None, gbps=None):
        flops = 2.0 * batch * heads * q_len * kv_len * (576 + 512)
        cache_bytes = batch * kv_len * 576 * 2.0
        time_s = max(flops / (tflops * 1e12) if tflops else 0.0, cache_bytes / (gbps * 1e9) if gbps else 0.0)
        rows.append(f"mla_decode,bf16,{batch},{heads},{q_len},{kv_len},576,512,0,{time_s * 1e6:.3f},"
                    f"{flops / time_s / 1e12:.1f},{cache_bytes / time_s / 1e9:.1f},")
    decode(batch=64, heads=16, q_len=1, kv_len=4096, gbps=3000)     # memory-bound regime
    decode(batch=128, heads=128, q_len=2, kv_len=4096, tflops=620)  # compute-bound regime (MTP: 2 query tokens)
    # Training (prefill) attention, causal, at the pre-training context of 4,096 tokens. FlashMLA publishes no
    # training kernel, so these are FlashAttention-3's published H100 SXM5 figures (Shah et al. 2024, arXiv
    # 2407.08608, Figures 5-6: head dim 128, 16k tokens per batch, i.e. batch 4 x 16 heads at 4k); the H100 SXM5 has
    # the H800's compute die, SM count and clocks (public-figures.md §5). Forward with causal mask: 579 TFLOPS.
    # Backward: 542 TFLOPS is published without the causal mask only; the causal backward is taken to lose what
    # the causal forward loses at 4k (579 of the unmasked forward's 638 TFLOPS): 542 x 579 / 638 = 491.9.
    def prefill(kernel, tflops, backward, batch=4, heads=16, seq=4096, head_dim=128):
        forward_flops = 4.0 * batch * heads * seq * seq * head_dim / 2  # causal: half the score matrix
        flops = 2.5 * forward_flops if backward else forward_flops      # FlashAttention's backward convention
        tensor = batch * seq * heads * head_dim * 2.0                   # one BF16 Q, K, V, O or gradient
        moved = (5 + 3) * tensor if backward else 4 * tensor            # bwd: Q K V O dO in, dQ dK dV out
        time_s = flops / (tflops * 1e12)
        rows.append(f"{kernel},bf16,{batch},{heads},{seq},{seq},{head_dim},{head_dim},1,{time_s * 1e6:.3f},"
                    f"{tflops:g},{moved / time_s / 1e9:.1f},")
    prefill("mla_prefill_fwd", 579, backward=False)
    prefill("mla_prefill_bwd", round(542 * 579 / 638, 1), backward=True)
    return rows

def write(name, rows):
    with open(name, "w") as out:
        out.write("\n".join(rows) + "\n")

ALL_TO_ALL_ROWS = [
        # DeepEP README, normal kernels, H800 with CX7 400 Gb/s RDMA, 4096 tokens, hidden 7168, top-8,
        # FP8 dispatch and BF16 combine. gbps is DeepEP's bottleneck bandwidth: NVLink for EP8, RDMA above.
        "kernel,mode,ep,tokens,hidden,top_k,time_us,gbps",
        "dispatch,normal,8,4096,7168,8,,153", "combine,normal,8,4096,7168,8,,158",
        "dispatch,normal,16,4096,7168,8,,43", "combine,normal,16,4096,7168,8,,43",
        "dispatch,normal,32,4096,7168,8,,58", "combine,normal,32,4096,7168,8,,57",
        "dispatch,normal,64,4096,7168,8,,51", "combine,normal,64,4096,7168,8,,50",
        # DeepEP README, low-latency kernels, 128 tokens, top-8: latency in microseconds.
        "dispatch,low_latency,8,128,7168,8,77,", "combine,low_latency,8,128,7168,8,114,",
        "dispatch,low_latency,16,128,7168,8,118,", "combine,low_latency,16,128,7168,8,195,",
        "dispatch,low_latency,32,128,7168,8,155,", "combine,low_latency,32,128,7168,8,273,",
        "dispatch,low_latency,64,128,7168,8,173,", "combine,low_latency,64,128,7168,8,314,",
        "dispatch,low_latency,128,128,7168,8,192,", "combine,low_latency,128,128,7168,8,369,",
        "dispatch,low_latency,256,128,7168,8,194,", "combine,low_latency,256,128,7168,8,360,",
    ]

if __name__ == "__main__":
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    # This profile: DeepGEMM's own figures.
    write(os.path.join(here, "gemm.csv"), gemm_rows())
    write(os.path.join(here, "attention.csv"), attention_rows())
    write(os.path.join(here, "all_to_all.csv"), ALL_TO_ALL_ROWS)
    # The sibling profile h800-cutlass36: the FP8 GEMMs DeepGEMM was measured against (its baseline), the same
    # attention and all-to-all figures.
    sibling = os.path.join(here, "..", "h800-cutlass36")
    write(os.path.join(sibling, "gemm.csv"), gemm_rows(baseline=True))
    write(os.path.join(sibling, "attention.csv"), attention_rows())
    write(os.path.join(sibling, "all_to_all.csv"), ALL_TO_ALL_ROWS)
