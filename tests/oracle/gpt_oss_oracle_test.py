"""Checks //io:forward --model on small gpt-oss model folders written here.

One folder holds the released layout, MXFP4 blocks and scales of the fused experts, the others
the dequantized gate_up_proj / down_proj in BF16, F16 and F32; all have biases on the router and on the
experts. The router's choice is checked against a numpy transcription of Hugging Face's
GptOssTopKRouter, exactly for the ids, and the output against a float64 transcription of
GptOssExperts (interleaved gate and up, clamped SwiGLU) on the blocks dequantized as
convert_moe_packed_tensors does. The weights are E2M1 values times a power of two with a 6 in
every 16, so MXFP4 as stored and NVFP4 both hold them exactly: the output must match up to the
activations' rounding, and a swapped nibble, a misread scale or gate and up taken in halves
instead of interleaved is far outside that. Then the errors: a missing bias, wrong shapes, and
in quantize --model's per-expert layout float weights and INT4 groups that differ.
"""
import os
import sys

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_forward_oracle_test as mf  # noqa: E402  (its TOOL is argv[1], //io:forward)
from model_folders import BF16, F32, H, I, check_moe, gpt_oss_folder, int4_pack  # noqa: E402

WORK = mf.WORK


def check_forward(label, case, x, extra=()):
    result = mf.forward(case["folder"], case["layer"], {"hidden_states": x}, extra)
    if result is None:
        return
    got, _ = result
    ids, w = case["route"](x)
    for message in check_moe(label, got["output"], got["topk_ids"], got["topk_weights"], x,
                             case, ids, w):
        mf.fail(message)


def expect_error(label, folder, message):
    x = os.path.join(WORK, "x_err.safetensors")
    save_file({"hidden_states": np.ones((2, H), dtype=F32)}, x)
    mf.expect_error(label, ["--model=" + folder, "--layer=1", "--input=" + x], message)


def with_tensors(name, case, edit):
    """A copy of the case's folder with its tensors edited."""
    tensors = dict(case["tensors"])
    edit(tensors)
    return mf.derived_folder(name, case["folder"], tensors=tensors)


def main():
    rng = np.random.default_rng(7)
    mxfp4 = gpt_oss_folder(WORK, rng)
    # 3 tokens take the decode path, 9 the prefill path.
    for tokens in (3, 9):
        x = rng.standard_normal((tokens, H)).astype(F32)
        check_forward("gpt-oss mxfp4 as stored, %d tokens" % tokens, mxfp4, x)
        check_forward("gpt-oss mxfp4 to nvfp4, %d tokens" % tokens, mxfp4, x, ["--format=nvfp4"])
    dense = gpt_oss_folder(WORK, rng, name="gpt_oss_bf16", float_weights=BF16)
    check_forward("gpt-oss bf16 gate_up_proj / down_proj", dense,
                  rng.standard_normal((6, H)).astype(F32))
    # F16 and F32 weights and biases, as the other families accept them.
    for dtype in (np.float16, F32):
        name = np.dtype(dtype).name
        check_forward("gpt-oss %s gate_up_proj / down_proj" % name,
                      gpt_oss_folder(WORK, rng, name="gpt_oss_" + name, float_weights=dtype),
                      rng.standard_normal((5, H)).astype(F32))

    experts = "model.layers.1.mlp.experts."
    expect_error("missing bias", with_tensors(
        "no_bias", mxfp4, lambda t: t.pop(experts + "down_proj_bias")),
                 "no tensor '%sdown_proj_bias'" % experts)
    expect_error("scales of the wrong shape", with_tensors(
        "bad_scales", mxfp4, lambda t: t.update(
            {experts + "gate_up_proj_scales": t[experts + "gate_up_proj_scales"][:, :, :4]})),
                 "tensor '%sgate_up_proj_scales' is U8 [4, 384, 4], expected U8 [4, 384, 8]"
                 % experts)
    expect_error("bias of the wrong shape", with_tensors(
        "bad_bias", dense, lambda t: t.update(
            {experts + "down_proj_bias": t[experts + "down_proj_bias"][:, :8]})),
                 "tensor '%sdown_proj_bias' is BF16 [4, 8], expected F32, BF16 or F16 [4, 256]"
                 % experts)
    expect_error("no experts", with_tensors(
        "no_experts", dense, lambda t: t.pop(experts + "gate_up_proj")),
                 "has neither '%sgate_up_proj_blocks' (MXFP4) nor" % experts)
    # quantize --model's layout, one weight per expert, must be quantized and in one format.
    def per_expert(tensors, make):
        for fused in ("gate_up_proj", "down_proj"):
            tensors.pop(experts + fused)
        for e in range(4):
            for p, shape in (("gate_proj", (I, H)), ("up_proj", (I, H)), ("down_proj", (H, I))):
                tensors.update({"%s%d.%s.%s" % (experts, e, p, k): v
                                for k, v in make(e, p, shape).items()})

    expect_error("float weights per expert", with_tensors(
        "float_per_expert", dense, lambda t: per_expert(
            t, lambda e, p, shape: {"weight": np.zeros(shape, dtype=BF16)})),
                 "'%s0.gate_proj' is stored per expert as BF16" % experts)
    expect_error("INT4 groups differing between experts", with_tensors(
        "int4_groups", dense, lambda t: per_expert(
            t, lambda e, p, shape: int4_pack(rng, *shape, group=64 if e == 2 else 32)[0])),
                 "'%s2.gate_proj' has INT4 groups of 64, expert 0's gate of 32" % experts)
    print("%d failures" % len(mf.FAILURES))
    return 1 if mf.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
