#!/usr/bin/env python3
"""Tests of calibration/deepseek_trace/import_trace.py on a hand-made trace of one layer (run by ctest).

Every kernel time is a multiple of 132 us, so the whole-GPU times (x 112 / 132, DeepEP's 20 SMs given back) come
out round: 264 us measured -> 224 us.
"""

import csv
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location("import_trace",
                                              os.path.join(ROOT, "calibration", "deepseek_trace", "import_trace.py"))
import_trace = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(import_trace)

# (annotation, stream, start us, duration us, kernel name)
KERNELS = [
    ("attn(F)", 7, 0, 132, "void layer_norm::ln_fwd_kernel<...>"),
    ("attn(F)", 7, 200, 264, "void cutlass::device_kernel<dpsk::grouped_gemm::cuda::fp8_ptp128c::GemmKernel>"),
    ("attn(F)", 7, 500, 132, "void flash::compute_attn_ws<Flash_fwd_kernel_traits<192, 128>>"),
    ("attn(F)", 7, 700, 132, "rotary_kernel"),
    ("attn(F)", 7, 900, 132, "void at::native::sbtopk::gatherTopK<float>"),
    ("dispatch(F)", 27, 900, 5000, "void dpsk::ep::internode::dispatch<false, 8, false, 8>"),
    ("mlp(F)", 7, 1100, 528, "void cutlass::device_kernel<dpsk::grouped_gemm::cuda::m_grouped_fp8_ptp128c::Gemm>"),
    ("mlp(F)", 7, 1700, 66, "void cuda::per_token_cast_to_fp8_with_channels<__nv_bfloat16>"),
    ("mlp(F)", 7, 1800, 132, "cuda::expand_to_fused_with_scales_impl(int4 const*)"),
    ("mlp(F)", 7, 2000, 132, "void cuda::reduce_fused_impl<__nv_bfloat16>"),
    ("mlp(F)", 7, 2200, 132, "void cuda::swiglu_forward_with_weight_impl<__nv_bfloat16>"),
    ("mlp(F)", 7, 2400, 132, "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::BFloat16>>"),
    ("attn(B)", 7, 3000, 264, "void cutlass::device_kernel<flash::FlashAttnBwd<...>>"),
    ("attn(B)", 7, 3300, 132, "void cutlass::device_kernel<dpsk::grouped_gemm::cuda::fp8_ptp128c::GemmKernel>"),
    ("mlp(B)", 7, 3500, 264, "void cutlass::device_kernel<dpsk::grouped_gemm::cuda::m_grouped_fp8_ptp128c::Gemm>"),
    ("attn(W)", 7, 4000, 132, "void cutlass::device_kernel<dpsk::grouped_gemm::cuda::fp8_dptp128c_acc::Gemm>"),
    # Two weight-gradient GEMMs on two streams, overlapping by 66 us: 198 us of wall time, not 264.
    ("mlp(W)", 7, 4200, 132, "void cutlass::device_kernel<dpsk::grouped_gemm::cuda::fp8_dptp128c_acc::Gemm>"),
    ("mlp(W)", 23, 4266, 132, "void cutlass::device_kernel<dpsk::grouped_gemm::cuda::fp8_dptp128c_acc::Gemm>"),
]

OPS_HEADER = "stage,layer,block,op,kind,phase,dtype,m,n,k,groups,gflop,hbm_mb,cast_mb,comm_mb,seconds,source,tflops"
# Forward dense: q (100 us) and o (300 us) share the measured 224 us 1:3. The o GEMM also casts 30 MB, which the
# base profile costed at 3,000 GB/s (10 us) on top of its 300 us.
OPS = [
    "1,4,mla,L4.q.fwd,gemm,forward,fp8,4096,1024,1024,1,8.589934592,0,0,0,0.0001,profile,0",
    "1,4,mla,L4.o.fwd,gemm,forward,fp8,4096,2048,1024,1,17.179869184,0,30,0,0.00031,profile,0",
    "1,4,mla,L4.core.fwd,attention,forward,bf16,0,0,0,0,100,0,0,0,0.0002,profile,0",
    "1,4,mla,L4.core.dx,attention,backward_input,bf16,0,0,0,0,250,0,0,0,0.0005,profile,0",
    "1,4,mla,L4.norm.fwd,norm,forward,bf16,0,0,0,0,0.1,112,0,0,0.00004,roofline,0",
    "1,4,mla,L4.rope.fwd,elementwise,forward,bf16,0,0,0,0,0.1,56,0,0,0.00002,roofline,0",
    "1,4,moe,L4.router.fwd,router,forward,bf16,0,0,0,0,0.01,1,0,0,0.000001,roofline,0",
    "1,4,moe,L4.permute.fwd,permute,forward,fp8,0,0,0,0,0,224,0,0,0.0001,roofline,0",
    "1,4,moe,L4.unpermute.fwd,permute,forward,bf16,0,0,0,0,0,448,0,0,0.0001,roofline,0",
    "1,4,moe,L4.experts_swiglu.fwd,elementwise,forward,bf16,0,0,0,0,0.3,224,0,0,0.0001,roofline,0",
    "1,4,moe,L4.residual.fwd,elementwise,forward,bf16,0,0,0,0,0.03,112,0,0,0.0001,roofline,0",
    "1,4,moe,L4.experts.fwd,grouped_gemm,forward,fp8,8192,4096,7168,4,1924.145348608,0,0,0,0.002,profile,0",
    "1,4,mla,L4.o.dx,gemm,backward_input,fp8,4096,1024,2048,1,17.179869184,0,0,0,0.0003,profile,0",
    "1,4,moe,L4.experts.dx,grouped_gemm,backward_input,fp8,8192,7168,4096,4,1924.145348608,0,0,0,0.002,profile,0",
    "1,4,mla,L4.o.dw,gemm,backward_weight,fp8,2048,1024,4096,1,17.179869184,0,0,0,0.0001,profile,0",
    "1,4,moe,L4.experts.dw,grouped_gemm,backward_weight,fp8,7168,4096,8192,4,1924.145348608,0,0,0,0.0003,profile,0",
    "1,4,moe,L4.dispatch.fwd,all_to_all,forward,fp8,0,0,0,0,0,0,0,100,0.002,comm_model,0",
    "2,8,mla,L8.q.fwd,gemm,forward,fp8,4096,1024,1024,1,8.589934592,0,0,0,0.0001,profile,0",
]


def make_trace(kernels):
    events, annotations = [], {}
    for i, (tag, stream, start, duration, name) in enumerate(kernels):
        t0 = 1740461679000000 + start
        span = annotations.setdefault(tag, [t0, t0])
        span[0], span[1] = min(span[0], t0 - 5), max(span[1], t0 + 5)
        events.append({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": t0 - 3, "dur": 2,
                       "args": {"correlation": i + 1}})
        events.append({"ph": "X", "cat": "kernel", "name": name, "tid": stream, "ts": t0, "dur": duration,
                       "args": {"correlation": i + 1, "grid": [132, 1, 1]}})
    for tag, (begin, end) in annotations.items():
        events.append({"ph": "X", "cat": "user_annotation", "name": tag, "ts": begin, "dur": end - begin})
    return {"deviceProperties": [{"name": "NVIDIA H800"}], "traceEvents": events}


class ImportTraceTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.trace = os.path.join(self.dir, "train.json")
        with open(self.trace, "w", encoding="utf-8") as stream:
            json.dump(make_trace(KERNELS), stream)
        self.ops = os.path.join(self.dir, "ops.csv")
        with open(self.ops, "w", encoding="utf-8") as stream:
            stream.write("\n".join([OPS_HEADER] + OPS) + "\n")
        self.base = os.path.join(self.dir, "base")
        os.makedirs(self.base)
        with open(os.path.join(self.base, "gemm.csv"), "w", encoding="utf-8") as stream:
            stream.write("kernel,dtype,groups,m,n,k,time_us,tflops,power_w\n"
                         "gemm,fp8,1,4096,1024,1024,10.000,858.9,\n"  # the trace measures this shape: replaced
                         "gemm,fp8,1,64,1024,1024,5.000,27.5,\n")     # another M of it: kept
        with open(os.path.join(self.base, "attention.csv"), "w", encoding="utf-8") as stream:
            stream.write("kernel,dtype,batch,heads,q_len,kv_len,qk_head_dim,v_head_dim,causal,time_us,tflops,gbps,"
                         "power_w\nmla_decode,bf16,64,16,1,4096,576,512,0,100.663,90.7,3000.0,\n")
        with open(os.path.join(self.base, "all_to_all.csv"), "w", encoding="utf-8") as stream:
            stream.write("kernel,mode,ep,tokens,hidden,top_k,time_us,gbps\ndispatch,normal,64,4096,7168,8,,51\n")
        self.out = os.path.join(self.dir, "out")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def run_import(self, *extra):
        return import_trace.main(["--trace", self.trace, "--ops", self.ops, "--base", self.base, "--out", self.out,
                                  *extra])

    def table(self, name):
        with open(os.path.join(self.out, name), encoding="utf-8") as stream:
            return list(csv.DictReader(stream))

    def test_gemm_groups_split_by_the_base_profile_and_scaled_to_the_whole_gpu(self):
        self.assertEqual(self.run_import(), 0)
        rows = {(r["kernel"], int(r["m"]), int(r["n"]), int(r["k"])): r for r in self.table("gemm.csv")}
        # Forward dense: 264 us measured -> 224 us; q's 100 us and o's 300 us (310 minus its 10 us of casts): 1:3.
        self.assertAlmostEqual(float(rows[("gemm", 4096, 1024, 1024)]["time_us"]), 56.0, places=3)
        self.assertAlmostEqual(float(rows[("gemm", 4096, 2048, 1024)]["time_us"]), 168.0, places=3)
        self.assertAlmostEqual(float(rows[("gemm", 4096, 1024, 1024)]["tflops"]), 8.589934592e9 / 56e-6 / 1e12,
                               places=0)
        # The base's other M of a measured N x K stays.
        self.assertEqual(rows[("gemm", 64, 1024, 1024)]["time_us"], "5.000")
        # Grouped forward 528 -> 448 us; grouped backward 264 -> 224 us, each one op.
        self.assertAlmostEqual(float(rows[("grouped_contiguous", 8192, 4096, 7168)]["time_us"]), 448.0, places=3)
        self.assertAlmostEqual(float(rows[("grouped_contiguous", 8192, 7168, 4096)]["time_us"]), 224.0, places=3)
        # Weight gradients: attn(W) 132 + mlp(W) two streams' union 198 = 330 -> 280 us, split 1:3.
        self.assertAlmostEqual(float(rows[("gemm", 2048, 1024, 4096)]["time_us"]), 70.0, places=3)
        self.assertAlmostEqual(float(rows[("grouped_contiguous", 7168, 4096, 8192)]["time_us"]), 210.0, places=3)

    def test_attention_and_memory_bound_rates(self):
        self.assertEqual(self.run_import(), 0)
        attention = {r["kernel"]: r for r in self.table("attention.csv")}
        self.assertAlmostEqual(float(attention["mla_prefill_fwd"]["time_us"]), 112.0, places=3)
        self.assertAlmostEqual(float(attention["mla_prefill_fwd"]["tflops"]), 100e9 / 112e-6 / 1e12, places=0)
        self.assertAlmostEqual(float(attention["mla_prefill_bwd"]["time_us"]), 224.0, places=3)
        self.assertIn("mla_decode", attention)  # decode rows come from the base
        rates = {r["kernel"]: float(r["gbps"]) for r in self.table("elementwise.csv")}
        # RMSNorm: 112 MB over 132 -> 112 us: 1,000 GB/s. Casts: 30 MB over 66 -> 56 us.
        self.assertAlmostEqual(rates["rmsnorm"], 1000.0, places=1)
        self.assertAlmostEqual(rates["fp8_cast"], 30e6 / 56e-6 / 1e9, places=1)
        self.assertAlmostEqual(rates["unpermute"], 4000.0, places=1)
        self.assertAlmostEqual(rates["rope"], 500.0, places=1)
        self.assertEqual(sorted(rates), sorted(import_trace.ELEMENTWISE_CLASSES))
        with open(os.path.join(self.out, "MANIFEST.yaml"), encoding="utf-8") as stream:
            manifest = stream.read()
        self.assertIn("date: 2025-02-25", manifest)
        self.assertIn("elementwise.csv", manifest)
        self.assertNotIn("extends:", manifest)  # only when asked for

    def test_launch_gaps_count_with_the_kernel_after_them(self):
        # RoPE issued 4 us after the attention ends: a launch latency, part of its time (136 us -> 115.39 us whole
        # GPU); the 68 us before the forward GEMM is not one (a host stall or a wait) and stays out.
        kernels = [k if k[4] != "rotary_kernel" else (k[0], k[1], 500 + 132 + 4, k[3], k[4]) for k in KERNELS]
        with open(self.trace, "w", encoding="utf-8") as stream:
            json.dump(make_trace(kernels), stream)
        self.assertEqual(self.run_import(), 0)
        rates = {r["kernel"]: float(r["gbps"]) for r in self.table("elementwise.csv")}
        self.assertAlmostEqual(rates["rope"], 56e6 / (136e-6 * 112 / 132) / 1e9, places=1)
        rows = {(r["kernel"], int(r["m"]), int(r["n"]), int(r["k"])): r for r in self.table("gemm.csv")}
        self.assertAlmostEqual(float(rows[("gemm", 4096, 1024, 1024)]["time_us"]), 56.0, places=3)
        self.assertEqual(import_trace.LAUNCH_GAP_MAX_US, 10)

    def test_extends_names_the_profile_that_fills_in(self):
        self.assertEqual(self.run_import("--extends", "hopper-production"), 0)
        with open(os.path.join(self.out, "MANIFEST.yaml"), encoding="utf-8") as stream:
            lines = stream.read().splitlines()
        self.assertIn("extends: hopper-production", [line.split("  #")[0] for line in lines])

    def written(self):
        contents = {}
        for name in sorted(os.listdir(self.out)):
            with open(os.path.join(self.out, name), "rb") as stream:
                contents[name] = stream.read()
        return contents

    def test_same_inputs_same_bytes(self):
        self.assertEqual(self.run_import(), 0)
        first = self.written()
        shutil.rmtree(self.out)
        self.assertEqual(self.run_import(), 0)
        self.assertEqual(first, self.written())

    def test_bad_inputs_exit_two_and_write_nothing(self):
        self.assertEqual(self.run_import("--stage", "5"), 2)  # no ops of that stage
        self.assertFalse(os.path.exists(self.out))
        self.assertEqual(self.run_import("--stage", "2"), 2)  # stage 2 holds one GEMM group only
        self.assertFalse(os.path.exists(self.out))
        with open(self.trace, "w", encoding="utf-8") as stream:
            json.dump({"traceEvents": [{"ph": "X", "cat": "kernel", "name": "k", "ts": 0, "dur": 1}]}, stream)
        self.assertEqual(self.run_import(), 2)  # no phase annotations
        self.assertFalse(os.path.exists(self.out))


if __name__ == "__main__":
    unittest.main()
