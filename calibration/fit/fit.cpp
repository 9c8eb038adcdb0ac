#include "fit/fit.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

namespace fleetsim::calibration {
namespace {

double cell_number(const CsvData& data, const std::vector<std::string>& row, const std::string& name) {
  const int c = data.column(name);
  if (c < 0 || static_cast<std::size_t>(c) >= row.size() || row[static_cast<std::size_t>(c)].empty())
    return std::numeric_limits<double>::quiet_NaN();
  return std::stod(row[static_cast<std::size_t>(c)]);
}
std::string cell_text(const CsvData& data, const std::vector<std::string>& row, const std::string& name) {
  const int c = data.column(name);
  return c < 0 || static_cast<std::size_t>(c) >= row.size() ? "" : row[static_cast<std::size_t>(c)];
}

// MANIFEST.yaml: the numbers after "hbm_gbps:", "bf16_tflops:", "fp8_tflops:" (0 when absent).
std::map<std::string, double> read_ceilings(const std::string& dir) {
  std::map<std::string, double> out{{"hbm_gbps", 0}, {"bf16_tflops", 0}, {"fp8_tflops", 0}};
  std::ifstream in(dir + "/MANIFEST.yaml");
  std::string line;
  while (std::getline(in, line))
    for (auto& [key, value] : out) {
      const auto pos = line.find(key + ":");
      if (pos != std::string::npos) {
        try {
          value = std::stod(line.substr(pos + key.size() + 1));
        } catch (const std::exception&) {
        }
      }
    }
  return out;
}

void finish(Curve& c) {
  c.fit = fit_time(c.points);
  c.loo_pred_us.assign(c.points.size(), std::numeric_limits<double>::quiet_NaN());
  double max_rel = 0, sum_sq = 0;
  int n = 0;
  if (c.points.size() >= 3) {
    for (std::size_t i = 0; i < c.points.size(); ++i) {
      std::vector<Point> rest;
      for (std::size_t j = 0; j < c.points.size(); ++j)
        if (j != i) rest.push_back(c.points[j]);
      const LinearFit f = fit_time(rest);
      if (!f.ok) continue;
      c.loo_pred_us[i] = predict_us(f, c.points[i].work);
      const double rel = std::fabs(c.loo_pred_us[i] - c.points[i].time_us) / c.points[i].time_us;
      max_rel = std::max(max_rel, rel);
      sum_sq += rel * rel;
      ++n;
    }
  }
  c.loo_max_rel = n ? max_rel : std::numeric_limits<double>::quiet_NaN();
  c.loo_rms_rel = n ? std::sqrt(sum_sq / n) : std::numeric_limits<double>::quiet_NaN();
}

std::string num(double v, int digits = 4) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

}  // namespace

int CsvData::column(const std::string& name) const {
  const auto it = std::find(header.begin(), header.end(), name);
  return it == header.end() ? -1 : static_cast<int>(it - header.begin());
}

CsvData read_csv(const std::string& path) {
  CsvData data;
  std::ifstream in(path);
  if (!in) return data;
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> cells;
    std::stringstream s(line);
    std::string cell;
    while (std::getline(s, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    if (first) data.header = cells;
    else data.rows.push_back(cells);
    first = false;
  }
  return data;
}

LinearFit fit_time(const std::vector<Point>& points) {
  // Minimise sum ((t0 + c*w)/t - 1)^2 over t0 >= 0, c = 1/peak > 0: normal equations in (t0, c) with
  // regressors u = 1/t, v = w/t and target 1.
  LinearFit f;
  double suu = 0, suv = 0, svv = 0, su = 0, sv = 0;
  int n = 0;
  for (const Point& p : points) {
    if (!(p.time_us > 0) || !(p.work > 0)) continue;
    const double u = 1.0 / p.time_us, v = p.work / p.time_us;
    suu += u * u;
    suv += u * v;
    svv += v * v;
    su += u;
    sv += v;
    ++n;
  }
  if (n == 0) return f;
  const double det = suu * svv - suv * suv;
  double t0 = 0, c = 0;
  if (n >= 2 && det > 1e-12 * suu * svv) {
    t0 = (su * svv - sv * suv) / det;
    c = (suu * sv - suv * su) / det;
  }
  if (!(t0 >= 0) || !(c > 0)) {  // constrained: t0 = 0, c from the one-parameter fit
    t0 = 0;
    c = sv / svv;
  }
  if (!(c > 0)) return f;
  f.t0_us = t0;
  f.peak = 1.0 / (c * 1e-6);  // c is us per unit of work
  f.ok = true;
  return f;
}

double predict_us(const LinearFit& fit, double work) { return fit.t0_us + work / fit.peak * 1e6; }

std::vector<Curve> fit_profile(const std::string& dir) {
  const auto ceil = read_ceilings(dir);
  std::map<std::string, Curve> curves;
  auto add = [&](const std::string& table, const std::string& key, const std::string& unit, double ceiling, Point p) {
    if (!(p.time_us > 0) || !(p.work > 0)) return;
    Curve& c = curves[table + "|" + key];
    c.table = table;
    c.key = key;
    c.unit = unit;
    c.ceiling = ceiling;
    c.points.push_back(p);
  };
  const CsvData gemm = read_csv(dir + "/gemm.csv");
  for (const auto& row : gemm.rows) {
    const std::string kernel = cell_text(gemm, row, "kernel"), dtype = cell_text(gemm, row, "dtype");
    const double g = cell_number(gemm, row, "groups"), m = cell_number(gemm, row, "m"), n = cell_number(gemm, row, "n"),
                 k = cell_number(gemm, row, "k");
    add("gemm", kernel + "/" + dtype + "/g" + num(g, 10) + "/n" + num(n, 10) + "/k" + num(k, 10), "TFLOPS",
        dtype == "fp8" ? ceil.at("fp8_tflops") : ceil.at("bf16_tflops"),
        {m, 2.0 * g * m * n * k, cell_number(gemm, row, "time_us")});
  }
  const CsvData att = read_csv(dir + "/attention.csv");
  for (const auto& row : att.rows) {
    const std::string kernel = cell_text(att, row, "kernel");
    const double b = cell_number(att, row, "batch"), h = cell_number(att, row, "heads"), q = cell_number(att, row, "q_len"),
                 kv = cell_number(att, row, "kv_len"), t = cell_number(att, row, "time_us");
    if (kernel == "mla_decode")  // memory-bound: work = bytes of the latent cache, x = batch * kv_len
      add("attention", kernel + "/h" + num(h, 10) + "/q" + num(q, 10), "GB/s", ceil.at("hbm_gbps"),
          {b * kv, cell_number(att, row, "gbps") * 1e9 * t * 1e-6, t});
    else  // prefill: work = FLOPs, x = q_len
      add("attention", kernel + "/h" + num(h, 10) + "/b" + num(b, 10), "TFLOPS", ceil.at("bf16_tflops"),
          {q, cell_number(att, row, "tflops") * 1e12 * t * 1e-6, t});
  }
  const CsvData ew = read_csv(dir + "/elementwise.csv");
  for (const auto& row : ew.rows)
    add("elementwise", cell_text(ew, row, "kernel") + "/" + cell_text(ew, row, "dtype") + "/c" + cell_text(ew, row, "cols"),
        "GB/s", ceil.at("hbm_gbps"),
        {cell_number(ew, row, "rows"), cell_number(ew, row, "bytes"), cell_number(ew, row, "time_us")});
  std::vector<Curve> out;
  for (auto& [name, c] : curves) {
    std::sort(c.points.begin(), c.points.end(), [](const Point& a, const Point& b) { return a.x < b.x; });
    finish(c);
    out.push_back(std::move(c));
  }
  return out;
}

std::string write_fit(const std::string& dir, const std::vector<Curve>& curves) {
  std::ofstream fit(dir + "/fit.csv"), eff(dir + "/efficiency.csv");
  if (!fit || !eff) throw std::runtime_error("cannot write fit.csv / efficiency.csv in " + dir);
  fit << "table,curve,points,t0_us,peak,unit,ceiling,peak_over_ceiling,loo_max_rel_err,loo_rms_rel_err\n";
  eff << "table,curve,x,time_us,rate,measured_eff,fitted_eff,loo_pred_us,loo_rel_err\n";
  const double unit_scale_tf = 1e12, unit_scale_gb = 1e9;
  std::ostringstream summary;
  std::map<std::string, std::vector<double>> loo_by_table;
  for (const Curve& c : curves) {
    const double scale = c.unit == "TFLOPS" ? unit_scale_tf : unit_scale_gb;
    const double peak = c.fit.ok ? c.fit.peak / scale : std::numeric_limits<double>::quiet_NaN();
    fit << c.table << ',' << c.key << ',' << c.points.size() << ',' << num(c.fit.t0_us) << ',' << num(peak) << ',' << c.unit
        << ',' << num(c.ceiling > 0 ? c.ceiling : NAN) << ',' << num(c.ceiling > 0 ? peak / c.ceiling : NAN) << ','
        << num(c.loo_max_rel) << ',' << num(c.loo_rms_rel) << '\n';
    for (std::size_t i = 0; i < c.points.size(); ++i) {
      const Point& p = c.points[i];
      const double rate = p.work / (p.time_us * 1e-6) / scale;
      const double fitted = c.fit.ok ? p.work / (predict_us(c.fit, p.work) * 1e-6) / scale : NAN;
      const double loo = c.loo_pred_us[i];
      eff << c.table << ',' << c.key << ',' << num(p.x, 12) << ',' << num(p.time_us, 6) << ',' << num(rate) << ','
          << num(c.ceiling > 0 ? rate / c.ceiling : NAN) << ',' << num(c.ceiling > 0 ? fitted / c.ceiling : NAN) << ','
          << num(loo, 6) << ',' << num(std::isfinite(loo) ? std::fabs(loo - p.time_us) / p.time_us : NAN) << '\n';
    }
    if (std::isfinite(c.loo_max_rel)) loo_by_table[c.table].push_back(c.loo_max_rel);
  }
  summary << curves.size() << " curves fitted\n";
  for (auto& [table, v] : loo_by_table) {
    std::sort(v.begin(), v.end());
    summary << "  " << table << ": " << v.size() << " curves with held-out points; worst-point error median "
            << num(v[v.size() / 2] * 100, 3) << "%, max " << num(v.back() * 100, 3) << "%\n";
  }
  return summary.str();
}

}  // namespace fleetsim::calibration
