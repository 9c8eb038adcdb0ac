#!/usr/bin/env bash
# Speed and memory of one simulated training step, by cluster size, layers, micro-batches and engine mode.
# Usage: bench/engine/run.sh [BUILD_DIR]   (needs /usr/bin/time: Debian package `time`, installed by .ci/install-deps)
# Prints a Markdown table: wall seconds of `fleetsim run` (one process, one core: loading the scenario, costing every
# op, and for the simgrid backend the SimGrid simulation, which runs in a forked child), the peak resident memory
# of the main process and of the simulation process (`--stats`), the simulated GPUs and the simulated activities.
set -euo pipefail
build=${1:-build}
fleetsim="$build/fleetsim"
default=scenarios/deepseek-v3-pretrain.yaml
big=scenarios/deepseek-v3-pretrain-50k.yaml
llama=scenarios/llama-3-405b-pretrain.yaml
llama_long=scenarios/llama-3-405b-pretrain-128k.yaml

measure() {  # label, scenario, overrides...
  local label=$1 scenario=$2
  shift 2
  local args=()
  for override in "$@"; do args+=(--set "$override"); done
  local log
  log=$(mktemp)
  /usr/bin/time -f "time %e %M" "$fleetsim" run "$scenario" --json /dev/null --stats "${args[@]}" 2>"$log"
  local seconds kib sim_mib gpus activities
  read -r _ seconds kib < <(grep '^time ' "$log")
  sim_mib=$(sed -n 's/.*simulation peak RSS \([0-9]*\) MiB.*/\1/p' "$log")
  gpus=$(sed -n 's/.*, \([0-9]*\) simulated GPUs.*/\1/p' "$log")
  activities=$(sed -n 's/.*GPUs, \([0-9]*\) activities.*/\1/p' "$log")
  rm -f "$log"
  printf '| %s | %s | %d MiB | %s MiB | %s | %s |\n' "$label" "$seconds" $((kib / 1024)) "${sim_mib:--}" \
    "${gpus:--}" "${activities:--}"
}

echo "| case | wall s | main RSS | simulation RSS | simulated GPUs | activities |"
echo "|---|---|---|---|---|---|"
measure "2,048 GPUs, 61 layers, 120 micro-batches, symmetric (default)" "$default"
measure "2,048 GPUs, analytic backend" "$default" engine.backend=analytic
measure "256 GPUs (DP 16, EP 16, 31 layers), symmetric" "$default" model.layers=31 cluster.gpus=256 \
  training.parallelism.dp=16 training.parallelism.ep=16 training.global_batch=512
measure "256 GPUs (DP 16, EP 16, 31 layers), full" "$default" model.layers=31 cluster.gpus=256 \
  training.parallelism.dp=16 training.parallelism.ep=16 training.global_batch=512 engine.mode=full
measure "1,024 GPUs (DP 64), 32 micro-batches, full" "$default" cluster.gpus=1024 \
  training.parallelism.dp=64 training.global_batch=2048 engine.mode=full
measure "2,048 GPUs (DP 128), 32 micro-batches, full" "$default" training.global_batch=4096 engine.mode=full
measure "16,384 GPUs (DP 1024), 32 micro-batches, symmetric" "$default" cluster.gpus=16384 \
  training.parallelism.dp=1024 training.global_batch=32768
measure "50,176 GPUs (DP 3136), 32 micro-batches, symmetric" "$big"
measure "2,048 GPUs, 16 layers, symmetric" "$default" model.layers=16
measure "2,048 GPUs, 31 layers, symmetric" "$default" model.layers=31
measure "2,048 GPUs, 46 layers, symmetric" "$default" model.layers=46
measure "2,048 GPUs, 480 micro-batches, symmetric" "$default" training.global_batch=61440
measure "2,048 GPUs, 1,920 micro-batches, symmetric" "$default" training.global_batch=245760
measure "Llama 3 405B, 16,384 GPUs, interleaved x 8 (128 stages), 16 micro-batches, DP overlap" "$llama"
measure "Llama 3 405B, 16,384 GPUs, 131,072-token sequences (CP 16)" "$llama_long"
