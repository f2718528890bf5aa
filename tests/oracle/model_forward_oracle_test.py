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

F32 = np.float32
BF16 = ml_dtypes.bfloat16
np.float8_e4m3fn = ml_dtypes.float8_e4m3fn
np.bfloat16 = ml_dtypes.bfloat16
E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], dtype=F32)
TOOL = os.path.abspath(sys.argv[1])
WORK = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
FAILURES = []


def fail(message):
    print("FAIL: " + message)
    FAILURES.append(message)


def grid_matrix(rng, rows, cols, scale=1.0):
    """E2M1 values with a sign, each 16 along a row holding a 6: exact in NVFP4."""
    m = rng.choice(E2M1, size=(rows, cols)) * rng.choice([-1, 1], size=(rows, cols))
    m[:, ::16] = 6 * rng.choice([-1, 1], size=(rows, cols // 16))
    return (m * scale).astype(F32)


def silu(x):
    return x / (1 + np.exp(-x))


def write_folder(name, config, tensors, shards=None):
    """Writes config.json and the tensors: one model.safetensors, or shards[i] a list of names."""
    folder = os.path.join(WORK, name)
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    if shards is None:
        save_file(tensors, os.path.join(folder, "model.safetensors"))
        return folder
    weight_map = {}
    for i, names in enumerate(shards):
        shard = "model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
        save_file({n: tensors[n] for n in names}, os.path.join(folder, shard))
        weight_map.update({n: shard for n in names})
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    return folder


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


def topk(scores, k):
    """Indices of the k largest per row, largest first, ties by ascending index."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def route_deepseek(logits, bias, c):
    s = 1 / (1 + np.exp(-logits))
    choice = s + bias
    t, e = choice.shape
    grouped = choice.reshape(t, c["n_group"], e // c["n_group"])
    group_scores = np.sort(grouped, axis=2)[:, :, -2:].sum(axis=2)
    kept = topk(group_scores, c["topk_group"])
    mask = np.zeros_like(group_scores, dtype=bool)
    np.put_along_axis(mask, kept, True, axis=1)
    masked = np.where(np.repeat(mask, e // c["n_group"], axis=1), choice, 0.0)
    ids = topk(masked, c["num_experts_per_tok"])
    w = np.take_along_axis(s, ids, axis=1)
    if c["norm_topk_prob"]:
        w = w / (w.sum(axis=1, keepdims=True) + 1e-20)
    return ids, w * c["routed_scaling_factor"]


def route_qwen3(logits, c):
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    ids = topk(p, c["num_experts_per_tok"])
    w = np.take_along_axis(p, ids, axis=1)
    if c.get("norm_topk_prob"):
        w = w / w.sum(axis=1, keepdims=True)
    return ids, w


def route_mixtral(logits, c):
    ids = topk(logits, c["num_experts_per_tok"])
    chosen = np.take_along_axis(logits, ids, axis=1)
    w = np.exp(chosen - chosen.max(axis=1, keepdims=True))
    return ids, w / w.sum(axis=1, keepdims=True)


def reference_moe(x, experts, ids, weights, shared=None):
    """experts[e] = (gate, up, down) float64; shared: one more, of weight 1 for every token."""
    out = np.zeros((x.shape[0], experts[0][2].shape[0]))
    for t in range(x.shape[0]):
        chosen = [(experts[e], w) for e, w in zip(ids[t], weights[t])]
        if shared is not None:
            chosen.append((shared, 1.0))
        for (gate, up, down), w in chosen:
            out[t] += w * down @ (silu(gate @ x[t]) * (up @ x[t]))
    return out


def check_run(label, result, x, experts, ids, weights, shared=None, tolerance=0.02):
    if result is None:
        return
    got, _ = result
    if not np.array_equal(got["topk_ids"], ids):
        fail("%s: topk_ids %s, expected %s" % (label, got["topk_ids"].tolist(), ids.tolist()))
        return
    if got["topk_ids"].dtype != np.int64 or got["topk_weights"].dtype != np.float32:
        fail("%s: dtypes %s, %s" % (label, got["topk_ids"].dtype, got["topk_weights"].dtype))
    if not np.allclose(got["topk_weights"], weights, rtol=1e-5, atol=1e-6):
        fail("%s: topk_weights %s, expected %s" % (label, got["topk_weights"], weights))
    want = reference_moe(x.astype(np.float64), experts, ids, weights, shared)
    err = np.linalg.norm(got["output"] - want) / np.linalg.norm(want)
    print("%s: relative error %.5f" % (label, err))
    if not err < tolerance:
        fail("%s: output relative error %.4f above %.3f" % (label, err, tolerance))


H, I = 256, 192
RNG = np.random.default_rng(11)


def float_experts(count, inter=I, scale=1 / 64):
    return [(grid_matrix(RNG, inter, H, scale), grid_matrix(RNG, inter, H, scale),
             grid_matrix(RNG, H, inter, scale)) for _ in range(count)]


def f64(expert):
    return tuple(m.astype(np.float64) for m in expert)


def fp8_blocks(w):
    """w as FP8 codes and 128 x 128 weight_scale_inv: the codes are w / block scale, exactly."""
    rows, cols = w.shape
    br, bc = -(-rows // 128), -(-cols // 128)
    scale = np.array([[2.0 ** -(4 + (i + 2 * j) % 3) for j in range(bc)] for i in range(br)],
                     dtype=F32)
    full = np.repeat(np.repeat(scale, 128, axis=0), 128, axis=1)[:rows, :cols]
    return (w / full).astype(ml_dtypes.float8_e4m3fn), scale


def deepseek_case():
    config = {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
              "hidden_size": H, "num_hidden_layers": 2, "n_routed_experts": 8,
              "num_experts_per_tok": 3, "moe_intermediate_size": I, "intermediate_size": 512,
              "first_k_dense_replace": 1, "moe_layer_freq": 1, "n_shared_experts": 1,
              "n_group": 4, "topk_group": 2, "norm_topk_prob": True,
              "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "topk_method": "noaux_tc",
              "quantization_config": {"quant_method": "fp8", "fmt": "e4m3",
                                      "weight_block_size": [128, 128]}}
    # Block scales 2^-4 to 2^-6 times E2M1 values of up to 6: the dequantized weights are on
    # NVFP4's grid with block scales 448 / 2^k, exact in E4M3.
    experts = float_experts(8, scale=1.0)
    shared = float_experts(1, scale=1.0)[0]
    tensors, dequantized = {}, []

    def add_fp8(name, w):
        codes, scale = fp8_blocks(w)
        tensors[name + ".weight"] = codes
        tensors[name + ".weight_scale_inv"] = scale
        full = np.repeat(np.repeat(scale, 128, axis=0), 128, axis=1)[:w.shape[0], :w.shape[1]]
        return codes.astype(np.float64) * full

    for e, (g, u, d) in enumerate(experts):
        base = "model.layers.1.mlp.experts.%d." % e
        dequantized.append((add_fp8(base + "gate_proj", g), add_fp8(base + "up_proj", u),
                            add_fp8(base + "down_proj", d)))
    shared_deq = tuple(add_fp8("model.layers.1.mlp.shared_experts." + p, w)
                       for p, w in zip(["gate_proj", "up_proj", "down_proj"], shared))
    router = (RNG.standard_normal((8, H)) * 0.1).astype(ml_dtypes.bfloat16)
    bias = (RNG.standard_normal(8) * 0.05).astype(F32)
    tensors["model.layers.1.mlp.gate.weight"] = router
    tensors["model.layers.1.mlp.gate.e_score_correction_bias"] = bias
    tensors["model.layers.0.mlp.gate_proj.weight"] = np.zeros((512, H), dtype=ml_dtypes.bfloat16)
    names = sorted(tensors)
    half = len(names) // 2
    folder = write_folder("deepseek", config, tensors, [names[:half], names[half:]])
    x = RNG.standard_normal((5, H)).astype(F32)
    logits = x.astype(np.float64) @ router.astype(np.float64).T
    ids, w = route_deepseek(logits, bias.astype(np.float64), config)
    check_run("deepseek fp8 router", forward(folder, 1, {"hidden_states": x}), x, dequantized,
              ids, w, shared_deq)
    return folder, config


def kimi_case():
    config = {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "kimi_k2",
              "hidden_size": H, "num_hidden_layers": 1, "n_routed_experts": 6,
              "num_experts_per_tok": 2, "moe_intermediate_size": I, "first_k_dense_replace": 0,
              "n_shared_experts": 2, "n_group": 1, "topk_group": 1, "norm_topk_prob": True,
              "routed_scaling_factor": 2.827}
    experts = float_experts(6)
    shared = float_experts(1, inter=2 * I)[0]
    tensors = {}
    for e, expert in enumerate(experts):
        for p, w in zip(["gate_proj", "up_proj", "down_proj"], expert):
            tensors["model.layers.0.mlp.experts.%d.%s.weight" % (e, p)] = w.astype(BF16)
    for p, w in zip(["gate_proj", "up_proj", "down_proj"], shared):
        tensors["model.layers.0.mlp.shared_experts.%s.weight" % p] = w.astype(BF16)
    router = (RNG.standard_normal((6, H)) * 0.1).astype(F32)
    bias = (RNG.standard_normal(6) * 0.05).astype(F32)
    tensors["model.layers.0.mlp.gate.weight"] = router
    tensors["model.layers.0.mlp.gate.e_score_correction_bias"] = bias
    folder = write_folder("kimi", config, tensors)
    x = RNG.standard_normal((4, H)).astype(F32)
    ids, w = route_deepseek(x.astype(np.float64) @ router.T.astype(np.float64),
                            bias.astype(np.float64), config)
    check_run("kimi bf16 router, shared MLP of two widths",
              forward(folder, 0, {"hidden_states": x}), x, [f64(e) for e in experts], ids, w,
              f64(shared))
    # Routing given in the input is used as given, and written back.
    given_ids = np.array([[5, 0], [1, 2], [3, 3], [4, 1]], dtype=np.int64)
    given_w = np.array([[0.5, 0.25], [1, 2], [0.5, 0.5], [0.1, 0.9]], dtype=F32)
    check_run("kimi topk given", forward(folder, 0, {"hidden_states": x, "topk_ids": given_ids,
                                                     "topk_weights": given_w}),
              x, [f64(e) for e in experts], given_ids, given_w, f64(shared))
    return folder


def qwen3_config():
    return {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
            "hidden_size": H, "num_hidden_layers": 2, "num_experts": 8,
            "num_experts_per_tok": 2, "moe_intermediate_size": I, "norm_topk_prob": True,
            "decoder_sparse_step": 1, "mlp_only_layers": [0]}


def qwen3_case():
    config = qwen3_config()
    experts = float_experts(8)
    tensors = {}
    for e, expert in enumerate(experts):
        for p, w in zip(["gate_proj", "up_proj", "down_proj"], expert):
            tensors["model.layers.1.mlp.experts.%d.%s.weight" % (e, p)] = w.astype(BF16)
    router = (RNG.standard_normal((8, H)) * 0.1).astype(ml_dtypes.bfloat16)
    tensors["model.layers.1.mlp.gate.weight"] = router
    folder = write_folder("qwen3", config, tensors)
    x = RNG.standard_normal((6, H)).astype(ml_dtypes.bfloat16)
    xf = x.astype(np.float64)
    ids, w = route_qwen3(xf @ router.astype(np.float64).T, config)
    check_run("qwen3 bf16 router, bf16 input", forward(folder, 1, {"hidden_states": x}), xf,
              [f64(e) for e in experts], ids, w)
    return folder, tensors


def int4_pack(rng, rows, cols, group=32):
    """compressed-tensors pack-quantized tensors and their float64 values."""
    q = rng.integers(-8, 8, size=(rows, cols))
    nibbles = (q + 8).astype(np.uint32).reshape(rows, -1, 8)
    words = (nibbles << (4 * np.arange(8, dtype=np.uint32))).sum(axis=2, dtype=np.uint32)
    scale = (2.0 ** rng.integers(-9, -6, size=(rows, cols // group))).astype(ml_dtypes.bfloat16)
    values = q * np.repeat(scale.astype(np.float64), group, axis=1)
    return {"weight_packed": words.view(np.int32), "weight_scale": scale,
            "weight_shape": np.array([rows, cols], dtype=np.int32)}, values


def qwen3_int4_case():
    config = qwen3_config()
    tensors, experts = {}, []
    for e in range(8):
        values = []
        for p, shape in zip(["gate_proj", "up_proj", "down_proj"], [(I, H), (I, H), (H, I)]):
            packed, v = int4_pack(RNG, *shape)
            for suffix, t in packed.items():
                tensors["model.layers.1.mlp.experts.%d.%s.%s" % (e, p, suffix)] = t
            values.append(v)
        experts.append(tuple(values))
    folder = write_folder("qwen3_int4", config, tensors)
    x = RNG.standard_normal((3, H)).astype(F32)
    ids = np.array([[0, 7], [3, 4], [6, 1]], dtype=np.int64)
    w = np.array([[0.75, 0.25], [0.5, 0.5], [0.1, 0.9]], dtype=F32)
    check_run("qwen3 int4 as stored", forward(folder, 1, {"hidden_states": x, "topk_ids": ids,
                                                          "topk_weights": w}),
              x, experts, ids, w, tolerance=0.03)
    return tensors


def mixtral_case():
    config = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
              "hidden_size": H, "num_hidden_layers": 1, "num_local_experts": 4,
              "num_experts_per_tok": 2, "intermediate_size": I}
    experts = float_experts(4)
    tensors = {}
    for e, expert in enumerate(experts):
        for p, w in zip(["w1", "w3", "w2"], expert):
            tensors["model.layers.0.block_sparse_moe.experts.%d.%s.weight" % (e, p)] = \
                w.astype(np.float16)
    router = (RNG.standard_normal((4, H)) * 0.1).astype(np.float16)
    tensors["model.layers.0.block_sparse_moe.gate.weight"] = router
    names = sorted(tensors)
    folder = write_folder("mixtral", config, tensors, [names[:5], names[5:]])
    x = RNG.standard_normal((5, H)).astype(F32)
    ids, w = route_mixtral(x.astype(np.float64) @ router.astype(np.float64).T, config)
    check_run("mixtral f16 w1/w3/w2, two shards", forward(folder, 0, {"hidden_states": x}), x,
              [f64(e) for e in experts], ids, w)
    return folder


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
    expect_error("gpt-oss", ["--model=" + derived_folder(
        "gpt_oss", mixtral, edit_config=lambda c: c.update(architectures=["GptOssForCausalLM"])),
        "--layer=0"] + common, "GptOssForCausalLM (fused MXFP4 experts) is not supported yet")
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
