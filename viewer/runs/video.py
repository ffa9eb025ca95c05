"""Video writers: H.264 mp4 (PyAV: the pip OpenCV builds cannot encode H.264), or PNG frames into a folder.

Frames go to a hidden temporary file beside the output, renamed to the output's name only when the video is
complete: an interrupted run never leaves a truncated video under the name asked for.

`audio_from` copies another file's first audio stream into the video, packet for packet (no re-encoding),
interleaved with the frames as they are written and cut at the video's end.
"""
from __future__ import annotations

import os
from fractions import Fraction
from os import PathLike
from pathlib import Path

import av
import cv2
import numpy as np


class Mp4Writer:
    """with Mp4Writer("out.mp4", width, height, fps) as video: video.write(rgb_uint8_frame)"""

    def __init__(self, path: str | PathLike, width: int, height: int, fps: float | Fraction, crf: int = 18,
                 audio_from: str | PathLike | None = None):
        """`fps`: a Fraction is kept exactly (a source's average_rate, such as 30000/1001); a float is taken to
        the nearest fraction with a denominator up to 1001. `audio_from`: see AudioCopy."""
        if width % 2 or height % 2:
            raise ValueError(f"H.264 (yuv420p) needs an even width and height, not {width}x{height}")
        self.path = Path(path)
        self.temporary = self.path.with_name(f".{self.path.name}.partial")
        # Opened here rather than by FFmpeg, which opens it only once the encoder's first packet is out,
        # dozens of frames later: a folder that cannot be written fails now, before any rendering.
        self.file = open(self.temporary, "wb")
        self.container = av.open(self.file, mode="w", format="mp4")
        self.rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream("libx264", rate=self.rate)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.options = {"crf": str(crf)}  # visually lossless: the avatar's fine detail stays
        self.frames = 0
        self.audio = None
        if audio_from is not None:
            try:
                self.audio = AudioCopy(audio_from, self.container)
            except BaseException:
                self.discard()
                raise

    def write(self, rgb: np.ndarray) -> None:
        """One (H, W, 3) uint8 RGB frame."""
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        self.container.mux(self.stream.encode(frame))
        self.frames += 1
        if self.audio is not None:
            self.audio.copy_until(self.frames / self.rate)

    def close(self) -> None:
        """Finish the video and give it its name."""
        self.container.mux(self.stream.encode(None))  # flush the frames the encoder still holds
        if self.audio is not None:
            self.audio.copy_until(self.frames / self.rate)
            self.audio.close()
        self.container.close()
        self.file.close()
        try:
            os.replace(self.temporary, self.path)
        except OSError:  # the output was changed under us (made a folder, locked) since it was checked
            self.temporary.unlink(missing_ok=True)
            raise

    def discard(self) -> None:
        if self.audio is not None:
            self.audio.close()
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


class AudioCopy:
    """The first audio stream of `source` (a media file), copied packet by packet into `container`'s new audio
    stream. Its timing is kept relative to the source's first video frame, which the output's first frame
    replaces. Raises ValueError when the source has no audio stream or mp4 cannot hold its codec."""

    def __init__(self, source: str | PathLike, container: av.container.OutputContainer):
        self.input = av.open(str(source))
        try:
            if not self.input.streams.audio:
                raise ValueError(f"{source}: no audio stream")
            self.source = self.input.streams.audio[0]
            codec = self.source.codec_context.codec.canonical_name  # "mp3", where the decoder is "mp3float"
            if codec not in container.supported_codecs:
                raise ValueError(f"{source}: its {codec} audio cannot go into an mp4")
            self.stream = container.add_stream_from_template(self.source)
            video = self.input.streams.video[0] if self.input.streams.video else None
            start = (video.start_time * video.time_base if video is not None and video.start_time is not None
                     else 0)
            self.shift = round(start / self.source.time_base)  # the source's video start, in audio ticks
            self.container = container
            self.packets = self.input.demux(self.source)
            self.pending = None  # a packet read but not yet due
        except BaseException:
            self.input.close()
            raise
        self.codec = codec

    def copy_until(self, seconds: Fraction) -> None:
        """Mux the audio packets that start before `seconds` into the output."""
        while True:
            packet, self.pending = self.pending, None
            if packet is None:
                try:
                    packet = next(self.packets, None)
                except av.error.FFmpegError:  # damaged audio: keep what was copied
                    packet = None
            if packet is None:
                return
            if packet.size == 0 or packet.dts is None:
                continue  # the demuxer's end-of-stream marker, or a packet that cannot be placed
            start = packet.pts if packet.pts is not None else packet.dts
            if (start - self.shift) * self.source.time_base >= seconds:
                self.pending = packet
                return
            if packet.pts is not None:
                packet.pts -= self.shift
            packet.dts -= self.shift
            packet.stream = self.stream
            self.container.mux(packet)

    def close(self) -> None:
        self.input.close()


class PngWriter:
    """frame_000000.png, frame_000001.png, ... into a folder; the same calls as Mp4Writer."""

    audio = None

    def __init__(self, folder: Path, width: int, height: int):
        self.folder, self.width, self.height, self.frames = folder, width, height, 0

    def write(self, rgb: np.ndarray) -> None:
        path = self.folder / f"frame_{self.frames:06d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {path}")
        self.frames += 1

    def close(self) -> None:
        pass  # the report, written last, is what marks the folder complete

    def discard(self) -> None:
        pass  # the frames stay; without a report they do not count as done, and a new run overwrites them
