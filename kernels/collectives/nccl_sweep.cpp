// fleetsim-nccl-sweep: NCCL collectives over the GPUs of one box, as nccl-tests measures them.
//
//   fleetsim-nccl-sweep --out DIR [--space FILE] [--gpus 1,2,4,8] [--min-bytes B] [--max-bytes B] [--factor F]
//
// One process drives all ranks (ncclCommInitAll). For each GPU count, collective and size: warm-up, then a timed
// loop (host clock around enqueue + synchronisation of every rank's stream, as nccl-tests' default mode), time per
// call = loop / iterations. Columns (nccl-tests' docs/PERFORMANCE.md):
//   bytes      all_reduce: buffer size; all_gather: total output; reduce_scatter: total input; all_to_all: per-rank buffer
//   algbw_gbps bytes / time
//   busbw_gbps algbw * 2(n-1)/n (all_reduce), algbw * (n-1)/n (all_gather, reduce_scatter, all_to_all)
// Reductions use float sums. Exit 77 when there is no GPU.
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/csv.hpp"
#include "common/space.hpp"

namespace {

#define NCCL_OK(x)                                                                                      \
  do {                                                                                                  \
    ncclResult_t r_ = (x);                                                                              \
    if (r_ != ncclSuccess) throw std::runtime_error(std::string(#x) + ": " + ncclGetErrorString(r_));   \
  } while (0)
#define CUDA_OK(x)                                                                                      \
  do {                                                                                                  \
    cudaError_t e_ = (x);                                                                               \
    if (e_ != cudaSuccess) throw std::runtime_error(std::string(#x) + ": " + cudaGetErrorString(e_));   \
  } while (0)

struct Rank {
  int device;
  ncclComm_t comm;
  cudaStream_t stream;
  void* send;
  void* recv;
};

// One table entry per collective: how to enqueue it for one rank, and its bus-bandwidth factor.
struct Collective {
  const char* name;
  std::function<void(Rank&, std::size_t bytes, int n)> run;  // inside a group
  double (*bus_factor)(int n);
};

double factor_all_reduce(int n) { return n > 1 ? 2.0 * (n - 1) / n : 0.0; }
double factor_n_minus_1(int n) { return n > 1 ? static_cast<double>(n - 1) / n : 0.0; }

std::vector<Collective> collectives(const std::vector<Rank>* ranks) {
  return {
      {"all_reduce",
       [](Rank& r, std::size_t bytes, int) {
         NCCL_OK(ncclAllReduce(r.send, r.recv, bytes / 4, ncclFloat, ncclSum, r.comm, r.stream));
       },
       factor_all_reduce},
      {"all_gather",
       [](Rank& r, std::size_t bytes, int n) {  // bytes: total output; each rank contributes bytes / n
         NCCL_OK(ncclAllGather(r.send, r.recv, bytes / 4 / n, ncclFloat, r.comm, r.stream));
       },
       factor_n_minus_1},
      {"reduce_scatter",
       [](Rank& r, std::size_t bytes, int n) {  // bytes: total input; each rank keeps bytes / n
         NCCL_OK(ncclReduceScatter(r.send, r.recv, bytes / 4 / n, ncclFloat, ncclSum, r.comm, r.stream));
       },
       factor_n_minus_1},
      {"all_to_all",
       [ranks](Rank& r, std::size_t bytes, int n) {  // bytes: per-rank buffer; bytes / n to each peer
         const std::size_t chunk = bytes / n;
         for (int peer = 0; peer < n; ++peer) {
           NCCL_OK(ncclSend(static_cast<char*>(r.send) + peer * chunk, chunk, ncclInt8, peer, r.comm, r.stream));
           NCCL_OK(ncclRecv(static_cast<char*>(r.recv) + peer * chunk, chunk, ncclInt8, peer, r.comm, r.stream));
         }
         (void)ranks;
       },
       factor_n_minus_1},
  };
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt;
  for (int i = 1; i + 1 < argc; i += 2) opt[argv[i]] = argv[i + 1];
  if (argc % 2 == 0 || !opt.count("--out")) {
    std::fprintf(stderr, "usage: fleetsim-nccl-sweep --out DIR [--space FILE] [--gpus 1,2,4] [--min-bytes B] [--max-bytes B] [--factor F]\n");
    return 2;
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIP: no CUDA device\n");
    return 77;
  }
  try {
    fleetsim::kernels::Space space;
    if (opt.count("--space")) space = fleetsim::kernels::Space::load(opt["--space"]);
    std::size_t min_bytes = static_cast<std::size_t>(space.int_value("collectives.min_bytes", 1024));
    std::size_t max_bytes = static_cast<std::size_t>(space.int_value("collectives.max_bytes", 4294967296LL));
    int factor = static_cast<int>(space.int_value("collectives.step_factor", 4));
    std::vector<std::int64_t> gpu_counts = space.ints("collectives.gpus", {1, 2, 4, 8});
    const std::vector<std::string> wanted = space.strings("collectives.ops", {"all_reduce", "all_gather", "reduce_scatter", "all_to_all"});
    if (opt.count("--min-bytes")) min_bytes = std::stoull(opt["--min-bytes"]);
    if (opt.count("--max-bytes")) max_bytes = std::stoull(opt["--max-bytes"]);
    if (opt.count("--factor")) factor = std::stoi(opt["--factor"]);
    if (opt.count("--gpus")) {
      gpu_counts.clear();
      std::stringstream in(opt["--gpus"]);
      std::string item;
      while (std::getline(in, item, ',')) gpu_counts.push_back(std::stoll(item));
    }
    if (std::find(gpu_counts.begin(), gpu_counts.end(), devices) == gpu_counts.end()) gpu_counts.push_back(devices);
    fleetsim::kernels::CsvTable table(opt["--out"] + "/collectives.csv", "collective,gpus,bytes,time_us,algbw_gbps,busbw_gbps");
    std::printf("NCCL %d.%d.%d, %d GPU(s)\n", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH, devices);
    for (const auto n64 : gpu_counts) {
      const int n = static_cast<int>(n64);
      if (n < 1 || n > devices) continue;
      std::vector<Rank> ranks(static_cast<std::size_t>(n));
      std::vector<ncclComm_t> comms(static_cast<std::size_t>(n));
      std::vector<int> devs(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) devs[static_cast<std::size_t>(i)] = i;
      NCCL_OK(ncclCommInitAll(comms.data(), n, devs.data()));
      for (int i = 0; i < n; ++i) {
        Rank& r = ranks[static_cast<std::size_t>(i)];
        r.device = i;
        r.comm = comms[static_cast<std::size_t>(i)];
        CUDA_OK(cudaSetDevice(i));
        CUDA_OK(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking));
        CUDA_OK(cudaMalloc(&r.send, max_bytes));
        CUDA_OK(cudaMalloc(&r.recv, max_bytes));
        CUDA_OK(cudaMemset(r.send, 0x3F, max_bytes));  // finite non-zero floats (0x3F3F3F3F = 0.747)
      }
      for (const Collective& c : collectives(&ranks)) {
        if (std::find(wanted.begin(), wanted.end(), c.name) == wanted.end()) continue;
        for (std::size_t bytes = min_bytes; bytes <= max_bytes; bytes *= static_cast<std::size_t>(factor)) {
          const std::size_t unit = static_cast<std::size_t>(4) * n;
          const std::size_t size = bytes / unit * unit;
          if (size == 0) continue;
          auto once = [&] {
            NCCL_OK(ncclGroupStart());
            for (Rank& r : ranks) {
              CUDA_OK(cudaSetDevice(r.device));
              c.run(r, size, n);
            }
            NCCL_OK(ncclGroupEnd());
          };
          auto sync = [&] {
            for (Rank& r : ranks) {
              CUDA_OK(cudaSetDevice(r.device));
              CUDA_OK(cudaStreamSynchronize(r.stream));
            }
          };
          for (int i = 0; i < 3; ++i) once();
          sync();
          double t0 = now_s();
          once();
          sync();
          const double single = now_s() - t0;
          const int iters = static_cast<int>(std::min(50.0, std::max(5.0, 0.05 / std::max(single, 1e-7))));
          t0 = now_s();
          for (int i = 0; i < iters; ++i) once();
          sync();
          const double per_call = (now_s() - t0) / iters;
          const double algbw = static_cast<double>(size) / per_call / 1e9;
          const double busbw = algbw * c.bus_factor(n);
          table.row({c.name, std::to_string(n), std::to_string(size), fleetsim::kernels::CsvTable::cell(per_call * 1e6, 3),
                     fleetsim::kernels::CsvTable::cell(algbw, 2), fleetsim::kernels::CsvTable::cell(busbw, 2)});
          std::printf("  %-15s gpus=%d %12zu B %12.2f us  algbw %8.2f GB/s  busbw %8.2f GB/s\n", c.name, n, size,
                      per_call * 1e6, algbw, busbw);
          std::fflush(stdout);
        }
      }
      for (Rank& r : ranks) {
        cudaSetDevice(r.device);
        cudaFree(r.send);
        cudaFree(r.recv);
        cudaStreamDestroy(r.stream);
        ncclCommDestroy(r.comm);
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fleetsim-nccl-sweep: error: %s\n", e.what());
    return 1;
  }
}
