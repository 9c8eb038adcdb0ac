#!/usr/bin/env bash
# Sets every numeric scenario key to extreme values and reports any run that neither succeeds (exit 0) nor is
# refused as bad input (exit 2), takes over a minute, or writes a non-finite number (null) into its report.
# Not part of CI (about 5 minutes on 2 cores); run it after adding scenario keys. Prints nothing else on success.
# Usage: tests/fuzz/extreme-values.sh [BUILD_DIR]   (default: build)
set -u
cd "$(dirname "$0")/../.."
FLEETSIM="${1:-build}/fleetsim"
REPORT=$(mktemp)
trap 'rm -f "$REPORT"' EXIT
VALUES="0 -1 1 2 3 5 7 0.5 1e9 1e300 1e-300 abc"
try() {  # scenario key value
  timeout 60 "$FLEETSIM" run "$1" --set "$2=$3" --json "$REPORT" >/dev/null 2>/tmp/extreme-values.err
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 2 ]; then echo "exit $rc: $1 --set $2=$3: $(tail -1 /tmp/extreme-values.err)"; fi
  if [ $rc -eq 0 ] && grep -qE ': (null|nan|-?inf)\b' "$REPORT"; then echo "non-finite: $1 --set $2=$3"; fi
}
TRAINING_KEYS="model.hidden model.layers model.heads model.vocab model.moe.routed_experts model.moe.top_k
  model.moe.shared_experts model.moe.groups_per_token model.moe.expert_intermediate model.mtp_depth
  model.attention.kv_lora_rank model.attention.q_lora_rank model.attention.kv_heads model.attention.head_dim
  model.ffn.intermediate cluster.gpus cluster.gpus_per_node cluster.gpu.hbm cluster.gpu.sm_count
  cluster.gpu.hbm_bandwidth cluster.gpu.nvlink_bandwidth cluster.gpu.tdp cluster.gpu.idle_power
  cluster.network.nic_bandwidth cluster.network.switch_radix cluster.network.oversubscription training.tokens
  training.seq_len training.global_batch training.micro_batch training.parallelism.tp training.parallelism.pp
  training.parallelism.ep training.parallelism.dp training.parallelism.cp training.parallelism.zero
  training.virtual_stages training.recompute_layers training.gemm_sms engine.expert_skew engine.slow_gpu_factor
  engine.gpu_speed_spread cost.gpu_hour cost.pue cost.electricity reliability.gpu_mtbf_hours"
for scenario in scenarios/deepseek-v3-pretrain.yaml scenarios/llama-3-405b-pretrain.yaml; do
  for key in $TRAINING_KEYS; do for value in $VALUES; do try "$scenario" "$key" "$value"; done; done
done
SERVING_KEYS="inference.prefill.gpus inference.decode.gpus inference.decode.parallelism.tp
  inference.traffic.input_tokens_per_day inference.traffic.input_length.mean inference.traffic.cache_hit_rate
  inference.slo.ttft inference.decode.mtp.acceptance"
for key in $SERVING_KEYS; do for value in $VALUES; do try scenarios/deepseek-v3-serving.yaml "$key" "$value"; done; done
