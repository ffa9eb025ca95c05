"""`python -m tracking` as a user runs it: a video in, a tracked .npz and an IMavatar json out."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.imavatar_json import read_flame_params_json
from tracking.sequence_file import load_tracked_sequence

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ROOT.parent / "shared" / "fixtures" / "faces" / "pyfeat_single_face.mp4"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracking", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


@pytest.mark.skipif(not VIDEO.is_file(), reason="../shared fixtures are absent")
def test_tracks_a_video_into_npz_and_imavatar_json(tmp_path):
    result = run(str(VIDEO), "--output", str(tmp_path / "t.npz"), "--imavatar", str(tmp_path / "new" / "fp.json"))
    assert result.returncode == 0, result.stderr
    tracked = load_tracked_sequence(tmp_path / "t.npz")
    assert len(tracked) == 72 and tracked.face_found.all() and tracked.fps == pytest.approx(30)
    assert np.isfinite(tracked.fit_error_px).all()
    sequence = read_flame_params_json(tmp_path / "new" / "fp.json")
    assert sequence.params.expression.shape == (72, 50)
    assert np.allclose(sequence.params.pose.numpy(), tracked.params.pose.numpy(), atol=1e-6)


def test_missing_video_is_one_line(tmp_path):
    result = run(str(tmp_path / "none.mp4"), "--output", str(tmp_path / "t.npz"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "none.mp4" in result.stderr
