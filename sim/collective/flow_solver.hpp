// A fluid network model: flows share link bandwidth max-min fairly, and bandwidth is re-shared whenever a flow ends.
//
// This is the bandwidth-sharing model of SimGrid's default network model (its LMM solver: every resource is shared
// max-min fairly among the flows crossing it, Velho et al., "On the validity of flow-level TCP network models",
// ACM TOMACS 2013), without SimGrid's TCP corrections (no rate bound from the TCP window over the RTT, no
// bandwidth or latency factors): links here are InfiniBand and NVLink, whose achievable fraction of line rate is
// applied to the capacities by the caller (sim/collective/network.hpp).
//
// Progressive filling: raise every unfixed flow's rate together; the first resource to fill (the one with the
// smallest remaining capacity per unit of weight) fixes the rates of its flows; repeat. A min-heap of resource shares
// with lazy invalidation makes one solve O(P log P) for P (flow, resource) incidences, so tens of thousands of flows
// solve in milliseconds. All flows start at time 0; an event is the end of one or more flows, after which the
// rates are solved again over the flows still running. Deterministic: no hashing, ties broken by index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace fleetsim::collective {

using ResourceId = std::uint32_t;

// Resources (one direction of a link, or a bundle of equal-cost links) and the flows crossing them.
class FlowProblem {
 public:
  // Capacity in bytes per second; must be positive.
  ResourceId add_resource(double capacity_bytes_per_s);

  // A flow of `bytes` crossing `resources` (a resource listed twice is crossed twice and charged twice). `weight`
  // is the number of identical flows this one stands for: it receives `weight` shares wherever it is constrained,
  // and `bytes` must be the total of those flows, so it ends exactly when each of them would (weighted max-min, as
  // SimGrid's LMM with action weights). `latency_s` is added to its end time (see FlowSolution). A flow with no
  // resources (the same GPU) or no bytes takes only its latency. Returns the flow's index.
  std::size_t add_flow(std::span<const ResourceId> resources, double bytes, double latency_s = 0.0,
                       double weight = 1.0);

  std::size_t flow_count() const { return bytes_.size(); }
  std::size_t resource_count() const { return capacity_.size(); }
  std::size_t incidence_count() const { return flow_resources_.size(); }
  double capacity(ResourceId resource) const { return capacity_.at(resource); }
  double bytes(std::size_t flow) const { return bytes_.at(flow); }
  double latency(std::size_t flow) const { return latency_.at(flow); }
  double weight(std::size_t flow) const { return weight_.at(flow); }
  std::span<const ResourceId> resources_of(std::size_t flow) const {
    return {flow_resources_.data() + flow_begin_.at(flow), flow_resources_.data() + flow_begin_.at(flow + 1)};
  }

 private:
  std::vector<double> capacity_;
  std::vector<std::size_t> flow_begin_{0};  // flow f crosses flow_resources_[flow_begin_[f] .. flow_begin_[f+1])
  std::vector<ResourceId> flow_resources_;
  std::vector<double> bytes_, latency_, weight_;
};

struct FlowSolution {
  std::vector<double> transfer_end_s;  // per flow: when its last byte has been sent (the bandwidth phase)
  std::vector<double> finish_s;        // per flow: transfer_end_s + its latency (when the last byte arrives)
  double transfer_makespan_s = 0;      // max of transfer_end_s
  double makespan_s = 0;               // max of finish_s
  std::size_t rate_solves = 0;         // progressive fillings run: one per event (distinct end time)
};

// Max-min fair rates (bytes/s) of all flows of `problem` at once: one progressive filling. A flow with no
// resources gets +infinity.
std::vector<double> max_min_rates(const FlowProblem& problem);

// Runs every flow from time 0 to its end, re-sharing bandwidth at every end. Flows ending within a relative 1e-9
// of the same instant end together (one event), which keeps symmetric collectives at a handful of events.
FlowSolution solve(const FlowProblem& problem);

}  // namespace fleetsim::collective
