"""Everything a run of launch.py takes, as one checked value: configs/default.yaml's values, then a --config file's,
then the command line's.

The YAML file is the only place that says the defaults: --help shows them from it, and the command line only
overrides what it names (argparse with SUPPRESS defaults, so that an option given is told from one left out;
on/off options as --gem / --no-gem). Chosen over tyro: no new dependency, and errors stay one line (exit status 2)
as everywhere else. Every value is checked once, in `settings_from`, before anything is loaded.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from models.atomic_file import replace_problem

DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"
RENDERERS = ("auto", "cpu", "gsplat", "inria")
LAYOUTS = ("avatar", "side", "grid")
MIN_SIZE, MAX_SIZE = 16, 4096
# The sweep's frame rates: H.264 in .mp4 keeps every frame from 1 to 240 fps (at 2000 fps, libx264's timestamps
# are too close together and frames are lost; no camera or screen needs more than 240).
MIN_FPS, MAX_FPS = 1, 240
SWITCHES = ("gem", "fp16", "absolute", "landmarks", "png")  # the on/off settings
SWEEP_OUTPUT = Path("demo.mp4")  # --output left empty (null) for the sweep; --video names its own


class UsageError(Exception):
    """Something the user gave cannot be used; the message says what and what to do."""


@dataclass(frozen=True)
class Settings:
    """A run's settings: what each option of launch.py says (see its --help), parsed and checked."""

    checkpoint: Path | None  # the avatar file or experiment; None: the embedded demo avatar
    data_folder: Path | None  # a MonoGaussianAvatar dataset that moved since training
    flame: Path | None  # FLAME 2023 for a GaussianAvatars avatar; None: where its checkout keeps it
    landmark_embedding: Path | None  # FLAME's landmarks for tracking it; None: beside the FLAME file
    save_avatar: Path | None  # write the avatar to this .npz, then quit
    gem: bool  # the avatar as a GEM
    renderer: str  # one of RENDERERS
    fp16: bool  # a GEM on the GPU keeps its bases in float16
    width: int  # the image: the window's image area, or the video frame
    height: int
    background: tuple[int, int, int]  # RGB 0-255
    headless: bool  # no window: the sweep, or with `video` the reenactment
    output: Path | None  # the sweep's video; --video's output (None: named after the video)
    output_is_folder: bool  # --output ended with a slash: a folder
    frames: int  # the sweep's length
    fps: float  # the sweep's frame rate
    screenshot: Path | None  # save the window to this PNG once drawn, then quit
    webcam: int | Path | None  # what drives the avatar live in the window
    record_dir: Path  # where the window's recordings, screenshots and PLY exports go
    video: Path | None  # reenact this video (or folder of videos)
    params: Path | None  # a tracking to replay instead of tracking the video
    neutral_frame: int | None  # the video frame whose face is the driver's rest; None: estimated
    absolute: bool  # drive with the tracked expression as it is
    layout: str  # one of LAYOUTS
    landmarks: bool  # draw the tracked landmarks on the video
    png: bool  # PNG frames into a folder instead of an .mp4


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(defaults: dict, epilog: str = "") -> argparse.ArgumentParser:
    """launch.py's options; their help says the default `defaults` (configs/default.yaml) gives."""
    def default(key: str) -> str:
        value = defaults[key]
        shown = {None: "none", True: "on", False: "off"}.get(value, value) if not isinstance(value, list) else (
            ",".join(map(str, value)))
        return f"; default: {shown}"

    parser = OneLineParser(
        prog="launch.py", description="Show a Gaussian-splatting head avatar in a window, or render it to a video.",
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter, argument_default=argparse.SUPPRESS,
    )
    switch = argparse.BooleanOptionalAction
    parser.add_argument("--checkpoint", metavar="PATH", help="the avatar: a MonoGaussianAvatar experiment (its "
                        "train folder, its checkpoints folder or a ModelParameters/*.pth), an original GEM eigen "
                        "model (GAUSSIAN_PCA_*/ID.ptk or ID_parts.ptk; its refined basis is taken from the "
                        "regressor's model.pth when found), a GaussianAvatars point_cloud.ply (flame_param.npz "
                        "beside it) or an .npz written by livehead" + default("checkpoint")
                        + " (the embedded demo avatar)")
    parser.add_argument("--data-folder", metavar="DIR", help="a MonoGaussianAvatar dataset's folder (holding "
                        "SUBJECT/SUBJECT/SPLIT/flame_params.json), when it is no longer where the experiment's "
                        "runconf.conf says")
    parser.add_argument("--flame", metavar="FILE.pkl", help="FLAME 2023 (flame2023.pkl) for a GaussianAvatars "
                        "avatar (--checkpoint .../point_cloud.ply)" + default("flame") + " (where a GaussianAvatars "
                        "checkout keeps it: flame_model/assets/flame/ in a folder above the avatar)")
    parser.add_argument("--landmark-embedding", metavar="FILE.npy", help="FLAME's landmark_embedding_with_eyes.npy, "
                        "for tracking a face onto a GaussianAvatars avatar" + default("landmark_embedding")
                        + " (the one beside the FLAME file)")
    parser.add_argument("--save-avatar", metavar="FILE.npz", type=Path, help="write the loaded avatar to one "
                        "livehead file (loads in under a second, needs no dataset), then quit")
    parser.add_argument("--gem", action=switch, help="show the avatar as a GEM (Gaussian eigen model): every frame "
                        "one product per attribute, with a slider per eigen coefficient; the demo's is built once "
                        "(seconds) and cached, another avatar's is built at every start (python -m avatar.gem build "
                        "saves one to open with --checkpoint)" + default("gem"))
    parser.add_argument("--renderer", metavar="{" + ",".join(RENDERERS) + "}", help="rasterizer: auto picks the "
                        "fastest available (gsplat and inria need CUDA)" + default("renderer"))
    parser.add_argument("--fp16", action=switch, help="a GEM drawn by a CUDA renderer lives on the GPU; this keeps "
                        "its bases there in float16 (half the memory each frame reads)" + default("fp16"))
    parser.add_argument("--size", metavar="N|WxH", help="image size in pixels, each side from "
                        f"{MIN_SIZE} to {MAX_SIZE}: the window's image area, or the video's frame size (even "
                        "numbers for video)" + default("size"))
    parser.add_argument("--background", metavar="R,G,B", help="background colour, 0-255 each"
                        + default("background"))
    parser.add_argument("--config", metavar="FILE.yaml", type=Path, help="YAML file overriding configs/default.yaml "
                        "(same keys as these options); the command line overrides both")
    video = parser.add_argument_group("video (no window)")
    video.add_argument("--headless", action="store_true", help="render the scripted sweep (expressions, jaw, head "
                       "turn, eyes, a camera orbit) into an H.264 video instead of opening a window; with --video, "
                       "the reenactment")
    video.add_argument("--output", metavar="FILE.mp4", help="where --headless (or the window's video export) "
                       f"writes the video; default: {SWEEP_OUTPUT}, with --video VIDEO_reenacted.mp4")
    video.add_argument("--frames", type=int, metavar="N", help="frames in the sweep's video; it fits any count"
                       + default("frames"))
    video.add_argument("--fps", type=float, help=f"frame rate of the sweep's video, {MIN_FPS} to {MAX_FPS}"
                       + default("fps"))
    reenact = parser.add_argument_group("video reenactment: --video IN --output OUT, with --headless or in the "
                                        "window")
    reenact.add_argument("--video", metavar="FILE|DIR", help="drive the avatar with the face in this video, frame "
                         "for frame, into --output (an .mp4 at the video's frame rate, with its audio) with "
                         "--headless; without it, in the window: the video tracked once (or its tracking "
                         "reused), played as the timeline beside the avatar. A folder: every video in it (.mp4 "
                         ".mov .avi .mkv .webm) into the folder --output, resuming where an interrupted run "
                         "stopped. Writes OUT.tracked.npz and OUT.flame_params.json (IMavatar) beside the output, "
                         "and OUT.report.json with the video")
    reenact.add_argument("--params", metavar="FILE.npz", help="with --video: replay this tracking (OUT.tracked.npz of "
                         "an earlier run, or python -m tracking --output) instead of tracking the video again; "
                         "without: a GaussianAvatars / VHAP flame_param.npz as a motion, the avatar's timeline in the "
                         "window (its expressions, joints and translation; shape and offsets stay the avatar's)")
    reenact.add_argument("--neutral-frame", type=int, metavar="N", help="the video frame whose face counts as the "
                         "driver's rest face (0 is the first)" + default("neutral_frame")
                         + " (estimated from the whole video)")
    reenact.add_argument("--absolute", action=switch, help="drive with the tracked expression as it is, not "
                         "relative to the driver's neutral" + default("absolute"))
    reenact.add_argument("--layout", metavar="{" + ",".join(LAYOUTS) + "}", help="avatar: the avatar alone; side: "
                         "the video beside it; grid: 2x2 of the video, the avatar from the front, from its side and "
                         "its alpha" + default("layout"))
    reenact.add_argument("--landmarks", action=switch, help="draw the tracked landmarks on the video (side and "
                         "grid layouts; in the window, on its frames)" + default("landmarks"))
    reenact.add_argument("--png", action=switch, help="write PNG frames (frame_000000.png, ...) into the folder "
                         "--output instead of an .mp4 (also when --output ends with /)" + default("png"))
    window = parser.add_argument_group("window")
    window.add_argument("--screenshot", metavar="FILE.png", type=Path, help="save a screenshot of the window once "
                        "the avatar is drawn (with --webcam: once the camera drives it; exit status 1 if it has not "
                        "within 2 minutes), then quit")
    window.add_argument("--webcam", metavar="SOURCE", help="drive the avatar live from a face: a webcam index "
                        "(0, 1, ...), or a video file or image folder played at its own rate, looping; without "
                        "a working camera the window opens with the sliders alone" + default("webcam"))
    window.add_argument("--record-dir", metavar="DIR", help="where recordings (V), screenshots (P) and PLY exports "
                        "go, named by the time" + default("record_dir"))
    return parser


def read_config(path: Path) -> dict:
    try:
        config = yaml.safe_load(path.read_text())
    except OSError as err:
        raise UsageError(f"cannot read config {path}: {err.strerror}; give an existing YAML file to --config")
    except yaml.YAMLError as err:
        raise UsageError(f"config {path} is not valid YAML ({' '.join(str(err).split())})")
    if not isinstance(config, dict):
        raise UsageError(f"config {path} must be a mapping of option names to values, like configs/default.yaml")
    return config


def settings_from(argv: list[str] | None = None, epilog: str = "") -> Settings:
    """The command line `argv` (None: sys.argv's) over a --config file over configs/default.yaml, checked."""
    defaults = read_config(DEFAULTS_FILE)
    given = vars(build_parser(defaults, epilog).parse_args(argv))
    config = dict(defaults)
    if "config" in given:
        override = read_config(given["config"])
        unknown = sorted(set(override) - set(defaults))
        if unknown:
            raise UsageError(f"config {given['config']}: unknown key {unknown[0]!r}; "
                             f"the keys are {', '.join(sorted(defaults))}")
        config |= override
    config |= {key: value for key, value in given.items() if key in defaults}
    return _checked(config, given)


def _checked(config: dict, given: dict) -> Settings:
    """Every value checked once; what the mode (window, sweep, reenactment, --save-avatar) does not take is refused
    where it was given on the command line."""
    for key in SWITCHES:  # YAML's true or false only: a quoted "false" is a string, which bool() takes for true
        if not isinstance(config[key], bool):
            raise UsageError(f"{key}: {config[key]!r} is not true or false; write true or false, without quotes")
    for key, choices in (("renderer", RENDERERS), ("layout", LAYOUTS)):
        if config[key] not in choices:
            raise UsageError(f"{key} {config[key]!r}: choose one of {', '.join(choices)}")
    path = {key: None if config[key] is None else Path(str(config[key]))
            for key in ("checkpoint", "data_folder", "flame", "landmark_embedding", "video", "params", "record_dir")}
    video, headless, save_avatar = path["video"], given.get("headless", False), given.get("save_avatar")
    screenshot = given.get("screenshot")
    headless = headless or (video is not None and video.is_dir())  # a folder of videos opens no window
    window = not headless and save_avatar is None
    _refuse_what_the_mode_does_not_take(given, video, headless)
    width, height = parse_size(config["size"])
    if (headless or video is not None) and (width % 2 or height % 2):
        raise UsageError(f"--size {width}x{height}: H.264 video needs an even width and height")
    text = "" if config["output"] is None else str(config["output"])
    if config["output"] is not None and not text.strip():  # Path("") would be the current folder
        raise UsageError("--output is empty: give a file name ending in .mp4 (with --video, or a folder for PNGs)")
    output = Path(text) if text.strip() else (None if video is not None else SWEEP_OUTPUT)
    if screenshot is not None:
        check_output_file("--screenshot", screenshot, ".png", "screenshots are PNG")
    if save_avatar is not None:
        check_output_file("--save-avatar", save_avatar, ".npz", "livehead avatars are .npz files")
    elif headless and video is None:
        check_output_file("--output", output, ".mp4", "the video is written as H.264 .mp4")
    neutral_frame = config["neutral_frame"]
    if neutral_frame is not None and (isinstance(neutral_frame, bool) or not isinstance(neutral_frame, int)
                                      or neutral_frame < 0):  # -1 is not the last frame here: frames count from 0
        raise UsageError(f"--neutral-frame {neutral_frame}: give a frame number (0 is the first)")
    record_dir = path["record_dir"]
    if window and not (record_dir.is_dir() and os.access(record_dir, os.W_OK)):
        raise UsageError(f"--record-dir {record_dir}: choose a folder that exists and that you can write to")
    return Settings(
        checkpoint=path["checkpoint"], data_folder=path["data_folder"], flame=path["flame"],
        landmark_embedding=path["landmark_embedding"], save_avatar=save_avatar,
        gem=config["gem"],
        renderer=config["renderer"], fp16=config["fp16"], width=width, height=height,
        background=parse_colour(config["background"]), headless=headless, output=output,
        output_is_folder=text.endswith(("/", os.sep)), frames=positive_whole("--frames", config["frames"]),
        fps=frame_rate(config["fps"]), screenshot=screenshot,
        webcam=None if video is not None else parse_webcam(config["webcam"]), record_dir=record_dir, video=video,
        params=path["params"], neutral_frame=neutral_frame, absolute=config["absolute"], layout=config["layout"],
        landmarks=config["landmarks"], png=config["png"],
    )


def _refuse_what_the_mode_does_not_take(given: dict, video: Path | None, headless: bool) -> None:
    if video is None:
        if headless and "webcam" in given:
            raise UsageError("--webcam drives the window; --headless renders the scripted sweep without one")
        return
    refused = {"webcam": "the video drives the avatar", "frames": "the output keeps the video's frame count and "
               "frame rate", "fps": "the output keeps the video's frame count and frame rate",
               "save_avatar": "it converts the avatar, then quits"}
    if headless:
        refused["screenshot"] = "it belongs to the window, which opens for one video file without --headless"
    for key, reason in refused.items():
        if key in given:
            raise UsageError(f"--{key.replace('_', '-')} does not go with --video: {reason}")
    if "params" in given and video.is_dir():
        raise UsageError(f"--params replays the tracking of one video; give one --video file, not the folder {video}")


def check_output_file(option: str, path: Path, suffix: str, kind: str) -> None:
    """A file livehead will write: the right kind of name, and a place where one rename can put it (found now,
    not after the work). --video's outputs are checked with their jobs (viewer.runs.reenact.plan_jobs)."""
    if path.suffix.lower() != suffix:
        raise UsageError(f"{option} {path}: {kind}; give a name ending in {suffix}")
    problem = replace_problem(path)
    if problem is not None:
        raise UsageError(f"cannot write {option} {path}: {problem}; choose another name or folder")


def parse_size(value) -> tuple[int, int]:
    """512 or "512" -> (512, 512); "640x480" -> (640, 480)."""
    try:
        parts = [int(part) for part in str(value).lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or not all(MIN_SIZE <= part <= MAX_SIZE for part in parts):
        raise UsageError(f"--size {value}: give N or WxH with each between {MIN_SIZE} and {MAX_SIZE}, "
                         "e.g. 512 or 640x480")
    return parts[0], parts[-1]


def parse_colour(value) -> tuple[int, int, int]:
    """"255,255,255" or [255, 255, 255] -> (255, 255, 255)."""
    parts = value.split(",") if isinstance(value, str) else value
    try:
        colour = tuple(int(part) for part in parts)
    except (TypeError, ValueError):
        colour = ()
    if len(colour) != 3 or not all(0 <= c <= 255 for c in colour):
        raise UsageError(f"--background {value}: give R,G,B with each between 0 and 255, e.g. 255,255,255")
    return colour


def parse_webcam(value) -> int | Path | None:
    """0 or "0" -> webcam 0; a path -> a video file or image folder (which must exist); None -> no live source."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    path = Path(text)
    if not path.exists():
        raise UsageError(f"--webcam {value}: no such file or folder; give a webcam index (0, 1, ...), a video file "
                         "or a folder of images")
    return path


def positive_whole(option: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) <= 0 or int(value) != value:
        raise UsageError(f"{option} {value}: give a positive whole number")
    return int(value)


def frame_rate(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not MIN_FPS <= value <= MAX_FPS:
        raise UsageError(f"--fps {value}: give a frame rate from {MIN_FPS} to {MAX_FPS} frames a second")
    return float(value)
