// `inference:` — disaggregated serving: a prefill pool, a decode pool, the traffic they serve, the latency target.
#include <cmath>
#include <filesystem>

#include "scenario/sections.hpp"

namespace fleetsim::scenario {
namespace {

std::string str(std::int64_t n) { return std::to_string(n); }

// Token volumes and request counts given together may disagree by rounding, not by more.
constexpr double kConsistencyTolerance = 0.01;

// A serving pool is one deployment unit (DeepSeek-V3: 32 GPUs of prefill, 320 of decode); the simulator scales
// the number of units with the traffic.
InferencePool parse_pool(const Value& value, bool is_decode, const ModelSpec& model, const ClusterSpec& cluster) {
  const Map m = value.map({"gpus", "parallelism", "mtp"});
  InferencePool pool;
  pool.gpus = m.get("gpus", read::positive_int);
  if (pool.gpus % cluster.gpus_per_node != 0)
    m.fail("gpus", "must be a whole number of nodes: a multiple of cluster.gpus_per_node (" +
                       str(cluster.gpus_per_node) + "); got " + str(pool.gpus));
  const Map plan = m.get("parallelism").map({"tp", "pp", "ep", "dp", "cp"});
  // Serving holds redundant copies of hot experts (V3 §3.4: EP320 for 256 experts), so unlike training ep need
  // not divide the expert count.
  pool.parallelism = parse_degrees(plan, pool.gpus, join_path(value.path(), "gpus"), model);
  if (!is_decode) m.reject("mtp", "to prefill: multi-token prediction speeds up decoding only");
  if (const std::optional<Value> mtp = m.find("mtp")) {
    const Map mm = mtp->map({"depth", "acceptance"});
    pool.mtp_depth = mm.get("depth", read::non_negative_int);
    if (pool.mtp_depth > model.mtp_depth)
      mm.fail("depth", "must not exceed the model's mtp_depth (" + str(model.mtp_depth) +
                           "): each speculated token needs an MTP module");
    pool.mtp_acceptance = mm.get("acceptance", read::fraction);
  }
  return pool;
}

// input_length / output_length: a mean in tokens (a bare number), or {mean, distribution, sigma}.
LengthDistribution parse_length(const Value& value) {
  LengthDistribution length;
  if (value.is_scalar()) {
    length.mean = value.positive_quantity(Dimension::count);
    return length;
  }
  const Map m = value.map({"mean", "distribution", "sigma"});
  length.mean = m.get("mean", read::positive(Dimension::count));
  length.distribution = m.get_or("distribution", std::string("fixed"), [](const Value& v) {
    return v.one_of({"fixed", "lognormal", "exponential"});
  });
  if (length.distribution == "lognormal") {
    length.sigma = m.get("sigma", read::positive(Dimension::count));
  } else {
    m.reject("sigma", "to a " + length.distribution + " distribution (only lognormal has a shape parameter)");
  }
  return length;
}

// One side of the traffic (input or output): tokens per day, from the volume given or from requests x mean length.
double tokens_per_day(const Map& m, std::string_view key, std::optional<double> requests_per_day, double mean_length) {
  const std::optional<Value> given = m.find(key);
  if (!requests_per_day) {
    if (!given) m.missing(key, "give input_tokens_per_day and output_tokens_per_day, or requests_per_day");
    return given->positive_quantity(Dimension::count);
  }
  const double derived = *requests_per_day * mean_length;
  if (!given) return derived;
  const double volume = given->positive_quantity(Dimension::count);
  if (std::fabs(volume - derived) > kConsistencyTolerance * derived)
    given->fail("contradicts requests_per_day x mean length = " + std::to_string(derived) +
                " tokens (give either the volume or requests_per_day, or make them agree)");
  return volume;
}

void parse_arrival(const Map& traffic, InferenceJob& job, const LoadContext& context) {
  const std::optional<Value> given = traffic.find("arrival");
  if (!given) return;  // poisson
  if (!given->is_map()) {
    if (given->is_scalar() && given->node().Scalar() == "trace")
      given->fail("give the trace file as {trace: FILE} (a CSV of request arrivals)");
    job.arrival = given->one_of({"poisson", "diurnal"});
    return;
  }
  const Map m = given->map({"trace"});
  const Value file = m.get("trace");
  std::filesystem::path path = file.text();
  if (path.is_relative()) path = std::filesystem::path(context.scenario_dir) / path;  // relative to the scenario
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error))
    file.fail("trace file '" + path.lexically_normal().string() +
              "' does not exist (relative paths start at the "
              "scenario file's folder)");
  job.arrival = "trace";
  job.arrival_trace = path.lexically_normal().string();
}

void parse_traffic(const Map& m, InferenceJob& job, const LoadContext& context) {
  job.input_length = parse_length(m.get("input_length"));
  job.output_length = parse_length(m.get("output_length"));
  std::optional<double> requests;
  if (const std::optional<Value> given = m.find("requests_per_day"))
    requests = given->positive_quantity(Dimension::count);
  job.input_tokens_per_day = tokens_per_day(m, "input_tokens_per_day", requests, job.input_length.mean);
  job.output_tokens_per_day = tokens_per_day(m, "output_tokens_per_day", requests, job.output_length.mean);
  // Without requests_per_day, a request is defined by the input side: the output volume is taken as given.
  job.requests_per_day = requests ? *requests : job.input_tokens_per_day / job.input_length.mean;
  job.cache_hit_rate = m.get_or("cache_hit_rate", 0.0, read::fraction);
  parse_arrival(m, job, context);
}

}  // namespace

InferenceJob parse_inference(const Map& m, const ModelSpec& model, const ClusterSpec& cluster,
                             const LoadContext& context) {
  InferenceJob job;
  job.prefill = parse_pool(m.get("prefill"), false, model, cluster);
  job.decode = parse_pool(m.get("decode"), true, model, cluster);
  if (job.prefill.gpus + job.decode.gpus > cluster.gpus)
    m.fail("decode", "one prefill unit (" + str(job.prefill.gpus) + " GPUs) and one decode unit (" +
                         str(job.decode.gpus) + " GPUs) do not fit in cluster.gpus (" + str(cluster.gpus) + ")");
  parse_traffic(m.get("traffic").map({"input_tokens_per_day", "output_tokens_per_day", "requests_per_day",
                                      "input_length", "output_length", "cache_hit_rate", "arrival"}),
                job, context);
  if (const std::optional<Value> slo = m.find("slo")) {
    const Map s = slo->map({"ttft", "tpot"});
    job.slo_ttft_s = s.get_or("ttft", 0.0, read::positive(Dimension::time_s));  // 0: no target
    job.slo_tpot_s = s.get_or("tpot", 0.0, read::positive(Dimension::time_s));
  }
  return job;
}

}  // namespace fleetsim::scenario
