// Roofline fallback: the time of an op that no profile row covers, from the GPU's datasheet peaks and an
// efficiency taken from a published kernel benchmark. The efficiencies below are the only tuning knobs of the
// fallback, and each cites the benchmark it comes from (public-figures.md §4, §5). They are never fitted to a
// system-level result.
#pragma once

namespace fleetsim::roofline {

// Tensor-core GEMM efficiency: the median of DeepGEMM's six FP8 GEMMs at M = 4096 on H800
// (1058, 990, 590, 1358, 1304, 1025 TFLOPS -> median 1041.5 of 1979 peak).
inline constexpr double kGemmEfficiency = 1041.5 / 1979.0;

// Attention core (compute-bound): FlashMLA's compute-bound figure on H800, midpoint of 580-660 TFLOPS BF16,
// over the 989 TFLOPS dense BF16 peak.
inline constexpr double kAttentionEfficiency = 620.0 / 989.0;

// Memory-bound kernels: FlashMLA's memory-bound decode reaches 3000 GB/s of the H800's 3.35 TB/s.
inline constexpr double kMemoryEfficiency = 3000.0 / 3350.0;

// Time of `flops` at `peak_flop_per_s * compute_efficiency` or of `bytes` at the memory roofline, whichever is
// longer (a kernel is bound by one of the two).
double seconds(double flops, double peak_flop_per_s, double compute_efficiency, double bytes,
               double hbm_bytes_per_s);

}  // namespace fleetsim::roofline
