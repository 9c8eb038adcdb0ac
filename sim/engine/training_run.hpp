// A whole training run timed by the event-driven engine: the step at the final batch (and at the smallest batch of
// the ramp) simulated on SimGrid, the rest of the run completed as the analytic path does.
#pragma once

#include <vector>

#include "analytic/training_estimate.hpp"
#include "engine/step_simulation.hpp"

namespace fleetsim {

// Simulates the training step and completes the run. With `trace` non-null, the final-batch step's timeline is
// recorded into it. Throws InputError for plans that do not fit or that the schedule cannot run.
TrainingEstimate simulate_training(const Scenario& scenario, std::vector<TraceEvent>* trace);

// The scenario's backend (engine.backend): simulate_training for simgrid (the default), estimate_training for
// analytic (which records no trace: asking for one is an InputError).
TrainingEstimate run_training(const Scenario& scenario, std::vector<TraceEvent>* trace);

}  // namespace fleetsim
