"""livehead: a real-time viewer for Gaussian-splatting head avatars.

Argument parsing -> settings (configs/default.yaml, then --config, then the command line) -> the window or
the headless video. Every expected failure prints one line and exits with status 2.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from models.atomic_file import replace_problem

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.yaml"
RENDERERS = ("auto", "cpu", "gsplat", "inria")
LAYOUTS = ("avatar", "side", "grid")
MIN_SIZE, MAX_SIZE = 16, 4096
# The sweep's frame rates: H.264 in .mp4 keeps every frame from 1 to 240 fps (at 2000 fps, libx264's timestamps
# are too close together and frames are lost; no camera or screen needs more than 240).
MIN_FPS, MAX_FPS = 1, 240
SWITCHES = ("gem", "fp16", "absolute", "landmarks", "png")  # the on/off settings

EXAMPLES = """\
examples:
  python launch.py                                   open the window on the demo avatar
  python launch.py --checkpoint my_avatar.npz        open the window on your avatar
  python launch.py --checkpoint exps/subj/method/train1/train --data-folder ~/data/pointavatar_dataset
                                                     a MonoGaussianAvatar experiment whose dataset moved
  python launch.py --checkpoint exps/.../train --save-avatar subj.npz
                                                     convert it to one file that opens in under a second
  python launch.py --gem                             the demo avatar as a GEM, with its eigen sliders
  python launch.py --checkpoint GEM/checkpoints/GAUSSIAN_PCA_256/UNION10_306_parts.ptk
                                                     an original GEM: eigen sliders, its coefficient track
  python launch.py --headless --output demo.mp4      render the demo sweep into a video
  python launch.py --headless --output clip.mp4 --frames 600 --fps 60 --size 1280x720
  python launch.py --screenshot shot.png             open the window, save a screenshot, quit
  python launch.py --checkpoint my_avatar.npz --webcam 0
                                                     your face on the left, the avatar following it
  python launch.py --webcam clip.mp4                 a video (or image folder) as the camera, looping
  python launch.py --checkpoint my_avatar.npz --video talk.mp4 --output talk_avatar.mp4 --headless
                                                     reenact a video: the avatar does what the face in it does,
                                                     frame for frame, with its sound (and its tracking saved)
  python launch.py --video talk.mp4 --output side.mp4 --layout side --landmarks --headless
  python launch.py --video clips/ --output reenacted/ --headless
                                                     every video of a folder; run again to resume
  python launch.py --checkpoint my_avatar.npz --video talk.mp4 --output talk_avatar.mp4
                                                     the same in the window: the video is the timeline, its
                                                     frames beside the avatar; "export video" writes the mp4

In the window: drag with the left button to orbit, the right or middle button to pan, the wheel to zoom;
R resets the view, L switches between live and manual, C calibrates the neutral face, V starts or stops a
recording, P saves a screenshot, Esc or Q quits; with a timeline (a --video's, or the avatar's dataset frames),
Space plays or pauses and Left / Right step.
"""


class UsageError(Exception):
    """Something the user gave cannot be used; the message says what and what to do."""


@dataclass(frozen=True)
class Settings:
    checkpoint: Path | None
    data_folder: Path | None
    save_avatar: Path | None
    gem: bool
    renderer: str
    width: int
    height: int
    background: tuple[int, int, int]
    headless: bool
    output: Path
    frames: int
    fps: float
    screenshot: Path | None
    webcam: int | Path | None
    record_dir: Path
    # --video: reenactment
    video: Path | None = None
    output_given: bool = False  # --output came from the command line or --config, not the defaults
    output_is_folder: bool = False  # --output ends with a slash
    params: Path | None = None
    neutral_frame: int | None = None
    absolute: bool = False
    layout: str = "avatar"
    landmarks: bool = False
    png: bool = False
    fp16: bool = False  # a GEM on the GPU keeps its bases in float16


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="launch.py", description="Show a Gaussian-splatting head avatar in a window, or render it to a video.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", metavar="PATH", help="the avatar: a MonoGaussianAvatar experiment (its "
                        "train folder, its checkpoints folder or a ModelParameters/*.pth), an original GEM eigen "
                        "model (GAUSSIAN_PCA_*/ID.ptk or ID_parts.ptk; its refined basis is taken from the "
                        "regressor's model.pth when found) or an .npz written by livehead; default: the embedded "
                        "demo avatar")
    parser.add_argument("--data-folder", metavar="DIR", help="a MonoGaussianAvatar dataset's folder (holding "
                        "SUBJECT/SUBJECT/SPLIT/flame_params.json), when it is no longer where the experiment's "
                        "runconf.conf says")
    parser.add_argument("--save-avatar", metavar="FILE.npz", type=Path, help="write the loaded avatar to one "
                        "livehead file (loads in under a second, needs no dataset), then quit")
    parser.add_argument("--gem", action="store_true", default=None, help="show the avatar as a GEM (Gaussian "
                        "eigen model): every frame one product per attribute, with a slider per eigen coefficient; "
                        "the demo's is built once (seconds) and cached, another avatar's is built at every start "
                        "(python -m avatar.gem build saves one to open with --checkpoint)")
    parser.add_argument("--renderer", choices=RENDERERS, help="rasterizer: auto picks the fastest available "
                        "(gsplat and inria need CUDA); default: auto")
    parser.add_argument("--fp16", action="store_true", default=None, help="a GEM drawn by a CUDA renderer lives on "
                        "the GPU; this keeps its bases there in float16 (half the memory each frame reads)")
    parser.add_argument("--size", metavar="N|WxH", help="image size in pixels: the window's image area, or the "
                        "video's frame size (even numbers for video); default: 512")
    parser.add_argument("--background", metavar="R,G,B", help="background colour, 0-255 each; default: 255,255,255")
    parser.add_argument("--config", metavar="FILE.yaml", type=Path, help="YAML file overriding configs/default.yaml "
                        "(same keys as these options); the command line overrides both")
    video = parser.add_argument_group("video (no window)")
    video.add_argument("--headless", action="store_true", help="render the scripted sweep (expressions, jaw, head "
                       "turn, eyes, a camera orbit) into an H.264 video instead of opening a window; with --video, "
                       "the reenactment")
    video.add_argument("--output", metavar="FILE.mp4", help="where --headless (or the window's video export) "
                       "writes the video; default: demo.mp4, with --video VIDEO_reenacted.mp4")
    video.add_argument("--frames", type=int, metavar="N", help="frames in the video; the sweep fits any count; "
                       "default: 300")
    video.add_argument("--fps", type=float, help=f"frame rate of the video, {MIN_FPS} to {MAX_FPS}; default: 30")
    reenact = parser.add_argument_group("video reenactment: --video IN --output OUT, with --headless or in the "
                                        "window")
    reenact.add_argument("--video", metavar="FILE|DIR", help="drive the avatar with the face in this video, frame "
                         "for frame, into --output (an .mp4 at the video's frame rate, with its audio) with "
                         "--headless; without it, in the window: the video tracked once (or its tracking "
                         "reused), played as the timeline beside the avatar. A folder: every video in it (.mp4 "
                         ".mov .avi .mkv .webm) into the folder --output, resuming where an interrupted run "
                         "stopped. Writes OUT.tracked.npz and OUT.flame_params.json (IMavatar) beside the output, "
                         "and OUT.report.json with the video")
    reenact.add_argument("--params", metavar="FILE.npz", help="replay this tracking (OUT.tracked.npz of an earlier "
                         "run, or python -m tracking --output) instead of tracking the video again")
    reenact.add_argument("--neutral-frame", type=int, metavar="N", help="the video frame whose face counts as the "
                         "driver's rest face; default: estimated from the whole video")
    reenact.add_argument("--absolute", action="store_true", default=None, help="drive with the tracked "
                         "expression as it is, not relative to the driver's neutral")
    reenact.add_argument("--layout", choices=LAYOUTS, help="avatar: the avatar alone; side: the video beside it; "
                         "grid: 2x2 of the video, the avatar from the front, from its side and its alpha; "
                         "default: avatar")
    reenact.add_argument("--landmarks", action="store_true", default=None, help="draw the tracked landmarks on "
                         "the video (side and grid layouts; in the window, on its frames)")
    reenact.add_argument("--png", action="store_true", default=None, help="write PNG frames (frame_000000.png, "
                         "...) into the folder --output instead of an .mp4 (also when --output ends with /)")
    window = parser.add_argument_group("window")
    window.add_argument("--screenshot", metavar="FILE.png", type=Path, help="save a screenshot of the window once "
                        "the avatar is drawn (with --webcam: once the camera drives it; exit status 1 if it has not "
                        "within 2 minutes), then quit")
    window.add_argument("--webcam", metavar="SOURCE", help="drive the avatar live from a face: a webcam index "
                        "(0, 1, ...), or a video file or image folder played at its own rate, looping; without "
                        "a working camera the window opens with the sliders alone; default: none")
    window.add_argument("--record-dir", metavar="DIR", help="where recordings (V), screenshots (P) and PLY exports "
                        "go, named by the time; default: the current folder")
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


def settings_from(args: argparse.Namespace) -> Settings:
    config = read_config(DEFAULT_CONFIG)
    keys = set(config)
    if args.config is not None:
        override = read_config(args.config)
        unknown = sorted(set(override) - keys)
        if unknown:
            raise UsageError(f"config {args.config}: unknown key {unknown[0]!r}; "
                             f"the keys are {', '.join(sorted(keys))}")
        config |= override
    config |= {key: value for key, value in vars(args).items() if key in keys and value is not None}
    for key in SWITCHES:  # YAML's true or false only: a quoted "false" is a string, which bool() takes for true
        if not isinstance(config[key], bool):
            raise UsageError(f"{key}: {config[key]!r} is not true or false; write true or false, without quotes")

    width, height = parse_size(config["size"])
    if not str(config["output"]).strip():  # Path("") would be the current folder
        raise UsageError("--output is empty: give a file name ending in .mp4 (with --video, or a folder for PNGs)")
    output = Path(str(config["output"]))
    if args.screenshot is not None:
        check_output_file("--screenshot", args.screenshot, ".png", "screenshots are PNG")
    video = None if config["video"] is None else Path(str(config["video"]))
    if video is not None:
        return reenact_settings(args, config, video, width, height)
    if args.save_avatar is not None:
        check_output_file("--save-avatar", args.save_avatar, ".npz", "livehead avatars are .npz files")
    elif args.headless:
        check_output_file("--output", output, ".mp4", "the video is written as H.264 .mp4")
    if args.headless and (width % 2 or height % 2):
        raise UsageError(f"--size {width}x{height}: H.264 video needs an even width and height")
    webcam = parse_webcam(config["webcam"])
    if args.headless and args.webcam is not None:
        raise UsageError("--webcam drives the window; --headless renders the scripted sweep without one")
    record_dir = Path(str(config["record_dir"]))
    if not args.headless and args.save_avatar is None and not (record_dir.is_dir() and os.access(record_dir, os.W_OK)):
        raise UsageError(f"--record-dir {record_dir}: choose a folder that exists and that you can write to")
    if config["renderer"] not in RENDERERS:
        raise UsageError(f"renderer {config['renderer']!r}: choose one of {', '.join(RENDERERS)}")
    return Settings(
        checkpoint=None if config["checkpoint"] is None else Path(str(config["checkpoint"])),
        data_folder=None if config["data_folder"] is None else Path(str(config["data_folder"])),
        save_avatar=args.save_avatar,
        gem=config["gem"],
        renderer=config["renderer"],
        width=width,
        height=height,
        background=parse_colour(config["background"]),
        headless=args.headless,
        output=output,
        frames=positive_whole("--frames", config["frames"]),
        fps=frame_rate(config["fps"]),
        screenshot=args.screenshot,
        webcam=webcam,
        record_dir=record_dir,
        fp16=config["fp16"],
    )


def reenact_settings(args: argparse.Namespace, config: dict, video: Path, width: int, height: int) -> Settings:
    """--video: the reenactment's settings; what only the sweep or the avatar conversion takes is refused, and
    what only the window takes, where no window opens (--headless, or a folder of videos)."""
    headless = args.headless or video.is_dir()
    refused = {"--webcam": (args.webcam, "the video drives the avatar"),
               "--frames": (args.frames, "the output keeps the video's frame count and frame rate"),
               "--fps": (args.fps, "the output keeps the video's frame count and frame rate"),
               "--save-avatar": (args.save_avatar, "it converts the avatar, then quits")}
    if headless:
        refused["--screenshot"] = (args.screenshot, "it belongs to the window, which opens for one video file "
                                   "without --headless")
    for option, (value, reason) in refused.items():
        if value is not None:
            raise UsageError(f"{option} does not go with --video: {reason}")
    if width % 2 or height % 2:
        raise UsageError(f"--size {width}x{height}: H.264 video needs an even width and height")
    if config["layout"] not in LAYOUTS:
        raise UsageError(f"layout {config['layout']!r}: choose one of {', '.join(LAYOUTS)}")
    neutral_frame = config["neutral_frame"]
    if neutral_frame is not None and (isinstance(neutral_frame, bool) or not isinstance(neutral_frame, int)
                                      or neutral_frame < 0):  # -1 is not the last frame here: frames count from 0
        raise UsageError(f"--neutral-frame {neutral_frame}: give a frame number (0 is the first)")
    if config["renderer"] not in RENDERERS:
        raise UsageError(f"renderer {config['renderer']!r}: choose one of {', '.join(RENDERERS)}")
    given = args.output is not None or (args.config is not None and "output" in read_config(args.config))
    text = str(config["output"])
    params = None if config["params"] is None else Path(str(config["params"]))
    if params is not None and video.is_dir():
        raise UsageError(f"--params replays the tracking of one video; give one --video file, not the folder {video}")
    record_dir = Path(str(config["record_dir"])) if not headless else Path(".")
    if not headless and not (record_dir.is_dir() and os.access(record_dir, os.W_OK)):
        raise UsageError(f"--record-dir {record_dir}: choose a folder that exists and that you can write to")
    return Settings(
        checkpoint=None if config["checkpoint"] is None else Path(str(config["checkpoint"])),
        data_folder=None if config["data_folder"] is None else Path(str(config["data_folder"])),
        save_avatar=None, gem=config["gem"], renderer=config["renderer"], width=width, height=height,
        background=parse_colour(config["background"]), headless=headless, output=Path(text), frames=1, fps=1.0,
        screenshot=args.screenshot, webcam=None, record_dir=record_dir, video=video, output_given=given,
        output_is_folder=text.endswith(("/", os.sep)), params=params, neutral_frame=neutral_frame,
        absolute=config["absolute"], layout=config["layout"], landmarks=config["landmarks"],
        png=config["png"], fp16=config["fp16"],
    )


def check_output_file(option: str, path: Path, suffix: str, kind: str) -> None:
    """A file livehead will write: the right kind of name, and a place where one rename can put it (found now,
    not after the work). --video's outputs are checked with their jobs (viewer.reenact.plan_jobs)."""
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


def check_renderer(name: str) -> None:
    from avatar.rasterizer import backend_problem

    problem = backend_problem(name)
    if problem:
        raise UsageError(f"--renderer {name}: {problem}")


def announce_first_compile(name: str, tracking: bool = False) -> None:
    """Rendering (and tracking) is about to start: say so if the CPU rasterizer or the tracker's fit has to
    compile first (a fresh checkout)."""
    from avatar.rasterizer import resolve_backend
    from avatar.rasterizer.cpu import is_compiled

    if resolve_backend(name) == "cpu" and not is_compiled():
        print("livehead: compiling the CPU rasterizer, once (about 15 s)", file=sys.stderr)
    if tracking:
        from tracking.fit import is_compiled as fit_is_compiled

        if not fit_is_compiled():
            print("livehead: compiling the face tracker's fit, once (about 20 s)", file=sys.stderr)


def load(settings: Settings):
    from avatar import AvatarError, load_avatar

    try:
        if settings.gem:
            return load_as_gem(settings)
        return load_avatar(settings.checkpoint, data_folder=settings.data_folder)
    except AvatarError as err:
        raise UsageError(f"cannot load --checkpoint: {err}") from None


def load_as_gem(settings: Settings):
    """--gem: the demo's GEM (cached), or one built now from the --checkpoint avatar."""
    from avatar import load_avatar
    from avatar.gem.avatar import GemAvatar
    from avatar.gem.build import build_gem
    from avatar.gem.demo import demo_gem_path, load_demo_gem

    if settings.checkpoint is None:
        if not demo_gem_path().is_file():
            print("livehead: building the demo avatar's GEM, once (a few seconds)", file=sys.stderr)
        return load_demo_gem()
    avatar = load_avatar(settings.checkpoint, data_folder=settings.data_folder)
    if isinstance(avatar, GemAvatar):
        return avatar
    print("livehead: building a GEM of this avatar (python -m avatar.gem build --checkpoint ... saves one)",
          file=sys.stderr)
    return build_gem(avatar).avatar


def on_renderer_device(avatar, settings: Settings, gpu: str = "cuda"):
    """An avatar that a CUDA rasterizer draws moves to the GPU (`gpu`): each frame, only the FLAME parameters cross
    over and one image comes back. Drawn by the CPU rasterizer, it stays on the CPU (the window's render thread
    moves it once more if its renderer is switched)."""
    import torch

    from avatar.gem.avatar import GemAvatar
    from avatar.rasterizer import resolve_backend

    if resolve_backend(settings.renderer) == "cpu":
        return avatar
    if isinstance(avatar, GemAvatar):
        return avatar.to(gpu, torch.float16 if settings.fp16 else None)
    return avatar.to(gpu)


def save_avatar_file(settings: Settings) -> None:
    from avatar import save_avatar

    avatar = load(settings)
    try:
        save_avatar(avatar, settings.save_avatar)
    except OSError as err:
        raise UsageError(f"cannot write --save-avatar {settings.save_avatar}: {err.strerror or err}; choose a "
                         "folder that exists and that you can write to") from None
    print(f"wrote {settings.save_avatar}; open it with --checkpoint {settings.save_avatar}")


def run_headless(settings: Settings) -> None:
    import torch

    from viewer.headless import render_sweep
    from viewer.orbit import OrbitCamera
    from viewer.video import Mp4Writer

    check_renderer(settings.renderer)
    try:
        video = Mp4Writer(settings.output, settings.width, settings.height, settings.fps)
    except OSError as err:
        raise cannot_write(settings.output, err) from None
    try:
        avatar = on_renderer_device(load(settings), settings)
        orbit = OrbitCamera.home_of(avatar, settings.width, settings.height)
        background = torch.tensor(settings.background, dtype=torch.float32) / 255
        announce_first_compile(settings.renderer)
        render_sweep(avatar, orbit, video, settings.frames, background, settings.renderer)
    except BaseException:
        video.discard()  # nothing appears under the output's name unless every frame was written
        raise
    try:
        video.close()
    except OSError as err:  # the output changed since it was checked (made a folder, locked)
        raise cannot_write(settings.output, err) from None
    print(f"wrote {settings.output} ({settings.frames} frames, {settings.width}x{settings.height}, "
          f"{settings.fps:g} fps)")


def cannot_write(output: Path, err: OSError) -> UsageError:
    return UsageError(f"cannot write --output {output}: {err.strerror or err}; choose another name or folder")


def reenact_options(settings: Settings):
    from viewer.reenact import ReenactOptions

    return ReenactOptions(
        width=settings.width, height=settings.height, background=settings.background, renderer=settings.renderer,
        layout=settings.layout, landmarks=settings.landmarks, neutral_frame=settings.neutral_frame,
        relative=not settings.absolute, params=settings.params,
    )


def plan_reenactment(settings: Settings) -> list:
    """The jobs of --video and --output, checked before anything is loaded or tracked."""
    from viewer.reenact import ReenactError, plan_jobs

    try:
        jobs = plan_jobs(settings.video, settings.output if settings.output_given else None, settings.png,
                         settings.output_is_folder)
    except ReenactError as err:
        raise UsageError(str(err)) from None
    if settings.params is not None and not settings.params.is_file():
        raise UsageError(f"--params {settings.params}: no such file; give a tracked sequence .npz written by "
                         "livehead")
    return jobs


def run_reenact(settings: Settings) -> int:
    from viewer.reenact import ReenactError, reenact_all

    check_renderer(settings.renderer)
    jobs = plan_reenactment(settings)
    options = reenact_options(settings)
    avatar = on_renderer_device(load(settings), settings)
    announce_first_compile(settings.renderer, tracking=settings.params is None)
    try:
        result = reenact_all(avatar, jobs, options)
    except ReenactError as err:
        raise UsageError(str(err)) from None
    if len(jobs) > 1:
        print(f"{len(result.written)} written, {len(result.skipped)} already done, {len(result.failed)} failed "
              f"(of {len(jobs)} videos)")
    return 2 if result.failed else 0


def check_video(settings: Settings):
    """--video in the window: every one-line error that needs no avatar, before the window's own."""
    from viewer.reenact import ReenactError, open_input

    job = plan_reenactment(settings)[0]
    try:
        return open_input(job, reenact_options(settings))
    except ReenactError as err:
        raise UsageError(str(err)) from None


def open_video_timeline(settings: Settings, avatar, video):
    """The video, tracked (a progress bar here in the terminal) or its tracking replayed, as the window's
    timeline; its export writes what the headless run with the same options writes."""
    from viewer.reenact import ReenactError
    from viewer.video_timeline import open_video_timeline as open_timeline

    announce_first_compile(settings.renderer, tracking=video.replay is None)
    try:
        return open_timeline(avatar, video, reenact_options(settings))
    except ReenactError as err:
        raise UsageError(str(err)) from None


def run_window(settings: Settings) -> None:
    from viewer.display import display_problem

    video = check_video(settings) if settings.video is not None else None  # the input's errors first
    problem = display_problem()  # before dearpygui is imported: without a display it aborts the process
    if problem:
        raise UsageError(problem)
    check_renderer(settings.renderer)
    avatar = on_renderer_device(load(settings), settings)
    timeline = None if video is None else open_video_timeline(settings, avatar, video)
    from viewer.app import ViewerApp

    app = ViewerApp(avatar, settings.width, settings.height, settings.background, settings.renderer,
                    webcam=settings.webcam, record_dir=settings.record_dir, video=timeline)
    if video is None:  # a video's timeline said so before tracking it
        announce_first_compile(settings.renderer, tracking=settings.webcam is not None)
    app.run(screenshot=settings.screenshot)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = None
    try:
        settings = settings_from(args)
        if settings.video is not None and settings.headless:
            return run_reenact(settings)
        if settings.save_avatar is not None:
            save_avatar_file(settings)
        elif settings.headless:
            run_headless(settings)
        else:
            run_window(settings)
    except UsageError as err:
        print(f"livehead: {err}", file=sys.stderr)
        return 2
    except TimeoutError as err:  # the camera never drove the window's screenshot
        print(f"livehead: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        unwritten = f"; {settings.output} was not written" if settings and settings.headless else ""
        if settings and settings.video is not None and settings.headless:
            unwritten = "; the video being written was not finished (run again: finished outputs are kept)"
        print(f"livehead: interrupted{unwritten}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a kill ends the run as Ctrl-C does: cleanly
    sys.exit(main())
