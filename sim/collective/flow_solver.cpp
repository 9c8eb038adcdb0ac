#include "collective/flow_solver.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
#include <stdexcept>
#include <string>
#include <tuple>

namespace fleetsim::collective {

ResourceId FlowProblem::add_resource(double capacity_bytes_per_s) {
  if (!(capacity_bytes_per_s > 0) || !std::isfinite(capacity_bytes_per_s))
    throw std::invalid_argument("flow solver: a resource needs a positive, finite capacity; got " +
                                std::to_string(capacity_bytes_per_s));
  capacity_.push_back(capacity_bytes_per_s);
  return static_cast<ResourceId>(capacity_.size() - 1);
}

std::size_t FlowProblem::add_flow(std::span<const ResourceId> resources, double bytes, double latency_s,
                                  double weight) {
  if (!(bytes >= 0) || !std::isfinite(bytes) || !(latency_s >= 0) || !(weight > 0))
    throw std::invalid_argument("flow solver: a flow needs bytes >= 0, latency >= 0 and weight > 0");
  for (const ResourceId r : resources)
    if (r >= capacity_.size()) throw std::out_of_range("flow solver: a flow crosses an unknown resource");
  flow_resources_.insert(flow_resources_.end(), resources.begin(), resources.end());
  flow_begin_.push_back(flow_resources_.size());
  bytes_.push_back(bytes);
  latency_.push_back(latency_s);
  weight_.push_back(weight);
  return bytes_.size() - 1;
}

namespace {

// Progressive filling over the flows marked `running`. Reused across events, so the per-resource flow index is
// built once per solve() rather than once per event.
class Filler {
 public:
  explicit Filler(const FlowProblem& problem) : problem_(problem) {
    const std::size_t resources = problem.resource_count();
    // resource -> flows index (CSR), in flow order, so that a resource fixes its flows in a deterministic order.
    std::vector<std::size_t> count(resources + 1, 0);
    for (std::size_t f = 0; f < problem.flow_count(); ++f)
      for (const ResourceId r : problem.resources_of(f)) ++count[r + 1];
    for (std::size_t r = 0; r < resources; ++r) count[r + 1] += count[r];
    begin_ = count;
    flows_.resize(begin_.back());
    for (std::size_t f = 0; f < problem.flow_count(); ++f)
      for (const ResourceId r : problem.resources_of(f)) flows_[count[r]++] = f;
    remaining_capacity_.resize(resources);
    weight_sum_.resize(resources);
    unfixed_.resize(resources);
    version_.resize(resources);
    touched_mark_.assign(resources, 0);
  }

  // Rates of the running flows (others untouched): weighted max-min fair.
  void fill(const std::vector<std::size_t>& running, std::vector<char>& is_running, std::vector<double>& rate) {
    std::fill(remaining_capacity_.begin(), remaining_capacity_.end(), 0.0);
    std::fill(weight_sum_.begin(), weight_sum_.end(), 0.0);
    std::fill(unfixed_.begin(), unfixed_.end(), 0);
    fixed_.assign(problem_.flow_count(), 0);
    for (const std::size_t f : running) {
      const auto resources = problem_.resources_of(f);
      if (resources.empty()) {
        rate[f] = std::numeric_limits<double>::infinity();
        fixed_[f] = 1;
        continue;
      }
      for (const ResourceId r : resources) {
        weight_sum_[r] += problem_.weight(f);
        ++unfixed_[r];
      }
    }
    // (share, resource, version): the smallest share fills first; equal shares go in resource order.
    using Entry = std::tuple<double, ResourceId, std::uint32_t>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
    for (ResourceId r = 0; r < remaining_capacity_.size(); ++r) {
      if (unfixed_[r] == 0) continue;
      remaining_capacity_[r] = problem_.capacity(r);
      heap.emplace(remaining_capacity_[r] / weight_sum_[r], r, version_[r]);
    }
    while (!heap.empty()) {
      const auto [share, bottleneck, version] = heap.top();
      heap.pop();
      if (version != version_[bottleneck] || unfixed_[bottleneck] == 0) continue;  // stale entry
      touched_.clear();
      for (std::size_t i = begin_[bottleneck]; i < begin_[bottleneck + 1]; ++i) {
        const std::size_t f = flows_[i];
        if (!is_running[f] || fixed_[f]) continue;
        fixed_[f] = 1;
        const double w = problem_.weight(f);
        rate[f] = w * share;
        for (const ResourceId q : problem_.resources_of(f)) {
          remaining_capacity_[q] = std::max(0.0, remaining_capacity_[q] - w * share);
          weight_sum_[q] -= w;
          --unfixed_[q];
          if (!touched_mark_[q]) {
            touched_mark_[q] = 1;
            touched_.push_back(q);
          }
        }
      }
      // One new heap entry per resource whose share changed (not one per flow fixed). Shares only grow as flows
      // are fixed at the smallest one, so a lazily re-pushed entry is never late.
      for (const ResourceId q : touched_) {
        touched_mark_[q] = 0;
        ++version_[q];
        if (unfixed_[q] > 0) heap.emplace(remaining_capacity_[q] / weight_sum_[q], q, version_[q]);
      }
    }
  }

 private:
  const FlowProblem& problem_;
  std::vector<std::size_t> begin_;
  std::vector<std::size_t> flows_;
  std::vector<double> remaining_capacity_;
  std::vector<double> weight_sum_;
  std::vector<std::uint32_t> unfixed_;
  std::vector<std::uint32_t> version_;
  std::vector<char> fixed_;
  std::vector<ResourceId> touched_;
  std::vector<char> touched_mark_;
};

// Flows ending within this fraction of their size of the same instant end in the same event.
constexpr double kEndTolerance = 1e-9;

}  // namespace

std::vector<double> max_min_rates(const FlowProblem& problem) {
  std::vector<std::size_t> all(problem.flow_count());
  for (std::size_t f = 0; f < all.size(); ++f) all[f] = f;
  std::vector<char> running(problem.flow_count(), 1);
  std::vector<double> rate(problem.flow_count(), 0.0);
  Filler filler(problem);
  filler.fill(all, running, rate);
  return rate;
}

FlowSolution solve(const FlowProblem& problem) {
  const std::size_t flows = problem.flow_count();
  FlowSolution solution;
  solution.transfer_end_s.assign(flows, 0.0);
  solution.finish_s.assign(flows, 0.0);
  std::vector<double> remaining(flows), rate(flows, 0.0);
  std::vector<char> is_running(flows, 0);
  std::vector<std::size_t> running;
  for (std::size_t f = 0; f < flows; ++f) {
    remaining[f] = problem.bytes(f);
    if (remaining[f] > 0 && !problem.resources_of(f).empty()) {
      is_running[f] = 1;
      running.push_back(f);
    }
  }

  Filler filler(problem);
  double now = 0;
  while (!running.empty()) {
    filler.fill(running, is_running, rate);
    ++solution.rate_solves;
    double step = std::numeric_limits<double>::infinity();
    for (const std::size_t f : running) step = std::min(step, remaining[f] / rate[f]);
    now += step;
    std::vector<std::size_t> still;
    still.reserve(running.size());
    for (const std::size_t f : running) {
      remaining[f] -= rate[f] * step;
      if (remaining[f] <= kEndTolerance * problem.bytes(f)) {
        is_running[f] = 0;
        solution.transfer_end_s[f] = now;
      } else {
        still.push_back(f);
      }
    }
    running.swap(still);
  }

  for (std::size_t f = 0; f < flows; ++f) {
    solution.finish_s[f] = solution.transfer_end_s[f] + problem.latency(f);
    solution.transfer_makespan_s = std::max(solution.transfer_makespan_s, solution.transfer_end_s[f]);
    solution.makespan_s = std::max(solution.makespan_s, solution.finish_s[f]);
  }
  return solution;
}

}  // namespace fleetsim::collective
