"""Builds spndl's one compiled part, the fixed-kernel GEMM of the host-independent CPU
numerics (src/spndl/runtime/_sgemm.c, spndl.runtime.kernels); everything else is in pyproject.toml."""

from setuptools import Extension, setup

# No -march: the module is built for the x86-64 baseline, and only its kernel functions
# carry target("avx2,fma"), so the same source gives the same kernel on every build host.
# -ffp-contract=off: the compiler may not fuse the scalar additions into FMAs of its own.
setup(ext_modules=[Extension("spndl.runtime._sgemm", ["src/spndl/runtime/_sgemm.c"],
                             extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math", "-pthread"],
                             extra_link_args=["-pthread"])])
