#include "gemm/cublaslt_gemm.hpp"

#ifdef FLEETSIM_NO_CUBLASLT
#include "common/cuda_util.hpp"

namespace fleetsim::kernels {
struct CublasLt::Impl {};
bool CublasLt::available() { return false; }
CublasLt::CublasLt() { throw CudaError("fleetsim-kernels was built without cuBLASLt"); }
CublasLt::~CublasLt() = default;
void CublasLt::bf16_gemm(const void*, const void*, void*, int, int, int, cudaStream_t) {}
void CublasLt::fp8_gemm_per_tensor(const void*, const float*, const void*, const float*, void*, int, int, int, cudaStream_t) {}
}  // namespace fleetsim::kernels
#else

#include <cublasLt.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "common/cuda_util.hpp"

namespace fleetsim::kernels {
namespace {

void lt_check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw CudaError(std::string("cuBLASLt: ") + what + " failed with status " + std::to_string(static_cast<int>(status)));
}

}  // namespace

struct CublasLt::Impl {
  cublasLtHandle_t handle = nullptr;
  DeviceBuffer workspace{std::size_t(64) << 20};
  // One plan per (fp8?, m, n, k): descriptors and the heuristic's algorithm, made once.
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
    std::vector<cublasLtMatmulAlgo_t> algos;  // the heuristic's candidates, best first
    std::size_t chosen = 0;                   // the first candidate that ran
  };
  std::map<std::tuple<bool, int, int, int>, Plan> plans;

  // FP8 plans get their scale pointers before the heuristic is asked: an algorithm chosen for a descriptor without
  // scales can be refused (CUBLAS_STATUS_NOT_SUPPORTED, seen with cuBLAS 13.0 on an H200) once they are set.
  Plan& plan(bool fp8, int m, int n, int k, const float* scale_a = nullptr, const float* scale_b = nullptr) {
    auto key = std::make_tuple(fp8, m, n, k);
    auto it = plans.find(key);
    if (it != plans.end()) return it->second;
    Plan p;
    lt_check(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "MatmulDescCreate");
    const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
    lt_check(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a), "TRANSA");
    lt_check(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b), "TRANSB");
    const cudaDataType_t in = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    // cuBLASLt's A is our B (N x K row-major = K x N column-major, transposed); its B is our A.
    lt_check(cublasLtMatrixLayoutCreate(&p.la, in, k, n, k), "layout A");
    lt_check(cublasLtMatrixLayoutCreate(&p.lb, in, k, m, k), "layout B");
    lt_check(cublasLtMatrixLayoutCreate(&p.lc, CUDA_R_16BF, n, m, n), "layout C/D");
    if (fp8) set_scales(p, scale_a, scale_b);
    cublasLtMatmulPreference_t pref = nullptr;
    lt_check(cublasLtMatmulPreferenceCreate(&pref), "PreferenceCreate");
    const std::size_t ws = workspace.bytes();
    lt_check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
             "workspace preference");
    cublasLtMatmulHeuristicResult_t results[8]{};
    int found = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(handle, p.op, p.la, p.lb, p.lc, p.lc, pref, 8, results, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    lt_check(st, "AlgoGetHeuristic");
    for (int i = 0; i < found; ++i)
      if (results[i].state == CUBLAS_STATUS_SUCCESS) p.algos.push_back(results[i].algo);
    if (p.algos.empty()) throw CudaError("cuBLASLt: no algorithm for this GEMM");
    return plans.emplace(key, p).first->second;
  }
  void set_scales(Plan& p, const float* scale_a, const float* scale_b) {
    // Our A is cuBLASLt's B and vice versa.
    lt_check(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &scale_b, sizeof scale_b), "A scale");
    lt_check(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &scale_a, sizeof scale_a), "B scale");
  }
  // Runs the chosen candidate; one refused as not supported is dropped for the next (the heuristic's ranking is a
  // guess, not a promise), so a plan settles on the best candidate that runs.
  void run(Plan& p, const void* a, const void* b, void* d, cudaStream_t stream) {
    const float alpha = 1.0f, beta = 0.0f;
    for (;;) {
      const cublasStatus_t st = cublasLtMatmul(handle, p.op, &alpha, b, p.la, a, p.lb, &beta, d, p.lc, d, p.lc,
                                               &p.algos[p.chosen], workspace.as(), workspace.bytes(), stream);
      if (st != CUBLAS_STATUS_NOT_SUPPORTED || p.chosen + 1 >= p.algos.size()) return lt_check(st, "Matmul");
      ++p.chosen;
    }
  }
  ~Impl() {
    for (auto& [key, p] : plans) {
      cublasLtMatrixLayoutDestroy(p.la);
      cublasLtMatrixLayoutDestroy(p.lb);
      cublasLtMatrixLayoutDestroy(p.lc);
      cublasLtMatmulDescDestroy(p.op);
    }
    if (handle) cublasLtDestroy(handle);
  }
};

bool CublasLt::available() { return true; }
CublasLt::CublasLt() : impl_(std::make_unique<Impl>()) { lt_check(cublasLtCreate(&impl_->handle), "Create"); }
CublasLt::~CublasLt() = default;

void CublasLt::bf16_gemm(const void* a, const void* b, void* d, int m, int n, int k, cudaStream_t stream) {
  auto& p = impl_->plan(false, m, n, k);
  impl_->run(p, a, b, d, stream);
}

void CublasLt::fp8_gemm_per_tensor(const void* a, const float* scale_a, const void* b, const float* scale_b, void* d,
                                   int m, int n, int k, cudaStream_t stream) {
  auto& p = impl_->plan(true, m, n, k, scale_a, scale_b);
  impl_->set_scales(p, scale_a, scale_b);  // this call's pointers (the plan may have been made with others)
  impl_->run(p, a, b, d, stream);
}

}  // namespace fleetsim::kernels
#endif  // FLEETSIM_NO_CUBLASLT
