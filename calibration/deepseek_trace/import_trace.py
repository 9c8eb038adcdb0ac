#!/usr/bin/env python3
"""Turns DeepSeek's published training profile into a fleetsim kernel profile (profiles/h800-dsv3-trace).

The input is `train.json` of github.com/deepseek-ai/profile-data: a PyTorch-profiler trace, taken on an H800 of
DeepSeek's cluster, of one DualPipe pair (a forward chunk of one micro-batch overlapped with the backward chunk of
another), each chunk 4 MoE layers of DeepSeek-V3 at EP64, TP1, 4,096-token sequences, balanced routing. It is a
kernel-level measurement of the system fleetsim's default scenario models, so it can calibrate every compute op of
a MoE layer: GEMMs, attention, the FP8 casts and the memory-bound ops. The all-to-all kernels in it wait on their
peers, so they are not used (all_to_all.csv stays DeepEP's published table).

How a measured time becomes a row (docs/calibration.md, "Profiles from a trace"):
1. Each GPU kernel is tied to the annotation its launch falls in (attn(F), mlp(F), attn(B), mlp(B), attn(W),
   mlp(W), dispatch/combine): that gives its phase (forward, backward-input, backward-weight).
2. Each kernel gets a class by name: FP8 GEMM, grouped FP8 GEMM, BF16 GEMM, attention forward / backward, FP8
   cast or transpose, RMSNorm, RoPE, SwiGLU, permute, unpermute, router, residual add.
3. A kernel's time is its duration plus the idle gap on the compute streams just before it when that gap is a
   launch latency (launch_gaps): kernels issued back to back start 1-5 us after the previous one ends (2 us
   median; 907 such gaps, 1.8 ms of the 129 ms pair), and that is part of what each costs in a sequence. Longer
   gaps are not: two are waits on a DeepEP combine (274 and 1,761 us), which fleetsim models itself, and a few
   (10-423 us, 0.8 ms in all) are the host falling behind, a framework cost this profile does not claim.
   Every kernel ran while DeepEP held 20 of the 132 SMs (V3 3.2.2), and fleetsim stretches overlapped compute by
   132 / 112 itself, so each measured time is scaled by 112 / 132 to the whole GPU (the GEMMs, launched on 112
   SMs in every chunk, get 132 / 112 back from the scenario's `training.gemm_sms: free`).
4. fleetsim's ops for the same 4 layers (`fleetsim run --ops`, stage 1 of the default scenario) are grouped the
   same way. GEMM groups (phase x dense/grouped/bf16): the group's measured time is split over its GEMMs in
   proportion to the base profile's times for them (so shape-to-shape differences come from the benchmark and
   the total from the trace). Attention: one row each for forward and backward. Memory-bound classes: one
   row each, bytes per second = fleetsim's bytes for the class / the measured time (an effective bandwidth on
   fleetsim's byte count, which also absorbs the copies and FP32 intermediates the real code makes).
5. GEMM shapes the trace does not cover (other M, the dense MLP, the LM head) keep the base profile's rows.

Usage:
  ./build/fleetsim run scenarios/deepseek-v3-pretrain.yaml --set cluster.profile=h800-cutlass36 --ops ops.csv
  python3 calibration/deepseek_trace/import_trace.py --trace train.json --ops ops.csv \
      --base profiles/h800-cutlass36 --out profiles/h800-dsv3-trace
Standard library only. Deterministic: the same inputs give byte-identical tables.
"""

import argparse
import bisect
import csv
import datetime
import json
import os
import sys

# V3 3.2.2: DeepEP's kernels hold 20 of the H800's 132 SMs while all-to-all overlaps compute.
TOTAL_SMS = 132
COMMUNICATION_SMS = 20
# The longest idle gap before a compute kernel counted as launch latency: the trace's back-to-back gaps are 1-5 us
# (907 of them); the next longer ones, 10 us and up, are host stalls and waits on communication.
LAUNCH_GAP_MAX_US = 10
# fleetsim's stage holding 4 MoE layers in the default scenario (layers 4-7; stage 0 has the dense layers).
DEFAULT_STAGE = 1

PHASE_OF_ANNOTATION = {"F": "forward", "B": "backward_input", "W": "backward_weight"}

ELEMENTWISE_CLASSES = ["fp8_cast", "rmsnorm", "rope", "swiglu", "permute", "unpermute", "router", "residual"]


class TraceImportError(Exception):
    pass


def kernel_class(name, grid):
    """The class of one GPU kernel of DeepSeek's trace, from its (mangled) name and launch grid."""
    if "FlashAttnBwd" in name:
        return "attention_bwd"  # main kernel and its dQ pre/post-processing
    if "flash::" in name:
        return "attention_fwd"
    if "m_grouped" in name:
        return "grouped_gemm"
    if "cutlass::device_kernel" in name and "grouped_gemm" in name:
        return "gemm_fp8"
    if "sm90_xmma_gemm_bf16" in name:
        return "gemm_bf16"
    if "dpsk::ep" in name:
        return "all_to_all"
    if "swiglu" in name:
        return "swiglu"
    if "cast" in name or "transpose" in name:
        return "fp8_cast"
    if "layer_norm" in name:
        return "rmsnorm"
    if "rotary" in name or "copy_tensor" in name or (grid == [65536, 1, 1] and "elementwise_kernel" in name):
        return "rope"  # the rotary kernels and the copies that split / concatenate the rotary half of q and k
    if "reduce_fused" in name:
        return "unpermute"
    if any(s in name for s in ("expand_to_fused", "fused_mapping", "clean_and_count", "tensormaps")):
        return "permute"
    if "CUDAFunctor_add<c10::BFloat16>" in name or (grid == [57344, 1, 1] and "elementwise" in name):
        return "residual"  # 4096 x 7168 BF16 adds
    # What is left are small PyTorch kernels (top-k, index, scatter, fills, reductions) of the routing and its
    # auxiliary statistics: counted with the router.
    return "router"


def load_trace(path):
    with open(path, encoding="utf-8") as stream:
        trace = json.load(stream)
    events = trace.get("traceEvents") if isinstance(trace, dict) else None
    if not events:
        raise TraceImportError(f"{path}: no traceEvents (expected a PyTorch-profiler Chrome trace)")
    annotations = sorted((e for e in events if e.get("cat") == "user_annotation" and "(" in e.get("name", "")
                          and e["name"].endswith(")")), key=lambda e: e["ts"])
    if not annotations:
        raise TraceImportError(f"{path}: no phase annotations such as attn(F) / mlp(B) (not DeepSeek's train.json?)")
    starts = [a["ts"] for a in annotations]
    launches = {e["args"]["correlation"]: e for e in events
                if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {})}
    kernels = []
    for e in events:
        if e.get("cat") not in ("kernel", "gpu_memcpy", "gpu_memset"):
            continue
        launch = launches.get(e.get("args", {}).get("correlation"))
        if launch is None:
            raise TraceImportError(f"{path}: kernel {e['name'][:60]} has no launch event")
        i = bisect.bisect_right(starts, launch["ts"]) - 1
        if i < 0 or launch["ts"] > annotations[i]["ts"] + annotations[i]["dur"]:
            raise TraceImportError(f"{path}: kernel {e['name'][:60]} launched outside every phase annotation")
        tag = annotations[i]["name"]  # e.g. attn(F)
        phase = PHASE_OF_ANNOTATION.get(tag[-2])
        klass = kernel_class(e["name"], e.get("args", {}).get("grid"))
        kernels.append({"start": e["ts"], "end": e["ts"] + e["dur"], "stream": e["tid"], "tag": tag,
                        "phase": phase, "class": klass, "name": e["name"]})
    launch_gaps(kernels)
    layers = sum(1 for a in annotations if a["name"] == "attn(F)")
    taken = datetime.datetime.fromtimestamp(annotations[0]["ts"] / 1e6, datetime.timezone.utc).date().isoformat()
    return kernels, layers, trace.get("deviceProperties", [{}])[0].get("name", "?"), taken


def launch_gaps(kernels):
    """Sets each kernel's `gap`: for a compute kernel, the idle time of the compute streams just before it started
    when that is a launch latency (at most LAUNCH_GAP_MAX_US; step 3 of the module's notes), else 0."""
    busy_until = None
    for k in sorted(kernels, key=lambda k: (k["start"], k["end"])):
        k["gap"] = 0.0
        if k["class"] == "all_to_all":
            continue
        if busy_until is not None and 0 < k["start"] - busy_until <= LAUNCH_GAP_MAX_US:
            k["gap"] = k["start"] - busy_until
        busy_until = k["end"] if busy_until is None else max(busy_until, k["end"])


def union_length(intervals):
    """Wall time covered by possibly overlapping intervals (the W-phase GEMMs run on two streams at once)."""
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def gemm_group(klass_or_kind, phase, dtype):
    """Measured GEMM kernels and fleetsim's GEMM ops meet in these groups."""
    if dtype == "bf16":
        return ("bf16",)  # the router's gate: three small GEMMs whose weight gradient DeepSeek runs in attn(B)
    if phase == "backward_weight":
        return ("fp8", phase)  # expert and dense weight gradients share one kernel family there
    return ("fp8", phase, "grouped" if klass_or_kind == "grouped" else "dense")


def measured_groups(kernels):
    scale = (TOTAL_SMS - COMMUNICATION_SMS) / TOTAL_SMS
    gemm, other = {}, {}
    for k in kernels:
        if k["class"] == "all_to_all":
            continue
        if k["class"].startswith("gemm") or k["class"] == "grouped_gemm":
            dtype = "bf16" if k["class"] == "gemm_bf16" else "fp8"
            key = gemm_group("grouped" if k["class"] == "grouped_gemm" else "dense", k["phase"], dtype)
            gemm.setdefault(key, []).append((k["start"] - k["gap"], k["end"]))
        else:
            other.setdefault(k["class"], []).append((k["start"] - k["gap"], k["end"]))
    gemm_us = {key: union_length(v) * scale for key, v in gemm.items()}
    other_us = {key: sum(b - a for a, b in v) * scale for key, v in other.items()}
    return gemm_us, other_us


def load_ops(path, stage):
    with open(path, encoding="utf-8") as stream:
        rows = [r for r in csv.DictReader(stream) if r.get("stage") == str(stage)]
    if not rows:
        raise TraceImportError(f"{path}: no ops of stage {stage} (expected `fleetsim run --ops` of the default scenario)")
    return rows


def elementwise_class(op):
    kind, name = op["kind"], op["op"]
    if kind == "norm":
        return "rmsnorm"
    if kind == "router":
        return "router"
    if kind == "permute":
        return "unpermute" if "unpermute" in name else "permute"
    if kind == "elementwise":
        for tag in ("rope", "swiglu", "residual"):
            if tag in name:
                return tag
    return None


def build_tables(kernels, layers, ops, base_dir, hbm_gbps):
    gemm_us, other_us = measured_groups(kernels)
    model_layers = len({op["layer"] for op in ops if op["layer"] not in ("-1", "")})
    if model_layers != layers:
        raise TraceImportError(f"the trace holds {layers} layers, the ops file's stage {model_layers}")

    # fleetsim's GEMM ops, grouped like the kernels; the cast time inside each op's seconds is taken out first.
    gemm_ops = {}
    elementwise = {c: {"bytes": 0.0, "calls": 0} for c in ELEMENTWISE_CLASSES}
    attention = {"forward": 0.0, "backward": 0.0}
    for op in ops:
        kind = op["kind"]
        if kind in ("gemm", "grouped_gemm"):
            cast = float(op["cast_mb"]) * 1e6
            if cast > 0:  # the FP8 casts are costed inside their GEMM op (Op::cast_bytes)
                elementwise["fp8_cast"]["bytes"] += cast
                elementwise["fp8_cast"]["calls"] += 1
            own_seconds = float(op["seconds"]) - cast / (hbm_gbps * 1e9)
            key = gemm_group("grouped" if kind == "grouped_gemm" else "dense", op["phase"], op["dtype"])
            gemm_ops.setdefault(key, []).append((op, own_seconds))
        elif kind == "attention":
            attention["forward" if op["phase"] == "forward" else "backward"] += float(op["gflop"]) * 1e9
        else:
            klass = elementwise_class(op)
            if klass is not None:
                elementwise[klass]["bytes"] += float(op["hbm_mb"]) * 1e6
                elementwise[klass]["calls"] += 1

    # GEMM rows: each group's measured time split by the base profile's times; same shape twice (a forward and
    # its recompute in the backward) merges into one row (total FLOPs / total time).
    shapes = {}
    for key, members in sorted(gemm_ops.items()):
        if key not in gemm_us:
            raise TraceImportError(f"no kernels in the trace for fleetsim's GEMM group {key}")
        model_total = sum(s for _, s in members)
        for op, seconds in members:
            measured = gemm_us[key] * 1e-6 * seconds / model_total
            shape = ("grouped_contiguous" if op["kind"] == "grouped_gemm" else "gemm", op["dtype"],
                     int(op["groups"]), int(op["m"]), int(op["n"]), int(op["k"]))
            flops, time = shapes.get(shape, (0.0, 0.0))
            shapes[shape] = (flops + float(op["gflop"]) * 1e9, time + measured)
    for key in gemm_us:
        if key not in gemm_ops:
            raise TraceImportError(f"the trace's GEMM group {key} has no fleetsim op")

    gemm_lines = ["kernel,dtype,groups,m,n,k,time_us,tflops,power_w"]
    covered = set()
    for shape in sorted(shapes):
        flops, time = shapes[shape]
        calls = flops / (2.0 * shape[2] * shape[3] * shape[4] * shape[5])
        gemm_lines.append("{},{},{},{},{},{},{:.3f},{:.1f},".format(*shape, time / calls * 1e6, flops / time / 1e12))
        covered.add(shape)
    with open(os.path.join(base_dir, "gemm.csv"), encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            if (row["kernel"], row["dtype"], int(row["groups"]), int(row["m"]), int(row["n"]),
                    int(row["k"])) in covered:
                continue  # the trace measured this shape; the base's other M of the same N x K stay
            gemm_lines.append(",".join(row[c] or "" for c in
                                       ("kernel", "dtype", "groups", "m", "n", "k", "time_us", "tflops", "power_w")))

    # Attention at the trace's shape: one sequence of 4,096 tokens, 128 heads, q/k 192, v 128, causal.
    attention_lines = ["kernel,dtype,batch,heads,q_len,kv_len,qk_head_dim,v_head_dim,causal,time_us,tflops,gbps,power_w"]
    for kernel, klass, direction in (("mla_prefill_fwd", "attention_fwd", "forward"),
                                     ("mla_prefill_bwd", "attention_bwd", "backward")):
        if klass not in other_us or attention[direction] <= 0:
            raise TraceImportError(f"{kernel}: the trace has {'some' if klass in other_us else 'no'} kernels, "
                                   f"fleetsim's ops {attention[direction] / 1e9:.0f} GFLOP of {direction} attention")
        seconds = other_us[klass] * 1e-6 / layers
        flops = attention[direction] / layers
        attention_lines.append(f"{kernel},bf16,1,128,4096,4096,192,128,1,{seconds * 1e6:.3f},"
                               f"{flops / seconds / 1e12:.1f},,")
    with open(os.path.join(base_dir, "attention.csv"), encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            if row["kernel"] == "mla_decode":
                attention_lines.append(",".join(row[c] or "" for c in attention_lines[0].split(",")))

    elementwise_lines = ["kernel,dtype,rows,cols,bytes,time_us,gbps,power_w"]
    for klass in ELEMENTWISE_CLASSES:
        entry = elementwise[klass]
        if entry["calls"] == 0 or klass not in other_us:
            raise TraceImportError(f"class {klass}: {entry['calls']} fleetsim ops, "
                               f"{'some' if klass in other_us else 'no'} measured kernels")
        seconds = other_us[klass] * 1e-6
        per_call = entry["bytes"] / entry["calls"]
        elementwise_lines.append(f"{klass},bf16,,,{per_call:.0f},{seconds / entry['calls'] * 1e6:.3f},"
                                 f"{entry['bytes'] / seconds / 1e9:.1f},")
    return gemm_lines, attention_lines, elementwise_lines, gemm_us, other_us


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", required=True, help="train.json of github.com/deepseek-ai/profile-data")
    parser.add_argument("--ops", required=True, help="`fleetsim run --ops` of the default scenario, base profile")
    parser.add_argument("--base", required=True, help="profile folder for shapes the trace lacks and all-to-all")
    parser.add_argument("--out", required=True, help="profile folder to write")
    parser.add_argument("--extends", default="",
                        help="profile whose tables fill in what neither the trace nor --base covers (MANIFEST extends:)")
    parser.add_argument("--stage", type=int, default=DEFAULT_STAGE, help="the ops file's stage of 4 MoE layers")
    # H800 HBM3 3.35 TB/s (datasheet) at fleetsim's memory efficiency 3000/3350 (sim/cost/roofline.hpp): the rate
    # the base profile's ops were costed their FP8 casts at.
    parser.add_argument("--cast-gbps", type=float, default=3000.0)
    args = parser.parse_args(argv)
    try:
        kernels, layers, device, taken = load_trace(args.trace)
        ops = load_ops(args.ops, args.stage)
        gemm, attention, elementwise, gemm_us, other_us = build_tables(kernels, layers, ops, args.base,
                                                                      args.cast_gbps)
    except (OSError, ValueError, KeyError, TraceImportError) as error:
        print(f"import_trace: {error}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    for name, lines in (("gemm.csv", gemm), ("attention.csv", attention), ("elementwise.csv", elementwise)):
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as stream:
            stream.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "MANIFEST.yaml"), "w", encoding="utf-8") as stream:
        stream.write("# Kernel profile made by calibration/deepseek_trace/import_trace.py from DeepSeek's published\n"
                     "# training trace (github.com/deepseek-ai/profile-data, train.json); see README.md.\n"
                     f"gpu: h800\ngpu_name: {device}, DeepSeek's cluster, as traced\nsource: published\n"
                     f"date: {taken}\n"
                     "tables: [gemm.csv, attention.csv, elementwise.csv, all_to_all.csv]\n"
                     + (f"extends: {args.extends}  # its rows answer for shapes no row here is near\n" if args.extends else ""))
    with open(os.path.join(args.base, "all_to_all.csv"), encoding="utf-8") as src, \
            open(os.path.join(args.out, "all_to_all.csv"), "w", encoding="utf-8") as dst:
        dst.write(src.read())
    gaps = [k["gap"] for k in kernels if k["gap"] > 0]
    print(f"launch gaps: {len(gaps)} kernels, {sum(gaps) / 1000:.3f} ms (in the times below)")
    print(f"{device}, {layers} layers; measured (us, whole-GPU): "
          + ", ".join(f"{'/'.join(k)} {v:.0f}" for k, v in sorted(gemm_us.items()))
          + "; " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(other_us.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
