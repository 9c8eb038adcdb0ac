#include "engine/step_simulation.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <set>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <simgrid/s4u.hpp>

#include "collective/rank_layout.hpp"
#include "core/error.hpp"
#include "cost/comm_model.hpp"
#include "engine/gpu_variation.hpp"
#include "schedule/schedule.hpp"
#include "topology/topology.hpp"

namespace sg4 = simgrid::s4u;

namespace fleetsim {
namespace {

// A simulated GPU computes at this many "flops" per second; an Exec of t seconds is t * kHostSpeed flops. The
// real rates live in the cost model: the host speed only converts durations into SimGrid's unit.
constexpr double kHostSpeed = 1e12;
// Bandwidth of the sink that stands for the rest of the cluster (every all-to-all and data-parallel flow of the
// representative GPUs ends there): far above any NIC, so that only the GPU's own links limit a flow.
constexpr double kSinkBandwidth = 1e15;
// One-way latency of an InfiniBand transfer between GPUs under different leaves, split over the two NIC links of a
// route (ISCA Table 5: 3.7 us across leaves; sim/topology uses the same figure).
constexpr double kNicLatencyS = 3.7e-6 / 2.0;

// ---- what each chunk costs, prepared before the simulation ------------------------------------------------------

struct StepInputs {
  const Scenario* scenario = nullptr;
  const std::vector<StageCost>* stages = nullptr;
  schedule::PipelineProgram program;
  bool overlap = false;           // DualPipe-style: all-to-all beside the compute of an F&B pair
  ComputeStretch overlap_slowdown;  // compute stretch while DeepEP holds its SMs
  bool intranode_ep = false;
  bool has_all_to_all = false;
  double nic_bytes_per_s = 0;
  // Symmetric mode: the bytes a pipeline send puts on the GPU's NIC link per byte of activation, so that it takes
  // the time the collective model gives every stage boundary of every pipeline sending at once on the real
  // topology (CommModel::p2p_seconds: oversubscription applies only where pipeline neighbours sit in different
  // pods). Full mode routes the bytes themselves: 1.
  double p2p_wire_bytes_per_byte = 1;
  double nvlink_bytes_per_s = 0;
  std::vector<UpdateCost> update;  // per pipeline device
  // TrainingJob::dp_comm_overlap: each stage's reduce-scatter starts with its last weight-gradient chunk, its
  // all-gather runs before its first forward (stage by stage, in the order the device first uses them).
  bool dp_overlap = false;
  // ZeRO-3 (FSDP FULL_SHARD): parameters stay sharded between uses, so every chunk all-gathers its stage's
  // parameters (forward and backward alike) and every backward chunk reduce-scatters its gradients; with
  // dp_overlap (FSDP's prefetching) these run beside the chunk's compute, otherwise before it. They replace the
  // step's one reduce-scatter and one all-gather.
  bool sharded_parameters = false;
  std::vector<UpdateCost> stage_update;  // per model stage (dp_overlap, sharded_parameters)
  bool record_trace = false;
  bool rendezvous = true;         // EngineSpec::p2p: sends wait for their receiver (else buffered)
  int replicas = 1;               // pipelines simulated (full mode: every rank of a stage, tp x cp x dp)
  int ep_group_replicas = 1;      // pipelines whose same-stage GPUs form one EP group (full mode)
  // How many times slower each simulated rank computes (engine.gpu_speed_spread and slow_gpu_factor); empty: 1.
  std::vector<double> rank_time_factor;
  const topology::Topology* topology = nullptr;  // full mode: the platform is built from it
  std::int64_t ep = 1;
  std::int64_t gpus_per_node = 8;
};

// A chunk's compute and the GEMMs' part of it: {compute, gemm}.
std::pair<double, double> stage_compute(const StageCost& stage, schedule::ChunkKind kind) {
  const std::pair<double, double> f{stage.forward_compute_s, stage.forward_gemm_s};
  const std::pair<double, double> b{stage.backward_input_compute_s, stage.backward_input_gemm_s};
  const std::pair<double, double> w{stage.backward_weight_compute_s, stage.backward_weight_gemm_s};
  switch (kind) {
    case schedule::ChunkKind::forward: return f;
    case schedule::ChunkKind::backward_input: return b;
    case schedule::ChunkKind::backward_weight: return w;
    case schedule::ChunkKind::backward: return {b.first + w.first, b.second + w.second};
    case schedule::ChunkKind::forward_backward: return f;  // the backward half is added by the caller
  }
  return {0.0, 0.0};
}

// A chunk's MoE all-to-all: {dispatch, combine} of its passes. An F&B pair's forward half is this stage's forward;
// the caller adds the backward half's (the paired stage's).
double stage_comm(const StageCost& stage, schedule::ChunkKind kind) {
  switch (kind) {
    case schedule::ChunkKind::forward:
    case schedule::ChunkKind::forward_backward:
      return stage.forward_comm_s;
    case schedule::ChunkKind::backward_input:
    case schedule::ChunkKind::backward: return stage.backward_comm_s;
    case schedule::ChunkKind::backward_weight:
      return 0;
  }
  return 0;
}

// ---- results crossing the pipe ------------------------------------------------------------------------------------

struct DeviceRecord {
  double busy_compute_s = 0;     // Exec time
  double exposed_comm_s = 0;     // time a chunk waited for its all-to-all beyond its compute
  double first_chunk_start_s = -1;
  double last_chunk_end_s = 0;
  double end_s = 0;
  double optimizer_s = 0;
  double parameter_wait_s = 0;   // dp_comm_overlap: chunks held back for their stage's parameter all-gather
  // Wall time of the GPU's chunks by kind (compute plus the all-to-all it waited for): the chunk phases.
  PhaseTotals chunk_walls;
  std::int64_t activities = 0;
  std::int64_t finished = 0;     // 1 once the GPU's whole program ran (0 after a deadlock)
};

// Records cross the pipe from the simulation's child process as raw bytes.
static_assert(std::is_trivially_copyable_v<DeviceRecord>);

struct Simulation {
  const StepInputs* inputs = nullptr;
  std::string prefix;                 // "req<N>.": keeps the names of requests simulated side by side apart
  std::vector<sg4::Host*> gpu;        // rank -> host (NIC link)
  std::vector<sg4::Host*> gpu_nvlink; // rank -> host reached over its NVLink link
  sg4::Host* sink = nullptr;
  std::vector<std::vector<int>> ep_peers;  // full mode on a topology: where each rank's all-to-all goes
  std::vector<DeviceRecord> records;  // per rank
  std::vector<TraceEvent> trace;
  // Full mode: an EP group's members meet before each chunk's all-to-all.
  std::map<std::pair<int, int>, sg4::BarrierPtr> ep_barriers;  // (EP group, pipeline device) -> barrier
};

void record(Simulation& sim, int rank, int stream, double start, double end, const std::string& name) {
  if (!sim.inputs->record_trace || end <= start) return;
  TraceEvent event;
  event.rank = rank;
  event.stream = stream;
  event.start_s = start;
  event.end_s = end;
  std::snprintf(event.name, sizeof event.name, "%s", name.c_str());
  sim.trace.push_back(event);
}

std::string mailbox_name(const std::string& prefix, int replica, int device, char pass, int micro_batch, int stage) {
  return prefix + "r" + std::to_string(replica) + ".d" + std::to_string(device) + "." + pass + ".m" +
         std::to_string(micro_batch) + ".s" + std::to_string(stage);
}

// One GPU's compute stream: its chunks in program order, each after its cross-device inputs arrived.
void run_device(Simulation* sim, int replica, int device) {
  const StepInputs& in = *sim->inputs;
  const auto& program = in.program;
  const auto& stages = *in.stages;
  const int pp = program.devices;
  const int rank = replica * pp + device;
  DeviceRecord& rec = sim->records[static_cast<std::size_t>(rank)];
  const double slow = in.rank_time_factor.empty() ? 1.0 : in.rank_time_factor[static_cast<std::size_t>(rank)];
  sg4::Host* nic_host = in.intranode_ep ? sim->gpu_nvlink[static_cast<std::size_t>(rank)]
                                        : sim->gpu[static_cast<std::size_t>(rank)];
  const int ep_group = replica / in.ep_group_replicas;

  // Mailboxes are keyed by (pass, micro-batch, the stage that consumes the message): the activation for forward
  // (m, s) and the gradient for backward (m, s). Same-GPU neighbours need no message: program order covers them.
  // Buffered (engine.p2p: buffered): every receive is posted at time 0, before anything is sent, so that a transfer
  // starts as soon as it is sent (as an RDMA write would), sends never wait, and a chunk waits until its input has
  // fully arrived. (A mailbox with a permanent receiver would start transfers early too, but SimGrid 3.32 then lets a
  // get() that coincides with the send return before the bytes have crossed the network.)
  // Rendezvous: the receives of a chunk are posted at the start of the chunk the implementation commits them at
  // (Chunk::forward_receive_at), and the GPU waits there for them and for every send it has issued; a send
  // completes only once its receiver has posted the matching receive and the bytes have arrived.
  const auto& chunks = program.per_device[static_cast<std::size_t>(device)];
  std::map<std::string, sg4::CommPtr> receives;
  std::vector<std::unique_ptr<int*>> payloads;
  std::vector<std::vector<std::string>> receives_at(chunks.size());  // rendezvous: mailboxes committed per chunk
  auto note_receive = [&](std::size_t commit_at, char pass, int micro_batch, int stage, int source_stage) {
    if (source_stage < 0 || source_stage >= program.stages) return;
    if (schedule::device_of(program, micro_batch, source_stage) == device) return;
    receives_at[commit_at].push_back(mailbox_name(sim->prefix, replica, device, pass, micro_batch, stage));
  };
  auto post_receive = [&](const std::string& name) {
    payloads.push_back(std::make_unique<int*>(nullptr));
    receives.emplace(name, sg4::Mailbox::by_name(name)->get_async<int>(payloads.back().get()));
  };
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    using schedule::ChunkKind;
    const auto& chunk = chunks[i];
    const std::size_t forward_at =
        in.rendezvous && chunk.forward_receive_at >= 0 ? static_cast<std::size_t>(chunk.forward_receive_at) : i;
    if (chunk.kind == ChunkKind::forward || chunk.kind == ChunkKind::forward_backward)
      note_receive(forward_at, 'F', chunk.micro_batch, chunk.stage, chunk.stage - 1);
    if (chunk.kind == ChunkKind::backward_input || chunk.kind == ChunkKind::backward)
      note_receive(i, 'B', chunk.micro_batch, chunk.stage, chunk.stage + 1);
    if (chunk.kind == ChunkKind::forward_backward)
      note_receive(i, 'B', chunk.paired_micro_batch, chunk.paired_stage, chunk.paired_stage + 1);
  }
  if (!in.rendezvous)
    for (const auto& names : receives_at)
      for (const auto& name : names) post_receive(name);
  auto wait_for = [&](char pass, int micro_batch, int stage, int source_stage) {
    if (schedule::device_of(program, micro_batch, source_stage) == device) return;
    receives.at(mailbox_name(sim->prefix, replica, device, pass, micro_batch, stage))->wait();
  };
  std::vector<sg4::CommPtr> sends_in_flight;  // rendezvous: issued, not yet waited for
  auto send = [&](char pass, int micro_batch, int consumer_stage, double bytes) {
    const int target = schedule::device_of(program, micro_batch, consumer_stage);
    if (target == device) return;
    static int token = 0;
    auto mailbox =
        sg4::Mailbox::by_name(mailbox_name(sim->prefix, replica, target, pass, micro_batch, consumer_stage));
    ++rec.activities;
    const auto wire_bytes = static_cast<std::uint64_t>(bytes * in.p2p_wire_bytes_per_byte);
    if (in.rendezvous) {
      sends_in_flight.push_back(mailbox->put_async(&token, wire_bytes));
      return;
    }
    // Detached: the sender goes on at once (buffered, as the timeline evaluator assumes); the bytes still cross
    // both NIC links and share them with the all-to-all.
    mailbox->put_init(&token, wire_bytes)->detach();
  };
  auto wait_for_sends = [&]() {
    for (const auto& comm : sends_in_flight) comm->wait();
    sends_in_flight.clear();
  };
  struct DeferredSend {
    int micro_batch = 0;
    int consumer_stage = 0;
    double bytes = 0;
  };
  std::vector<DeferredSend> deferred_sends;  // forward outputs sent after the next chunk (Chunk::defer_forward_send)

  // Data-parallel communication beside the chunks (dp_comm_overlap): where each stage's parameters are first needed
  // and its weight gradients last computed on this device.
  sg4::Host* self = sim->gpu[static_cast<std::size_t>(rank)];
  auto dp_collective_bytes = [&](double seconds) { return static_cast<std::uint64_t>(seconds * in.nic_bytes_per_s); };
  std::map<std::size_t, int> gather_before;   // chunk index -> stage whose all-gather it waits for
  std::map<std::size_t, int> reduce_with;     // chunk index -> stage whose reduce-scatter starts with it
  std::vector<sg4::CommPtr> reductions;
  double first_reduction_s = -1;
  // Where the parameter all-gather of a stage announces that it is done.
  auto parameters_mailbox = [sim, replica, device](int stage_index) {
    return sg4::Mailbox::by_name(sim->prefix + "r" + std::to_string(replica) + ".d" + std::to_string(device) +
                                 ".params.s" + std::to_string(stage_index));
  };
  if (in.dp_overlap && !in.sharded_parameters) {
    std::map<int, std::size_t> first_forward, last_weight_gradient;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      using schedule::ChunkKind;
      const auto& chunk = chunks[i];
      if (chunk.kind == ChunkKind::forward || chunk.kind == ChunkKind::forward_backward)
        first_forward.emplace(chunk.stage, i);
      if (chunk.kind == ChunkKind::backward || chunk.kind == ChunkKind::backward_weight)
        last_weight_gradient[chunk.stage] = i;
      if (chunk.kind == ChunkKind::forward_backward) last_weight_gradient[chunk.paired_stage] = i;
    }
    std::vector<std::pair<std::size_t, int>> gather_order;  // (first use, stage), earliest first
    for (const auto& [stage_index, i] : first_forward) {
      gather_before[i] = stage_index;
      gather_order.emplace_back(i, stage_index);
    }
    std::sort(gather_order.begin(), gather_order.end());
    for (const auto& [stage_index, i] : last_weight_gradient) reduce_with[i] = stage_index;
    // The all-gathers run one after another on the GPU's NIC (one NCCL communicator executes in issue order), each
    // announced on a mailbox that the stage's first forward waits on.
    std::vector<std::pair<int, std::uint64_t>> gathers;
    for (const auto& [i, stage_index] : gather_order)
      gathers.emplace_back(stage_index,
                           dp_collective_bytes(in.stage_update[static_cast<std::size_t>(stage_index)].all_gather_s));
    sg4::Actor::create("gpu" + std::to_string(rank) + ".param-gather", self,
                       [sim, rank, self, gathers, parameters_mailbox]() {
                         static int token = 0;
                         for (const auto& [stage_index, bytes] : gathers) {
                           const double begin = sg4::Engine::get_clock();
                           if (bytes > 0) sg4::Comm::sendto(self, sim->sink, bytes);
                           record(*sim, rank, 1, begin, sg4::Engine::get_clock(),
                                  "all-gather s" + std::to_string(stage_index));
                           parameters_mailbox(stage_index)->put_init(&token, 0)->detach();
                         }
                       });
  }

  for (std::size_t index = 0; index < chunks.size(); ++index) {
    using schedule::ChunkKind;
    const auto& chunk = chunks[index];
    const auto& stage = stages[static_cast<std::size_t>(chunk.stage)];
    if (const auto gather = gather_before.find(index); gather != gather_before.end()) {
      const double wait_start = sg4::Engine::get_clock();
      parameters_mailbox(gather->second)->get<int>();
      rec.parameter_wait_s += sg4::Engine::get_clock() - wait_start;
    }
    if (in.rendezvous) {
      // The commit point: this chunk's receives (and any posted early for a later chunk) and the sends issued so
      // far, all waited for before the compute starts.
      for (const auto& name : receives_at[index]) post_receive(name);
      wait_for_sends();
      for (const auto& name : receives_at[index]) receives.at(name)->wait();
    }
    // Inputs: the activation from the previous stage, the gradient from the next one.
    const bool has_forward = chunk.kind == ChunkKind::forward || chunk.kind == ChunkKind::forward_backward;
    if (has_forward && chunk.stage > 0) wait_for('F', chunk.micro_batch, chunk.stage, chunk.stage - 1);
    int backward_mb = -1, backward_stage = -1;
    if (chunk.kind == ChunkKind::backward_input || chunk.kind == ChunkKind::backward) {
      backward_mb = chunk.micro_batch;
      backward_stage = chunk.stage;
    } else if (chunk.kind == ChunkKind::forward_backward) {
      backward_mb = chunk.paired_micro_batch;
      backward_stage = chunk.paired_stage;
    }
    if (backward_mb >= 0 && backward_stage + 1 < program.stages)
      wait_for('B', backward_mb, backward_stage, backward_stage + 1);

    auto [compute, gemm] = stage_compute(stage, chunk.kind);
    double comm = stage_comm(stage, chunk.kind);
    if (chunk.kind == ChunkKind::forward_backward) {
      const auto& paired = stages[static_cast<std::size_t>(chunk.paired_stage)];
      const auto [paired_compute, paired_gemm] = stage_compute(paired, ChunkKind::backward);
      compute += paired_compute;
      gemm += paired_gemm;
      comm += paired.backward_comm_s;
    }
    const bool overlapped = in.overlap && chunk.kind == ChunkKind::forward_backward && comm > 0;
    if (overlapped) compute = in.overlap_slowdown.apply(compute, gemm);
    compute *= slow;

    // ZeRO-3: this chunk's parameter all-gathers and gradient reduce-scatters: beside its compute when prefetched
    // (dp_overlap), else before it. Either way part of the chunk's wall time.
    const double chunk_start = sg4::Engine::get_clock();
    if (rec.first_chunk_start_s < 0) rec.first_chunk_start_s = chunk_start;
    const double sharded_comm = in.sharded_parameters ? sharded_parameter_traffic_s(chunk, in.stage_update) : 0.0;
    sg4::CommPtr sharded_traffic;
    if (sharded_comm > 0) {
      ++rec.activities;
      if (in.dp_overlap) {
        sharded_traffic = sg4::Comm::sendto_async(self, sim->sink, dp_collective_bytes(sharded_comm));
      } else {
        sg4::Comm::sendto(self, sim->sink, dp_collective_bytes(sharded_comm));
        rec.parameter_wait_s += sg4::Engine::get_clock() - chunk_start;
        record(*sim, rank, 1, chunk_start, sg4::Engine::get_clock(), "ZeRO-3 gather/scatter");
      }
    }
    const double start = sg4::Engine::get_clock();
    if (const auto reduce = reduce_with.find(index); reduce != reduce_with.end()) {
      // Megatron-LM's buckets become ready one by one as this chunk computes: the stage's reduce-scatter starts
      // with it (once its inputs are in).
      if (first_reduction_s < 0) first_reduction_s = start;
      const double seconds = in.stage_update[static_cast<std::size_t>(reduce->second)].reduce_scatter_s;
      if (seconds > 0) {
        reductions.push_back(sg4::Comm::sendto_async(self, sim->sink, dp_collective_bytes(seconds)));
        ++rec.activities;
      }
    }
    const std::string name = schedule::to_string(chunk, true);
    // Full mode: the EP group's members start their all-to-all together (the slowest one sets the pace).
    auto all_to_all = [&]() -> std::vector<sg4::CommPtr> {
      if (!in.has_all_to_all || comm <= 0) return {};
      auto barrier = sim->ep_barriers.find({ep_group, device});
      if (barrier != sim->ep_barriers.end()) barrier->second->wait();
      const double bandwidth = in.intranode_ep ? in.nvlink_bytes_per_s : in.nic_bytes_per_s;
      const double bytes = comm * bandwidth;
      if (!sim->ep_peers.empty()) {
        // On the topology: the GPU's share goes to each EP peer as DeepEP routes it (InfiniBand to the same-index
        // GPU of each other node, or NVLink inside the node), sharing every link on the way with the others.
        const auto& peers = sim->ep_peers[static_cast<std::size_t>(rank)];
        std::vector<sg4::CommPtr> flows;
        for (int peer : peers)
          flows.push_back(sg4::Comm::sendto_async(sim->gpu[static_cast<std::size_t>(rank)],
                                                  sim->gpu[static_cast<std::size_t>(peer)],
                                                  static_cast<std::uint64_t>(bytes / static_cast<double>(peers.size()))));
        rec.activities += static_cast<std::int64_t>(flows.size());
        return flows;
      }
      ++rec.activities;
      return {sg4::Comm::sendto_async(nic_host, sim->sink, static_cast<std::uint64_t>(bytes))};
    };
    if (overlapped) {
      const std::vector<sg4::CommPtr> traffic = all_to_all();
      sg4::ExecPtr exec = sg4::this_actor::exec_async(compute * kHostSpeed);
      ++rec.activities;
      exec->wait();
      const double compute_end = sg4::Engine::get_clock();
      for (const auto& flow : traffic) flow->wait();
      const double end = sg4::Engine::get_clock();
      rec.exposed_comm_s += end - compute_end;
      record(*sim, rank, 0, start, compute_end, name);
      record(*sim, rank, 1, start, end, "all-to-all");
    } else {
      sg4::this_actor::execute(compute * kHostSpeed);
      ++rec.activities;
      const double compute_end = sg4::Engine::get_clock();
      for (const auto& flow : all_to_all()) flow->wait();
      const double end = sg4::Engine::get_clock();
      rec.exposed_comm_s += end - compute_end;
      record(*sim, rank, 0, start, compute_end, name);
      record(*sim, rank, 1, compute_end, end, "all-to-all");
    }
    if (sharded_traffic) {
      const double compute_end = sg4::Engine::get_clock();
      sharded_traffic->wait();
      // Layer by layer, the first layer's gather and the last layer's reduce-scatter do not hide.
      const double unhidden = sharded_unhidden_s(compute_end - start, sharded_comm, sharded_units(stage));
      if (unhidden > 0) sg4::this_actor::sleep_for(unhidden);
      rec.parameter_wait_s += sg4::Engine::get_clock() - compute_end;
      record(*sim, rank, 1, start, sg4::Engine::get_clock(), "ZeRO-3 gather/scatter");
    }
    rec.busy_compute_s += compute;
    add_chunk_time(rec.chunk_walls, chunk.kind, sg4::Engine::get_clock() - chunk_start);

    // Outputs: activation to the next stage, gradient to the previous one; then what the previous chunk held back.
    std::vector<DeferredSend> held_back;
    if (has_forward && chunk.stage + 1 < program.stages) {
      const DeferredSend output{chunk.micro_batch, chunk.stage + 1, stage.boundary_bytes};
      if (in.rendezvous && chunk.defer_forward_send)
        held_back.push_back(output);
      else
        send('F', output.micro_batch, output.consumer_stage, output.bytes);
    }
    if (backward_mb >= 0 && backward_stage > 0) send('B', backward_mb, backward_stage - 1, stage.boundary_bytes);
    for (const auto& output : deferred_sends) send('F', output.micro_batch, output.consumer_stage, output.bytes);
    deferred_sends = std::move(held_back);
  }
  for (const auto& output : deferred_sends) send('F', output.micro_batch, output.consumer_stage, output.bytes);
  wait_for_sends();  // the reference's last commit
  rec.last_chunk_end_s = sg4::Engine::get_clock();

  // Parameter update: reduce-scatter the gradients, step the optimizer, all-gather the parameters.
  const UpdateCost& update = in.update[static_cast<std::size_t>(device)];
  auto collective = [&](double seconds, const char* label) {
    if (seconds <= 0) return;
    const double begin = sg4::Engine::get_clock();
    sg4::Comm::sendto(self, sim->sink, dp_collective_bytes(seconds));
    ++rec.activities;
    record(*sim, rank, 1, begin, sg4::Engine::get_clock(), label);
  };
  if (in.dp_overlap) {
    for (const auto& reduction : reductions) reduction->wait();
    if (!reductions.empty()) record(*sim, rank, 1, first_reduction_s, sg4::Engine::get_clock(), "reduce-scatter");
  } else {
    collective(update.reduce_scatter_s, "reduce-scatter");
  }
  const double optimizer_start = sg4::Engine::get_clock();
  if (update.optimizer_s > 0) {
    sg4::this_actor::execute(update.optimizer_s * slow * kHostSpeed);
    ++rec.activities;
  }
  rec.optimizer_s = sg4::Engine::get_clock() - optimizer_start;
  record(*sim, rank, 0, optimizer_start, sg4::Engine::get_clock(), "optimizer");
  if (in.dp_overlap) {  // the next step's all-gathers are this step's first (steady state)
    rec.end_s = sg4::Engine::get_clock();
    rec.finished = 1;
    return;
  }
  // The parameter all-gather runs into the next step: a GPU whose first chunk waits for the pipeline to fill
  // (device d starts after d forward chunks) hides that much of it; only the rest extends this step.
  const double gather_start = sg4::Engine::get_clock();
  collective(update.all_gather_s, "all-gather");
  const double gather = sg4::Engine::get_clock() - gather_start;
  rec.end_s = gather_start + std::max(0.0, gather - rec.first_chunk_start_s);
  rec.finished = 1;
}

// Full mode on the cluster's topology: one host per simulated GPU (placed on the GPU the rank order gives it,
// sim/collective/rank_layout.hpp, in the plan's rank order), one split-duplex link per topology edge a
// route uses (at the achievable fraction of its bandwidth, V3 §3.2.2), and explicit routes for the pairs that talk:
// pipeline neighbours, DeepEP's all-to-all peers (the same-index GPU of every other node of the EP group, or every
// GPU of the group inside one node), and each GPU's path to the sink through its own NIC.
void build_topology_platform(Simulation& sim, sg4::NetZone& zone, const std::string& prefix) {
  const StepInputs& in = *sim.inputs;
  const topology::Topology& topo = *in.topology;
  const int pp = in.program.devices;
  const int ranks = in.replicas * pp;
  // A replica is one rank of each stage: its index is the stage-local index s (rank_layout.hpp).
  const collective::RankLayout layout(in.scenario->training->parallelism, static_cast<std::int64_t>(topo.gpus.size()));
  auto gpu_index = [&](int rank) { return static_cast<int>(layout.global_rank(rank % pp, rank / pp)); };
  for (int rank = 0; rank < ranks; ++rank)
    sim.gpu.push_back(zone.create_host(prefix + "gpu" + std::to_string(rank), kHostSpeed));
  sim.gpu_nvlink = sim.gpu;
  sim.sink = zone.create_host(prefix + "rest-of-cluster", kHostSpeed);

  std::map<topology::EdgeId, sg4::SplitDuplexLink*> links;
  auto link_of = [&](topology::EdgeId id) {
    auto found = links.find(id);
    if (found != links.end()) return found->second;
    const topology::Link& link = topo.link(id);
    const double efficiency = link.kind == topology::LinkKind::nvlink ? kNvlinkEfficiency : kInfinibandEfficiency;
    auto* created = zone.create_split_duplex_link(prefix + "e" + std::to_string(id),
                                                  link.bandwidth_bytes_per_s * efficiency);
    created->set_latency(link.latency_s)->seal();
    return links.emplace(id, created).first->second;
  };
  // The edges of a path from vertex `from`, each in the direction it is crossed.
  auto hops = [&](topology::VertexId from, const std::vector<topology::EdgeId>& path) {
    std::vector<sg4::LinkInRoute> route;
    topology::VertexId at = from;
    for (topology::EdgeId id : path) {
      const bool forward = topo.edge_slots.at(id).from == at;
      route.emplace_back(link_of(id), forward ? sg4::LinkInRoute::Direction::UP : sg4::LinkInRoute::Direction::DOWN);
      at = topo.other_end(id, at);
    }
    return route;
  };
  auto connect = [&](int rank_a, int rank_b) {
    const int a = gpu_index(rank_a), b = gpu_index(rank_b);
    const auto path = topology::route(topo, a, b, static_cast<std::uint64_t>(a) * 1000003u + static_cast<std::uint64_t>(b));
    zone.add_route(sim.gpu[static_cast<std::size_t>(rank_a)]->get_netpoint(),
                   sim.gpu[static_cast<std::size_t>(rank_b)]->get_netpoint(), nullptr, nullptr,
                   hops(topo.gpus.at(static_cast<std::size_t>(a)), path), false);
  };
  auto* sink_link = zone.create_split_duplex_link(prefix + "sink", kSinkBandwidth)->seal();
  sim.ep_peers.assign(static_cast<std::size_t>(ranks), {});
  // The pipeline devices that exchange activations or gradients: neighbours, and for interleaved schedules the last
  // device with the first (stage pp-1 feeds stage pp on device 0).
  std::set<std::pair<int, int>> talking;
  const auto& program = in.program;
  for (int stage = 0; stage + 1 < program.stages; ++stage)
    for (int micro_batch = 0; micro_batch < std::min(program.micro_batches, 2); ++micro_batch) {
      const int a = schedule::device_of(program, micro_batch, stage);
      const int b = schedule::device_of(program, micro_batch, stage + 1);
      if (a != b) {
        talking.emplace(a, b);
        talking.emplace(b, a);
      }
    }
  for (int rank = 0; rank < ranks; ++rank) {
    const int replica = rank / pp, device = rank % pp;
    for (const auto& [from, to] : talking)
      if (from == device) connect(rank, replica * pp + to);
    // EP groups are ep consecutive stage-local indices (rank_layout.hpp).
    if (in.has_all_to_all) {
      const int group_first = replica / static_cast<int>(in.ep) * static_cast<int>(in.ep);
      const int node = gpu_index(rank) / static_cast<int>(in.gpus_per_node);
      for (int other = group_first; other < group_first + static_cast<int>(in.ep); ++other) {
        if (other == replica) continue;
        const int peer = other * pp + device;
        const int peer_node = gpu_index(peer) / static_cast<int>(in.gpus_per_node);
        const bool same_index = gpu_index(peer) % in.gpus_per_node == gpu_index(rank) % in.gpus_per_node;
        if (in.intranode_ep ? peer_node == node : (peer_node != node && same_index)) {
          sim.ep_peers[static_cast<std::size_t>(rank)].push_back(peer);
          connect(rank, peer);
        }
      }
    }
    const auto& port = topo.gpu_ports.at(static_cast<std::size_t>(gpu_index(rank)));
    auto route = hops(port.gpu, {port.pcie, port.uplink});
    route.emplace_back(sink_link, sg4::LinkInRoute::Direction::UP);
    zone.add_route(sim.gpu[static_cast<std::size_t>(rank)]->get_netpoint(), sim.sink->get_netpoint(), nullptr,
                   nullptr, route, false);
  }
}

// Runs in the child process: simulates every request side by side (disjoint hosts) and writes the records.
void simulate_in_child(const std::vector<StepInputs>& all_inputs, int fd) {
  int argc = 4;
  char arg0[] = "fleetsim";
  char arg1[] = "--log=root.thresh:critical";
  char arg2[] = "--cfg=network/model:CM02";  // plain max-min sharing, no TCP corrections
  char arg3[] = "--cfg=network/crosstraffic:0";
  char* argv[] = {arg0, arg1, arg2, arg3, nullptr};
  sg4::Engine engine(&argc, argv);

  std::vector<std::unique_ptr<Simulation>> sims;
  for (const auto& inputs : all_inputs) {
    auto sim = std::make_unique<Simulation>();
    sim->inputs = &inputs;
    sims.push_back(std::move(sim));
  }
  // Symmetric mode: one star zone holds every request's GPUs; each GPU has its own NIC link (split duplex: what it
  // sends and what it receives do not share) and, as a second endpoint, its NVLink link; a sink stands for the
  // rest of the cluster. Full mode: a full zone whose routes are the topology's (sim/topology), link by link.
  // Requests share no link either way, so they simulate side by side without interfering.
  const bool on_topology = all_inputs.front().topology != nullptr;
  auto* zone = on_topology ? sg4::create_full_zone("cluster") : sg4::create_star_zone("cluster");
  for (std::size_t r = 0; r < sims.size(); ++r) {
    Simulation& sim = *sims[r];
    const StepInputs& in = *sim.inputs;
    const int ranks = in.replicas * in.program.devices;
    const std::string prefix = "req" + std::to_string(r) + ".";
    sim.prefix = prefix;
    sim.records.resize(static_cast<std::size_t>(ranks));
    if (on_topology) {
      build_topology_platform(sim, *zone, prefix);
      continue;
    }
    auto add_host = [&](const std::string& name, double bandwidth, double latency) {
      sg4::Host* host = zone->create_host(name, kHostSpeed);
      auto* link = zone->create_split_duplex_link(name + ".link", bandwidth)->set_latency(latency)->seal();
      zone->add_route(host->get_netpoint(), nullptr, nullptr, nullptr,
                      {sg4::LinkInRoute(link, sg4::LinkInRoute::Direction::UP)}, true);
      return host;
    };
    for (int rank = 0; rank < ranks; ++rank) {
      sim.gpu.push_back(add_host(prefix + "gpu" + std::to_string(rank), in.nic_bytes_per_s, kNicLatencyS));
      sim.gpu_nvlink.push_back(
          add_host(prefix + "gpu" + std::to_string(rank) + ".nvlink", in.nvlink_bytes_per_s, 0.0));
    }
    sim.sink = add_host(prefix + "rest-of-cluster", kSinkBandwidth, 0.0);
  }
  zone->seal();

  for (std::size_t r = 0; r < sims.size(); ++r) {
    Simulation& sim = *sims[r];
    const StepInputs& in = *sim.inputs;
    const int pp = in.program.devices;
    if (in.replicas > 1 && in.ep_group_replicas > 1 && in.has_all_to_all) {
      for (int group = 0; group < in.replicas / in.ep_group_replicas; ++group)
        for (int device = 0; device < pp; ++device)
          sim.ep_barriers[{group, device}] = sg4::Barrier::create(static_cast<unsigned>(in.ep_group_replicas));
    }
    for (int replica = 0; replica < in.replicas; ++replica) {
      for (int device = 0; device < pp; ++device) {
        const int rank = replica * pp + device;
        sg4::Actor::create("gpu" + std::to_string(rank), sim.gpu[static_cast<std::size_t>(rank)], run_device,
                           &sim, replica, device);
      }
    }
  }
  engine.run();
  for (const auto& sim : sims)
    for (const auto& rec : sim->records)
      if (rec.finished == 0)
        throw std::runtime_error("the simulated step deadlocked: a GPU never received an input it waits for");

  for (const auto& sim : sims) {
    const std::uint64_t ranks = sim->records.size(), events = sim->trace.size();
    ::write(fd, &ranks, sizeof ranks);
    ::write(fd, sim->records.data(), ranks * sizeof(DeviceRecord));
    ::write(fd, &events, sizeof events);
    std::size_t offset = 0;
    const char* bytes = reinterpret_cast<const char*>(sim->trace.data());
    const std::size_t total = events * sizeof(TraceEvent);
    while (offset < total) {
      ssize_t written = ::write(fd, bytes + offset, total - offset);
      if (written <= 0) break;
      offset += static_cast<std::size_t>(written);
    }
  }
}

bool read_exactly(int fd, void* into, std::size_t size) {
  auto* bytes = static_cast<char*>(into);
  std::size_t offset = 0;
  while (offset < size) {
    ssize_t got = ::read(fd, bytes + offset, size - offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    offset += static_cast<std::size_t>(got);
  }
  return true;
}

}  // namespace

std::vector<EngineStep> simulate_training_steps(const Scenario& scenario, const std::vector<StageCost>& stages,
                                                const KernelCostModel& kernels, const CommModel& comm,
                                                const std::vector<EngineRequest>& requests) {
  const auto& job = *scenario.training;
  const auto& plan = job.parallelism;
  const auto& engine_spec = scenario.engine;
  const PipelineSchedule analytic_schedule = schedule_of(job);
  const auto devices = device_loads(analytic_schedule, stages, plan.pp);

  // Full mode plays the step on the cluster's real network: build it once for every request.
  topology::Topology topology_for_full_mode;
  if (engine_spec.mode == "full") {
    topology_for_full_mode = topology::build_topology(scenario.cluster);
  }
  std::vector<StepInputs> all_inputs;
  for (const auto& request : requests) {
    StepInputs in;
    in.scenario = &scenario;
    in.stages = &stages;
    in.program = checked_training_program(scenario, request.global_batch);
    in.overlap = overlaps_expert_communication(scenario);
    in.overlap_slowdown = overlapped_compute_stretch(scenario);
    in.intranode_ep = plan.ep <= scenario.cluster.gpus_per_node;
    in.has_all_to_all = plan.ep > 1;
    // The rate of the GPU's own NIC link on the simulated platform, which turns a collective's time into bytes on
    // it: symmetric mode models the network behind the NIC by thinning it (CommModel: the achievable rate over the
    // oversubscription); full mode builds the real links, the NIC's at its achievable rate.
    in.nic_bytes_per_s = engine_spec.mode == "full"
                             ? scenario.cluster.network.nic_bandwidth_bytes_per_s * kInfinibandEfficiency
                             : comm.nic_bytes_per_s();
    in.nvlink_bytes_per_s = comm.nvlink_bytes_per_s();
    in.dp_overlap = job.dp_comm_overlap;
    in.sharded_parameters = shards_parameters(scenario);
    if (in.dp_overlap || in.sharded_parameters)
      for (const auto& stage : stages) in.stage_update.push_back(stage_update_cost(scenario, stage, kernels, comm));
    if (engine_spec.mode != "full" && plan.pp > 1 && stages.front().boundary_bytes > 0)
      in.p2p_wire_bytes_per_byte =
          comm.p2p_seconds(stages.front().boundary_bytes) * in.nic_bytes_per_s / stages.front().boundary_bytes;
    for (const auto& device : devices) {
      UpdateCost update = parameter_update_cost(scenario, device, kernels, comm);
      if (in.sharded_parameters) update.reduce_scatter_s = update.all_gather_s = 0;  // done chunk by chunk
      in.update.push_back(update);
    }
    // A non-finite duration would never end in SimGrid and show up as a deadlock: say what it is instead.
    for (const auto& update : in.update)
      if (!std::isfinite(update.reduce_scatter_s + update.all_gather_s + update.optimizer_s))
        throw std::logic_error("engine: a non-finite parameter-update time (is the GPU's HBM bandwidth 0?)");
    in.record_trace = request.record_trace;
    if (engine_spec.p2p == "rendezvous" && !in.program.models_rendezvous) {
      const auto where = scenario.key_locations.find("engine.p2p");
      throw InputError(where == scenario.key_locations.end() ? SourceLocation{scenario.source_file, 0} : where->second,
                       "engine.p2p",
                       "rendezvous send/receive is not modelled for schedule '" + job.schedule +
                           "' (its implementation's receive order is not encoded); use auto or buffered");
    }
    in.rendezvous = engine_spec.p2p == "rendezvous" || (engine_spec.p2p == "auto" && in.program.models_rendezvous);
    in.ep = plan.ep;
    in.gpus_per_node = scenario.cluster.gpus_per_node;
    if (engine_spec.mode == "full") {
      in.topology = &topology_for_full_mode;
      // Every rank of a stage is a replica of the pipeline: tp x cp x dp of them. Tensor- and context-parallel
      // ranks run the same chunks (their collectives are part of the chunk's compute, as in symmetric mode) and
      // each sends its own share of the activations to its counterpart in the next stage.
      in.replicas = static_cast<int>(plan.tp * plan.cp * plan.dp);
      // EP groups are ep consecutive ranks of a stage (carved out of its tp x cp x dp ranks).
      in.ep_group_replicas = static_cast<int>(std::max<std::int64_t>(1, plan.ep));
      if (in.replicas % in.ep_group_replicas != 0) in.ep_group_replicas = in.replicas;
    }
    if (engine_spec.gpu_speed_spread > 0 || engine_spec.slow_gpu_factor > 1) {
      // Every GPU of the cluster gets its draw (the same for every request, so both steps see the same GPUs).
      const int pp = in.program.devices;
      const std::int64_t gpus = static_cast<std::int64_t>(pp) * plan.tp * plan.cp * plan.dp;
      const bool symmetric = engine_spec.mode != "full";
      in.rank_time_factor =
          rank_time_factors(gpu_time_factors(scenario.seed, gpus, engine_spec.gpu_speed_spread), pp, in.replicas,
                            symmetric ? 1 : static_cast<int>(plan.tp * plan.cp), symmetric);
      // The slow GPU is the first of the (first) pipeline: its EP peers and its pipeline wait for it.
      in.rank_time_factor.front() *= engine_spec.slow_gpu_factor;
    }
    all_inputs.push_back(std::move(in));
  }

  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("engine: cannot create a pipe");
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("engine: cannot fork the simulation process");
  if (child == 0) {
    ::close(fds[0]);
    // SimGrid may print on stdout; the parent's stdout may carry the JSON report.
    const int null_fd = ::open("/dev/null", O_WRONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDOUT_FILENO);
    int status = 0;
    try {
      simulate_in_child(all_inputs, fds[1]);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "fleetsim engine: %s\n", error.what());
      status = 1;
    }
    ::close(fds[1]);
    ::_exit(status);
  }
  ::close(fds[1]);

  std::vector<EngineStep> results;
  bool complete = true;
  for (const auto& in : all_inputs) {
    std::uint64_t ranks = 0, events = 0;
    std::vector<DeviceRecord> records;
    EngineStep result;
    if (!read_exactly(fds[0], &ranks, sizeof ranks)) { complete = false; break; }
    records.resize(ranks);
    if (!read_exactly(fds[0], records.data(), ranks * sizeof(DeviceRecord))) { complete = false; break; }
    if (!read_exactly(fds[0], &events, sizeof events)) { complete = false; break; }
    result.trace.resize(events);
    if (!read_exactly(fds[0], result.trace.data(), events * sizeof(TraceEvent))) { complete = false; break; }

    // The step ends when the last GPU finishes; its timeline gives the breakdown.
    std::size_t critical = 0;
    for (std::size_t r = 0; r < records.size(); ++r) {
      if (records[r].end_s > records[critical].end_s) critical = r;
      result.activities += records[r].activities;
    }
    const DeviceRecord& rec = records[critical];
    StepBreakdown& step = result.step;
    step.micro_batches = in.program.micro_batches;
    step.step_s = rec.end_s;
    step.steady_s = rec.busy_compute_s;
    step.optimizer_s = rec.optimizer_s;
    step.exposed_communication_s = rec.exposed_comm_s;
    step.data_parallel_s = std::max(0.0, rec.end_s - rec.last_chunk_end_s - rec.optimizer_s) + rec.parameter_wait_s;
    step.bubble_s =
        std::max(0.0, step.step_s - step.steady_s - step.optimizer_s - step.exposed_communication_s -
                          step.data_parallel_s);
    step.compute_busy_s = rec.busy_compute_s + rec.optimizer_s;
    const int device = static_cast<int>(critical) % in.program.devices;
    // A device's phases: its chunks' wall times, its update after its last chunk, and as bubble whatever else of
    // the step it spent idle (before its last chunk, or after its update until the critical GPU finished).
    auto phases_on = [&step](const DeviceRecord& own, int on_device) {
      PhaseTotals totals = own.chunk_walls;
      totals.device = on_device;
      totals.update_s = own.end_s - own.last_chunk_end_s;
      totals.bubble_s = std::max(0.0, step.step_s - totals.forward_s - totals.backward_input_s -
                                          totals.backward_weight_s - totals.overlapped_s - totals.update_s);
      return totals;
    };
    step.phases = phases_on(rec, device);
    // Every device of the first pipeline (ranks 0 .. pp - 1).
    for (int d = 0; d < in.program.devices && static_cast<std::size_t>(d) < records.size(); ++d)
      step.device_phases.push_back(phases_on(records[static_cast<std::size_t>(d)], d));
    const auto& load = devices[static_cast<std::size_t>(device)];
    const ComputeStretch& scale = in.overlap_slowdown;  // no stretch where nothing overlaps
    step.forward_chunk_s = scale.apply(load.forward_compute_s, load.forward_gemm_s);
    step.backward_input_chunk_s = scale.apply(load.backward_input_compute_s, load.backward_input_gemm_s);
    step.backward_weight_chunk_s = scale.apply(load.backward_weight_compute_s, load.backward_weight_gemm_s);
    step.overlapped_chunk_s = step.forward_chunk_s + step.backward_input_chunk_s + step.backward_weight_chunk_s;
    result.critical_rank = static_cast<int>(critical);
    result.rendezvous = in.rendezvous;
    result.actors = static_cast<std::int64_t>(records.size());
    results.push_back(std::move(result));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!complete || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("engine: the SimGrid simulation failed (see the message above)");
  // The simulation ran in the child: its peak memory is the largest of this process's waited-for children.
  rusage usage{};
  if (::getrusage(RUSAGE_CHILDREN, &usage) == 0)
    for (auto& result : results) result.simulation_peak_rss_bytes = static_cast<double>(usage.ru_maxrss) * 1024.0;
  return results;
}

}  // namespace fleetsim
