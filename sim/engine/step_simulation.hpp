// The event-driven training step: SimGrid plays every chunk of a pipeline schedule (sim/schedule) on simulated GPUs.
//
// Each simulated GPU is a SimGrid host with a compute stream (an actor running its schedule's chunks in order, each
// chunk an Exec whose length comes from the cost model) and a communication stream (MoE all-to-all and pipeline
// transfers as Comms over the GPU's NIC or NVLink links, so that they share bandwidth by SimGrid's max-min flow
// model). DualPipe's overlapped forward/backward chunks run their all-to-all beside the compute, which then runs
// on the SMs DeepEP leaves free. After its last chunk each GPU reduce-scatters its gradients, steps the optimizer
// and all-gathers its parameters.
//
// Scale by symmetry (the default, `engine.mode: symmetric`): the DP replicas and EP groups of a plan are identical,
// so one pipeline (pp GPUs) is simulated in full event detail; the traffic of the other replicas enters through the
// collective model that times the all-to-all and the data-parallel collectives on the whole cluster.
// `engine.mode: full` simulates every pipeline of the cluster, each GPU its own pair of streams, with the EP group's
// all-to-all as a synchronisation across pipelines (the slowest member sets its end), for clusters up to a few
// thousand GPUs.
//
// SimGrid's Engine is one per process and cannot be restarted, so each call runs the simulation in a child process
// (fork) and reads the result back through a pipe: callers may simulate as often as they like.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analytic/training_estimate.hpp"

namespace fleetsim {

// One span of the simulated timeline, for the Chrome trace.
struct TraceEvent {
  std::int32_t rank = 0;    // simulated GPU (pipeline device d of replica r: r * pp + d)
  std::int32_t stream = 0;  // 0 compute, 1 communication
  double start_s = 0;
  double end_s = 0;
  char name[32] = {};       // "F12.s3", "F5.s0&B1.s3", "dispatch+combine", "reduce-scatter", ...
};

struct EngineStep {
  StepBreakdown step;          // the contract's breakdown, read off the simulated timeline
  std::vector<TraceEvent> trace;
  std::int64_t activities = 0; // Execs and Comms simulated
  std::int64_t actors = 0;
  int critical_rank = 0;       // the GPU that finished last
  bool rendezvous = false;     // pipeline sends simulated as rendezvous (engine.p2p resolved for the schedule)
  double simulation_peak_rss_bytes = 0;  // peak resident memory of the simulation process
};

struct EngineRequest {
  std::int64_t global_batch = 0;  // sequences per step
  bool record_trace = false;
};

// Simulates one training step per request. Throws InputError when the schedule cannot run the plan (e.g. DualPipe
// with fewer than 2 x pp micro-batches), std::runtime_error when the simulation itself fails.
std::vector<EngineStep> simulate_training_steps(const Scenario& scenario, const std::vector<StageCost>& stages,
                                                const KernelCostModel& kernels, const CommModel& comm,
                                                const std::vector<EngineRequest>& requests);

}  // namespace fleetsim
