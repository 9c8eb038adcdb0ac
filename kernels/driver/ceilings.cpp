// The device's measured ceilings, written into MANIFEST.yaml: HBM copy bandwidth and large-GEMM rates.
#include <cstdio>

#include "common/cuda_util.hpp"
#include "driver/driver.hpp"
#include "gemm/cublaslt_gemm.hpp"

namespace fleetsim::kernels {

Ceilings measure_ceilings(Context& ctx) {
  Ceilings c;
  {  // A device-to-device copy of 2 GiB: bytes read plus bytes written over time.
    const std::size_t bytes = std::size_t(2) << 30;
    DeviceBuffer src(bytes), dst(bytes);
    fill_random_bf16(src.as(), bytes / 2, ctx.next_seed(), 1.0f, ctx.stream);
    const Timing t = time_calls([&](int) { CUDA_CHECK(cudaMemcpyAsync(dst.as(), src.as(), bytes, cudaMemcpyDeviceToDevice, ctx.stream)); },
                                1, ctx.stream, ctx.timing, ctx.power.get());
    c.hbm_gbps = 2.0 * bytes / (t.median_us * 1e-6) / 1e9;
    ctx.print_timing("ceiling: device-to-device copy 2 GiB", t, std::to_string(c.hbm_gbps) + " GB/s");
  }
  if (!CublasLt::available()) {
    std::printf("built without cuBLASLt: GEMM ceilings unknown\n");
    return c;
  }
  CublasLt lt;
  const int n = 8192;
  const double flops = 2.0 * n * n * static_cast<double>(n);
  {
    DeviceBuffer a(std::size_t(n) * n * 2), b(std::size_t(n) * n * 2), d(std::size_t(n) * n * 2);
    fill_random_bf16(a.as(), std::size_t(n) * n, ctx.next_seed(), 1.0f, ctx.stream);
    fill_random_bf16(b.as(), std::size_t(n) * n, ctx.next_seed(), 1.0f, ctx.stream);
    const Timing t = time_calls([&](int) { lt.bf16_gemm(a.as(), b.as(), d.as(), n, n, n, ctx.stream); }, 1, ctx.stream,
                                ctx.timing, ctx.power.get());
    c.bf16_tflops = flops / (t.median_us * 1e-6) / 1e12;
    ctx.print_timing("ceiling: cuBLASLt BF16 GEMM 8192^3", t, std::to_string(c.bf16_tflops) + " TFLOPS");
  }
  try {  // cuBLASLt may refuse FP8 (a status, not a fault): the FP8 ceiling is then left unknown
    DeviceBuffer a(std::size_t(n) * n), b(std::size_t(n) * n), d(std::size_t(n) * n * 2),
        s(32);  // scales at floats 0 and 4 (16-byte aligned)
    fill_random_fp8(a.as(), std::size_t(n) * n, ctx.next_seed(), 64.0f, ctx.stream);
    fill_random_fp8(b.as(), std::size_t(n) * n, ctx.next_seed(), 64.0f, ctx.stream);
    fill_random_f32(s.as<float>(), 8, ctx.next_seed(), 1e-3f, 1e-2f, ctx.stream);
    const Timing t = time_calls(
        [&](int) {
          lt.fp8_gemm_per_tensor(a.as(), s.as<float>(), b.as(), s.as<float>() + 4, d.as(), n, n, n, ctx.stream);
        },
        1, ctx.stream, ctx.timing, ctx.power.get());
    c.fp8_tflops = flops / (t.median_us * 1e-6) / 1e12;
    ctx.print_timing("ceiling: cuBLASLt FP8 GEMM 8192^3 (per-tensor scales)", t, std::to_string(c.fp8_tflops) + " TFLOPS");
  } catch (const CudaError& e) {
    if (std::string(e.what()).rfind("cuBLASLt", 0) != 0) throw;
    std::printf("ceiling: cuBLASLt FP8 GEMM not measured: %s\n", e.what());
    c.fp8_tflops = 0;
  }
  return c;
}

}  // namespace fleetsim::kernels
