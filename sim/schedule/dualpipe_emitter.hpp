// Internal to sim/schedule: the bookkeeping DualPipe and DualPipeV share. Both run, on every device, two "phases"
// (two model stages) with a forward and a backward counter each, and a FIFO of deferred weight-gradient chunks:
// a zero-bubble backward (B for inputs only) queues its W, and a later weight step pops the oldest (the reference
// implementation's WeightGradStore, deepseek-ai/DualPipe dualpipe/utils.py).
#pragma once

#include <array>
#include <deque>
#include <stdexcept>
#include <vector>

#include "schedule/schedule.hpp"

namespace fleetsim::schedule::detail {

class PhaseEmitter {
 public:
  // micro_batch_offset[p] is added to phase p's chunk counter to give the micro-batch; stage_of_phase[p] is the
  // model stage phase p computes on this device.
  PhaseEmitter(std::vector<Chunk>& out, std::array<int, 2> stage_of_phase, std::array<int, 2> micro_batch_offset)
      : out_(out), stage_(stage_of_phase), offset_(micro_batch_offset) {}

  // A forward of `phase`. `received_early`: its input was received at the chunk recorded by
  // post_forward_receive(phase) (the reference's recv=False); `defer_send`: its output goes out after the next chunk.
  void forward(int phase, bool received_early = false, bool defer_send = false) {
    Chunk chunk{ChunkKind::forward, next_forward(phase), stage(phase)};
    if (received_early) chunk.forward_receive_at = take_early_receive(phase);
    chunk.defer_forward_send = defer_send;
    out_.push_back(chunk);
  }

  // The reference's _recv_forward(phase) issued between chunks: committed (posted and waited for) at the start of
  // the next chunk emitted.
  void post_forward_receive(int phase) {
    early_receive_[static_cast<std::size_t>(phase)] = static_cast<int>(out_.size());
  }

  // zero_bubble: only the input gradients now, the weight gradients queued for weight().
  void backward(int phase, bool zero_bubble) {
    const Chunk chunk{zero_bubble ? ChunkKind::backward_input : ChunkKind::backward, next_backward(phase),
                      stage(phase)};
    out_.push_back(chunk);
    if (zero_bubble) deferred_weights_.push_back({ChunkKind::backward_weight, chunk.micro_batch, chunk.stage});
  }

  void weight() {
    if (deferred_weights_.empty()) throw std::logic_error("DualPipe order: a weight step with no deferred W");
    out_.push_back(deferred_weights_.front());
    deferred_weights_.pop_front();
  }

  // The forward of phase forward_phase overlapped with the (full) backward of phase backward_phase.
  void forward_backward(int forward_phase, int backward_phase, bool received_early = false) {
    Chunk chunk{ChunkKind::forward_backward, next_forward(forward_phase), stage(forward_phase)};
    if (received_early) chunk.forward_receive_at = take_early_receive(forward_phase);
    chunk.paired_micro_batch = next_backward(backward_phase);
    chunk.paired_stage = stage(backward_phase);
    out_.push_back(chunk);
  }

  bool weights_pending() const { return !deferred_weights_.empty(); }

 private:
  int stage(int phase) const { return stage_[static_cast<std::size_t>(phase)]; }
  int take_early_receive(int phase) {
    int& at = early_receive_[static_cast<std::size_t>(phase)];
    if (at < 0) throw std::logic_error("DualPipe order: a forward without its receive posted");
    const int index = at;
    at = -1;
    return index;
  }
  int next_forward(int phase) {
    return offset_[static_cast<std::size_t>(phase)] + forward_count_[static_cast<std::size_t>(phase)]++;
  }
  int next_backward(int phase) {
    return offset_[static_cast<std::size_t>(phase)] + backward_count_[static_cast<std::size_t>(phase)]++;
  }

  std::vector<Chunk>& out_;
  std::array<int, 2> stage_;
  std::array<int, 2> offset_;
  std::array<int, 2> forward_count_{0, 0};
  std::array<int, 2> backward_count_{0, 0};
  std::deque<Chunk> deferred_weights_;
  std::array<int, 2> early_receive_{-1, -1};
};

}  // namespace fleetsim::schedule::detail
