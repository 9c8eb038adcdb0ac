// `fleetsim run --html FILE`: one self-contained page (no scripts, no external files) that a planner can open or mail:
// the text summary, each pipeline device's step phases as a stacked bar (where the bubble sits), the memory per GPU,
// and, when the engine ran, the simulated step's timeline of the first pipeline (compute and communication streams).
#pragma once

#include <string>
#include <vector>

#include "engine/step_simulation.hpp"
#include "report/training_report.hpp"

namespace fleetsim {

// `trace` may be empty (analytic backend): the timeline section then says so.
std::string training_report_html(const Scenario& scenario, const TrainingEstimate& estimate,
                                 const Provenance& provenance, const std::vector<TraceEvent>& trace);

}  // namespace fleetsim
