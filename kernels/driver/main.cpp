// fleetsim-kernels: correctness checks, timing and ceilings of the sm90 kernels.
//
//   fleetsim-kernels info
//   fleetsim-kernels check    [--only FAMILIES] [--quick] [--seed N] [--gemm-impl wgmma|mma_sync]
//   fleetsim-kernels bench    --out DIR [--space DIR_OR_FILE] [--only FAMILIES] [--quick] [--min-ms MS]
//                             [--gemm-impl auto|wgmma|mma_sync] [--seed N]
//   fleetsim-kernels ceilings [--out FILE]
//   fleetsim-kernels sm-share --out FILE [--sms N] [--gemm-impl auto|wgmma|mma_sync] [--min-ms MS] [--seed N]
//                             (kernels timed on every SM, then while N SMs are held busy; N defaults to DeepEP's 20)
//
// FAMILIES: a comma-separated subset of gemm,moe,attention,elementwise (default: all).
// Exit codes: 0 success; 1 a check failed or an error occurred; 2 bad usage; 77 no CUDA device (a skip).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "common/cuda_util.hpp"
#include "common/harness.hpp"
#include "driver/driver.hpp"

namespace fk = fleetsim::kernels;

namespace {

constexpr const char* kGemmHeader = "kernel,dtype,groups,m,n,k,time_us,tflops,power_w";
constexpr const char* kAttentionHeader =
    "kernel,dtype,batch,heads,q_len,kv_len,qk_head_dim,v_head_dim,causal,time_us,tflops,gbps,power_w";
constexpr const char* kElementwiseHeader = "kernel,dtype,rows,cols,bytes,time_us,gbps,power_w";
constexpr const char* kBaselineHeader = "kernel,impl,dtype,groups,m,n,k,time_us,tflops,power_w";

int usage() {
  std::fprintf(stderr,
               "usage: fleetsim-kernels info | check [--only F] [--quick] [--seed N] [--gemm-impl wgmma|mma_sync] |\n"
               "       bench --out DIR [--space PATH] [--only F] [--quick] [--min-ms MS] [--gemm-impl auto|wgmma|mma_sync]"
               " [--seed N] | ceilings [--out FILE] |\n"
               "       sm-share --out FILE [--sms N] [--gemm-impl auto|wgmma|mma_sync] [--min-ms MS] [--seed N]\n"
               "F: comma-separated subset of gemm,moe,attention,elementwise\n");
  return 2;
}

std::set<std::string> split_families(const std::string& s) {
  std::set<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.insert(item);
  return out;
}

// Sets ctx.gemm_impl, the FP8 GEMM implementation timed, from --gemm-impl (auto: wgmma if it passes a quick
// check). False for an unknown value.
bool choose_gemm_impl(fk::Context& ctx, const std::string& impl) {
  if (impl == "wgmma") ctx.gemm_impl = fk::Fp8GemmImpl::kWgmma;
  else if (impl == "mma_sync") ctx.gemm_impl = fk::Fp8GemmImpl::kMmaSync;
  else if (impl == "auto") ctx.gemm_impl = fk::select_gemm_impl(ctx);
  else return false;
  return true;
}

bool is_dir(const std::string& p) {
  struct stat st{};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string command = argv[1];
  std::map<std::string, std::string> opt;
  std::set<std::string> flags;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") flags.insert(a);
    else if ((a == "--only" || a == "--out" || a == "--space" || a == "--min-ms" || a == "--gemm-impl" || a == "--seed" ||
              a == "--sms") &&
             i + 1 < argc)
      opt[a] = argv[++i];
    else return usage();
  }
  if (command != "info" && command != "check" && command != "bench" && command != "ceilings" && command != "sm-share")
    return usage();
  if (command == "sm-share" && !opt.count("--out")) return usage();

  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIP: no CUDA device (fleetsim-kernels %s needs a GPU)\n", command.c_str());
    return fk::harness::kSkip;
  }
  fk::Context ctx;
  try {
    CUDA_CHECK(cudaSetDevice(ctx.device));
    CUDA_CHECK(cudaGetDeviceProperties(&ctx.prop, ctx.device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking));
    ctx.power = std::make_unique<fk::PowerSampler>(ctx.device);
    ctx.quick = flags.count("--quick") != 0;
    ctx.seed = opt.count("--seed") ? std::stoull(opt["--seed"])
                                   : static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    if (opt.count("--min-ms")) ctx.timing.min_loop_ms = std::stod(opt["--min-ms"]);
    std::printf("device %d: %s, sm_%d%d, %d SMs, L2 %d MiB, %.1f GiB; NVML power: %s; seed %llu\n", ctx.device,
                ctx.prop.name, ctx.prop.major, ctx.prop.minor, ctx.prop.multiProcessorCount, ctx.prop.l2CacheSize >> 20,
                ctx.prop.totalGlobalMem / 1073741824.0, ctx.power->available() ? "yes" : "no",
                static_cast<unsigned long long>(ctx.seed));
    if (command == "info") return 0;
    if (ctx.prop.major != 9) {
      std::printf("SKIP: the kernels are built for sm_90a (Hopper); this device is sm_%d%d\n", ctx.prop.major, ctx.prop.minor);
      return fk::harness::kSkip;
    }

    const std::set<std::string> all = {"gemm", "moe", "attention", "elementwise"};
    const std::set<std::string> families = opt.count("--only") ? split_families(opt["--only"]) : all;
    for (const auto& f : families)
      if (!all.count(f)) return usage();

    if (command == "ceilings") {
      const fk::Ceilings c = fk::measure_ceilings(ctx);
      std::ostringstream y;
      y << "ceilings:\n  hbm_gbps: " << c.hbm_gbps << "\n  bf16_tflops: " << c.bf16_tflops << "\n  fp8_tflops: " << c.fp8_tflops
        << "\n";
      std::printf("%s", y.str().c_str());
      if (opt.count("--out")) {
        std::ofstream out(opt["--out"]);
        out << y.str();
        if (!out) throw std::runtime_error("cannot write " + opt["--out"]);
      }
      return 0;
    }

    if (command == "sm-share") {
      // DeepEP's 20 SMs (V3 §3.2.2) unless told otherwise.
      const int sms = opt.count("--sms") ? std::stoi(opt["--sms"]) : 20;
      if (sms <= 0 || sms >= ctx.prop.multiProcessorCount) return usage();
      if (!choose_gemm_impl(ctx, opt.count("--gemm-impl") ? opt["--gemm-impl"] : "auto")) return usage();
      fk::CsvTable table(opt["--out"], fk::kSmShareHeader);
      fk::measure_sm_share(ctx, sms, table);
      return 0;
    }

    if (command == "check") {
      if (opt.count("--gemm-impl")) {  // restrict the FP8 GEMM check to one implementation
        if (opt["--gemm-impl"] == "wgmma") ctx.check_impls = {fk::Fp8GemmImpl::kWgmma};
        else if (opt["--gemm-impl"] == "mma_sync") ctx.check_impls = {fk::Fp8GemmImpl::kMmaSync};
        else return usage();
      }
      // A family whose kernel faults leaves the CUDA context unusable: the remaining families are skipped.
      for (const std::string f : {"gemm", "moe", "attention", "elementwise"}) {
        if (!families.count(f)) continue;
        std::printf("== check %s\n", f.c_str());
        std::fflush(stdout);
        if (f == "gemm") fk::check_gemm(ctx);
        if (f == "moe") fk::check_moe(ctx);
        if (f == "attention") fk::check_attention(ctx);
        if (f == "elementwise") fk::check_elementwise(ctx);
      }
      std::printf("%d passed, %d failed\n", ctx.passed, ctx.failed);
      return ctx.failed ? 1 : 0;
    }

    // bench
    if (!opt.count("--out")) return usage();
    const std::string out = opt["--out"];
    if (!is_dir(out)) throw std::runtime_error("--out " + out + " is not a directory");
    if (opt.count("--space")) {
      const std::string sp = opt["--space"];
      ctx.space = is_dir(sp) ? fk::Space::load_dir(sp) : fk::Space::load(sp);
    }
    if (families.count("gemm")) {
      ctx.gemm = std::make_unique<fk::CsvTable>(out + "/gemm.csv", kGemmHeader);
      ctx.baselines = std::make_unique<fk::CsvTable>(out + "/baselines.csv", kBaselineHeader);
    }
    if (families.count("attention")) ctx.attention = std::make_unique<fk::CsvTable>(out + "/attention.csv", kAttentionHeader);
    if (families.count("moe") || families.count("elementwise"))
      ctx.elementwise = std::make_unique<fk::CsvTable>(out + "/elementwise.csv", kElementwiseHeader);
    for (const std::string f : {"gemm", "moe", "attention", "elementwise"}) {
      if (!families.count(f)) continue;
      std::printf("== bench %s\n", f.c_str());
      std::fflush(stdout);
      if (f == "gemm") {
        const std::string impl = opt.count("--gemm-impl") ? opt["--gemm-impl"] : "auto";
        if (!choose_gemm_impl(ctx, impl)) return usage();
        if (impl != "auto") std::printf("FP8 GEMM implementation for timing: %s (chosen by --gemm-impl)\n", impl.c_str());
        fk::bench_gemm(ctx);
      }
      if (f == "moe") fk::bench_moe(ctx);
      if (f == "attention") fk::bench_attention(ctx);
      if (f == "elementwise") fk::bench_elementwise(ctx);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fleetsim-kernels %s: error: %s\n", command.c_str(), e.what());
    std::printf("%d passed, %d failed\n", ctx.passed, ctx.failed + 1);
    return 1;
  }
}
