#!/usr/bin/env bash
# Writes profiles/hopper-production/gemm.csv: the BF16 GEMM rows (cuBLASLt) of profiles/h200-measured, unchanged.
# Re-run after re-measuring h200-measured; tests/unit/cost checks that the two agree.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../h200-measured/gemm.csv"
{ head -1 "$src"; awk -F, 'NR > 1 && $2 == "bf16"' "$src"; } >"$here/gemm.csv.tmp"
mv "$here/gemm.csv.tmp" "$here/gemm.csv"
