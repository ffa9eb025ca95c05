"""What the window writes: screenshots of the avatar's image, presets, PLY exports and recordings, named by the
time in one folder unless a path is given. Each says what it wrote, or why it could not, in one line (`say`): under
the panel's buttons ("files"), or by the record button as a recording starts ("recording") and ends ("stopped");
never an exception that would close the window. No dearpygui here: a front-end shows the lines as it can."""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from avatar.splatting.gaussians import Gaussians
from viewer.controls import SliderValues
from viewer.runs.pixels import to_uint8

RECORD_FPS = 30


class FileActions:
    """The window's files in `folder`, what each did said by `say(where, line)`; `recorder` while recording."""

    def __init__(self, folder: Path, say: Callable[[str, str], None]):
        self.folder, self.say = Path(folder), say
        self.recorder = None

    def run(self, action, *args) -> None:
        """Run a file action for a button or key; what it wrote, or why it failed, under the panel's buttons."""
        try:
            message = action(*args)
        except (OSError, ValueError) as err:
            message = " ".join((getattr(err, "strerror", None) and f"{err.filename}: {err.strerror}"
                                or str(err)).split())
        self.say("files", message)

    def save_image(self, pixels: np.ndarray, path: str | os.PathLike | None = None) -> str:
        """(H, W, 3) float RGB to a PNG (default: livehead_<time>.png)."""
        path = Path(path) if path is not None else self.timestamped(".png")
        Image.fromarray(to_uint8(pixels)).save(path, format="PNG")
        return f"wrote {path}"

    def save_preset(self, path: str | os.PathLike, values: SliderValues, names: tuple[str, ...], eigen) -> str:
        """The sliders' `values` to a JSON preset (`names`: the expression coefficients'; `eigen`: the window's
        EigenSliders)."""
        from viewer.presets import save_preset

        save_preset(path, values.expression, values.pose, names, eigen.by_name(values.eigen))
        return f"wrote {path}"

    def export_ply(self, gaussians: Gaussians, path: str | os.PathLike | None = None) -> str:
        """The Gaussians as a 3DGS PLY (default: livehead_<time>.ply)."""
        from avatar.splatting.ply import save_3dgs_ply

        path = Path(path) if path is not None else self.timestamped(".ply")
        save_3dgs_ply(path, gaussians)
        return f"wrote {path} ({len(gaussians)} Gaussians)"

    # -- recording -------------------------------------------------------------------------------------------

    def start_recording(self, layout: str, path: str | os.PathLike | None = None) -> str:
        """Record to an H.264 mp4 (default: livehead_<time>.mp4) at RECORD_FPS: the avatar's image (layout
        "avatar") or the camera beside it ("side"), a frame per `record()`, until stop_recording()."""
        from viewer.runs.recorder import Recorder

        self.stop_recording()
        path = Path(path) if path is not None else self.timestamped(".mp4")
        self.recorder = Recorder(path, RECORD_FPS, layout=layout)
        self.say("recording", f"recording {path}")
        return f"recording {path}"

    def record(self, pixels: np.ndarray, camera: np.ndarray | None) -> None:
        """The image shown (and the camera's frame) now, while recording; a failed encoder stops it."""
        if self.recorder is None:
            return
        if not self.recorder.recording:
            self.stop_recording()
            return
        self.recorder.add(to_uint8(pixels), camera, time.perf_counter(), copy=False)  # neither changes

    def stop_recording(self) -> str:
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return "not recording"
        try:
            written = recorder.stop()
        except RuntimeError as err:  # the encoder failed: say so, keep the window
            message = " ".join(str(err).split())
        else:
            message = (f"wrote {written} ({recorder.frames_written} frames)" if written is not None
                       else "nothing recorded")
        self.say("stopped", message)
        return message

    def timestamped(self, suffix: str) -> Path:
        stem = f"livehead_{time.strftime('%Y%m%d_%H%M%S')}"
        path, count = self.folder / f"{stem}{suffix}", 1
        while path.exists():
            count += 1
            path = self.folder / f"{stem}_{count}{suffix}"
        return path
