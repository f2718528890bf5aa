"""Small Hugging Face model folders of each family, and numpy transcriptions of their routers
and of a float64 MoE: the oracle that //io:forward --model (model_forward_oracle_test.py) and
the Python module (python/fp4moe_test.py) are both checked against.

Expert weights lie on the E2M1 grid times a power of two per 16 values, so NVFP4 holds them
exactly and an output must match the float64 MoE up to the activations' rounding; a wrong
projection, a missed shared expert or a misread FP8 scale is far outside that. The routers are
transcribed from Hugging Face's modeling code, so the chosen ids must match exactly.
"""
import json
import os

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

F32 = np.float32
BF16 = ml_dtypes.bfloat16
# safetensors.numpy looks these dtypes up on numpy.
np.float8_e4m3fn = ml_dtypes.float8_e4m3fn
np.bfloat16 = ml_dtypes.bfloat16
E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], dtype=F32)
H, I = 256, 192


def grid_matrix(rng, rows, cols, scale=1.0):
    """E2M1 values with a sign, each 16 along a row holding a 6: exact in NVFP4."""
    m = rng.choice(E2M1, size=(rows, cols)) * rng.choice([-1, 1], size=(rows, cols))
    m[:, ::16] = 6 * rng.choice([-1, 1], size=(rows, cols // 16))
    return (m * scale).astype(F32)


def silu(x):
    return x / (1 + np.exp(-x))


def write_folder(root, name, config, tensors, shards=None):
    """Writes config.json and the tensors: one model.safetensors, or shards[i] a list of names."""
    folder = os.path.join(root, name)
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


def check_moe(label, output, got_ids, got_weights, x, case, ids, weights, tolerance=0.02):
    """Failure messages (none when right) for a run of `case` on x: the routing used must be
    ids / weights, and the output the float64 MoE's within `tolerance` (relative norm)."""
    if not np.array_equal(got_ids, ids):
        return ["%s: topk_ids %s, expected %s" % (label, got_ids.tolist(), ids.tolist())]
    failures = []
    if got_ids.dtype != np.int64 or got_weights.dtype != F32 or output.dtype != F32:
        failures.append("%s: dtypes %s, %s, %s" % (label, output.dtype, got_ids.dtype,
                                                  got_weights.dtype))
    if not np.allclose(got_weights, weights, rtol=1e-5, atol=1e-6):
        failures.append("%s: topk_weights %s, expected %s" % (label, got_weights, weights))
    want = (case["moe"](x.astype(np.float64), ids, weights) if "moe" in case else
            reference_moe(x.astype(np.float64), case["experts"], ids, weights, case["shared"]))
    err = np.linalg.norm(output - want) / np.linalg.norm(want)
    print("%s: relative error %.5f" % (label, err))
    if not err < tolerance:
        failures.append("%s: output relative error %.4f above %.3f" % (label, err, tolerance))
    return failures


def float_experts(rng, count, inter=I, scale=1 / 64):
    return [(grid_matrix(rng, inter, H, scale), grid_matrix(rng, inter, H, scale),
             grid_matrix(rng, H, inter, scale)) for _ in range(count)]


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


def int4_pack(rng, rows, cols, group=32):
    """compressed-tensors pack-quantized tensors and their float64 values."""
    q = rng.integers(-8, 8, size=(rows, cols))
    nibbles = (q + 8).astype(np.uint32).reshape(rows, -1, 8)
    words = (nibbles << (4 * np.arange(8, dtype=np.uint32))).sum(axis=2, dtype=np.uint32)
    scale = (2.0 ** rng.integers(-9, -6, size=(rows, cols // group))).astype(ml_dtypes.bfloat16)
    values = q * np.repeat(scale.astype(np.float64), group, axis=1)
    return {"weight_packed": words.view(np.int32), "weight_scale": scale,
            "weight_shape": np.array([rows, cols], dtype=np.int32)}, values


# Each *_folder(root, rng) writes a folder under root and returns a case: "folder", "layer",
# "config", "tensors", float64 "experts" and "shared" (or None), and "route", which maps
# hidden states to the ids and weights the family's router chooses; a family whose experts
# are not silu(gate) * up (gpt-oss) gives "moe", mapping x, ids and weights to the output.


def deepseek_folder(root, rng):
    """DeepSeek-V3: FP8 experts in 128 x 128 blocks, a shared expert, two shards, a dense
    layer 0, group-limited routing."""
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
    experts = float_experts(rng, 8, scale=1.0)
    shared = float_experts(rng, 1, scale=1.0)[0]
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
    router = (rng.standard_normal((8, H)) * 0.1).astype(ml_dtypes.bfloat16)
    bias = (rng.standard_normal(8) * 0.05).astype(F32)
    tensors["model.layers.1.mlp.gate.weight"] = router
    tensors["model.layers.1.mlp.gate.e_score_correction_bias"] = bias
    tensors["model.layers.0.mlp.gate_proj.weight"] = np.zeros((512, H), dtype=ml_dtypes.bfloat16)
    names = sorted(tensors)
    half = len(names) // 2
    folder = write_folder(root, "deepseek", config, tensors, [names[:half], names[half:]])
    return {"folder": folder, "layer": 1, "config": config, "tensors": tensors,
            "experts": dequantized, "shared": shared_deq,
            "route": lambda x: route_deepseek(x.astype(np.float64) @ router.astype(np.float64).T,
                                              bias.astype(np.float64), config)}


def kimi_folder(root, rng):
    """Kimi-K2 (DeepSeek-V3's architecture) in BF16, a shared MLP twice an expert's width."""
    config = {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "kimi_k2",
              "hidden_size": H, "num_hidden_layers": 1, "n_routed_experts": 6,
              "num_experts_per_tok": 2, "moe_intermediate_size": I, "first_k_dense_replace": 0,
              "n_shared_experts": 2, "n_group": 1, "topk_group": 1, "norm_topk_prob": True,
              "routed_scaling_factor": 2.827}
    experts = float_experts(rng, 6)
    shared = float_experts(rng, 1, inter=2 * I)[0]
    tensors = {}
    for e, expert in enumerate(experts):
        for p, w in zip(["gate_proj", "up_proj", "down_proj"], expert):
            tensors["model.layers.0.mlp.experts.%d.%s.weight" % (e, p)] = w.astype(BF16)
    for p, w in zip(["gate_proj", "up_proj", "down_proj"], shared):
        tensors["model.layers.0.mlp.shared_experts.%s.weight" % p] = w.astype(BF16)
    router = (rng.standard_normal((6, H)) * 0.1).astype(F32)
    bias = (rng.standard_normal(6) * 0.05).astype(F32)
    tensors["model.layers.0.mlp.gate.weight"] = router
    tensors["model.layers.0.mlp.gate.e_score_correction_bias"] = bias
    folder = write_folder(root, "kimi", config, tensors)
    return {"folder": folder, "layer": 0, "config": config, "tensors": tensors,
            "experts": [f64(e) for e in experts], "shared": f64(shared),
            "route": lambda x: route_deepseek(x.astype(np.float64) @ router.T.astype(np.float64),
                                              bias.astype(np.float64), config)}


def qwen3_config():
    return {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
            "hidden_size": H, "num_hidden_layers": 2, "num_experts": 8,
            "num_experts_per_tok": 2, "moe_intermediate_size": I, "norm_topk_prob": True,
            "decoder_sparse_step": 1, "mlp_only_layers": [0]}


def qwen3_folder(root, rng):
    """Qwen3-MoE in BF16, layer 0 a dense MLP (mlp_only_layers)."""
    config = qwen3_config()
    experts = float_experts(rng, 8)
    tensors = {}
    for e, expert in enumerate(experts):
        for p, w in zip(["gate_proj", "up_proj", "down_proj"], expert):
            tensors["model.layers.1.mlp.experts.%d.%s.weight" % (e, p)] = w.astype(BF16)
    router = (rng.standard_normal((8, H)) * 0.1).astype(ml_dtypes.bfloat16)
    tensors["model.layers.1.mlp.gate.weight"] = router
    folder = write_folder(root, "qwen3", config, tensors)
    return {"folder": folder, "layer": 1, "config": config, "tensors": tensors,
            "experts": [f64(e) for e in experts], "shared": None,
            "route": lambda x: route_qwen3(x.astype(np.float64) @ router.astype(np.float64).T,
                                           config)}


def qwen3_int4_folder(root, rng):
    """Qwen3-MoE in compressed-tensors INT4 (pack-quantized, group 32), without a router."""
    config = qwen3_config()
    tensors, experts = {}, []
    for e in range(8):
        values = []
        for p, shape in zip(["gate_proj", "up_proj", "down_proj"], [(I, H), (I, H), (H, I)]):
            packed, v = int4_pack(rng, *shape)
            for suffix, t in packed.items():
                tensors["model.layers.1.mlp.experts.%d.%s.%s" % (e, p, suffix)] = t
            values.append(v)
        experts.append(tuple(values))
    folder = write_folder(root, "qwen3_int4", config, tensors)
    return {"folder": folder, "layer": 1, "config": config, "tensors": tensors,
            "experts": experts, "shared": None, "route": None}


def mixtral_folder(root, rng):
    """Mixtral in F16 (w1/w3/w2), two shards."""
    config = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
              "hidden_size": H, "num_hidden_layers": 1, "num_local_experts": 4,
              "num_experts_per_tok": 2, "intermediate_size": I}
    experts = float_experts(rng, 4)
    tensors = {}
    for e, expert in enumerate(experts):
        for p, w in zip(["w1", "w3", "w2"], expert):
            tensors["model.layers.0.block_sparse_moe.experts.%d.%s.weight" % (e, p)] = \
                w.astype(np.float16)
    router = (rng.standard_normal((4, H)) * 0.1).astype(np.float16)
    tensors["model.layers.0.block_sparse_moe.gate.weight"] = router
    names = sorted(tensors)
    folder = write_folder(root, "mixtral", config, tensors, [names[:5], names[5:]])
    return {"folder": folder, "layer": 0, "config": config, "tensors": tensors,
            "experts": [f64(e) for e in experts], "shared": None,
            "route": lambda x: route_mixtral(x.astype(np.float64) @ router.astype(np.float64).T,
                                             config)}


# gpt-oss, transcribed from Hugging Face: convert_moe_packed_tensors (integrations/mxfp4.py)
# for the MXFP4 blocks, GptOssTopKRouter and GptOssExperts (modeling_gpt_oss.py).
FP4_VALUES = [+0.0, +0.5, +1.0, +1.5, +2.0, +3.0, +4.0, +6.0,
              -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]


def gpt_oss_dequantize(blocks, scales):
    """[..., G, 16] U8 blocks and [..., G] E8M0 scales to [..., G * 32]: low nibble first."""
    lut = np.array(FP4_VALUES, dtype=np.float64)
    out = np.empty(blocks.shape[:-1] + (32,))
    out[..., 0::2] = lut[blocks & 0x0F]
    out[..., 1::2] = lut[blocks >> 4]
    out = np.ldexp(out, scales.astype(np.int32)[..., None] - 127)
    return out.reshape(blocks.shape[:-2] + (-1,))


def gpt_oss_blocks(rng, experts, rows, cols):
    """MXFP4 blocks and scales as gpt-oss stores them: E2M1 codes, each 16 along a row holding
    a 6 (so that NVFP4 holds the values exactly too), scales 2^-7 to 2^-5."""
    codes = rng.integers(0, 16, size=(experts, rows, cols)).astype(np.uint8)
    codes[:, :, ::16] = rng.choice([7, 15], size=(experts, rows, cols // 16))
    packed = (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)
    scales = rng.integers(127 - 7, 127 - 4, size=(experts, rows, cols // 32)).astype(np.uint8)
    return packed.reshape(experts, rows, cols // 32, 16), scales


def route_gpt_oss(logits, c):
    ids = topk(logits, c["num_experts_per_tok"])
    top = np.take_along_axis(logits, ids, axis=1)
    w = np.exp(top - top.max(axis=1, keepdims=True))
    return ids, w / w.sum(axis=1, keepdims=True)


def gpt_oss_moe(x, ids, weights, gate_up, gate_up_bias, down, down_bias, limit, alpha=1.702):
    """gate_up [E, H, 2I] and down [E, I, H] as GptOssExperts holds them (float64)."""
    out = np.zeros((x.shape[0], down.shape[2]))
    for t in range(x.shape[0]):
        for e, w in zip(ids[t], weights[t]):
            gu = x[t] @ gate_up[e] + gate_up_bias[e]
            gate, up = gu[::2], gu[1::2]
            gate = np.minimum(gate, limit)
            up = np.clip(up, -limit, limit)
            glu = gate / (1 + np.exp(-alpha * gate))
            out[t] += w * (((up + 1) * glu) @ down[e] + down_bias[e])
    return out


def gpt_oss_folder(root, rng, name="gpt_oss", float_weights=None):
    """gpt-oss with its released MXFP4 blocks (or, float_weights a dtype, the dequantized
    gate_up_proj / down_proj and the expert biases in it), biases on the router and the
    experts, and a small swiglu_limit so that the clamps act on these order-1 values."""
    e_count, k = 4, 2
    config = {"architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss",
              "hidden_size": H, "num_hidden_layers": 2, "num_local_experts": e_count,
              "num_experts_per_tok": k, "experts_per_token": k, "intermediate_size": I,
              "swiglu_limit": 0.75}
    gu_blocks, gu_scales = gpt_oss_blocks(rng, e_count, 2 * I, H)
    down_blocks, down_scales = gpt_oss_blocks(rng, e_count, H, I)
    gate_up = gpt_oss_dequantize(gu_blocks, gu_scales).transpose(0, 2, 1)  # [E, H, 2I]
    down = gpt_oss_dequantize(down_blocks, down_scales).transpose(0, 2, 1)  # [E, I, H]
    gate_up_bias = (rng.standard_normal((e_count, 2 * I)) * 0.3).astype(BF16)
    down_bias = (rng.standard_normal((e_count, H)) * 0.3).astype(BF16)
    router = (rng.standard_normal((e_count, H)) * 0.1).astype(BF16)
    router_bias = (rng.standard_normal(e_count) * 0.5).astype(BF16)
    base = "model.layers.1.mlp."
    tensors = {base + "router.weight": router, base + "router.bias": router_bias,
               base + "experts.gate_up_proj_bias": gate_up_bias,
               base + "experts.down_proj_bias": down_bias}
    if float_weights is not None:
        # safetensors writes an array's memory as it lies: the transposes must be made C-order.
        tensors[base + "experts.gate_up_proj"] = np.ascontiguousarray(gate_up.astype(float_weights))
        tensors[base + "experts.down_proj"] = np.ascontiguousarray(down.astype(float_weights))
        for bias in ("experts.gate_up_proj_bias", "experts.down_proj_bias"):
            tensors[base + bias] = tensors[base + bias].astype(float_weights)
    else:
        tensors[base + "experts.gate_up_proj_blocks"] = gu_blocks
        tensors[base + "experts.gate_up_proj_scales"] = gu_scales
        tensors[base + "experts.down_proj_blocks"] = down_blocks
        tensors[base + "experts.down_proj_scales"] = down_scales
    folder = write_folder(root, name, config, tensors)
    f64 = lambda a: a.astype(np.float64)
    return {"folder": folder, "layer": 1, "config": config, "tensors": tensors,
            "experts": None, "shared": None,
            "route": lambda x: route_gpt_oss(x.astype(np.float64) @ f64(router).T +
                                             f64(router_bias), config),
            "moe": lambda x, ids, w: gpt_oss_moe(x, ids, w, gate_up, f64(gate_up_bias), down,
                                                 f64(down_bias), config["swiglu_limit"])}
