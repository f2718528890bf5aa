"""Checks //io:forward --model on small Hugging Face model folders written here.

The folders (config.json, model.safetensors or an index with two shards) are written by Hugging
Face's safetensors library, one per family's naming: DeepSeek-V3 with FP8 experts in 128 x 128
blocks and a shared expert, Kimi-K2 (DeepSeek-V3's architecture) in BF16 with a shared MLP twice
an expert's width, Qwen3-MoE in BF16 and in compressed-tensors INT4, Mixtral in F16 (w1/w3/w2).
The router's choice is checked against a numpy transcription of each family's routing formula
(Hugging Face's modeling code), exactly for the ids. Expert weights lie on the E2M1 grid times
a power of two per 16 values, so NVFP4 holds them exactly and the output must match a float64
numpy MoE up to the activations' rounding; a wrong projection, a missed shared expert or a
misread FP8 scale is far outside that. Then the errors: each exits 1, names the file or field,
and writes nothing.
"""
import json
import os
import subprocess
import sys
import tempfile

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file
from safetensors import safe_open

from model_folders import (F32, H, I, check_moe, deepseek_folder, kimi_folder, mixtral_folder,
                           qwen3_folder, qwen3_int4_folder)

TOOL = os.path.abspath(sys.argv[1])
WORK = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
FAILURES = []


def fail(message):
    print("FAIL: " + message)
    FAILURES.append(message)


def run(args, env=None, cwd=None):
    return subprocess.run([TOOL] + args, capture_output=True, text=True, env=env, cwd=cwd)


def forward(folder, layer, inputs, extra=()):
    x = os.path.join(WORK, "x.safetensors")
    y = os.path.join(WORK, "y.safetensors")
    save_file(inputs, x)
    if os.path.exists(y):
        os.remove(y)
    r = run(["--model=" + folder, "--layer=%d" % layer, "--input=" + x, "--output=" + y,
             "--threads=2"] + list(extra))
    sys.stderr.write(r.stderr)
    if r.returncode != 0:
        fail("%s layer %d: exit %d" % (folder, layer, r.returncode))
        return None
    if "loaded in" not in r.stderr or "forward in" not in r.stderr:
        fail("%s layer %d: no line saying what ran and how long it took" % (folder, layer))
    with safe_open(y, "np") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, r.stderr


def check_run(label, result, x, case, ids, weights, tolerance=0.02):
    if result is None:
        return
    got, _ = result
    for message in check_moe(label, got["output"], got["topk_ids"], got["topk_weights"], x, case,
                             ids, weights, tolerance):
        fail(message)


RNG = np.random.default_rng(11)


def deepseek_case():
    case = deepseek_folder(WORK, RNG)
    x = RNG.standard_normal((5, H)).astype(F32)
    ids, w = case["route"](x)
    check_run("deepseek fp8 router", forward(case["folder"], 1, {"hidden_states": x}), x, case,
              ids, w)
    return case["folder"], case["config"]


def kimi_case():
    case = kimi_folder(WORK, RNG)
    folder = case["folder"]
    x = RNG.standard_normal((4, H)).astype(F32)
    ids, w = case["route"](x)
    check_run("kimi bf16 router, shared MLP of two widths",
              forward(folder, 0, {"hidden_states": x}), x, case, ids, w)
    # Routing given in the input is used as given, and written back.
    given_ids = np.array([[5, 0], [1, 2], [3, 3], [4, 1]], dtype=np.int64)
    given_w = np.array([[0.5, 0.25], [1, 2], [0.5, 0.5], [0.1, 0.9]], dtype=F32)
    check_run("kimi topk given", forward(folder, 0, {"hidden_states": x, "topk_ids": given_ids,
                                                     "topk_weights": given_w}),
              x, case, given_ids, given_w)
    return folder


def qwen3_case():
    case = qwen3_folder(WORK, RNG)
    x = RNG.standard_normal((6, H)).astype(ml_dtypes.bfloat16)
    xf = x.astype(np.float64)
    ids, w = case["route"](xf)
    check_run("qwen3 bf16 router, bf16 input", forward(case["folder"], 1, {"hidden_states": x}),
              xf, case, ids, w)
    return case["folder"], case["tensors"]


def qwen3_int4_case():
    case = qwen3_int4_folder(WORK, RNG)
    x = RNG.standard_normal((3, H)).astype(F32)
    ids = np.array([[0, 7], [3, 4], [6, 1]], dtype=np.int64)
    w = np.array([[0.75, 0.25], [0.5, 0.5], [0.1, 0.9]], dtype=F32)
    check_run("qwen3 int4 as stored", forward(case["folder"], 1, {"hidden_states": x,
                                                                  "topk_ids": ids,
                                                                  "topk_weights": w}),
              x, case, ids, w, tolerance=0.03)
    return case["tensors"]


def mixtral_case():
    case = mixtral_folder(WORK, RNG)
    x = RNG.standard_normal((5, H)).astype(F32)
    ids, w = case["route"](x)
    check_run("mixtral f16 w1/w3/w2, two shards", forward(case["folder"], 0,
                                                          {"hidden_states": x}),
              x, case, ids, w)
    return case["folder"]


def expect_error(label, args, message, output=None):
    y = output or os.path.join(WORK, "y_error.safetensors")
    before = open(y, "rb").read() if output else None
    r = run(args + ["--output=" + y])
    if r.returncode != 1 or message not in r.stderr:
        fail("%s: exit %d, stderr %r, expected 1 and %r" % (label, r.returncode, r.stderr, message))
    if (open(y, "rb").read() != before) if output else os.path.exists(y):
        fail("%s: output written" % label)


def derived_folder(name, source, edit_config=None, edit_index=None, tensors=None):
    """A copy of folder `source` with its config or index edited, or its tensors replaced."""
    folder = os.path.join(WORK, name)
    os.makedirs(folder)
    for f in os.listdir(source):
        path = os.path.join(source, f)
        if f == "config.json" and edit_config:
            config = json.load(open(path))
            edit_config(config)
            json.dump(config, open(os.path.join(folder, f), "w"))
        elif f.endswith("index.json") and edit_index:
            index = json.load(open(path))
            edit_index(index["weight_map"])
            json.dump(index, open(os.path.join(folder, f), "w"))
        elif f == "model.safetensors" and tensors is not None:
            save_file(tensors, os.path.join(folder, f))
        else:
            os.symlink(path, os.path.join(folder, f))
    return folder


def error_cases(deepseek, qwen3, qwen3_tensors, int4_tensors, mixtral):
    x = os.path.join(WORK, "x_err.safetensors")
    save_file({"hidden_states": np.ones((2, H), dtype=F32)}, x)
    common = ["--input=" + x]
    expect_error("dense layer", ["--model=" + deepseek, "--layer=0"] + common,
                 "layer 0 is a dense MLP layer without routed experts (first_k_dense_replace = 1")
    expect_error("layer out of range", ["--model=" + deepseek, "--layer=2"] + common,
                 "layer 2 is outside the model's layers 0 to 1")
    expect_error("mlp_only_layers", ["--model=" + qwen3, "--layer=0"] + common,
                 "listed in mlp_only_layers")
    expect_error("both modes", ["--model=" + deepseek, "--layer=1", "--weights=" + x,
                                "--prefix=p"] + common, "give either --model and --layer")
    expect_error("not a folder", ["--model=" + x, "--layer=0"] + common, "not a directory")
    # The index puts a tensor in the other shard.
    def move_router(weight_map):
        other = [s for s in set(weight_map.values())
                 if s != weight_map["model.layers.1.mlp.gate.weight"]][0]
        weight_map["model.layers.1.mlp.gate.weight"] = other
    moved = derived_folder("moved", deepseek, edit_index=move_router)
    expect_error("index and shard disagree", ["--model=" + moved, "--layer=1"] + common,
                 "no tensor 'model.layers.1.mlp.gate.weight', which")
    outside = "../mixtral/model-00001-of-00002.safetensors"
    escape = derived_folder("escape", mixtral, edit_index=lambda m: m.update(
        {"model.layers.0.block_sparse_moe.gate.weight": outside}))
    expect_error("shard outside the folder", ["--model=" + escape, "--layer=0"] + common,
                 "which is not the name of a file in the folder")
    missing = derived_folder("missing_shard", mixtral, edit_index=lambda m: m.update(
        {"model.layers.0.block_sparse_moe.gate.weight": "model-00009-of-00009.safetensors"}))
    expect_error("missing shard", ["--model=" + missing, "--layer=0"] + common,
                 "model-00009-of-00009.safetensors")
    expect_error("missing field", ["--model=" + derived_folder(
        "no_groups", deepseek, edit_config=lambda c: c.pop("n_group")), "--layer=1"] + common,
                 "field \"n_group\" is missing")
    expect_error("shared tensors without n_shared_experts", ["--model=" + derived_folder(
        "no_shared", deepseek, edit_config=lambda c: c.pop("n_shared_experts")),
        "--layer=1"] + common, "has shared expert tensors")
    wide = dict(qwen3_tensors)
    wide["model.layers.1.mlp.experts.3.up_proj.weight"] = np.zeros((I, H + 16), ml_dtypes.bfloat16)
    expect_error("expert shape", ["--model=" + derived_folder("wide", qwen3, tensors=wide),
                                  "--layer=1"] + common,
                 "weight 'model.layers.1.mlp.experts.3.up_proj.weight' is [192, 272]")
    y_ids = os.path.join(WORK, "x_ids.safetensors")
    save_file({"hidden_states": np.ones((2, H), dtype=F32), "topk_ids": np.zeros((2, 2), np.int64),
               "topk_weights": np.ones((2, 2), F32)}, y_ids)
    zero = dict(int4_tensors)
    zero["model.layers.1.mlp.experts.2.down_proj.weight_zero_point"] = np.zeros((H, 8), np.int32)
    expect_error("zero points", ["--model=" + derived_folder("zero_point", qwen3, tensors=zero),
                                 "--layer=1", "--input=" + y_ids], "weight_zero_point")
    save_file({"hidden_states": np.ones((2, H), dtype=F32),
               "topk_ids": np.zeros((2, 2), np.int64)}, y_ids)
    expect_error("topk_ids alone", ["--model=" + qwen3, "--layer=1", "--input=" + y_ids],
                 "no tensor 'topk_weights'")
    save_file({"hidden_states": np.ones((2, H), dtype=F32), "topk_ids": np.full((2, 2), 8),
               "topk_weights": np.ones((2, 2), F32)}, y_ids)
    expect_error("ids beyond the experts", ["--model=" + qwen3, "--layer=1", "--input=" + y_ids],
                 "topk_ids name the 8 routed experts")
    expect_error("output is a shard", ["--model=" + mixtral, "--layer=0"] + common,
                 "refusing to overwrite an input",
                 output=os.path.join(mixtral, "model-00001-of-00002.safetensors"))


def relative_paths(mixtral):
    """Under bazel run, relative paths mean the directory bazel was run from."""
    save_file({"hidden_states": np.ones((1, H), dtype=F32)},
              os.path.join(WORK, "x_rel.safetensors"))
    env = dict(os.environ, BUILD_WORKING_DIRECTORY=WORK)
    r = run(["--model=" + os.path.basename(mixtral), "--layer=0", "--input=x_rel.safetensors",
             "--output=y_rel.safetensors"], env=env, cwd="/")
    if r.returncode != 0 or not os.path.exists(os.path.join(WORK, "y_rel.safetensors")):
        fail("relative paths: exit %d, %s" % (r.returncode, r.stderr))


def main():
    deepseek, _ = deepseek_case()
    kimi_case()
    qwen3, qwen3_tensors = qwen3_case()
    int4_tensors = qwen3_int4_case()
    mixtral = mixtral_case()
    error_cases(deepseek, qwen3, qwen3_tensors, int4_tensors, mixtral)
    relative_paths(mixtral)
    print("%d failures" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
