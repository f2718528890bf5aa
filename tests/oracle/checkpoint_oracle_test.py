"""Checks //io:quantize against independent implementations.

The input checkpoint is written, and the output read, by Hugging Face's safetensors library;
the expected quantization is recomputed here in numpy with ml_dtypes' casts, following the
published rules (NVIDIA Model Optimizer's NVFP4, OCP MX's MXFP4, compressed-tensors' INT4
pack-quantized layout), and must match the tool's bytes exactly.
"""
import os
import subprocess
import sys
import tempfile

import ml_dtypes
import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

F32 = np.float32
# safetensors' numpy loader looks the F8_E4M3 and BF16 dtypes up on numpy; ml_dtypes has them.
np.float8_e4m3fn = ml_dtypes.float8_e4m3fn
np.bfloat16 = ml_dtypes.bfloat16


def weights():
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((48, 128)) * 0.02).astype(F32)
    w[3, 5] = 1.5  # an outlier
    w[7, 16:32] = 0  # an all-zero block
    w[9, 32:48] *= 1e-6  # a tiny block (NVFP4 clamps its scale to 2^-9)
    return w


def unpack_nibbles(packed):
    low, high = packed & 0xF, packed >> 4
    return np.stack([low, high], axis=-1).reshape(packed.shape[0], -1)


def expect_nvfp4(w):
    scale_2 = F32(np.abs(w).max()) / F32(2688)
    blocks = w.reshape(w.shape[0], -1, 16)
    s = np.abs(blocks).max(axis=2).astype(F32) / (F32(6) * scale_2)
    s = np.where(s == 0, F32(1), s)
    s = np.maximum(s, F32(2.0 ** -9)).astype(F32)
    scales = s.astype(ml_dtypes.float8_e4m3fn)
    divisor = (scales.astype(F32) * scale_2)[:, :, None]
    codes = (blocks / divisor).astype(ml_dtypes.float4_e2m1fn).view(np.uint8) & 0xF
    return codes.reshape(w.shape), scales.view(np.uint8), scale_2


def expect_mxfp4(w):
    blocks = w.reshape(w.shape[0], -1, 32)
    amax = np.abs(blocks).max(axis=2)
    _, exponent = np.frexp(amax)  # amax = m * 2^exponent with m in [0.5, 1)
    shared = np.clip(exponent - 1 - 2, -127, 127)  # floor(log2 amax) - 2
    code = np.where(amax > 0, shared + 127, 0).astype(np.uint8)
    scale = code.view(ml_dtypes.float8_e8m0fnu).astype(F32)[:, :, None]
    codes = (blocks / scale).astype(ml_dtypes.float4_e2m1fn).view(np.uint8) & 0xF
    return codes.reshape(w.shape), code


def expect_int4(w, group):
    groups = w.reshape(w.shape[0], -1, group)
    scale = np.maximum(np.abs(groups).max(axis=2) / F32(7.5), np.finfo(F32).eps).astype(F32)
    scale = scale.astype(ml_dtypes.bfloat16)
    q = np.clip(np.rint(groups / scale.astype(F32)[:, :, None]), -8, 7).astype(np.int32)
    nibbles = (q.reshape(w.shape[0], -1, 8) + 8).astype(np.uint32)
    words = (nibbles << (4 * np.arange(8, dtype=np.uint32))).sum(axis=2, dtype=np.uint32)
    return words.view(np.int32), scale


def check(name, got, want):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or got.dtype.itemsize != want.dtype.itemsize or \
            got.tobytes() != want.tobytes():
        mismatches = -1 if got.shape != want.shape else int(
            (got.view(np.uint8) != want.view(np.uint8)).sum())
        print("MISMATCH %s: shapes %s / %s, %d differing bytes" % (name, got.shape, want.shape,
                                                                    mismatches))
        return 1
    return 0


def main():
    tool = sys.argv[1]
    work = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    source = os.path.join(work, "in.safetensors")
    w = weights()
    extra = {"norm.bias": np.arange(10, dtype=np.float16), "step": np.array([5], dtype=np.int64)}
    save_file({"mlp.up_proj.weight": w, **extra}, source)
    failures = 0
    for fmt, args in [("nvfp4", []), ("mxfp4", []), ("int4_k2", ["--group_size=32"]),
                      ("int4_k2", ["--group_size=64"])]:
        out = os.path.join(work, "%s%s.safetensors" % (fmt, "".join(args)))
        subprocess.run([tool, "--input=" + source, "--output=" + out, "--format=" + fmt] + args,
                       check=True)
        with safe_open(out, "np") as f:
            for key, value in extra.items():
                failures += check(fmt + " copy " + key, f.get_tensor(key), value)
            base = "mlp.up_proj"
            if fmt == "nvfp4":
                codes, scales, scale_2 = expect_nvfp4(w)
                failures += check("nvfp4 codes", unpack_nibbles(f.get_tensor(base + ".weight")), codes)
                failures += check("nvfp4 scales", f.get_tensor(base + ".weight_scale").view(np.uint8), scales)
                failures += check("nvfp4 scale_2", f.get_tensor(base + ".weight_scale_2").reshape(-1),
                                  np.array([scale_2], dtype=F32))
            elif fmt == "mxfp4":
                codes, scales = expect_mxfp4(w)
                failures += check("mxfp4 codes", unpack_nibbles(f.get_tensor(base + ".weight")), codes)
                failures += check("mxfp4 scales", f.get_tensor(base + ".weight_scale"), scales)
            else:
                group = int(args[0].split("=")[1])
                words, scales = expect_int4(w, group)
                failures += check("int4 words G=%d" % group, f.get_tensor(base + ".weight_packed"), words)
                failures += check("int4 scales G=%d" % group,
                                  f.get_tensor(base + ".weight_scale").view(np.uint16), scales.view(np.uint16))
                failures += check("int4 shape", f.get_tensor(base + ".weight_shape").astype(np.int64),
                                  np.array(w.shape, dtype=np.int64))
    print("%d mismatches" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
