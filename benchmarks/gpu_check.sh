#!/usr/bin/env bash
# The prepared device check for a machine with a CUDA GPU, in at most 10 minutes:
#   bash benchmarks/gpu_check.sh [WORK]        (PYTHON: the environment's python, default .venv/bin/python)
# It prints (benchmarks/cuda_check.py): the GPU and software; each variant's training and
# evaluation pairs/s and peak GPU memory at 224 px, batch 128, bf16; the projected hours of
# every run of the paper preset; one short run trained twice with and twice without
# train.cuda_deterministic, and whether the bits repeat; one and two jobs packed on the GPU;
# and one CK+ fold of all five variants at the paper's 250 epochs, measured against the
# estimate. Not yet in it: the CPU rehearsal's DAG on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
timeout 570 "$PYTHON" benchmarks/cuda_check.py --work "${1:-build/cuda-check}" --epochs 2 --run-epochs 4 \
    --determinism 7 --pack 1 2 --pack-epochs 10 --full-fold
