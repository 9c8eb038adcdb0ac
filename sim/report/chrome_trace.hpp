// The simulated timeline as a Chrome trace (JSON "traceEvents"), which Perfetto (ui.perfetto.dev) and
// chrome://tracing open: one process per simulated GPU, with a compute and a communication track.
#pragma once

#include <string>
#include <vector>

#include "engine/step_simulation.hpp"

namespace fleetsim {

std::string chrome_trace_json(const std::vector<TraceEvent>& events, int pipeline_devices);

}  // namespace fleetsim
