"""An H.264 mp4 writer (PyAV: the pip OpenCV builds cannot encode H.264).

Frames go to a hidden temporary file beside the output, renamed to the output's name only when the video is
complete: an interrupted run never leaves a truncated video under the name asked for.
"""
from __future__ import annotations

import os
from fractions import Fraction
from os import PathLike
from pathlib import Path

import av
import numpy as np


class Mp4Writer:
    """with Mp4Writer("out.mp4", width, height, fps) as video: video.write(rgb_uint8_frame)"""

    def __init__(self, path: str | PathLike, width: int, height: int, fps: float, crf: int = 18):
        if width % 2 or height % 2:
            raise ValueError(f"H.264 (yuv420p) needs an even width and height, not {width}x{height}")
        self.path = Path(path)
        self.temporary = self.path.with_name(f".{self.path.name}.partial")
        # Opened here rather than by FFmpeg, which opens it only once the encoder's first packet is out,
        # dozens of frames later: a folder that cannot be written fails now, before any rendering.
        self.file = open(self.temporary, "wb")
        self.container = av.open(self.file, mode="w", format="mp4")
        self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.options = {"crf": str(crf)}  # visually lossless: the avatar's fine detail stays

    def write(self, rgb: np.ndarray) -> None:
        """One (H, W, 3) uint8 RGB frame."""
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        """Finish the video and give it its name."""
        self.container.mux(self.stream.encode(None))  # flush the frames the encoder still holds
        self.container.close()
        self.file.close()
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        self.container.close()
        self.file.close()
        self.temporary.unlink(missing_ok=True)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is None:
            self.close()
        else:
            self.discard()
