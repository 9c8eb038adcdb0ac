#include "common/power.hpp"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <chrono>
#include <numeric>

namespace fleetsim::kernels {
namespace {

// The few NVML entry points used (their C signatures, from the public NVML API).
using nvmlDevice_t = struct nvmlDevice_st*;
using FnInit = int (*)();
using FnShutdown = int (*)();
using FnByPci = int (*)(const char*, nvmlDevice_t*);
using FnPower = int (*)(nvmlDevice_t, unsigned int*);
using FnEnergy = int (*)(nvmlDevice_t, unsigned long long*);
using FnName = int (*)(nvmlDevice_t, char*, unsigned int);
using FnLimit = int (*)(nvmlDevice_t, unsigned int*);

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

struct PowerSampler::Nvml {
  void* lib = nullptr;
  nvmlDevice_t device = nullptr;
  FnShutdown shutdown = nullptr;
  FnPower power = nullptr;
  FnEnergy energy = nullptr;
  FnName name = nullptr;
  FnLimit limit = nullptr;
  bool ok = false;

  explicit Nvml(int cuda_device) {
    lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    auto init = reinterpret_cast<FnInit>(dlsym(lib, "nvmlInit_v2"));
    auto by_pci = reinterpret_cast<FnByPci>(dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2"));
    shutdown = reinterpret_cast<FnShutdown>(dlsym(lib, "nvmlShutdown"));
    power = reinterpret_cast<FnPower>(dlsym(lib, "nvmlDeviceGetPowerUsage"));
    energy = reinterpret_cast<FnEnergy>(dlsym(lib, "nvmlDeviceGetTotalEnergyConsumption"));
    name = reinterpret_cast<FnName>(dlsym(lib, "nvmlDeviceGetName"));
    limit = reinterpret_cast<FnLimit>(dlsym(lib, "nvmlDeviceGetEnforcedPowerLimit"));
    if (!init || !by_pci || !power || init() != 0) return;
    char bus[64] = {0};
    if (cudaDeviceGetPCIBusId(bus, sizeof bus, cuda_device) != cudaSuccess) return;
    ok = by_pci(bus, &device) == 0;
  }
  ~Nvml() {
    if (ok && shutdown) shutdown();
    if (lib) dlclose(lib);
  }
};

PowerSampler::PowerSampler(int cuda_device) : nvml_(std::make_unique<Nvml>(cuda_device)) {}
PowerSampler::~PowerSampler() {
  if (running_) stop();
}

bool PowerSampler::available() const { return nvml_->ok; }

void PowerSampler::start() {
  samples_w_.clear();
  start_time_ = now_s();
  energy_ok_ = nvml_->ok && nvml_->energy && nvml_->energy(nvml_->device, &start_energy_mj_) == 0;
  if (!nvml_->ok) return;
  running_ = true;
  thread_ = std::thread([this] {
    while (running_) {
      unsigned int mw = 0;
      if (nvml_->power(nvml_->device, &mw) == 0) samples_w_.push_back(mw / 1000.0);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
}

PowerReading PowerSampler::stop() {
  PowerReading r;
  r.seconds = now_s() - start_time_;
  if (running_) {
    running_ = false;
    thread_.join();
  }
  r.samples = static_cast<int>(samples_w_.size());
  unsigned long long end_mj = 0;
  if (energy_ok_ && nvml_->energy(nvml_->device, &end_mj) == 0 && end_mj > start_energy_mj_ && r.seconds >= 0.1) {
    r.energy_j = (end_mj - start_energy_mj_) / 1000.0;
    r.average_w = r.energy_j / r.seconds;
    r.method = "energy-counter";
  } else if (!samples_w_.empty()) {
    r.average_w = std::accumulate(samples_w_.begin(), samples_w_.end(), 0.0) / samples_w_.size();
    r.energy_j = r.average_w * r.seconds;
    r.method = "samples";
  } else {
    r.method = "unavailable";
  }
  return r;
}

std::string PowerSampler::gpu_name() const {
  char buf[128] = {0};
  if (nvml_->ok && nvml_->name && nvml_->name(nvml_->device, buf, sizeof buf) == 0) return buf;
  return "";
}

double PowerSampler::power_limit_w() const {
  unsigned int mw = 0;
  if (nvml_->ok && nvml_->limit && nvml_->limit(nvml_->device, &mw) == 0) return mw / 1000.0;
  return -1.0;
}

}  // namespace fleetsim::kernels
