"""CPU numerics that do not depend on the host: the same params and seed give the same
numbers on every x86-64 machine that can run the chosen instruction set.

Left to themselves, torch's CPU libraries pick their code by the processor they find:

- ATen's vectorised kernels (batch norm, pooling, softmax, Adam) take the widest of
  default/AVX2/AVX-512 the processor has (``ATEN_CPU_CAPABILITY`` caps it);
- oneDNN's convolutions pick kernels *and* their blocking by instruction set and cache
  sizes, and oneDNN promises bitwise results only on identical hardware, so it is left
  out;
- MKL's GEMM takes a code branch per processor, and per vendor: its conditional numerical
  reproducibility (CNR) branch ``COMPATIBLE`` is the only one that gives the same results
  on Intel and AMD processors alike (its ``AVX2`` branch falls back to ``AUTO`` on AMD), and
  it runs a generic SSE2 kernel at a third of the AVX2 kernels' speed. So under ``avx2``
  every convolution and linear layer runs on spndl's own GEMM (``spndl.runtime.kernels``: unfold
  and one AVX2+FMA GEMM per layer, its kernel and blocking fixed at install time, its
  result independent of the thread count), at the host's native speed; under ``x86-64``
  (no AVX2 to build on) they run as ATen's im2col and MKL's ``COMPATIBLE`` GEMM;
- MKL's vector math (VML) computes torch's elementwise square root on float tensors, to
  about one unit in the last place, by code that depends on the processor and that the
  CNR branch does not fix: the same tensor's ``torch.sqrt`` differs between an AVX-512 host
  and AVX2 hosts. Adam divides by a square root at every step, so the host-independent
  modes train with torch's fused Adam, whose kernel is ATen's own (capped like the rest)
  and takes exact square roots (``adam_fused``);
- NNPACK (a convolution library with its own cache-dependent blocking) is left out too;
- reductions split over threads, so the thread count is fixed (``train.cpu_threads``).

Outside torch, numpy and OpenCV dispatch their own SIMD code (numpy's AVX-512 sin, cos,
exp use other approximations than its AVX2 ones; OpenCV has AVX-512 kernels and Intel
IPP, whose code paths differ by processor): every ``spndl`` process caps both at AVX2 and
turns IPP off, so the synthetic data and its crops are the same on every host too.

Most of these are read once, when a library starts, so ``spndl.launch`` sets them in the
environment before Python imports anything; ``apply`` then sets the run-time switches
and checks that each setting took effect, so a run never records a setting it did not use.
``native`` leaves every library to its own choice (faster; identical numbers only on
identical hardware). GPU runs are not covered: cuDNN's autotuning and bf16 autocast
differ by GPU.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

# train.cpu_isa -> ATen's capability. x86-64: ATen's baseline kernels, no AVX at all.
CPU_ISAS = {"avx2": "avx2", "x86-64": "default", "native": None}
# The processor flags each capped instruction set needs (from /proc/cpuinfo).
NEEDS = {"avx2": {"avx2", "fma"}, "x86-64": set()}
# The instruction sets whose convolutions and linear layers run on spndl's own GEMM (spndl.runtime.kernels).
FIXED_GEMM = {"avx2"}
# MKL's CNR branch codes (mkl_cbwr_get; mkl_service.h's MKL_CBWR_*): the names a run records.
MKL_BRANCHES = {0: "OFF", 1: "OFF", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 5: "SSE3", 6: "SSSE3", 7: "SSE4_1",
                8: "SSE4_2", 9: "AVX", 10: "AVX2", 11: "AVX512_MIC", 12: "AVX512", 13: "AVX512_MIC_E1",
                14: "AVX512_E1"}
# numpy's dispatch targets above AVX2 (numpy >= 2.4 names; X86_V3 is the AVX2 level).
NUMPY_ABOVE_AVX2 = "X86_V4 AVX512_ICL AVX512_SPR"
# The one AVX-512 dispatch target of opencv-python 4.x; naming it on a host without AVX-512
# makes OpenCV print a warning, so it is set only where the host has AVX-512.
OPENCV_ABOVE_AVX2 = "AVX512-SKX"
MARKER = "SPNDL_CPU_NUMERICS"  # set by spndl.launch once it has started a process under them


class NumericsError(RuntimeError):
    """A CPU numerics setting this process cannot honour."""


def host_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The instruction-set flags of the first processor (empty where /proc/cpuinfo is absent)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def host_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def check_isa(cpu_isa: str, flags: set[str] | None = None) -> None:
    """Refuse an unknown setting, or an instruction set the processor cannot run."""
    if cpu_isa not in CPU_ISAS:
        raise NumericsError(f"train.cpu_isa={cpu_isa!r}: choose one of {', '.join(CPU_ISAS)}")
    missing = NEEDS.get(cpu_isa, set()) - (host_flags() if flags is None else flags)
    if missing:
        raise NumericsError(f"train.cpu_isa={cpu_isa}: this processor lacks {', '.join(sorted(missing))}; "
                            "choose x86-64 (the same numbers on every x86-64 host) or native")


def library_environment(flags: set[str] | None = None) -> dict[str, str]:
    """numpy's and OpenCV's SIMD capped at AVX2, for every spndl process (synth, prepare, ...)."""
    flags = host_flags() if flags is None else flags
    env = {"NPY_DISABLE_CPU_FEATURES": NUMPY_ABOVE_AVX2}
    if "avx512f" in flags:
        env["OPENCV_CPU_DISABLE"] = OPENCV_ABOVE_AVX2
    return env


def torch_environment(cpu_isa: str, threads: int) -> dict[str, str]:
    """What torch's CPU libraries read when they start, for ``train.cpu_isa``/``cpu_threads``."""
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if CPU_ISAS.get(cpu_isa) is None:
        return env
    # MKL_DYNAMIC/OMP_DYNAMIC: MKL's CNR also needs a thread count that never adapts (its guide).
    return {**env, "ATEN_CPU_CAPABILITY": CPU_ISAS[cpu_isa], "MKL_CBWR": "COMPATIBLE",
            "MKL_DYNAMIC": "FALSE", "OMP_DYNAMIC": "FALSE"}


def environment(cpu_isa: str, threads: int, flags: set[str] | None = None) -> dict[str, str]:
    return {**library_environment(flags), **torch_environment(cpu_isa, threads)}


def adam_fused(fused_adam: bool | None, cpu_isa: str, device: str) -> bool:
    """Whether a run's Adam is torch's fused one: ``train.fused_adam``, where null means fused
    exactly where the numbers are to be host-independent (the CPU under a capped ISA).

    The unfused Adam's square roots come from MKL's VML, whose results depend on the
    processor (see the module's docstring), so an explicit ``false`` there is refused rather
    than recorded as host-independent.
    """
    portable = not str(device).startswith("cuda") and CPU_ISAS.get(cpu_isa) is not None
    if fused_adam is None:
        return portable
    if portable and not fused_adam:
        raise NumericsError(f"train.fused_adam=false with train.cpu_isa={cpu_isa}: the unfused Adam takes its "
                            "square roots from MKL's vector math, whose results depend on the processor; "
                            "leave fused_adam null (or true), or choose cpu_isa native")
    return fused_adam


def _mkl_branch() -> str:
    """MKL's CNR branch in force (it reads MKL_CBWR at its first call, then keeps it)."""
    import torch

    lib = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        get = ctypes.CDLL(str(lib)).mkl_serv_cbwr_get  # MKL is linked into libtorch_cpu
    except (OSError, AttributeError):
        return "unknown"
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
    return MKL_BRANCHES.get(get(1), "unknown")  # 1: MKL_CBWR_BRANCH


def apply(cpu_isa: str, threads: int, strict: bool = True) -> dict:
    """Set the run-time switches of ``cpu_isa`` in this process and check the start-time ones.

    The environment variables are set here too, so that a process that has not yet run a
    torch operation (an import of spndl, then a call) still gets them; one that has is
    refused (``strict``, for training) with the command that starts it right, or left as it
    is (prediction, whose outputs differ in the last bits only). Returns ``effective()``.
    """
    try:
        check_isa(cpu_isa)
    except NumericsError:
        if strict or cpu_isa not in CPU_ISAS:
            raise
        cpu_isa = "native"  # a prediction on a host without the run's instruction set
    if threads < 1:
        raise NumericsError(f"train.cpu_threads={threads}: must be at least 1")
    for key, value in torch_environment(cpu_isa, threads).items():
        if key not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # read at start only; set_num_threads below
            os.environ[key] = value
    import torch

    portable = CPU_ISAS[cpu_isa] is not None
    torch.backends.mkldnn.enabled = not portable
    torch.backends.nnpack.set_flags(not portable)
    torch.set_num_threads(threads)
    _opencv(portable)
    got = effective()
    if cpu_isa in FIXED_GEMM:
        from spndl.runtime.kernels import KernelError, kernel

        try:
            got["gemm"] = kernel()
        except KernelError as e:
            if strict:
                raise NumericsError(f"train.cpu_isa={cpu_isa}: {e}") from None
            got["gemm"] = "MKL CNR COMPATIBLE"  # a prediction: the last bits may differ (see above)
    else:
        got["gemm"] = "MKL CNR COMPATIBLE" if portable else "oneDNN and MKL (the host's choice)"
    if portable:
        want = {"aten": CPU_ISAS[cpu_isa].upper(), "mkl_cbwr": "COMPATIBLE"}
        wrong = {k: got[k] for k, v in want.items() if got[k] not in (v, "unknown")}
        if wrong and strict:
            raise NumericsError(
                f"train.cpu_isa={cpu_isa}: this process already runs torch with "
                + ", ".join(f"{k} {v} (wanted {want[k]})" for k, v in wrong.items())
                + "; start it through `spndl`, or set "
                + " ".join(f"{k}={v}" for k, v in environment(cpu_isa, threads).items())
                + " before Python starts")
    return got


def use_kernels(model, got: dict, device: str = "cpu"):
    """``model`` with its convolutions and linear layers on spndl's GEMM where ``got`` (what
    ``apply`` returned) says the numerics use it, and the device is the CPU; else as it is."""
    if str(device).startswith("cpu") and got.get("gemm", "").startswith("spndl"):
        from spndl.runtime.kernels import install

        install(model)
    return model


def _opencv(portable: bool) -> None:
    import cv2

    cv2.ipp.setUseIPP(not portable)


def effective() -> dict:
    """What this process's CPU numerics are, as run folders and tables record them."""
    import torch

    return {"aten": torch.backends.cpu.get_cpu_capability(),
            "onednn": bool(torch.backends.mkldnn.enabled),
            "nnpack": bool(torch._C._get_nnpack_enabled()),  # no public getter
            "mkl_cbwr": _mkl_branch(),
            "threads": torch.get_num_threads(),
            "numpy_disabled": os.environ.get("NPY_DISABLE_CPU_FEATURES", ""),
            "processor": host_model()}


def describe(cpu_isa: str, got: dict, device: str = "cpu") -> str:
    """One line for metrics.json and the tables' provenance: what the numbers were computed with."""
    if not device.startswith("cpu"):
        return f"GPU ({device}; cuDNN autotuning and bf16 autocast: not bit-identical across GPUs)"
    scope = ("the same on every x86-64 host with AVX2" if cpu_isa == "avx2" else
             "the same on every x86-64 host" if cpu_isa == "x86-64" else "the same only on identical hardware")
    adam = {"fused": ", fused Adam", "unfused": ", unfused Adam"}.get(got.get("adam", ""), "")
    gemm = f", GEMM {got['gemm']}" if "gemm" in got else ""
    return (f"CPU {cpu_isa} (ATen {got['aten']}, oneDNN {'on' if got['onednn'] else 'off'}, "
            f"MKL CNR {got['mkl_cbwr']}{gemm}{adam}, "
            f"{got['threads']} thread{'s' if got['threads'] != 1 else ''}: {scope})")
