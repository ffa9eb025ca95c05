"""livehead: a real-time viewer for Gaussian-splatting head avatars.

Argument parsing -> settings (configs/default.yaml, then --config, then the command line) -> the window or
the headless video. Every expected failure prints one line and exits with status 2.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.yaml"
RENDERERS = ("auto", "cpu", "gsplat", "inria")
MIN_SIZE, MAX_SIZE = 16, 4096

EXAMPLES = """\
examples:
  python launch.py                                   open the window on the demo avatar
  python launch.py --checkpoint my_avatar.npz        open the window on your avatar
  python launch.py --checkpoint exps/subj/method/train1/train --data-folder ~/data/pointavatar_dataset
                                                     a MonoGaussianAvatar experiment whose dataset moved
  python launch.py --checkpoint exps/.../train --save-avatar subj.npz
                                                     convert it to one file that opens in under a second
  python launch.py --headless --output demo.mp4      render the demo sweep into a video
  python launch.py --headless --output clip.mp4 --frames 600 --fps 60 --size 1280x720
  python launch.py --screenshot shot.png             open the window, save a screenshot, quit
  python launch.py --checkpoint my_avatar.npz --webcam 0
                                                     your face on the left, the avatar following it
  python launch.py --webcam clip.mp4                 a video (or image folder) as the camera, looping

In the window: drag with the left button to orbit, the right or middle button to pan, the wheel to zoom;
R resets the view, L switches between live and manual, C calibrates the neutral face, V starts or stops a
recording, P saves a screenshot, Esc or Q quits; with a timeline, Space plays or pauses and Left / Right step.
"""


class UsageError(Exception):
    """Something the user gave cannot be used; the message says what and what to do."""


@dataclass(frozen=True)
class Settings:
    checkpoint: Path | None
    data_folder: Path | None
    save_avatar: Path | None
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


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="launch.py", description="Show a Gaussian-splatting head avatar in a window, or render it to a video.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", metavar="PATH", help="the avatar: a MonoGaussianAvatar experiment (its "
                        "train folder, its checkpoints folder or a ModelParameters/*.pth) or an .npz written by "
                        "livehead; default: the embedded demo avatar")
    parser.add_argument("--data-folder", metavar="DIR", help="a MonoGaussianAvatar dataset's folder (holding "
                        "SUBJECT/SUBJECT/SPLIT/flame_params.json), when it is no longer where the experiment's "
                        "runconf.conf says")
    parser.add_argument("--save-avatar", metavar="FILE.npz", type=Path, help="write the loaded avatar to one "
                        "livehead file (loads in under a second, needs no dataset), then quit")
    parser.add_argument("--renderer", choices=RENDERERS, help="rasterizer: auto picks the fastest available "
                        "(gsplat and inria need CUDA); default: auto")
    parser.add_argument("--size", metavar="N|WxH", help="image size in pixels: the window's image area, or the "
                        "video's frame size (even numbers for video); default: 512")
    parser.add_argument("--background", metavar="R,G,B", help="background colour, 0-255 each; default: 255,255,255")
    parser.add_argument("--config", metavar="FILE.yaml", type=Path, help="YAML file overriding configs/default.yaml "
                        "(same keys as these options); the command line overrides both")
    video = parser.add_argument_group("video (no window)")
    video.add_argument("--headless", action="store_true", help="render the scripted sweep (expressions, jaw, head "
                       "turn, eyes, a camera orbit) into an H.264 video instead of opening a window")
    video.add_argument("--output", metavar="FILE.mp4", help="where --headless writes the video; default: demo.mp4")
    video.add_argument("--frames", type=int, metavar="N", help="frames in the video; the sweep fits any count; "
                       "default: 300")
    video.add_argument("--fps", type=float, help="frame rate of the video; default: 30")
    window = parser.add_argument_group("window")
    window.add_argument("--screenshot", metavar="FILE.png", type=Path, help="save a screenshot of the window once "
                        "the avatar is drawn, then quit")
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

    width, height = parse_size(config["size"])
    output = Path(str(config["output"]))
    if args.headless and output.suffix.lower() != ".mp4":
        raise UsageError(f"--output {output}: the video is written as H.264 .mp4; give a name ending in .mp4")
    if args.headless and (width % 2 or height % 2):
        raise UsageError(f"--size {width}x{height}: H.264 video needs an even width and height")
    if args.save_avatar is not None and args.save_avatar.suffix.lower() != ".npz":
        raise UsageError(f"--save-avatar {args.save_avatar}: livehead avatars are .npz files; give a name ending "
                         "in .npz")
    if args.screenshot is not None and args.screenshot.suffix.lower() != ".png":
        raise UsageError(f"--screenshot {args.screenshot}: screenshots are PNG; give a name ending in .png")
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
        renderer=config["renderer"],
        width=width,
        height=height,
        background=parse_colour(config["background"]),
        headless=args.headless,
        output=output,
        frames=positive("--frames", config["frames"], int),
        fps=positive("--fps", config["fps"], float),
        screenshot=args.screenshot,
        webcam=webcam,
        record_dir=record_dir,
    )


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


def positive(option: str, value, kind: type) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or kind(value) <= 0 or kind(value) != value:
        raise UsageError(f"{option} {value}: give a positive {'whole ' if kind is int else ''}number")
    return kind(value)


def check_renderer(name: str) -> None:
    from avatar.rasterizer import backend_problem

    problem = backend_problem(name)
    if problem:
        raise UsageError(f"--renderer {name}: {problem}")


def announce_first_compile(name: str) -> None:
    """Rendering is about to start: say so if the CPU rasterizer has to compile first (a fresh checkout)."""
    from avatar.rasterizer import available_backends
    from avatar.rasterizer.cpu import is_compiled

    if (available_backends()[0] if name == "auto" else name) == "cpu" and not is_compiled():
        print("livehead: compiling the CPU rasterizer, once (about 15 s)", file=sys.stderr)


def load(settings: Settings):
    from avatar import AvatarError, load_avatar

    try:
        return load_avatar(settings.checkpoint, data_folder=settings.data_folder)
    except AvatarError as err:
        raise UsageError(f"cannot load --checkpoint: {err}") from None


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
    from viewer.orbit import OrbitCamera, target_depth
    from viewer.video import Mp4Writer

    check_renderer(settings.renderer)
    try:
        video = Mp4Writer(settings.output, settings.width, settings.height, settings.fps)
    except OSError as err:
        raise UsageError(f"cannot write --output {settings.output}: {err.strerror or err}; "
                         "choose a folder that exists and that you can write to") from None
    with video:  # nothing appears under the output's name unless every frame was written
        avatar = load(settings)
        orbit = OrbitCamera.around(avatar.default_camera, target_depth(avatar.default_camera, avatar.head.v_template))
        orbit.resize(settings.width, settings.height)
        background = torch.tensor(settings.background, dtype=torch.float32) / 255
        announce_first_compile(settings.renderer)
        render_sweep(avatar, orbit, video, settings.frames, background, settings.renderer)
    print(f"wrote {settings.output} ({settings.frames} frames, {settings.width}x{settings.height}, "
          f"{settings.fps:g} fps)")


def run_window(settings: Settings) -> None:
    from viewer.display import display_problem

    problem = display_problem()  # before dearpygui is imported: without a display it aborts the process
    if problem:
        raise UsageError(problem)
    if settings.screenshot is not None and not os.access(settings.screenshot.parent.resolve(), os.W_OK):
        raise UsageError(f"cannot write --screenshot {settings.screenshot}: choose a folder that exists and that "
                         "you can write to")
    check_renderer(settings.renderer)
    avatar = load(settings)
    from viewer.app import ViewerApp

    app = ViewerApp(avatar, settings.width, settings.height, settings.background, settings.renderer,
                    webcam=settings.webcam, record_dir=settings.record_dir)
    announce_first_compile(settings.renderer)
    app.run(screenshot=settings.screenshot)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = None
    try:
        settings = settings_from(args)
        if settings.save_avatar is not None:
            save_avatar_file(settings)
        elif settings.headless:
            run_headless(settings)
        else:
            run_window(settings)
    except UsageError as err:
        print(f"livehead: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        unwritten = f"; {settings.output} was not written" if settings and settings.headless else ""
        print(f"livehead: interrupted{unwritten}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
