"""The CPU numerics setting (spndl.runtime.numerics): what it sets, that it reaches the training
process, and that a process it cannot honour is refused rather than recorded wrongly."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spndl.config import ConfigError, load_config
from spndl.launch import command_environment
from spndl.runtime.numerics import NumericsError, adam_fused, check_isa, environment, host_flags, library_environment
from test_golden import train_cli

AVX2 = {"sse4_1", "sse4_2", "avx", "avx2", "fma"}


def test_each_setting_sets_the_switches_its_libraries_read_at_start():
    env = environment("avx2", 1, flags=AVX2)
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["MKL_CBWR"] == "COMPATIBLE"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1" and env["MKL_DYNAMIC"] == "FALSE"
    assert environment("x86-64", 2, flags=AVX2)["ATEN_CPU_CAPABILITY"] == "default"
    native = environment("native", 4, flags=AVX2)
    assert "ATEN_CPU_CAPABILITY" not in native and "MKL_CBWR" not in native and native["OMP_NUM_THREADS"] == "4"
    # numpy's AVX-512 kernels are off everywhere; OpenCV's only where the host has them (it warns otherwise).
    assert "X86_V4" in library_environment(AVX2)["NPY_DISABLE_CPU_FEATURES"]
    assert "OPENCV_CPU_DISABLE" not in library_environment(AVX2)
    assert library_environment(AVX2 | {"avx512f"})["OPENCV_CPU_DISABLE"] == "AVX512-SKX"


def test_an_instruction_set_the_processor_lacks_or_an_unknown_one_is_refused():
    with pytest.raises(NumericsError, match="lacks avx2, fma"):
        check_isa("avx2", flags={"sse4_1", "sse4_2"})
    check_isa("x86-64", flags=set())
    with pytest.raises(ConfigError, match="train.cpu_isa"):
        load_config(sets=["train.cpu_isa=avx512"])
    with pytest.raises(ConfigError, match="train.cpu_threads"):
        load_config(sets=["train.cpu_threads=0"])


def test_adam_is_fused_exactly_where_the_numbers_are_to_be_host_independent():
    assert adam_fused(None, "avx2", "cpu") and adam_fused(None, "x86-64", "cpu")
    assert not adam_fused(None, "native", "cpu") and not adam_fused(None, "avx2", "cuda")
    assert adam_fused(True, "native", "cpu") and not adam_fused(False, "avx2", "cuda:1")
    with pytest.raises(NumericsError, match="vector math"):
        adam_fused(False, "x86-64", "cpu")


def _vendor() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("vendor_id"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def test_the_mkl_branch_a_run_records_is_the_one_mkl_reports():
    """mkl_cbwr_get's codes as mkl_service.h numbers them. A branch above COMPATIBLE that the
    processor runs is named as asked on an Intel processor; elsewhere MKL takes AUTO instead."""
    code = ("import torch; torch.ones(4, 4) @ torch.ones(4, 4); "
            "from spndl.runtime.numerics import effective; print(effective()['mkl_cbwr'])")
    got = {}
    for branch in ("COMPATIBLE", "SSE4_2"):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "MKL_CBWR": branch})
        assert r.returncode == 0, r.stderr
        got[branch] = r.stdout.split()[-1]
    if got["COMPATIBLE"] == "unknown":
        pytest.skip("this torch build does not expose MKL's CNR functions")
    assert got == {"COMPATIBLE": "COMPATIBLE", "SSE4_2": "SSE4_2" if _vendor() == "GenuineIntel" else "AUTO"}


def test_the_entry_point_takes_the_numerics_from_the_command_or_the_run(tmp_path):
    assert command_environment(["train", "--data", "d", "--variant", "baseline", "--out", "o",
                                "--set", "train.cpu_isa=x86-64", "--set", "train.cpu_threads=3"]) \
        == environment("x86-64", 3)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"config": {"train": {"cpu_isa": "native", "cpu_threads": 2}}}))
    assert command_environment(["predict", "--checkpoint", str(run), "--image", "x.png"]) == environment("native", 2)
    assert command_environment(["tables", "--run", "r", "--out", "o"]) == environment("avx2", 1)
    assert command_environment(["train", "--no-such-option"]) == environment("avx2", 1)  # train reports it


def test_a_process_whose_torch_already_runs_other_kernels_is_refused():
    code = ("import torch; torch.ones(3).sum(); from spndl.runtime.numerics import apply; apply('x86-64', 1)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "NumericsError" in r.stderr and "aten AVX2 (wanted DEFAULT)" in r.stderr and "spndl" in r.stderr


@pytest.mark.slow
@pytest.mark.skipif(not {"avx2", "fma"} <= host_flags(), reason="needs AVX2 and FMA")
def test_the_setting_reaches_the_training_process(prepared, tmp_path):
    """Two caps give two sets of predictions on a host where they differ, and each run
    records the cap it asked for and the one in force."""
    data = prepared["ckplus"][1]
    sha = {}
    for isa, aten, onednn in (("avx2", "AVX2", False), ("x86-64", "DEFAULT", False), ("native", None, True)):
        r = train_cli(data, "baseline", tmp_path / isa, f"train.cpu_isa={isa}")
        assert r.returncode == 0, r.stderr
        record = yaml.safe_load((tmp_path / isa / "config.yaml").read_text())
        assert record["config"]["train"]["cpu_isa"] == isa
        got = record["cpu_numerics"]
        assert got["onednn"] is onednn and got["nnpack"] is onednn and got["threads"] == 1
        if aten:
            assert got["aten"] == aten and got["mkl_cbwr"] == "COMPATIBLE"
        assert got["adam"] == ("fused" if aten else "unfused")  # spndl.runtime.numerics.adam_fused
        assert got["gemm"].startswith("spndl sgemm AVX2+FMA") == (isa == "avx2")  # spndl.runtime.kernels
        sha[isa] = hashlib.sha256((tmp_path / isa / "predictions.csv").read_bytes()).hexdigest()
    assert len(set(sha.values())) == 3, sha
    # A resume under another cap is a change of settings, not the same run.
    r = train_cli(data, "baseline", tmp_path / "avx2", "train.cpu_isa=x86-64")
    assert r.returncode == 2 and "settings" in r.stderr


# What a process under each setting leaves of OpenBLAS's own variables: some machines set them
# because older OpenBLAS builds compute wrong results or crash there, so spndl never touches them.
OPENBLAS_PROBE = """
import json, os, sys
from spndl.launch import command_environment
from spndl.runtime.numerics import apply, use_kernels
env = command_environment(["train", "--data", "d", "--variant", "baseline", "--out", "o", "--set",
                           "train.cpu_isa=" + sys.argv[1]])
got = apply(sys.argv[1], 1)
import torch
from spndl.model import SPNDLNet
use_kernels(SPNDLNet(7, "neutral"), got)(torch.zeros(2, 3, 32, 32), torch.zeros(2, 3, 32, 32)).sum().backward()
print(json.dumps({"launch_sets": sorted(k for k in env if k.startswith("OPENBLAS")),
                  "after": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}}))
"""


OPENBLAS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@pytest.mark.parametrize("isa", ["avx2", "x86-64", "native"])
def test_no_setting_sets_or_changes_openblas_coretype_or_l2_size(isa):
    """The machine's own values (set or unset) reach the training process unchanged; the
    test sets none of its own, since a wrong core type can crash OpenBLAS on some hosts."""
    if isa == "avx2" and not {"avx2", "fma"} <= host_flags():
        pytest.skip("needs AVX2 and FMA")
    assert not any(k.startswith("OPENBLAS") for k in environment(isa, 1))
    r = subprocess.run([sys.executable, "-c", OPENBLAS_PROBE, isa], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **environment(isa, 1)})
    assert r.returncode == 0, r.stderr[-2000:]
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen["launch_sets"] == []
    assert seen["after"] == {k: os.environ.get(k) for k in OPENBLAS}


def test_no_source_file_writes_openblas_variables():
    src = Path(__file__).resolve().parents[1] / "src"
    for f in [*src.rglob("*.py"), *src.rglob("*.c")]:
        assert "OPENBLAS" not in f.read_text(), f"{f} names an OpenBLAS variable"
