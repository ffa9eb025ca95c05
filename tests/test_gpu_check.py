"""bench/gpu_check.sh, the prepared check for a machine with CUDA: without CUDA (CI's machine) it says so and
succeeds."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "gpu_check.sh"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the path without CUDA")
def test_without_cuda_the_gpu_check_says_so_and_succeeds():
    result = subprocess.run(["bash", str(SCRIPT)], env={**os.environ, "PYTHON": sys.executable}, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"gpu_check: no CUDA here (or no PyTorch for {sys.executable}): nothing to check"
