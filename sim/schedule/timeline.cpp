#include "schedule/timeline.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>

namespace fleetsim::schedule {
namespace {

// The three passes every (micro-batch, stage) needs. A full backward (alone or in an F&B) is both kInput and kWeight.
enum Pass : int { kForward = 0, kInput = 1, kWeight = 2, kPasses = 3 };

constexpr double kNotDone = -1.0;

std::string_view pass_name(int pass) {
  switch (pass) {
    case kForward: return "forward";
    case kInput: return "input backward";
    default: return "weight backward";
  }
}

class Evaluator {
 public:
  Evaluator(const PipelineProgram& program, const ChunkDurations& durations)
      : program_(program), durations_(durations) {}

  Timeline run() {
    check_shape();
    check_exactly_once();
    return replay();
  }

 private:
  std::size_t index(int micro_batch, int stage, int pass) const {
    return (static_cast<std::size_t>(micro_batch) * static_cast<std::size_t>(program_.stages) +
            static_cast<std::size_t>(stage)) *
               kPasses +
           static_cast<std::size_t>(pass);
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw std::logic_error("pipeline program '" + program_.schedule + "': " + what);
  }

  void check_shape() const {
    const auto& p = program_;
    if (p.devices < 1 || p.stages < 1 || p.micro_batches < 1) fail("needs devices, stages and micro-batches >= 1");
    if (p.per_device.size() != static_cast<std::size_t>(p.devices))
      fail("per_device does not have one list per device");
    if (p.device_of_stage.size() != static_cast<std::size_t>(p.stages))
      fail("device_of_stage does not cover every stage");
    if (p.direction_of_micro_batch.size() != static_cast<std::size_t>(p.micro_batches))
      fail("direction_of_micro_batch does not cover every micro-batch");
    for (int device : p.device_of_stage)
      if (device < 0 || device >= p.devices) fail("device_of_stage names device " + std::to_string(device));
    for (int direction : p.direction_of_micro_batch)
      if (direction != 0 && direction != 1) fail("a micro-batch direction is neither 0 nor 1");
  }

  // Every chunk names a valid (micro-batch, stage) held by its device, and every pass runs exactly once.
  void check_exactly_once() const {
    std::vector<int> runs(index(program_.micro_batches, 0, 0), 0);
    auto count = [&](int device, int micro_batch, int stage, std::initializer_list<int> passes, const Chunk& chunk) {
      if (micro_batch < 0 || micro_batch >= program_.micro_batches || stage < 0 || stage >= program_.stages)
        fail("device " + std::to_string(device) + " has chunk " + to_string(chunk, true) + " out of range");
      if (device_of(program_, micro_batch, stage) != device)
        fail("device " + std::to_string(device) + " runs " + to_string(chunk, true) + " but stage " +
             std::to_string(stage) + " of micro-batch " + std::to_string(micro_batch) + " is on device " +
             std::to_string(device_of(program_, micro_batch, stage)));
      for (int pass : passes) ++runs[index(micro_batch, stage, pass)];
    };
    for (int d = 0; d < program_.devices; ++d) {
      for (const Chunk& c : program_.per_device[static_cast<std::size_t>(d)]) {
        switch (c.kind) {
          case ChunkKind::forward: count(d, c.micro_batch, c.stage, {kForward}, c); break;
          case ChunkKind::backward_input: count(d, c.micro_batch, c.stage, {kInput}, c); break;
          case ChunkKind::backward_weight: count(d, c.micro_batch, c.stage, {kWeight}, c); break;
          case ChunkKind::backward: count(d, c.micro_batch, c.stage, {kInput, kWeight}, c); break;
          case ChunkKind::forward_backward:
            count(d, c.micro_batch, c.stage, {kForward}, c);
            count(d, c.paired_micro_batch, c.paired_stage, {kInput, kWeight}, c);
            break;
        }
      }
    }
    for (int m = 0; m < program_.micro_batches; ++m)
      for (int s = 0; s < program_.stages; ++s)
        for (int pass = 0; pass < kPasses; ++pass) {
          const int n = runs[index(m, s, pass)];
          if (n != 1)
            fail("the " + std::string(pass_name(pass)) + " of micro-batch " + std::to_string(m) + " at stage " +
                 std::to_string(s) + " runs " + std::to_string(n) + " times, not once");
        }
  }

  // When (micro_batch, stage, pass) is available to a chunk on `device`, or nullopt if it has not run yet.
  std::optional<double> available(int micro_batch, int stage, int pass, int device) const {
    const double end = done_[index(micro_batch, stage, pass)];
    if (end == kNotDone) return std::nullopt;
    const bool remote = device_of(program_, micro_batch, stage) != device;
    return remote ? end + durations_.p2p_latency : end;
  }

  // The earliest start the data dependencies allow, or nullopt with `missing` set to the first one not yet done.
  struct Need {
    int micro_batch, stage, pass;
  };
  std::optional<double> ready_forward(int m, int s, int device, Need& missing) const {
    if (s == 0) return 0.0;
    auto t = available(m, s - 1, kForward, device);
    if (!t) missing = {m, s - 1, kForward};
    return t;
  }
  std::optional<double> ready_backward(int m, int s, int device, Need& missing) const {
    auto own = available(m, s, kForward, device);
    if (!own) {
      missing = {m, s, kForward};
      return std::nullopt;
    }
    if (s == program_.stages - 1) return own;
    auto next = available(m, s + 1, kInput, device);
    if (!next) {
      missing = {m, s + 1, kInput};
      return std::nullopt;
    }
    return std::max(*own, *next);
  }
  std::optional<double> ready(const Chunk& c, int device, Need& missing) const {
    switch (c.kind) {
      case ChunkKind::forward: return ready_forward(c.micro_batch, c.stage, device, missing);
      case ChunkKind::backward_input:
      case ChunkKind::backward: return ready_backward(c.micro_batch, c.stage, device, missing);
      case ChunkKind::backward_weight: {
        auto t = available(c.micro_batch, c.stage, kInput, device);
        if (!t) missing = {c.micro_batch, c.stage, kInput};
        return t;
      }
      case ChunkKind::forward_backward: {
        auto f = ready_forward(c.micro_batch, c.stage, device, missing);
        if (!f) return std::nullopt;
        auto b = ready_backward(c.paired_micro_batch, c.paired_stage, device, missing);
        if (!b) return std::nullopt;
        return std::max(*f, *b);
      }
    }
    return std::nullopt;
  }

  void mark_done(const Chunk& c, double end) {
    switch (c.kind) {
      case ChunkKind::forward: done_[index(c.micro_batch, c.stage, kForward)] = end; break;
      case ChunkKind::backward_input: done_[index(c.micro_batch, c.stage, kInput)] = end; break;
      case ChunkKind::backward_weight: done_[index(c.micro_batch, c.stage, kWeight)] = end; break;
      case ChunkKind::backward:
        done_[index(c.micro_batch, c.stage, kInput)] = end;
        done_[index(c.micro_batch, c.stage, kWeight)] = end;
        break;
      case ChunkKind::forward_backward:
        done_[index(c.micro_batch, c.stage, kForward)] = end;
        done_[index(c.paired_micro_batch, c.paired_stage, kInput)] = end;
        done_[index(c.paired_micro_batch, c.paired_stage, kWeight)] = end;
        break;
    }
  }

  // List scheduling: sweep the devices, advancing each as far as its next chunk's inputs allow, until all are done.
  // Each sweep that is not the last advances at least one chunk, so this ends; a sweep that advances none while
  // chunks remain is a deadlock (the order itself is unrunnable: e.g. a backward placed before its forward).
  Timeline replay() {
    const auto devices = static_cast<std::size_t>(program_.devices);
    done_.assign(index(program_.micro_batches, 0, 0), kNotDone);
    Timeline timeline;
    timeline.busy.assign(devices, 0.0);
    timeline.per_device.resize(devices);
    std::vector<std::size_t> next(devices, 0);
    std::vector<double> free_at(devices, 0.0);
    std::size_t remaining = 0;
    for (const auto& chunks : program_.per_device) remaining += chunks.size();

    while (remaining > 0) {
      bool progressed = false;
      for (std::size_t d = 0; d < devices; ++d) {
        const auto& chunks = program_.per_device[d];
        Need missing{};
        while (next[d] < chunks.size()) {
          const Chunk& chunk = chunks[next[d]];
          const auto inputs_at = ready(chunk, static_cast<int>(d), missing);
          if (!inputs_at) break;
          const double start = std::max(free_at[d], *inputs_at);
          const double length = duration_of(chunk.kind, durations_);
          timeline.per_device[d].push_back({start, start + length});
          timeline.busy[d] += length;
          free_at[d] = start + length;
          mark_done(chunk, start + length);
          ++next[d];
          --remaining;
          progressed = true;
        }
      }
      if (!progressed) describe_deadlock(next);
    }

    for (std::size_t d = 0; d < devices; ++d) timeline.makespan = std::max(timeline.makespan, free_at[d]);
    timeline.bubble.resize(devices);
    for (std::size_t d = 0; d < devices; ++d) {
      timeline.bubble[d] = timeline.makespan - timeline.busy[d];
      timeline.max_bubble = std::max(timeline.max_bubble, timeline.bubble[d]);
    }
    return timeline;
  }

  [[noreturn]] void describe_deadlock(const std::vector<std::size_t>& next) const {
    std::ostringstream out;
    out << "deadlock: no device can start its next chunk;";
    for (std::size_t d = 0; d < next.size(); ++d) {
      const auto& chunks = program_.per_device[d];
      if (next[d] >= chunks.size()) continue;
      Need missing{};
      (void)ready(chunks[next[d]], static_cast<int>(d), missing);
      out << " device " << d << " at chunk " << next[d] << " (" << to_string(chunks[next[d]], true)
          << ") waits for the " << pass_name(missing.pass) << " of micro-batch " << missing.micro_batch
          << " at stage " << missing.stage << ";";
    }
    fail(out.str());
  }

  const PipelineProgram& program_;
  const ChunkDurations& durations_;
  std::vector<double> done_;  // end time of each (micro-batch, stage, pass), kNotDone until it has run
};

}  // namespace

double duration_of(ChunkKind kind, const ChunkDurations& d) {
  switch (kind) {
    case ChunkKind::forward: return d.forward;
    case ChunkKind::backward_input: return d.backward_input;
    case ChunkKind::backward_weight: return d.backward_weight;
    case ChunkKind::backward: return d.backward_input + d.backward_weight;
    case ChunkKind::forward_backward:
      return d.forward_backward.value_or(d.forward + d.backward_input + d.backward_weight);
  }
  return 0;
}

Timeline evaluate_timeline(const PipelineProgram& program, const ChunkDurations& durations) {
  for (double value : {durations.forward, durations.backward_input, durations.backward_weight, durations.p2p_latency,
                       durations.forward_backward.value_or(0.0)})
    if (!(value >= 0) || !std::isfinite(value))
      throw std::invalid_argument("chunk durations and p2p latency must be finite and >= 0");
  return Evaluator(program, durations).run();
}

}  // namespace fleetsim::schedule
