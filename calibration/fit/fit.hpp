// The calibration fit: turns measured kernel tables into efficiency curves and says how well the curves predict
// shapes they were not fitted on. Plain C++17, no CUDA (runs anywhere; tested in CI).
//
// Model, one curve per kernel "family" (a GEMM's kernel, dtype, groups, N and K; an elementwise kernel's width; ...):
//     time(x) = t0 + work(x) / peak
// work is FLOPs (GEMMs, prefill attention) or HBM bytes (decode attention, memory-bound ops); t0 is a fixed cost
// (launch, pipeline fill, tail wave) and peak the asymptotic rate. The efficiency against the device ceiling is
//     eff(x) = work / time / ceiling = (peak / ceiling) * work / (work + t0 * peak)
// a logistic-like curve in log work (log M for a GEMM). The two parameters come from a least-squares fit of the
// relative time error (weighted by 1/time^2, so small and large shapes count alike). Held-out error: each point
// is predicted by the curve fitted on the other points of its family (leave-one-out); reported as max and RMS of
// |predicted - measured| / measured time.
#pragma once

#include <string>
#include <vector>

namespace fleetsim::calibration {

struct Point {
  double x = 0;        // the swept variable (M, rows, q_len, batch * kv_len)
  double work = 0;     // FLOPs or bytes of the call
  double time_us = 0;  // measured median time
};

struct LinearFit {
  double t0_us = 0;      // fixed cost
  double peak = 0;       // work per second at large sizes
  bool ok = false;
};

// Least squares of (t0 + work/peak - t) / t over the points (t0 >= 0, peak > 0). Needs >= 2 points with distinct work.
LinearFit fit_time(const std::vector<Point>& points);
double predict_us(const LinearFit& fit, double work);

struct Curve {
  std::string table;     // gemm | attention | elementwise
  std::string key;       // e.g. gemm/fp8/g1/n2112/k7168
  std::string unit;      // TFLOPS | GB/s
  double ceiling = 0;    // device ceiling in `unit` (0: unknown)
  std::vector<Point> points;
  LinearFit fit;
  std::vector<double> loo_pred_us;  // per point: prediction of the fit without it (NaN when < 3 points)
  double loo_max_rel = 0, loo_rms_rel = 0;
};

// Reads gemm.csv, attention.csv and elementwise.csv of a profile directory (those present) and MANIFEST.yaml's
// ceilings (if any); fits every family with at least 2 points.
std::vector<Curve> fit_profile(const std::string& dir);
// Writes fit.csv (one line per curve) and efficiency.csv (one line per point) into `dir`; returns a text summary.
std::string write_fit(const std::string& dir, const std::vector<Curve>& curves);

// Small CSV reader: header names -> rows of string cells (no quoting; the profiles never need it).
struct CsvData {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  int column(const std::string& name) const;  // -1 when absent
};
CsvData read_csv(const std::string& path);  // empty CsvData when the file does not exist

}  // namespace fleetsim::calibration
