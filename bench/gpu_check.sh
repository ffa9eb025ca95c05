#!/usr/bin/env bash
# The GPU check, for a machine with CUDA: the CUDA tests (each CUDA backend against the CPU one, every avatar kind
# posed on the GPU against the CPU), the avatar contract test on CUDA (every kind through every mode, CUDA in place
# of the meta device it uses elsewhere; the window's part skips without Xvfb), then bench/bench_gpu.py, which writes
# the GPU sections of docs/benchmarks.md.
# Meant to finish well inside 8 minutes on a machine with no network and no ../shared: it uses that machine's own
# Python and PyTorch, not .venv. Packages missing there can be brought as wheels in .whl/ (pip download --no-deps
# ... -d .whl NAME==VERSION, versions from requirement_*.txt: gsplat and pyhocon, av, mediapipe, dearpygui if absent).
# Without CUDA it says so and exits 0: the CUDA tests skip on such a machine anyway.
#
#   bash bench/gpu_check.sh              # PYTHON=/path/to/python to choose the interpreter
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target /tmp/livehead-site .whl/*.whl
    export PYTHONPATH=/tmp/livehead-site${PYTHONPATH:+:$PYTHONPATH}
fi
if ! "$PYTHON" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    echo "gpu_check: no CUDA here (or no PyTorch for $PYTHON): nothing to check"
    exit 0
fi
"$PYTHON" -c 'import torch; print("gpu_check:", torch.cuda.get_device_name(), "- torch", torch.__version__)'
timeout 300 "$PYTHON" -m pytest -q -p no:cacheprovider -k cuda tests/test_rasterizer.py tests/test_gem_avatar.py
timeout 300 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_avatar_contract.py
timeout 300 "$PYTHON" bench/bench_gpu.py
