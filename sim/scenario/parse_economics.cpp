// `cost:`, `reliability:` and `engine:` — the money and failure assumptions, and how a step is simulated.
#include <sstream>

#include "scenario/sections.hpp"

namespace fleetsim::scenario {
namespace {

CapexSpec parse_capex(const Value& value) {
  const Map m = value.map({"gpu", "server_per_node", "network_per_gpu", "years", "interest"});
  CapexSpec capex;
  capex.gpu_usd = m.get("gpu", read::quantity(Dimension::dollars));
  capex.server_per_node_usd = m.get("server_per_node", read::quantity(Dimension::dollars));
  capex.network_per_gpu_usd = m.get_or("network_per_gpu", 0.0, read::quantity(Dimension::dollars));
  capex.years = m.get("years", read::positive(Dimension::count));  // depreciation period
  capex.interest = m.get_or("interest", 0.0, read::fraction);      // yearly cost of capital
  return capex;
}

}  // namespace

CostSpec parse_cost(const Map& m) {
  CostSpec cost;
  if (const std::optional<Value> rental = m.find("gpu_hour")) cost.gpu_hour_usd = rental->quantity(Dimension::dollars);
  if (const std::optional<Value> capex = m.find("capex")) cost.capex = parse_capex(*capex);
  if (!cost.gpu_hour_usd && !cost.capex)
    m.missing("gpu_hour", "a cost section prices the GPUs by gpu_hour (rental) or capex (ownership), or both");
  cost.electricity_usd_per_kwh = m.get_or("electricity", 0.0, read::quantity(Dimension::dollars));  // 0: not priced
  cost.pue = m.get_or("pue", 1.0, [](const Value& value) {
    const double pue = value.quantity(Dimension::count);
    if (pue < 1 || pue > 10)
      value.fail("must be from 1 to 10 (facility power over IT power; industry average about 1.56), got " +
                 value.describe());
    return pue;
  });
  return cost;
}

ReliabilitySpec parse_reliability(const Map& m) {
  ReliabilitySpec reliability;
  reliability.gpu_mtbf_hours = m.get("gpu_mtbf_hours", read::positive(Dimension::count));
  reliability.checkpoint_interval_s = m.get("checkpoint_interval", read::positive(Dimension::time_s));
  reliability.restart_overhead_s = m.get("restart_overhead", read::quantity(Dimension::time_s));
  return reliability;
}

EngineSpec parse_engine(const Map& m) {
  EngineSpec engine;
  engine.backend = m.get_or("backend", engine.backend, [](const Value& v) { return v.one_of({"simgrid", "analytic"}); });
  engine.mode = m.get_or("mode", engine.mode, [](const Value& v) { return v.one_of({"symmetric", "full"}); });
  engine.expert_skew = m.get_or("expert_skew", engine.expert_skew, read::quantity(Dimension::count));
  engine.routing_fluctuation = m.get_or("routing_fluctuation", engine.routing_fluctuation, read::boolean);
  engine.slow_gpu_factor = m.get_or("slow_gpu_factor", engine.slow_gpu_factor, read::positive(Dimension::count));
  // Past 100x a GPU has failed rather than straggles (reliability models failures), and step times stay finite.
  if (engine.slow_gpu_factor < 1 || engine.slow_gpu_factor > EngineSpec::kMaxSlowGpuFactor)
    m.fail("slow_gpu_factor", "must be from 1 (no slow GPU) to " +
                                  (std::ostringstream() << EngineSpec::kMaxSlowGpuFactor).str() +
                                  " (a GPU that many times slower than its SKU)");
  engine.gpu_speed_spread = m.get_or("gpu_speed_spread", engine.gpu_speed_spread, read::quantity(Dimension::count));
  if (engine.gpu_speed_spread < 0 || engine.gpu_speed_spread >= EngineSpec::kMaxGpuSpeedSpread)
    m.fail("gpu_speed_spread", "must be at least 0 and below " +
                                   (std::ostringstream() << EngineSpec::kMaxGpuSpeedSpread).str() +
                                   " (the standard deviation of a GPU's compute time "
                                   "over its SKU's mean, e.g. 0.02 for 2%; 0: identical GPUs)");
  if (engine.gpu_speed_spread > 0 && engine.backend == "analytic")
    m.fail("gpu_speed_spread",
           "needs the event-driven engine, which times every GPU (engine.backend: simgrid); the "
           "analytic backend has one timeline for all");
  engine.p2p = m.get_or("p2p", engine.p2p, [](const Value& v) { return v.one_of({"auto", "rendezvous", "buffered"}); });
  return engine;
}

}  // namespace fleetsim::scenario
