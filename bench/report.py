"""What every benchmark prints beside its figures, and how it writes its section of docs/benchmarks.md."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import numba
import torch

REPORT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    return (
        f"{models[0] if models else platform.machine()}, {os.cpu_count()} cores, numba {numba.__version__} with "
        f"{numba.get_num_threads()} threads ({numba.threading_layer()} layer), torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads"
    )


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def write_section(section: str, path: Path = REPORT) -> None:
    """Put `section` (starting with its "## " title) into the page, replacing its previous version only."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    title = section.splitlines()[0]
    if title in text:
        start = text.index(title)
        end = text.find("\n## ", start + len(title))
        text = text[:start] + section.rstrip("\n") + "\n" + (text[end:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
