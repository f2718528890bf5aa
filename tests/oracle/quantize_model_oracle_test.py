"""Checks //io:quantize --model on small model folders written by Hugging Face's safetensors.

A DeepSeek-like folder in two shards (BF16 experts, a shared expert, a dense first layer,
embeddings, norms, lm_head) and a single-file Mixtral-like one, each with tokenizer files, are
quantized to every format. The result must mirror the source's files, keep every tensor that is
not a routed expert's projection byte for byte (compared in the raw files), index exactly what
its shards hold, carry the format's quantization_config, and run in //io:forward to the output
that forward gives on the source with --format of that format. Then the errors: an existing
output, an output inside the model, a quantized model, a shard that fails mid-way and a file
size limit each exit 1 and leave neither the output nor a temporary directory, and so do
gpt-oss's MXFP4 release (quantized already) and an --exclude that splits a gpt-oss layer.
A gpt-oss folder in BF16 is quantized to every format the same way, its fused experts becoming
gpt-oss's MXFP4 blocks or per-expert weights, its biases copied.
"""
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_folders as folders  # noqa: E402
import model_forward_oracle_test as mf  # noqa: E402  (its TOOL is argv[1], //io:forward)

QUANTIZE = os.path.abspath(sys.argv[2])
BF16 = folders.BF16
H, I = mf.H, mf.I
EXPERT = re.compile(r"model\.layers\.\d+\.(mlp|block_sparse_moe)\.experts\.\d+\."
                    r"(gate_proj|up_proj|down_proj|w1|w2|w3)\.")
# The quantization_config each format gets, but for its list of unquantized modules (checked
# apart): what vLLM's ModelOptNvFp4Config, compressed-tensors' QuantizationConfig and
# transformers' Mxfp4Config read. Weight-only NVFP4 is W4A16_NVFP4: "NVFP4" would promise
# activation scales (input_scale) that are not written.
CONVENTIONS = {
    "nvfp4": {"quant_method": "modelopt", "quant_algo": "W4A16_NVFP4", "group_size": 16,
              "kv_cache_scheme": None},
    "mxfp4": {"quant_method": "mxfp4"},
    "int4_k2": {"quant_method": "compressed-tensors", "format": "pack-quantized",
                "quantization_status": "compressed", "kv_cache_scheme": None},
}
UNQUANTIZED_KEY = {"nvfp4": "ignore", "mxfp4": "modules_to_not_convert", "int4_k2": "ignore"}
# compressed-tensors' pydantic models: QuantizationScheme's fields and QuantizationArgs' (which
# refuses any other).
SCHEME_FIELDS = {"targets", "weights", "input_activations", "output_activations", "format"}
ARGS_FIELDS = {"num_bits", "type", "symmetric", "group_size", "strategy", "block_structure",
               "dynamic", "actorder", "scale_dtype", "zp_dtype", "observer", "observer_kwargs"}
QUANTIZED_NAMES = {
    "nvfp4": {"weight": "U8", "weight_scale": "F8_E4M3", "weight_scale_2": "F32"},
    "mxfp4": {"weight": "U8", "weight_scale": "U8"},
    "int4_k2": {"weight_packed": "I32", "weight_scale": "BF16", "weight_shape": "I32"},
}
OTHER_FILES = {"tokenizer.json": b'{"model": {"type": "BPE"}}\n',
               "generation_config.json": b'{"do_sample": true}\n'}


def raw_tensors(path):
    """name -> (dtype, shape, bytes), read from the file itself rather than through a library."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], data[8 + n + v["data_offsets"][0]:
                                             8 + n + v["data_offsets"][1]])
            for k, v in header.items()}


def folder_tensors(folder):
    """name -> (shard, dtype, shape, bytes) over every safetensors file of the folder."""
    out = {}
    for f in sorted(os.listdir(folder)):
        if f.endswith(".safetensors"):
            for k, v in raw_tensors(os.path.join(folder, f)).items():
                out[k] = (f,) + v
    return out


def quantize(args, preexec_fn=None):
    return subprocess.run([QUANTIZE] + args, capture_output=True, text=True,
                          preexec_fn=preexec_fn)


def leftovers(out):
    parent = os.path.dirname(out)
    if not os.path.isdir(parent):
        return []
    return [f for f in os.listdir(parent) if f.startswith(os.path.basename(out) + ".tmp-")]


def add_other_files(folder):
    for name, text in OTHER_FILES.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(text)


def deepseek_folder():
    config = {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
              "hidden_size": H, "num_hidden_layers": 2, "n_routed_experts": 4,
              "num_experts_per_tok": 2, "moe_intermediate_size": I, "intermediate_size": 512,
              "first_k_dense_replace": 1, "n_shared_experts": 1, "n_group": 2, "topk_group": 1,
              "norm_topk_prob": True, "routed_scaling_factor": 2.5, "vocab_size": 32}
    tensors = {"model.embed_tokens.weight": folders.grid_matrix(mf.RNG, 32, H).astype(BF16),
               "lm_head.weight": folders.grid_matrix(mf.RNG, 32, H).astype(BF16),
               "model.norm.weight": np.ones(H, dtype=BF16),
               "model.layers.0.mlp.gate_proj.weight": folders.grid_matrix(mf.RNG, 512, H).astype(BF16),
               "model.layers.1.self_attn.o_proj.weight":
                   folders.grid_matrix(mf.RNG, H, H).astype(BF16),
               "model.layers.1.mlp.gate.weight": (mf.RNG.standard_normal((4, H)) * 0.1)
                   .astype(np.float32),
               "model.layers.1.mlp.gate.e_score_correction_bias": np.zeros(4, np.float32)}
    for e, expert in enumerate(folders.float_experts(mf.RNG, 4)):
        for p, w in zip(["gate_proj", "up_proj", "down_proj"], expert):
            tensors["model.layers.1.mlp.experts.%d.%s.weight" % (e, p)] = w.astype(BF16)
    shared = folders.float_experts(mf.RNG, 1)[0]
    for p, w in zip(["gate_proj", "up_proj", "down_proj"], shared):
        tensors["model.layers.1.mlp.shared_experts.%s.weight" % p] = w.astype(BF16)
    names = sorted(tensors)
    folder = folders.write_folder(mf.WORK, "q_deepseek", config, tensors,
                                  [names[:len(names) // 2], names[len(names) // 2:]])
    add_other_files(folder)
    return folder


def fp8_folder():
    """DeepSeek's FP8 release in small: experts and shared expert F8_E4M3 in 128 x 128 blocks."""
    config = {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
              "hidden_size": H, "num_hidden_layers": 1, "n_routed_experts": 4,
              "num_experts_per_tok": 2, "moe_intermediate_size": I, "first_k_dense_replace": 0,
              "n_shared_experts": 1, "n_group": 1, "topk_group": 1, "norm_topk_prob": True,
              "routed_scaling_factor": 1.0,
              "quantization_config": {"quant_method": "fp8", "fmt": "e4m3",
                                      "weight_block_size": [128, 128]}}
    tensors = {"model.layers.0.mlp.gate.weight":
               (mf.RNG.standard_normal((4, H)) * 0.1).astype(np.float32),
               "model.layers.0.mlp.gate.e_score_correction_bias": np.zeros(4, np.float32)}
    experts = [("model.layers.0.mlp.experts.%d." % e, x)
               for e, x in enumerate(folders.float_experts(mf.RNG, 4, scale=1.0))]
    experts.append(("model.layers.0.mlp.shared_experts.",
                    folders.float_experts(mf.RNG, 1, scale=1.0)[0]))
    for base, expert in experts:
        for p, w in zip(["gate_proj", "up_proj", "down_proj"], expert):
            codes, scale = folders.fp8_blocks(w)
            tensors[base + p + ".weight"] = codes
            tensors[base + p + ".weight_scale_inv"] = scale
    return folders.write_folder(mf.WORK, "q_fp8", config, tensors)


def mixtral_folder():
    config = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
              "hidden_size": H, "num_hidden_layers": 1, "num_local_experts": 4,
              "num_experts_per_tok": 2, "intermediate_size": I}
    tensors = {"model.layers.0.block_sparse_moe.gate.weight":
               (mf.RNG.standard_normal((4, H)) * 0.1).astype(np.float16)}
    for e, expert in enumerate(folders.float_experts(mf.RNG, 4)):
        for p, w in zip(["w1", "w3", "w2"], expert):
            tensors["model.layers.0.block_sparse_moe.experts.%d.%s.weight" % (e, p)] = \
                w.astype(np.float16)
    folder = folders.write_folder(mf.WORK, "q_mixtral", config, tensors)
    add_other_files(folder)
    return folder


def replaced_weights(bases, fmt):
    """What quantize writes for the weights `bases` (without .weight): source tensor name ->
    {output tensor name: dtype}."""
    return {b + ".weight": {b + "." + suffix: dtype for suffix, dtype in
                            QUANTIZED_NAMES[fmt].items()} for b in bases}


def gpt_oss_folder():
    """gpt-oss's BF16 layout (fused gate_up_proj / down_proj and their biases) in two shards,
    with embeddings, an attention projection with a bias, a norm and lm_head."""
    case = folders.gpt_oss_folder(mf.WORK, mf.RNG, name="q_gpt_oss_parts", float_weights=BF16)
    tensors = dict(case["tensors"])
    tensors.update({
        "model.embed_tokens.weight": folders.grid_matrix(mf.RNG, 32, H).astype(BF16),
        "lm_head.weight": folders.grid_matrix(mf.RNG, 32, H).astype(BF16),
        "model.norm.weight": np.ones(H, dtype=BF16),
        "model.layers.1.self_attn.q_proj.weight": folders.grid_matrix(mf.RNG, H, H).astype(BF16),
        "model.layers.1.self_attn.q_proj.bias": np.zeros(H, dtype=BF16)})
    # The first shard gets down_proj and gate_up_proj, the second gate_up_proj's bias.
    names = sorted(tensors)
    folder = folders.write_folder(mf.WORK, "q_gpt_oss", case["config"], tensors,
                                  [names[:5], names[5:]])
    add_other_files(folder)
    return folder


GPT_OSS_EXPERTS = "model.layers.1.mlp.experts"


def gpt_oss_replaced(fmt):
    """What quantize writes for layer 1's fused experts in `fmt`: gpt-oss's MXFP4 blocks, or
    each expert's projections in io/checkpoint.h's naming."""
    fused = {p: GPT_OSS_EXPERTS + "." + p for p in ("gate_up_proj", "down_proj")}
    if fmt == "mxfp4":
        return {name: {name + "_blocks": "U8", name + "_scales": "U8"}
                for name in fused.values()}
    out = {}
    for p, projections in (("gate_up_proj", ("gate_proj", "up_proj")),
                           ("down_proj", ("down_proj",))):
        bases = ["%s.%d.%s" % (GPT_OSS_EXPERTS, e, q) for e in range(4) for q in projections]
        out[fused[p]] = {k: v for b in replaced_weights(bases, fmt).values()
                         for k, v in b.items()}
    return out


def check_output(label, source, out, fmt, replaced, kept_modules=frozenset()):
    """replaced: replaced_weights, or gpt-oss's fused experts and what replaces them;
    kept_modules: modules beside the 2-D weights copied that are listed as unquantized."""
    r_files, o_files = sorted(os.listdir(source)), sorted(os.listdir(out))
    if fmt == "nvfp4":
        r_files = sorted(r_files + ["hf_quant_config.json"])
    if r_files != o_files:
        mf.fail("%s: files %s, expected those of the source %s" % (label, o_files, r_files))
        return
    src, got = folder_tensors(source), folder_tensors(out)
    index_path = os.path.join(out, "model.safetensors.index.json")
    if os.path.exists(index_path):
        index = json.load(open(index_path))
        want = {k: v[0] for k, v in got.items()}
        if index["weight_map"] != want:
            mf.fail("%s: index weight_map does not list exactly the shards' tensors" % label)
        size = sum(len(v[3]) for v in got.values())
        if index["metadata"].get("total_size") != size:
            mf.fail("%s: total_size %s, expected %d" % (label, index["metadata"], size))
    expected_names, kept_matrices = set(), set()
    for name, (shard, dtype, shape, data) in src.items():
        if name.endswith(".weight_scale_inv") and \
                name[:-len(".weight_scale_inv")] + ".weight" in replaced:
            continue  # FP8 block scales, dequantized into their weight
        if name in replaced:
            for out_name, want_dtype in replaced[name].items():
                expected_names.add(out_name)
                entry = got.get(out_name)
                if entry is None or entry[0] != shard or entry[1] != want_dtype:
                    mf.fail("%s: %s is %s, expected %s in %s" %
                            (label, out_name, entry and entry[:2], want_dtype, shard))
            continue
        if name.endswith(".weight") and len(shape) == 2:
            kept_matrices.add(name[:-len(".weight")])
        expected_names.add(name)
        if got.get(name) != (shard, dtype, shape, data):
            mf.fail("%s: tensor %s not copied byte for byte into %s" % (label, name, shard))
    extra = set(got) - expected_names
    if extra:
        mf.fail("%s: unexpected tensors %s" % (label, sorted(extra)))
    config_in = json.load(open(os.path.join(source, "config.json")))
    config_out = json.load(open(os.path.join(out, "config.json")))
    q = config_out.pop("quantization_config", {})
    config_in.pop("quantization_config", None)  # FP8's, replaced
    if config_out != config_in:
        mf.fail("%s: config.json differs from the source's beyond quantization_config" % label)
    listed = q.pop(UNQUANTIZED_KEY[fmt], None)
    groups = q.pop("config_groups", None)
    if q != CONVENTIONS[fmt]:
        mf.fail("%s: quantization_config %s, expected %s" % (label, q, CONVENTIONS[fmt]))
    # Every 2-D weight left as it was is listed, so that readers keep it unquantized.
    if listed != sorted(kept_matrices | kept_modules):
        mf.fail("%s: quantization_config lists %s as unquantized, expected %s"
                % (label, listed, sorted(kept_matrices | kept_modules)))
    if fmt == "nvfp4":
        # Model Optimizer's own file, in the names SGLang and vLLM read there.
        hf = json.load(open(os.path.join(out, "hf_quant_config.json")))
        want = {"quant_algo": q["quant_algo"], "group_size": 16, "kv_cache_quant_algo": None,
                "exclude_modules": listed}
        if hf.get("quantization") != want or "name" not in hf.get("producer", {}):
            mf.fail("%s: hf_quant_config.json %s, expected quantization %s" % (label, hf, want))
    if fmt == "int4_k2":
        scheme = (groups or {}).get("group_0", {})
        w = scheme.get("weights") or {}
        if list(groups) != ["group_0"] or not set(scheme) <= SCHEME_FIELDS or \
                not set(w) <= ARGS_FIELDS or scheme.get("targets") != ["Linear"]:
            mf.fail("%s: compressed-tensors config_groups %s" % (label, groups))
        if (w.get("num_bits"), w.get("type"), w.get("symmetric"), w.get("group_size"),
                w.get("strategy"), w.get("dynamic"), w.get("actorder")) != \
                (4, "int", True, 32, "group", False, None):
            mf.fail("%s: compressed-tensors weights %s" % (label, w))
        if scheme.get("input_activations") is not None:
            mf.fail("%s: input_activations %s for weight-only INT4" % (label, scheme))
    elif groups is not None:
        mf.fail("%s: config_groups %s" % (label, groups))
    for name, text in OTHER_FILES.items():
        if os.path.exists(os.path.join(source, name)) and open(os.path.join(out, name), "rb").read() != text:
            mf.fail("%s: %s not copied" % (label, name))


def check_forward(label, source, out, layer, fmt):
    x = mf.RNG.standard_normal((4, H)).astype(np.float32)
    want = mf.forward(source, layer, {"hidden_states": x}, ["--format=" + fmt])
    got = mf.forward(out, layer, {"hidden_states": x})
    if want is None or got is None:
        return
    want, got = want[0], got[0]
    if not np.array_equal(want["topk_ids"], got["topk_ids"]):
        mf.fail("%s: forward chose other experts on the quantized folder" % label)
        return
    err = np.linalg.norm(got["output"] - want["output"]) / np.linalg.norm(want["output"])
    print("%s: forward on the quantized folder vs --format=%s: relative error %.2e"
          % (label, fmt, err))
    if not err < 1e-5:
        mf.fail("%s: forward output differs by %.3g" % (label, err))


def experts_of(layer, count, family):
    if family == "mixtral":
        return {"model.layers.%d.block_sparse_moe.experts.%d.%s" % (layer, e, p)
                for e in range(count) for p in ["w1", "w2", "w3"]}
    return {"model.layers.%d.mlp.experts.%d.%s" % (layer, e, p)
            for e in range(count) for p in ["gate_proj", "up_proj", "down_proj"]}


def run_ok(label, args):
    r = quantize(args)
    sys.stderr.write(r.stderr)
    if r.returncode != 0:
        mf.fail("%s: exit %d" % (label, r.returncode))
        return False
    if not re.search(r"tensors \d+/\d+ done .* about [\d.]+ s left", r.stderr):
        mf.fail("%s: no progress line with an ETA" % label)
    return True


def good_cases(deepseek, mixtral, fp8, gpt_oss):
    for fmt in ["nvfp4", "mxfp4", "int4_k2"]:
        for label, source, layer, family in [("deepseek", deepseek, 1, "deepseek"),
                                             ("mixtral", mixtral, 0, "mixtral")]:
            out = os.path.join(mf.WORK, "%s_%s" % (label, fmt))
            if run_ok(label, ["--model=" + source, "--output=" + out, "--format=" + fmt,
                              "--threads=2"]):
                check_output("%s %s" % (label, fmt), source, out, fmt,
                             replaced_weights(experts_of(layer, 4, family), fmt))
                check_forward("%s %s" % (label, fmt), source, out, layer, fmt)
    # gpt-oss: the fused experts quantized, forward on the result as on the source quantized
    # on load; --exclude keeps a layer's two fused tensors in float.
    for fmt in ["nvfp4", "mxfp4", "int4_k2"]:
        out = os.path.join(mf.WORK, "gpt_oss_%s" % fmt)
        if run_ok("gpt-oss", ["--model=" + gpt_oss, "--output=" + out, "--format=" + fmt]):
            check_output("gpt-oss %s" % fmt, gpt_oss, out, fmt, gpt_oss_replaced(fmt))
            check_forward("gpt-oss %s" % fmt, gpt_oss, out, 1, fmt)
    out = os.path.join(mf.WORK, "gpt_oss_kept")
    if run_ok("gpt-oss kept", ["--model=" + gpt_oss, "--output=" + out, "--format=nvfp4",
                               r"--exclude=.*experts\..*"]):
        check_output("gpt-oss kept", gpt_oss, out, "nvfp4", {}, {GPT_OSS_EXPERTS})
        check_forward("gpt-oss kept", gpt_oss, out, 1, "nvfp4")
    # FP8 experts are dequantized, then quantized; the shared expert stays FP8 with its scales.
    out = os.path.join(mf.WORK, "fp8_nvfp4")
    if run_ok("fp8", ["--model=" + fp8, "--output=" + out, "--format=nvfp4"]):
        check_output("fp8", fp8, out, "nvfp4", replaced_weights(experts_of(0, 4, "deepseek"),
                                                                "nvfp4"))
        check_forward("fp8", fp8, out, 0, "nvfp4")
    # --exclude keeps expert 0 in BF16; --include adds the shared expert.
    out = os.path.join(mf.WORK, "deepseek_selected")
    shared = {"model.layers.1.mlp.shared_experts." + p for p in ["gate_proj", "up_proj",
                                                               "down_proj"]}
    if run_ok("include/exclude", ["--model=" + deepseek, "--output=" + out, "--format=nvfp4",
                                  r"--include=.*shared_experts\..*",
                                  r"--exclude=.*experts\.0\..*"]):
        want = (experts_of(1, 4, "deepseek") - experts_of(1, 1, "deepseek")) | shared
        check_output("include/exclude", deepseek, out, "nvfp4", replaced_weights(want, "nvfp4"))
        check_forward("include/exclude", deepseek, out, 1, "nvfp4")


def expect_error(label, args, message, out, preexec_fn=None):
    existed = os.path.exists(out)
    r = quantize(args + ["--output=" + out], preexec_fn)
    if r.returncode != 1 or message not in r.stderr:
        mf.fail("%s: exit %d, stderr %r, expected 1 and %r" % (label, r.returncode, r.stderr,
                                                              message))
    if not existed and os.path.exists(out):
        mf.fail("%s: output left" % label)
    if leftovers(out):
        mf.fail("%s: temporary directory left: %s" % (label, leftovers(out)))


def file_size_limit():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))


def error_cases(deepseek, fp8, gpt_oss):
    args = ["--model=" + deepseek, "--format=nvfp4"]
    existing = os.path.join(mf.WORK, "existing")
    os.makedirs(existing)
    expect_error("existing output", args, "exists: refusing to overwrite it", existing)
    if os.listdir(existing):
        mf.fail("existing output: written into")
    expect_error("output inside the model", args, "is the model folder",
                 os.path.join(deepseek, "out"))
    expect_error("output deeper inside the model", args, "is the model folder",
                 os.path.join(deepseek, "sub", "out"))
    expect_error("output is the model", args, "is the model folder", deepseek + "/.")
    expect_error("quantized model", ["--model=" + os.path.join(mf.WORK, "deepseek_nvfp4"),
                                     "--format=int4_k2"], "is already quantized",
                 os.path.join(mf.WORK, "twice"))
    expect_error("bad regex", args + ["--include=("], "not a valid regular expression",
                 os.path.join(mf.WORK, "bad_regex"))
    expect_error("odd group size", ["--model=" + deepseek, "--format=int4_k2", "--group_size=7"],
                 "INT4 K2 groups must be positive and even", os.path.join(mf.WORK, "odd_group"))
    # FP8 left unquantized in blocks other than the default, which the new config cannot tell.
    blocks = mf.derived_folder("q_fp8_64", fp8, edit_config=lambda c: c[
        "quantization_config"].update(weight_block_size=[64, 64]))
    expect_error("fp8 blocks kept", ["--model=" + blocks, "--format=nvfp4", "--exclude=.*"],
                 "is not quantized and its blocks are 64 x 64", os.path.join(mf.WORK, "fp8_64"))
    # The second shard is cut short: the first is written by then.
    broken = os.path.join(mf.WORK, "q_broken")
    shutil.copytree(deepseek, broken)
    second = os.path.join(broken, "model-00002-of-00002.safetensors")
    with open(second, "r+b") as f:
        f.truncate(os.path.getsize(second) - 100)
    expect_error("shard failing mid-way", ["--model=" + broken, "--format=nvfp4"],
                 "model-00002-of-00002.safetensors", os.path.join(mf.WORK, "broken_out"))
    expect_error("file size limit", args, "File too large", os.path.join(mf.WORK, "fsize_out"),
                 preexec_fn=file_size_limit)
    # gpt-oss's MXFP4 release is quantized already, as an NVFP4 folder is.
    released = folders.gpt_oss_folder(mf.WORK, np.random.default_rng(3))["folder"]
    expect_error("gpt-oss mxfp4", ["--model=" + released, "--format=nvfp4"],
                 "_proj_blocks' holds MXFP4 blocks (gpt-oss's fused experts): the "
                 "checkpoint is already quantized", os.path.join(mf.WORK, "gpt_oss_twice"))
    bf16 = folders.gpt_oss_folder(mf.WORK, np.random.default_rng(5), name="q_gpt_oss_bad",
                                  float_weights=BF16)
    tensors = dict(bf16["tensors"])
    tensors[GPT_OSS_EXPERTS + ".down_proj"] = tensors[GPT_OSS_EXPERTS + ".down_proj"][:, :, :64]
    expect_error("gpt-oss fused shape", ["--model=" + mf.derived_folder(
        "q_gpt_oss_bad_shape", bf16["folder"], tensors=tensors), "--format=nvfp4"],
                 "tensor '%s.down_proj' is BF16 [4, 192, 64], expected F32, BF16 or F16 "
                 "[4, 192, 256] (experts, intermediate_size, hidden_size)" % GPT_OSS_EXPERTS,
                 os.path.join(mf.WORK, "gpt_oss_bad_shape"))
    expect_error("gpt-oss half excluded", ["--model=" + gpt_oss, "--format=nvfp4",
                                           "--exclude=.*gate_up_proj"],
                 "quantized together or kept together", os.path.join(mf.WORK, "gpt_oss_half"))


def relative_paths(mixtral):
    env = dict(os.environ, BUILD_WORKING_DIRECTORY=mf.WORK)
    r = subprocess.run([QUANTIZE, "--model=" + os.path.basename(mixtral), "--output=rel_out",
                        "--format=nvfp4"], capture_output=True, text=True, env=env, cwd="/")
    if r.returncode != 0 or not os.path.isdir(os.path.join(mf.WORK, "rel_out")):
        mf.fail("relative paths: exit %d, %s" % (r.returncode, r.stderr))


def main():
    deepseek, mixtral, fp8 = deepseek_folder(), mixtral_folder(), fp8_folder()
    gpt_oss = gpt_oss_folder()
    good_cases(deepseek, mixtral, fp8, gpt_oss)
    error_cases(deepseek, fp8, gpt_oss)
    relative_paths(mixtral)
    print("%d failures" % len(mf.FAILURES))
    return 1 if mf.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
