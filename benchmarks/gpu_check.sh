#!/usr/bin/env bash
# The GPU check: install, the throughput benchmark (two chunk sizes), then GPU tests.
# Usage on a GPU machine: bash benchmarks/gpu_check.sh OUTDIR
set -uo pipefail
out=${1:-gpu_out}
mkdir -p "$out"
python3 -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | tail -2
python3 -c "import jax; print(jax.__version__, jax.devices())" | tee "$out/devices.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$out/devices.txt"
python3 benchmarks/throughput.py --shots 200000000 --numpy-shots 2000000 --mu-one \
    --json "$out/throughput.json" 2>&1 | tee "$out/throughput.txt"
python3 benchmarks/throughput.py --shots 1000000000 --chunk-shots 4194304 --numpy-shots 0 \
    --mu-one --json "$out/throughput_big_chunks.json" 2>&1 | tee "$out/throughput_big_chunks.txt"
python3 -m pytest -q -x -p no:cacheprovider tests/test_closed_forms.py \
    tests/test_photon_statistics.py 2>&1 | tail -5 | tee "$out/tests.txt"
