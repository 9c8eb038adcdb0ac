// Problem-space reader and the calibration fit.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include "common/harness.hpp"
#include "common/numeric.hpp"
#include "common/space.hpp"
#include "fit/fit.hpp"

using namespace fleetsim::kernels;
namespace cal = fleetsim::calibration;

namespace {
bool throws(const std::string& text) {
  try {
    Space::parse(text, "t.yaml");
  } catch (const std::runtime_error&) {
    return true;
  }
  return false;
}
std::string temp_dir() {
  char pattern[] = "/tmp/fleetsim-fit-XXXXXX";
  const char* d = mkdtemp(pattern);
  return d ? d : "/tmp";
}
}  // namespace

KTEST(space, parses_scalars_lists_and_pairs) {
  const Space s = Space::parse(
      "# DeepSeek-V3 shapes\n"
      "gemm.m: [64, 128, 4096]   # M values\n"
      "gemm.nk: [2112x7168, 4096x7168]\n"
      "gemm.dtypes: [fp8, bf16]\n"
      "moe.hidden: 7168\n"
      "timing.min_ms: 12.5\n",
      "t.yaml");
  KCHECK((s.ints("gemm.m") == std::vector<std::int64_t>{64, 128, 4096}));
  const auto nk = s.pairs("gemm.nk");
  KCHECK(nk.size() == 2u && nk[0].first == 2112 && nk[0].second == 7168);
  KCHECK((s.strings("gemm.dtypes") == std::vector<std::string>{"fp8", "bf16"}));
  KCHECK(s.int_value("moe.hidden", 0) == 7168);
  KCHECK_NEAR(s.number("timing.min_ms", 0), 12.5, 0.0);
  KCHECK(s.int_value("absent", 42) == 42);
  KCHECK((s.ints("absent", {1, 2}) == std::vector<std::int64_t>{1, 2}));
}

KTEST(space, rejects_what_is_not_flat) {
  KCHECK(throws("gemm:\n  m: [1, 2]\n"));        // nesting
  KCHECK(throws("a.b: [1, 2\n"));                 // open list
  KCHECK(throws("a.b: 1\na.b: 2\n"));             // duplicate key
  KCHECK(throws("- 1\n"));                        // block list
  KCHECK(throws("just text\n"));
  const Space s = Space::parse("a: [1, x]\n", "t.yaml");
  bool bad = false;
  try {
    s.ints("a");
  } catch (const std::runtime_error& e) {
    bad = std::string(e.what()).find("t.yaml:1") != std::string::npos;
  }
  KCHECK(bad);
}

KTEST(space, the_bundled_spaces_parse) {
  const Space s = Space::load_dir(FLEETSIM_SPACES_DIR);
  KCHECK(s.has("gemm.m"));
  KCHECK(s.pairs("gemm.nk").size() == 6u);
  KCHECK(s.has("mla_decode.batch"));
  KCHECK(s.has("collectives.max_bytes"));
}

KTEST(fit, recovers_an_exact_linear_time_model) {
  std::vector<cal::Point> pts;
  for (double m : {64.0, 128.0, 256.0, 1024.0, 4096.0}) {
    const double work = 2.0 * m * 4096 * 7168;
    pts.push_back({m, work, 7.0 + work / 900e12 * 1e6});
  }
  const cal::LinearFit f = cal::fit_time(pts);
  KCHECK(f.ok);
  KCHECK_NEAR(f.t0_us, 7.0, 1e-6);
  KCHECK_NEAR(f.peak / 900e12, 1.0, 1e-9);
  KCHECK_NEAR(cal::predict_us(f, pts[2].work), pts[2].time_us, 1e-6);
}

KTEST(fit, clamps_a_negative_fixed_cost) {
  // Times that fall super-linearly at small sizes would give t0 < 0: the fit then uses t0 = 0.
  const std::vector<cal::Point> pts = {{1, 100, 0.5}, {2, 200, 2.0}, {4, 400, 4.0}};
  const cal::LinearFit f = cal::fit_time(pts);
  KCHECK(f.ok);
  KCHECK(f.t0_us == 0.0);
  KCHECK(f.peak > 0);
}

KTEST(fit, profile_directory_gives_curves_and_held_out_errors) {
  const std::string dir = temp_dir();
  {
    std::ofstream m(dir + "/MANIFEST.yaml");
    m << "gpu: test\nceilings:\n  hbm_gbps: 4000\n  bf16_tflops: 800\n  fp8_tflops: 1600\n";
    std::ofstream g(dir + "/gemm.csv");
    g << "kernel,dtype,groups,m,n,k,time_us,tflops,power_w\n";
    Rng rng(1);
    for (double mm : {64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0}) {
      const double work = 2.0 * mm * 2112 * 7168;
      const double t = (5.0 + work / 1200e12 * 1e6) * (1.0 + 0.02 * (rng.uniform() - 0.5));  // +-1% noise
      g << "gemm,fp8,1," << mm << ",2112,7168," << t << "," << work / t / 1e6 << ",\n";
    }
    std::ofstream e(dir + "/elementwise.csv");
    e << "kernel,dtype,rows,cols,bytes,time_us,gbps,power_w\n";
    for (double rows : {64.0, 1024.0, 16384.0}) {
      const double bytes = rows * 7168 * 4;
      e << "rmsnorm,bf16," << rows << ",7168," << bytes << "," << 3.0 + bytes / 3.5e12 * 1e6 << ",,\n";
    }
  }
  const auto curves = cal::fit_profile(dir);
  KCHECK(curves.size() == 2u);
  for (const auto& c : curves) {
    if (c.table == "gemm") {
      KCHECK(c.key == "gemm/fp8/g1/n2112/k7168");
      KCHECK_NEAR(c.fit.peak / 1200e12, 1.0, 0.05);
      KCHECK_NEAR(c.ceiling, 1600, 0.0);
      KCHECK(c.loo_max_rel < 0.05);  // noise of +-1% on each point
    } else {
      KCHECK(c.table == "elementwise");
      KCHECK_NEAR(c.fit.peak / 3.5e12, 1.0, 1e-4);  // the CSV holds 6 significant digits
      KCHECK(c.loo_max_rel < 1e-4);
    }
  }
  const std::string summary = cal::write_fit(dir, curves);
  KCHECK(summary.find("2 curves fitted") != std::string::npos);
  const cal::CsvData fit = cal::read_csv(dir + "/fit.csv");
  KCHECK(fit.rows.size() == 2u && fit.column("loo_max_rel_err") >= 0);
  const cal::CsvData eff = cal::read_csv(dir + "/efficiency.csv");
  KCHECK(eff.rows.size() == 10u);
  for (const char* f : {"/MANIFEST.yaml", "/gemm.csv", "/elementwise.csv", "/fit.csv", "/efficiency.csv"})
    std::remove((dir + f).c_str());
  rmdir(dir.c_str());
}
