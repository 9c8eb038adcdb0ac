// A kernel profile: measured (or published) kernel timings of one GPU, read from profiles/NAME/*.csv.
// Column meanings are documented in docs/calibration.md; every table is optional.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fleetsim {

struct GemmRow {
  std::string kernel;  // gemm | grouped_contiguous | grouped_masked
  std::string dtype;   // fp8 | bf16
  std::int64_t groups = 1;
  std::int64_t m = 0;  // per group
  std::int64_t n = 0;
  std::int64_t k = 0;
  double flop_per_s = 0;
};

struct AttentionRow {
  std::string kernel;  // mla_prefill_fwd | mla_prefill_bwd | mla_decode
  std::string dtype;
  std::int64_t batch = 0, heads = 0, q_len = 0, kv_len = 0, qk_head_dim = 0, v_head_dim = 0;
  bool causal = false;
  double flop_per_s = 0;
  double bytes_per_s = 0;
};

struct ElementwiseRow {
  std::string kernel;  // rmsnorm | swiglu (or another FFN activation: gelu, geglu, relu, squared_relu) | rope |
                       // embedding | cross_entropy | router | permute | unpermute | fp8_cast | residual
  double bytes = 0;    // HBM bytes of one call
  double bytes_per_s = 0;
};

struct AllToAllRow {
  std::string kernel;  // dispatch | combine
  std::string mode;    // normal | low_latency
  std::int64_t ep = 0;
  std::int64_t tokens = 0;
  double bytes_per_s = 0;  // normal kernels: bottleneck bandwidth (NVLink for EP <= 8, RDMA above)
  double latency_s = 0;    // low-latency kernels: time of one call
};

struct KernelProfile {
  std::string name;  // the folder name, e.g. h800-published
  std::vector<GemmRow> gemm;
  std::vector<AttentionRow> attention;
  std::vector<ElementwiseRow> elementwise;
  std::vector<AllToAllRow> all_to_all;
};

// Reads every table present in `directory` (gemm.csv, attention.csv, elementwise.csv, all_to_all.csv).
// Throws InputError naming the CSV file and line for a malformed row.
KernelProfile load_kernel_profile(const std::string& name, const std::string& directory);

// A profile that extends others (MANIFEST `extends:`): `directories` from the innermost base to the profile itself.
// Each folder's rows are added to those read before; a row with the same key as an earlier one replaces it (GEMMs:
// kernel, dtype, groups, m, n, k; attention: kernel, batch, heads, q_len, kv_len; elementwise: kernel, bytes;
// all-to-all: kernel, mode, ep, tokens).
KernelProfile load_kernel_profile(const std::string& name, const std::vector<std::string>& directories);

}  // namespace fleetsim
