"""Compiler flags shared by every fp4moe target."""

# Numeric code is optimised even in fastbuild, so that tests on large matrices stay quick;
# `-c opt` goes further. No -march here: ISA-specific flags live on the kernels that need them,
# and runtime dispatch picks among those kernels.
FP4MOE_COPTS = [
    "-Wall",
    "-Wextra",
    "-Wno-sign-compare",
    "-fno-math-errno",
] + select({
    "//:opt": ["-O3"],
    "//conditions:default": ["-O2"],
})

OPENMP_COPTS = ["-fopenmp"]
