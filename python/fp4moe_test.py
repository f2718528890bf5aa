"""Checks the Python module fp4moe on small model folders against the numpy oracle that
//io:forward --model is checked against (tests/oracle/model_folders.py): the routers'
choices exactly, outputs against a float64 MoE within the same tolerances; float32 and
bfloat16 inputs, given routing, and that bad arguments raise the right exception with a
message naming what is wrong. fp4moe.quantize_model's folders run as the float folders do
when quantized on load, and its errors leave no output folder.

argv[1]: the built extension, fp4moe.so.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import ml_dtypes
import numpy as np
from safetensors.numpy import load_file, save_file

from model_folders import (BF16, F32, H, check_moe, deepseek_folder, gpt_oss_folder,
                           kimi_folder, qwen3_folder, qwen3_int4_folder)

MODULE = os.path.abspath(sys.argv[1])
FAILURES = []


def fail(message):
    print("FAIL: " + message)
    FAILURES.append(message)


def import_module():
    """Imports fp4moe from MODULE's directory. A module built with AddressSanitizer
    (--config=asan) needs the ASan runtime loaded before python itself, and libstdc++ loaded
    at start too (python does not link it, and ASan's C++ throw interceptor must find it when
    ASan starts): this process is run again with both preloaded (and leak checking off,
    python's own allocations being out of scope), or the test is skipped where gcc cannot say
    where they are."""
    with open(MODULE, "rb") as f:
        asan = b"libasan.so" in f.read()
    if asan and "libasan" not in os.environ.get("LD_PRELOAD", ""):
        runtimes = [subprocess.run(["gcc", "-print-file-name=" + lib], capture_output=True,
                                   text=True).stdout.strip()
                    for lib in ("libasan.so", "libstdc++.so")]
        if not all(os.path.isabs(r) and os.path.exists(r) for r in runtimes):
            print("SKIP: %s is built with AddressSanitizer and its runtime was not found to "
                  "preload into python" % MODULE)
            sys.exit(0)
        env = dict(os.environ, LD_PRELOAD=" ".join(runtimes),
                   ASAN_OPTIONS="detect_leaks=0:" + os.environ.get("ASAN_OPTIONS", ""))
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:],
                  env)
    sys.path.insert(0, os.path.dirname(MODULE))
    import fp4moe  # pylint: disable=import-outside-toplevel
    return fp4moe


def check(label, result, x, case, ids, weights, tolerance=0.02):
    output, got_ids, got_weights = result
    if output.shape != x.shape:
        fail("%s: output shape %s, expected %s" % (label, output.shape, x.shape))
        return
    for message in check_moe(label, output, got_ids, got_weights, x, case, ids, weights,
                             tolerance):
        fail(message)


def expect_error(label, error_type, message, call):
    try:
        call()
    except error_type as e:
        if message not in str(e):
            fail("%s: %s %r does not say %r" % (label, error_type.__name__, str(e), message))
        return
    except Exception as e:  # pylint: disable=broad-except
        fail("%s: %s %r, expected %s" % (label, type(e).__name__, str(e), error_type.__name__))
        return
    fail("%s: no error, expected %s" % (label, error_type.__name__))


def relative_error(got, want):
    return np.linalg.norm(got - want) / np.linalg.norm(want)


def check_quantize_model(fp4moe, work, rng, case, fmt, tolerance, **options):
    """Quantizes case's folder with quantize_model, then runs the result as stored: the routing
    and output of the source folder quantized on load to the same format (the same weights),
    and, where a tolerance is given, the oracle's within it (the test folders' float experts
    are on NVFP4's grid; INT4 rounds them further)."""
    out = os.path.join(work, "%s_%s" % (os.path.basename(case["folder"]), fmt))
    fp4moe.quantize_model(case["folder"], out, format=fmt, threads=2, **options)
    quantized = fp4moe.MoeLayer.from_model(out, case["layer"], threads=2)
    if quantized.format != fmt:
        fail("quantize_model %s: the output runs as %s" % (fmt, quantized.format))
    on_load = fp4moe.MoeLayer.from_model(case["folder"], case["layer"], format=fmt, threads=2)
    x = rng.standard_normal((7, H)).astype(F32)
    got, want = quantized.forward(x), on_load.forward(x)
    if not np.array_equal(got[1], want[1]) or not relative_error(got[0], want[0]) < 1e-5:
        fail("quantize_model %s: forward differs from the source quantized on load (error %.3g)"
             % (fmt, relative_error(got[0], want[0])))
    if tolerance is not None:
        ids, w = case["route"](x)
        check("quantize_model %s" % fmt, got, x, case, ids, w, tolerance)
    return out


def check_split_weight(fp4moe, work, rng, quantized, layer):
    """A copy of the two-shard NVFP4 folder `quantized` in which the scales of one expert's
    projection are in the other shard than its .weight (the index saying so), and config.json
    has no quantization_config, runs as the folder itself does."""
    weight = "model.layers.%d.mlp.experts.0.gate_proj" % layer
    split = os.path.join(work, "split_weight")
    shutil.copytree(quantized, split)
    index_path = os.path.join(split, "model.safetensors.index.json")
    with open(index_path) as f:
        index = json.load(f)
    weight_map = index["weight_map"]
    home = weight_map[weight + ".weight"]
    other = next(s for s in sorted(set(weight_map.values())) if s != home)
    shards = {s: load_file(os.path.join(split, s)) for s in (home, other)}
    for suffix in ("weight_scale", "weight_scale_2"):
        name = weight + "." + suffix
        shards[other][name] = shards[home].pop(name)
        weight_map[name] = other
    for shard, tensors in shards.items():
        save_file(tensors, os.path.join(split, shard))
    with open(index_path, "w") as f:
        json.dump(index, f)
    # Model Optimizer's checkpoints may say NVFP4 in hf_quant_config.json alone: the reader
    # tells the format from the tensors.
    config_path = os.path.join(split, "config.json")
    with open(config_path) as f:
        config = json.load(f)
    del config["quantization_config"]
    with open(config_path, "w") as f:
        json.dump(config, f)
    x = rng.standard_normal((5, H)).astype(F32)
    got = fp4moe.MoeLayer.from_model(split, layer, threads=2).forward(x)
    want = fp4moe.MoeLayer.from_model(quantized, layer, threads=2).forward(x)
    if not all(np.array_equal(g, w) for g, w in zip(got, want)):
        fail("split weight: forward differs from the folder with the weight in one shard")


def check_quantize_model_errors(fp4moe, work, case, quantized):
    """Bad arguments raise ValueError before any work; errors found in the files raise their
    exception; none leaves the output folder or a temporary one beside it."""
    source = case["folder"]
    for label, error_type, message, args, kwargs in [
            ("unknown format", ValueError, "nvfp5", (), {"format": "nvfp5"}),
            ("format without naming", ValueError, "no checkpoint naming",
             (), {"format": "fp4_float_scale"}),
            ("odd group size", ValueError, "--group_size=7", (),
             {"format": "int4_k2", "group_size": 7}),
            ("bad regex", ValueError, "not a valid regular expression", (), {"include": "("}),
            ("negative threads", ValueError, "--threads=-1", (), {"threads": -1}),
            # Found while quantizing: K = 256 is not a multiple of 96.
            ("group size not dividing K", ValueError, "block size 96", (),
             {"format": "int4_k2", "group_size": 96}),
            ("quantized model", ValueError, "is already quantized", (quantized,), {}),
            ("output inside the model", ValueError, "is the model folder",
             (source, os.path.join(source, "out")), {})]:
        model, out = args if len(args) == 2 else (args[0] if args else source,
                                                  os.path.join(work, "error_out"))
        expect_error("quantize_model: " + label, error_type, message,
                     lambda: fp4moe.quantize_model(model, out, **kwargs))
        left = [f for f in os.listdir(os.path.dirname(out))
                if f.startswith(os.path.basename(out))]
        if left:
            fail("quantize_model: %s left %s" % (label, left))
    existing = os.path.join(work, "existing")
    os.makedirs(existing)
    expect_error("quantize_model: existing output", RuntimeError, "refusing to overwrite",
                 lambda: fp4moe.quantize_model(source, existing))
    if os.listdir(existing):
        fail("quantize_model: existing output written into")


def main():
    fp4moe = import_module()
    work = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    rng = np.random.default_rng(5)

    # DeepSeek-V3: FP8 sources quantized to NVFP4, router, shared expert, two shards.
    deepseek = deepseek_folder(work, rng)
    layer = fp4moe.MoeLayer.from_model(deepseek["folder"], 1, threads=2)
    if layer.format != "nvfp4" or layer.hidden_size != H or layer.top_k != 3:
        fail("deepseek: format %s, H %d, top-%d" % (layer.format, layer.hidden_size, layer.top_k))
    print(repr(layer))
    for tokens in (5, 12, 1):  # a later call with more tokens than the first still runs
        x = rng.standard_normal((tokens, H)).astype(F32)
        ids, w = deepseek["route"](x)
        check("deepseek fp8 router, %d tokens" % tokens, layer.forward(x), x, deepseek, ids, w)

    # Qwen3-MoE: bfloat16 input (ml_dtypes), softmax router.
    qwen3 = qwen3_folder(work, rng)
    layer = fp4moe.MoeLayer.from_model(qwen3["folder"], 1, format="nvfp4", path="auto",
                                       threads=0)
    x = rng.standard_normal((6, H)).astype(ml_dtypes.bfloat16)
    xf = x.astype(np.float64)
    ids, w = qwen3["route"](xf)
    check("qwen3 bf16 input", layer.forward(x), xf, qwen3, ids, w)

    # Kimi-K2: routing given (int32 ids), and an input that is not C-contiguous.
    kimi = kimi_folder(work, rng)
    layer = fp4moe.MoeLayer.from_model(kimi["folder"], 0, threads=2)
    x = np.asfortranarray(rng.standard_normal((4, H)).astype(F32))
    given_ids = np.array([[5, 0], [1, 2], [3, 3], [4, 1]], dtype=np.int32)
    given_w = np.array([[0.5, 0.25], [1, 2], [0.5, 0.5], [0.1, 0.9]], dtype=F32)
    check("kimi topk given, Fortran-order input",
          layer.forward(x, topk_ids=given_ids, topk_weights=given_w), x, kimi, given_ids, given_w)

    # compressed-tensors INT4 runs as stored when no format is asked for.
    int4 = qwen3_int4_folder(work, rng)
    layer = fp4moe.MoeLayer.from_model(int4["folder"], 1, threads=2)
    if layer.format != "int4_k2":
        fail("qwen3 int4: runs as %s, expected int4_k2 (the checkpoint's own)" % layer.format)
    x = rng.standard_normal((3, H)).astype(F32)
    ids = np.array([[0, 7], [3, 4], [6, 1]], dtype=np.int64)
    w = np.array([[0.75, 0.25], [0.5, 0.5], [0.1, 0.9]], dtype=F32)
    check("qwen3 int4 as stored", layer.forward(x, ids, w), x, int4, ids, w, tolerance=0.03)

    # Calls on one layer from several threads (the GIL released while each runs) give what
    # they give one after another, growing token counts (which rebuild the operator) included.
    layer = fp4moe.MoeLayer.from_model(qwen3["folder"], 1, threads=2)
    inputs = [rng.standard_normal((tokens, H)).astype(F32) for tokens in (2, 9, 4, 17, 3, 11)]
    expected = [layer.forward(x)[0] for x in inputs]
    layer = fp4moe.MoeLayer.from_model(qwen3["folder"], 1, threads=2)
    results = [None] * len(inputs)

    def run(i):
        results[i] = layer.forward(inputs[i])[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (got, want) in enumerate(zip(results, expected)):
        if got is None or not np.array_equal(got, want):
            fail("threads: call %d (%d tokens) differs from the same call made alone"
                 % (i, inputs[i].shape[0]))

    # quantize_model: DeepSeek's FP8 experts in two shards to NVFP4, Qwen3's BF16 ones to INT4
    # K2 but for expert 0 (which the layer, asked for no format, then quantizes on load as
    # from_model does with format="int4_k2": groups of 32 both).
    quantized = check_quantize_model(fp4moe, work, rng, deepseek, "nvfp4", 0.02)
    check_quantize_model(fp4moe, work, rng, qwen3, "int4_k2", None, group_size=32,
                         exclude=r".*experts\.0\..*")
    # gpt-oss's BF16 experts to its own MXFP4 blocks and to NVFP4 weights per expert, biases and
    # clamped SwiGLU against the oracle.
    gpt_oss = gpt_oss_folder(work, rng, name="gpt_oss_bf16", float_weights=BF16)
    for fmt in ("mxfp4", "nvfp4"):
        check_quantize_model(fp4moe, work, rng, gpt_oss, fmt, 0.02)
    check_quantize_model_errors(fp4moe, work, qwen3, quantized)
    check_split_weight(fp4moe, work, rng, quantized, deepseek["layer"])

    # Errors: ValueError for bad arguments, RuntimeError for what the files lack.
    layer = fp4moe.MoeLayer.from_model(qwen3["folder"], 1, threads=2)
    good = np.ones((2, H), dtype=F32)
    expect_error("float64 input", ValueError, "dtype float64, expected float32 or",
                 lambda: layer.forward(good.astype(np.float64)))
    expect_error("1-D input", ValueError, "shape [256], expected [T >= 1, 256]",
                 lambda: layer.forward(np.ones(H, dtype=F32)))
    expect_error("wrong H", ValueError, "shape [2, 128], expected [T >= 1, 256]",
                 lambda: layer.forward(np.ones((2, 128), dtype=F32)))
    expect_error("no tokens", ValueError, "shape [0, 256]",
                 lambda: layer.forward(np.ones((0, H), dtype=F32)))
    expect_error("topk_ids alone", ValueError, "give topk_ids and topk_weights together",
                 lambda: layer.forward(good, topk_ids=np.zeros((2, 2), np.int64)))
    expect_error("float topk_ids", ValueError, "topk_ids has dtype float32",
                 lambda: layer.forward(good, np.zeros((2, 2), F32), np.ones((2, 2), F32)))
    expect_error("topk shape", ValueError, "topk_ids has shape [3, 2] and topk_weights [3, 2]",
                 lambda: layer.forward(good, np.zeros((3, 2), np.int64), np.ones((3, 2), F32)))
    expect_error("ids beyond the experts", ValueError, "topk_ids name the 8 routed experts",
                 lambda: layer.forward(good, np.full((2, 2), 8), np.ones((2, 2), F32)))
    expect_error("missing dir", ValueError, "not a directory",
                 lambda: fp4moe.MoeLayer.from_model(os.path.join(work, "absent"), 0))
    empty = os.path.join(work, "no_weights")
    os.makedirs(empty)
    with open(os.path.join(qwen3["folder"], "config.json")) as src, \
            open(os.path.join(empty, "config.json"), "w") as dst:
        dst.write(src.read())
    expect_error("no weights", RuntimeError, "neither model.safetensors.index.json nor",
                 lambda: fp4moe.MoeLayer.from_model(empty, 1))
    expect_error("dense layer", ValueError, "listed in mlp_only_layers",
                 lambda: fp4moe.MoeLayer.from_model(qwen3["folder"], 0))
    expect_error("bad format", ValueError, "nvfp5",
                 lambda: fp4moe.MoeLayer.from_model(qwen3["folder"], 1, format="nvfp5"))
    expect_error("negative threads", ValueError, "threads = -1",
                 lambda: fp4moe.MoeLayer.from_model(qwen3["folder"], 1, threads=-1))
    expect_error("int4 checkpoint as mxfp4", ValueError, "int4",
                 lambda: fp4moe.MoeLayer.from_model(int4["folder"], 1, format="mxfp4"))

    print("%d failures" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
