"""Checks quant/'s code conversions against ml_dtypes, Google's independent implementation.

Run by Bazel with the path of //quant:codes_dump. ml_dtypes' float8_e4m3fn turns overflow into
NaN where ours saturates to 448 (NVIDIA's SATFINITE): those inputs are checked for saturation.
"""
import subprocess
import sys

import ml_dtypes
import numpy as np


def run(binary, mode, stdin=""):
    return subprocess.run([binary, mode], input=stdin, capture_output=True, text=True,
                          check=True).stdout.split("\n")


def inputs():
    rng = np.random.default_rng(1)
    e4m3 = np.arange(256, dtype=np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float32)
    e4m3 = np.sort(e4m3[np.isfinite(e4m3)])
    mids = (e4m3[:-1] + e4m3[1:]) / 2  # every rounding boundary, exact in float32
    e2m1 = np.arange(16, dtype=np.uint8).view(ml_dtypes.float4_e2m1fn).astype(np.float32)
    e2m1 = np.sort(e2m1)
    e2m1_mids = (e2m1[:-1] + e2m1[1:]) / 2
    points = np.concatenate([e4m3, mids, e2m1, e2m1_mids,
                             rng.standard_normal(20000).astype(np.float32) * 3,
                             (rng.standard_normal(20000) * 10.0 ** rng.uniform(-12, 4, 20000)).astype(np.float32),
                             np.float32([448, 460, 464, 470, 500, 1e30, 1e-45, np.inf, -np.inf])])
    points = np.concatenate([points, np.nextafter(points, np.float32(np.inf)),
                             np.nextafter(points, np.float32(-np.inf)), -points])
    return points.astype(np.float32)


def main():
    binary = sys.argv[1]
    failures = 0
    x = inputs()
    lines = run(binary, "encode", "\n".join("%08x" % b for b in x.view(np.uint32)) + "\n")
    ours = np.array([[int(v, 16) for v in line.split()] for line in lines if line], dtype=np.uint32)
    assert ours.shape == (x.size, 3), ours.shape

    want_e2m1 = x.astype(ml_dtypes.float4_e2m1fn).view(np.uint8) & 0xF
    finite = np.isfinite(x)
    bad = np.nonzero(finite & (ours[:, 0] != want_e2m1))[0]
    failures += len(bad)
    for i in bad[:10]:
        print("e2m1(%r): ours %x, ml_dtypes %x" % (x[i], ours[i, 0], want_e2m1[i]))

    want_e4m3 = x.astype(ml_dtypes.float8_e4m3fn)
    overflow = finite & np.isnan(want_e4m3.astype(np.float32))
    saturated = np.where(np.signbit(x), 0xFE, 0x7E)
    want_codes = np.where(overflow | np.isinf(x), saturated, want_e4m3.view(np.uint8))
    bad = np.nonzero(ours[:, 1] != want_codes)[0]
    failures += len(bad)
    for i in bad[:10]:
        print("e4m3(%r): ours %x, expected %x" % (x[i], ours[i, 1], want_codes[i]))

    want_bf16 = x.astype(ml_dtypes.bfloat16).view(np.uint16)
    bad = np.nonzero(ours[:, 2] != want_bf16)[0]
    failures += len(bad)
    for i in bad[:10]:
        print("bf16(%r): ours %x, ml_dtypes %x" % (x[i], ours[i, 2], want_bf16[i]))

    kinds = {"e2m1": ml_dtypes.float4_e2m1fn, "e4m3": ml_dtypes.float8_e4m3fn,
             "e8m0": ml_dtypes.float8_e8m0fnu}
    for line in run(binary, "decode"):
        if not line:
            continue
        kind, code, bits = line.split()
        ours_value = np.uint32(int(bits, 16)).view(np.float32)
        want = np.uint8(int(code)).view(kinds[kind]).astype(np.float32)
        same = (np.isnan(ours_value) and np.isnan(want)) or ours_value.view(np.uint32) == want.view(np.uint32)
        if not same:
            failures += 1
            print("decode %s %s: ours %r, ml_dtypes %r" % (kind, code, ours_value, want))

    print("%d inputs, %d mismatches" % (x.size, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
