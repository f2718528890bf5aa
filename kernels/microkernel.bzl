"""Build rules for GEMM microkernels: one kernel per file, compiled per ISA."""

load("//:copts.bzl", "FP4MOE_COPTS")

AVX2_COPTS = ["-mavx2", "-mfma", "-mf16c"]
AVX512_COPTS = AVX2_COPTS + [
    "-mavx512f",
    "-mavx512bw",
    "-mavx512vl",
    "-mavx512vbmi",
    "-mavx512vnni",
    "-mavx512bf16",
]
# Every AMX CPU (Sapphire Rapids on) has AVX512-FP16, which the W4A16 AMX decode by FP16
# products uses (kernels/w4a16_amx_driver.h); kernels/cpu_features.cc requires it for AMX.
AMX_COPTS = AVX512_COPTS + ["-mamx-tile", "-mamx-int8", "-mamx-bf16", "-mavx512fp16"]

# The emulated copy: SIMDe implements AVX-512 on AVX2; AMX kernels also get our tile emulation.
# No UBSan shift check here: SIMDe 0.7.4's simde_mm512_multishift_epi64_epi8 (multishift.h:128)
# shifts a uint64 left by 64 for a byte offset of 0, which aborts microkernel_test under
# --config=ubsan. (gcc 12 ignores the narrower -fno-sanitize=shift-exponent.) The native
# copies keep the check on our own shifts.
_EMULATED_COPTS = AVX2_COPTS + ["-DFP4MOE_SIMDE", "-Wno-psabi", "-fno-sanitize=shift"]

_ISA_COPTS = {
    "scalar": [],
    "avx2": AVX2_COPTS,
    "avx512": AVX512_COPTS,
    "amx": AMX_COPTS,
}

def microkernel(name, isa, deps = []):
    """A microkernel in `name`.cc, built for `isa`.

    AVX-512 and AMX kernels get a second target, `name`_emulated, built with SIMDe (and the AMX
    tile emulation) so that machines without those ISAs test the same code. Keep such files
    free of inline code shared with other files (helpers in an anonymous namespace): an inline
    function compiled with AVX-512 flags can replace its AVX2 twin at link time (SIGILL).
    """
    common_deps = deps + ["//kernels:microkernel_api"]
    native.cc_library(
        name = name,
        srcs = [name + ".cc"],
        copts = FP4MOE_COPTS + _ISA_COPTS[isa],
        deps = common_deps,
        alwayslink = True,
    )
    if isa in ("avx512", "amx"):
        native.cc_library(
            name = name + "_emulated",
            srcs = [name + ".cc"],
            copts = FP4MOE_COPTS + _EMULATED_COPTS +
                    (["-DFP4MOE_AMX_EMULATION"] if isa == "amx" else []),
            deps = common_deps + ["@simde"] +
                   (["//kernels:amx_emulation"] if isa == "amx" else []),
            alwayslink = True,
        )
