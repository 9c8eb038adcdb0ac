#!/usr/bin/env bash
# Calibrates fleetsim on the GPU of this machine: builds kernels/ standalone, checks every kernel against its CPU
# reference, times them over calibration/spaces/, measures the device's ceilings, runs the NCCL sweep, fits the
# efficiency curves, and writes profiles/<gpu>-measured/ (CSV tables + MANIFEST.yaml). See docs/calibration.md.
#
#   calibration/run-on-gpu.sh [--gpu NAME] [--out DIR] [--quick] [--build-dir DIR] [--seed N] [--budget-s S]
#
#   --gpu NAME   bundle name (default: from nvidia-smi, e.g. "NVIDIA H200" -> h200)
#   --out DIR    profile directory (default: profiles/<gpu>-measured in this repository)
#   --quick      a few shapes per kernel (a smoke run of a minute or two)
#   --budget-s S finish within S seconds of wall time, build included: each step's timeout is cut to what is left
#                (20 s kept for the manifest, fit and copy); a step cut short keeps the rows it measured and is
#                listed under failed: in MANIFEST.yaml. For leased GPU time (the device tool's runs).
# Needs only the CUDA toolkit (nvcc, cuBLASLt; NCCL optional), CMake >= 3.25, ninja and a driver.
#
# The profile is written to a temporary directory beside --out and renamed into place only when every step
# passed: a failed run never replaces a good profile (its partial results stay in <out>.failed-<time>/).
# If $OUT is set (the device tool's output folder), a tarball of the result and its logs, MANIFEST.yaml and
# summary.txt are copied there too. Exit status: 0 installed, 1 a step failed, 2 bad usage.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GPU="" OUT_DIR="" QUICK="" BUILD_DIR="$ROOT/build-gpu" SEED="" BUDGET=""
while [ $# -gt 0 ]; do
  case "$1" in
    --gpu) GPU="$2"; shift 2 ;;
    --out) OUT_DIR="$2"; shift 2 ;;
    --quick) QUICK="--quick"; shift ;;
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --budget-s) BUDGET="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run-on-gpu.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

START=$(date +%s)
log() { printf '[%4ds] %s\n' $(( $(date +%s) - START )) "$*"; }
die() { log "FAILED: $*"; exit 1; }
case "$BUDGET" in ''|*[!0-9]*) [ -z "$BUDGET" ] || { echo "run-on-gpu.sh: --budget-s wants whole seconds" >&2; exit 2; } ;; esac
# step_timeout DEFAULT: the step's own limit, cut to what --budget-s leaves (20 s kept for the manifest and copy);
# 0 when nothing is left (the step is skipped).
step_timeout() {
  [ -n "$BUDGET" ] || { echo "$1"; return; }
  local left=$(( BUDGET - ($(date +%s) - START) - 20 ))
  [ "$left" -lt 0 ] && left=0
  [ "$left" -lt "$1" ] && echo "$left" || echo "$1"
}
# run_step NAME DEFAULT_TIMEOUT CMD...: runs CMD under the step's timeout; returns 124 when cut short or skipped.
run_step() {
  local name="$1" t; t="$(step_timeout "$2")"; shift 2
  if [ "$t" -le 0 ]; then log "$name skipped: the time budget is spent"; return 124; fi
  timeout -k 5 "$t" "$@"
  local rc=$?
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && { log "$name cut short after ${t} s"; return 124; }
  return $rc
}

command -v nvidia-smi >/dev/null || die "nvidia-smi not found: no NVIDIA driver on this machine"
GPU_NAME="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
[ -n "$GPU_NAME" ] || die "nvidia-smi lists no GPU"
if [ -z "$GPU" ]; then
  GPU="$(echo "$GPU_NAME" | sed -e 's/^NVIDIA //' | awk '{print tolower($1)}')"
fi
[ -n "$OUT_DIR" ] || OUT_DIR="$ROOT/profiles/$GPU-measured"
[ -d "$(dirname "$OUT_DIR")" ] || die "the parent of --out ($(dirname "$OUT_DIR")) does not exist"
OUT_DIR="$(cd "$(dirname "$OUT_DIR")" && pwd)/$(basename "$OUT_DIR")"
TMP="$(mktemp -d "$(dirname "$OUT_DIR")/.$(basename "$OUT_DIR").tmp.XXXXXX")" || die "cannot create a temporary directory"
chmod 755 "$TMP"
LOGS="$TMP/logs"
mkdir -p "$LOGS"
FAILED=()
log "GPU: $GPU_NAME -> bundle '$GPU'; profile: $OUT_DIR (staging in $TMP)"

# Copies what there is to $OUT (the device tool brings back at most 8 files: one tarball + two small files).
export_results() {
  [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ] || return 0
  local dir="$1"
  tar -czf "$OUT/profile.tar.gz" -C "$(dirname "$dir")" "$(basename "$dir")" 2>/dev/null
  [ -f "$dir/MANIFEST.yaml" ] && cp "$dir/MANIFEST.yaml" "$OUT/MANIFEST.yaml"
  [ -f "$dir/summary.txt" ] && cp "$dir/summary.txt" "$OUT/summary.txt"
  log "results copied to \$OUT ($OUT)"
}
finish_failed() {
  local keep="$OUT_DIR.failed-$(date -u +%Y%m%dT%H%M%SZ)"
  mv "$TMP" "$keep"
  log "run FAILED (${FAILED[*]}); the existing profile (if any) is untouched; partial results in $keep"
  export_results "$keep"
  exit 1
}

# ---- 1. build ---------------------------------------------------------------------------------------------------
# NCCL and cuBLASLt: the toolkit's when present; else (the CUDA image may carry them only inside NVIDIA's Python
# wheels) the headers and libraries found under python3's nvidia/ package folder.
EXTRA_ARGS=()
NV_PY="$(python3 -c 'import nvidia, os; print(list(nvidia.__path__)[0])' 2>/dev/null || true)"
probe() {  # probe HEADER LIBGLOB CMAKEVAR: sets CMAKEVAR=<root> when both are found under $NV_PY
  [ -n "$NV_PY" ] && [ -d "$NV_PY" ] || return 0
  local h l
  h="$(find "$NV_PY" -name "$1" -path '*include*' 2>/dev/null | head -1)"
  l="$(find "$NV_PY" -name "$2" 2>/dev/null | head -1)"
  if [ -n "$h" ] && [ -n "$l" ]; then
    EXTRA_ARGS+=("-D$3=$(dirname "$(dirname "$h")")" "-D$3_LIBDIR=$(dirname "$l")")
    export LD_LIBRARY_PATH="$(dirname "$l"):${LD_LIBRARY_PATH:-}"
    log "using $1 from $(dirname "$(dirname "$h")")"
  fi
}
[ -n "${NCCL_ROOT:-}" ] || ls /usr/local/cuda/lib64/libnccl.so* /usr/lib/x86_64-linux-gnu/libnccl.so* >/dev/null 2>&1 \
  || probe nccl.h 'libnccl.so*' NCCL_ROOT
[ -n "${CUBLAS_ROOT:-}" ] || ls /usr/local/cuda/lib64/libcublasLt.so* >/dev/null 2>&1 || probe cublasLt.h 'libcublasLt.so*' CUBLAS_ROOT
export PATH="/usr/local/cuda/bin:$PATH"
log "configuring kernels/ (standalone) in $BUILD_DIR"
cmake -S "$ROOT/kernels" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${EXTRA_ARGS[@]}" >"$LOGS/configure.log" 2>&1 \
  || { tail -20 "$LOGS/configure.log"; FAILED+=(configure); finish_failed; }
log "building ($(nproc) jobs)"
run_step build 600 cmake --build "$BUILD_DIR" -j "$(nproc)" >"$LOGS/build.log" 2>&1 || { tail -30 "$LOGS/build.log"; FAILED+=(build); finish_failed; }
BIN="$BUILD_DIR/fleetsim-kernels"
[ -x "$BIN" ] || { log "no fleetsim-kernels binary (was nvcc found?)"; FAILED+=(build); finish_failed; }
run_step "CPU reference tests" 120 ctest --test-dir "$BUILD_DIR" -L cpu -j "$(nproc)" --output-on-failure >"$LOGS/ctest-cpu.log" 2>&1 \
  || { tail -20 "$LOGS/ctest-cpu.log"; FAILED+=(cpu-tests); }
"$BIN" info | tee "$LOGS/info.log"

# SASS: the FP8 GEMM must use wgmma (QGMMA); BF16 tensor-core paths show HMMA (mma.sync) or HGMMA (wgmma).
SASS_QGMMA="" SASS_HGMMA="" SASS_HMMA=""
if command -v cuobjdump >/dev/null; then
  cuobjdump -sass "$BIN" >"$LOGS/sass.txt" 2>&1
  SASS_QGMMA=$(grep -c 'QGMMA' "$LOGS/sass.txt"); SASS_HGMMA=$(grep -c 'HGMMA' "$LOGS/sass.txt"); SASS_HMMA=$(grep -c 'HMMA' "$LOGS/sass.txt")
  log "SASS: QGMMA $SASS_QGMMA, HGMMA $SASS_HGMMA, HMMA $SASS_HMMA instructions"
  grep -m 40 QGMMA "$LOGS/sass.txt" >"$LOGS/sass-qgmma-sample.txt"; rm -f "$LOGS/sass.txt"  # the full SASS is large
fi

# ---- 2. correctness, one process per family (a fault in one cannot hide the others) -------------------------------
SEED_ARGS=()
[ -n "$SEED" ] && SEED_ARGS=(--seed "$SEED")
declare -A CHECK
for family in gemm moe attention elementwise; do
  log "check $family"
  # 120 s: the checks take seconds; a kernel that hangs (a wgmma pipeline waiting forever) must not eat the budget.
  run_step "check $family" 120 "$BIN" check --only "$family" $QUICK "${SEED_ARGS[@]}" >"$LOGS/check-$family.log" 2>&1
  rc=$?
  grep -E '^\[(ok|FAIL)\]' "$LOGS/check-$family.log" | sed 's/^/    /'
  if [ $rc -eq 0 ]; then CHECK[$family]=passed
  elif [ $family = gemm ] && [ $rc -eq 1 ] && ! grep -q 'error:' "$LOGS/check-gemm.log" \
       && ! grep '^\[FAIL\]' "$LOGS/check-gemm.log" | grep -qv 'baseline\]'; then
    # Only the cuBLASLt FP8 per-tensor baseline failed: it is not part of the profile, whose GEMMs all passed.
    CHECK[$family]="passed (the cuBLASLt FP8 baseline failed)"
  elif [ $family = gemm ] && { grep -q '^\[FAIL\].*\[wgmma\]' "$LOGS/check-gemm.log" || [ $rc -eq 124 ]; }; then
    # The wgmma FP8 GEMM failed, faulted (ending the process) or hung: check the mma.sync implementation alone.
    log "check gemm again with the mma.sync FP8 GEMM only"
    run_step "check gemm (mma_sync)" 120 "$BIN" check --only gemm --gemm-impl mma_sync $QUICK "${SEED_ARGS[@]}" >"$LOGS/check-gemm-mma_sync.log" 2>&1
    rc=$?
    grep -E '^\[(ok|FAIL)\]' "$LOGS/check-gemm-mma_sync.log" | sed 's/^/    /'
    if [ $rc -eq 0 ]; then CHECK[$family]="wgmma failed, mma_sync passed"  # timing uses mma_sync
    else CHECK[$family]="failed (exit $rc)"; FAILED+=("check-$family"); fi
  else CHECK[$family]="failed (exit $rc)"; FAILED+=("check-$family"); fi
done

# ---- 3. ceilings and timing -----------------------------------------------------------------------------------------
log "ceilings"
run_step ceilings 120 "$BIN" ceilings --out "$TMP/ceilings.yaml" "${SEED_ARGS[@]}" >"$LOGS/ceilings.log" 2>&1 || FAILED+=(ceilings)
tail -4 "$LOGS/ceilings.log" | sed 's/^/    /'
for family in gemm moe attention elementwise; do
  case "${CHECK[$family]}" in passed*|wgmma*) ;; *) log "bench $family skipped (its check failed)"; continue ;; esac
  log "bench $family"
  IMPL_ARGS=()
  [ "$family" = gemm ] && case "${CHECK[gemm]}" in wgmma*) IMPL_ARGS=(--gemm-impl mma_sync) ;; esac
  run_step "bench $family" 360 "$BIN" bench --out "$TMP" --space "$ROOT/calibration/spaces" --only "$family" "${IMPL_ARGS[@]}" $QUICK \
    "${SEED_ARGS[@]}" >"$LOGS/bench-$family.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ] && [ "$family" = gemm ] && grep -q 'wgmma FP8 GEMM failed to run' "$LOGS/bench-gemm.log"; then
    log "the wgmma FP8 GEMM faulted during bench: timing the mma.sync implementation instead"
    rm -f "$TMP/gemm.csv" "$TMP/baselines.csv"
    mv "$LOGS/bench-gemm.log" "$LOGS/bench-gemm-wgmma-fault.log"
    run_step "bench gemm (mma_sync)" 360 "$BIN" bench --out "$TMP" --space "$ROOT/calibration/spaces" --only gemm --gemm-impl mma_sync $QUICK \
      "${SEED_ARGS[@]}" >"$LOGS/bench-gemm.log" 2>&1
    rc=$?
  fi
  if [ $rc -eq 124 ]; then FAILED+=("bench-$family-cut-short")
  elif [ $rc -ne 0 ]; then tail -5 "$LOGS/bench-$family.log"; FAILED+=("bench-$family"); fi
done
GEMM_IMPL="$(sed -n 's/^FP8 GEMM implementation for timing: //p' "$LOGS/bench-gemm.log" 2>/dev/null | head -1)"
# SM share: the layer's kernels on every SM and beside 20 held SMs (DeepEP's share, V3 3.2.2). A check of the
# simulator's SMs / (SMs - held) stretch, not a table it reads yet, so a failure here does not fail the run.
log "SM share"
SHARE_IMPL=()
case "$GEMM_IMPL" in wgmma|mma_sync) SHARE_IMPL=(--gemm-impl "$GEMM_IMPL") ;; esac
if run_step "SM share" 120 "$BIN" sm-share --out "$TMP/sm_share.csv" --sms 20 "${SHARE_IMPL[@]}" "${SEED_ARGS[@]}" \
    >"$LOGS/sm-share.log" 2>&1; then
  grep '^sm-share' "$LOGS/sm-share.log" | sed 's/^/    /'
else
  log "SM share failed (not fatal; logs/sm-share.log)"
  tail -5 "$LOGS/sm-share.log" | sed 's/^/    /'
  rm -f "$TMP/sm_share.csv"
fi
if [ -x "$BUILD_DIR/fleetsim-nccl-sweep" ]; then
  log "NCCL sweep"
  NCCL_SPACE="$ROOT/calibration/spaces/collectives.yaml"
  NCCL_EXTRA=()
  [ -n "$QUICK" ] && NCCL_EXTRA=(--max-bytes 67108864 --factor 16)
  run_step "NCCL sweep" 240 "$BUILD_DIR/fleetsim-nccl-sweep" --out "$TMP" --space "$NCCL_SPACE" "${NCCL_EXTRA[@]}" >"$LOGS/nccl.log" 2>&1
  rc=$?
  [ $rc -eq 0 ] || [ $rc -eq 77 ] || { tail -5 "$LOGS/nccl.log"; FAILED+=(nccl); }
else
  log "NCCL sweep skipped (fleetsim-nccl-sweep not built: no NCCL found)"
fi

# ---- 4. manifest, then the fit (it reads the manifest's ceilings) ----------------------------------------------------

q() { nvidia-smi --query-gpu="$1" --format=csv,noheader,nounits 2>/dev/null | head -1 | sed 's/^ *//;s/ *$//'; }
# FLEETSIM_COMMIT names the commit when this tree's .git is not the one it came from (the device tool copies the
# working tree over an older checkout, whose git then reports that commit plus changes).
if [ -n "${FLEETSIM_COMMIT:-}" ]; then COMMIT="$FLEETSIM_COMMIT"
else
  COMMIT="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -v '^??')" ] && COMMIT="$COMMIT-dirty"
fi
CUDA_VERSION="$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
DRIVER_CUDA="$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -1)"
TABLES="$(cd "$TMP" && ls *.csv 2>/dev/null | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
{
  echo "# Kernel profile measured by calibration/run-on-gpu.sh on this GPU; see docs/calibration.md."
  echo "gpu: $GPU"
  echo "gpu_name: $GPU_NAME"
  echo "source: measured"
  echo "driver: $(q driver_version)"
  echo "cuda: $CUDA_VERSION"
  echo "driver_cuda: $DRIVER_CUDA"
  echo "clocks:"
  echo "  sm_mhz: $(q clocks.sm)"
  echo "  mem_mhz: $(q clocks.mem)"
  echo "  max_sm_mhz: $(q clocks.max.sm)"
  echo "  max_mem_mhz: $(q clocks.max.mem)"
  echo "power_limit_w: $(q power.limit)"
  echo "memory_mib: $(q memory.total)"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $COMMIT"
  echo "tables: [$TABLES]"
  if [ -f "$TMP/ceilings.yaml" ]; then cat "$TMP/ceilings.yaml"; else echo "ceilings: {}"; fi
  echo "checks:"
  for family in gemm moe attention elementwise; do echo "  $family: ${CHECK[$family]}"; done
  echo "fp8_gemm_impl: ${GEMM_IMPL:-unknown}"
  echo "sass:"
  echo "  qgmma: ${SASS_QGMMA:-unknown}"
  echo "  hgmma: ${SASS_HGMMA:-unknown}"
  echo "  hmma: ${SASS_HMMA:-unknown}"
  echo "timing: CUDA events, warm-up, median of >= 15 samples and >= 200 ms per shape, rotating inputs >= 256 MiB, graphs for calls < 40 us"
  echo "power: NVML board power during each timed loop (energy counter when the loop lasts >= 100 ms)"
  echo "quick: $([ -n "$QUICK" ] && echo true || echo false)"
  echo "failed: [${FAILED[*]}]"
} >"$TMP/MANIFEST.yaml"
rm -f "$TMP/ceilings.yaml"
if ! "$BUILD_DIR/calibration-fit/fleetsim-fit" "$TMP" >"$TMP/fit.txt" 2>&1; then
  FAILED+=(fit)
  sed -i "s/^failed: .*/failed: [${FAILED[*]}]/" "$TMP/MANIFEST.yaml"
fi

# ---- 5. summary against the issue's targets -------------------------------------------------------------------------
ceil() { sed -n "s/^ *$1: *//p" "$TMP/MANIFEST.yaml" | head -1; }
HBM="$(ceil hbm_gbps)"; FP8="$(ceil fp8_tflops)"; BF16="$(ceil bf16_tflops)"
{
  echo "fleetsim calibration summary: $GPU_NAME ($GPU), $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $COMMIT"
  echo "ceilings: HBM copy ${HBM:-?} GB/s, BF16 ${BF16:-?} TFLOPS, FP8 ${FP8:-?} TFLOPS (cuBLASLt, 8192^3)"
  echo "checks: gemm ${CHECK[gemm]}; moe ${CHECK[moe]}; attention ${CHECK[attention]}; elementwise ${CHECK[elementwise]}"
  echo "FP8 GEMM implementation timed: ${GEMM_IMPL:-?}; SASS QGMMA ${SASS_QGMMA:-?} HGMMA ${SASS_HGMMA:-?}"
  if [ -f "$TMP/gemm.csv" ]; then
    echo "FP8 GEMM at M=4096 (target >= 1000 TFLOPS; DeepGEMM H800: 1058 990 590 1358 1304 1025):"
    awk -F, 'NR>1 && $1=="gemm" && $2=="fp8" && $4==4096 {printf "  N=%-6s K=%-6s %8.1f TFLOPS\n", $5, $6, $8}' "$TMP/gemm.csv"
    awk -F, 'NR>1 && $1=="gemm" && $2=="bf16" && $4==4096 {s+=$8; n++} END {if (n) printf "BF16 GEMM (cuBLASLt) at M=4096: mean %.1f TFLOPS over %d shapes\n", s/n, n}' "$TMP/gemm.csv"
    awk -F, 'NR>1 && $1=="grouped_contiguous" {if ($8>b) {b=$8; s=$3"x"$4" "$5"x"$6}} END {if (b) printf "grouped contiguous best: %.1f TFLOPS (G x M = %s) (target >= 900)\n", b, s}' "$TMP/gemm.csv"
    awk -F, 'NR>1 && $1=="grouped_masked" {if ($8>b) {b=$8; s=$3"x"$4" "$5"x"$6}} END {if (b) printf "grouped masked best: %.1f TFLOPS (G x M = %s) (target >= 900)\n", b, s}' "$TMP/gemm.csv"
  fi
  if [ -f "$TMP/attention.csv" ] && [ -n "$HBM" ]; then
    awk -F, -v hbm="$HBM" 'NR>1 && $1=="mla_decode" {if ($12>b) {b=$12; s="B="$3" H="$4" kv="$6}} END {if (b) printf "MLA decode best: %.0f GB/s = %.0f%% of HBM copy (target >= 60%%) at %s\n", b, 100*b/hbm, s}' "$TMP/attention.csv"
    awk -F, 'NR>1 && $1=="mla_prefill_fwd" {if ($11>b) {b=$11; s="H="$4" S="$5}} END {if (b) printf "MLA prefill best: %.1f TFLOPS at %s\n", b, s}' "$TMP/attention.csv"
  fi
  if [ -f "$TMP/elementwise.csv" ] && [ -n "$HBM" ]; then
    echo "elementwise best GB/s (target >= 80% of HBM copy):"
    awk -F, -v hbm="$HBM" 'NR>1 {if ($7>b[$1]) b[$1]=$7} END {for (k in b) printf "  %-14s %8.0f GB/s = %3.0f%%\n", k, b[k], 100*b[k]/hbm}' "$TMP/elementwise.csv" | sort
  fi
  [ -f "$TMP/sm_share.csv" ] && awk -F, 'NR>1 {printf "SM share: %-22s %-16s x%.3f beside %d held SMs (SMs ratio x%.3f)\n", $1, $2, $7, $4, $8}' "$TMP/sm_share.csv"
  [ -f "$TMP/collectives.csv" ] && awk -F, 'NR>1 {if ($5>b[$1]) b[$1]=$5} END {for (k in b) printf "NCCL %-15s best algbw %.1f GB/s\n", k, b[k]}' "$TMP/collectives.csv" | sort
  sed 's/^/fit: /' "$TMP/fit.txt"
  [ ${#FAILED[@]} -gt 0 ] && echo "FAILED steps: ${FAILED[*]}"
  echo "total time: $(( $(date +%s) - START )) s"
} >"$TMP/summary.txt"

if [ ${#FAILED[@]} -gt 0 ]; then
  cat "$TMP/summary.txt"
  finish_failed
fi
# Install atomically: the old profile is moved aside, the new one renamed into place, the old one removed.
OLD=""
if [ -e "$OUT_DIR" ]; then OLD="$OUT_DIR.old.$$"; mv "$OUT_DIR" "$OLD" || die "cannot move the old profile aside"; fi
mv "$TMP" "$OUT_DIR" || { [ -n "$OLD" ] && mv "$OLD" "$OUT_DIR"; die "cannot install the new profile"; }
[ -n "$OLD" ] && rm -rf "$OLD"
export_results "$OUT_DIR"
cat "$OUT_DIR/summary.txt"
log "profile installed in $OUT_DIR"
