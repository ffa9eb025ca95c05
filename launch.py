"""livehead: a real-time viewer for Gaussian-splatting head avatars.

Argument parsing -> settings (configs/default.yaml, then --config, then the command line) -> the window or
the headless video. Every expected failure prints one line and exits with status 2.
"""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from viewer.runs.settings import Settings, UsageError, settings_from

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


def check_renderer(name: str) -> None:
    from avatar.splatting.rasterizer import backend_problem

    problem = backend_problem(name)
    if problem:
        raise UsageError(f"--renderer {name}: {problem}")


def announce_first_compile(name: str, tracking: bool = False) -> None:
    """Rendering (and tracking) is about to start: say so if the CPU rasterizer or the tracker's fit has to
    compile first (a fresh checkout)."""
    from avatar.splatting.rasterizer import resolve_backend
    from avatar.splatting.rasterizer.cpu import is_compiled

    if resolve_backend(name) == "cpu" and not is_compiled():
        print("livehead: compiling the CPU rasterizer, once (about 15 s)", file=sys.stderr)
    if tracking:
        from tracking.fit import is_compiled as fit_is_compiled

        if not fit_is_compiled():
            print("livehead: compiling the face tracker's fit, once (about 20 s)", file=sys.stderr)


def load(settings: Settings):
    from avatar import AvatarError, load_avatar

    try:
        avatar = load_as_gem(settings) if settings.gem else load_avatar(
            settings.checkpoint, data_folder=settings.data_folder, flame=settings.flame,
            landmarks=settings.landmark_embedding)
    except AvatarError as err:
        raise UsageError(f"cannot load --checkpoint: {err}") from None
    if settings.params is not None and settings.video is None:  # a motion: the avatar's timeline
        from avatar.flame_bound.avatar import read_motion

        try:
            avatar.timeline = read_motion(settings.params, avatar.head.num_expressions)
        except AvatarError as err:
            raise UsageError(f"--params {err}") from None
    return avatar


def load_as_gem(settings: Settings):
    """--gem: the demo's GEM (cached), or one built now from the --checkpoint avatar."""
    from avatar import load_avatar
    from avatar.gem.build import build_gem
    from avatar.gem.demo import demo_gem_path, load_demo_gem

    if settings.checkpoint is None:
        if not demo_gem_path().is_file():
            print("livehead: building the demo avatar's GEM, once (a few seconds)", file=sys.stderr)
        return load_demo_gem()
    avatar = load_avatar(settings.checkpoint, data_folder=settings.data_folder, flame=settings.flame,
                         landmarks=settings.landmark_embedding)
    if avatar.eigen_layout is not None:  # a GEM already
        return avatar
    print("livehead: building a GEM of this avatar (python -m avatar.gem build --checkpoint ... saves one)",
          file=sys.stderr)
    return build_gem(avatar).avatar


def on_renderer_device(avatar, settings: Settings):
    """An avatar that a CUDA rasterizer draws moves to the GPU: each frame, only the FLAME parameters cross over and
    one image comes back. Drawn by the CPU rasterizer, it stays on the CPU (the window's render thread moves it once
    more if its renderer is switched)."""
    import torch

    from avatar.splatting.rasterizer import device_of

    device = device_of(settings.renderer)
    if device == "cpu":
        return avatar
    return avatar.to(device, torch.float16 if settings.fp16 else None)


def save_avatar_file(settings: Settings) -> None:
    from avatar import AvatarError, save_avatar

    avatar = load(settings)
    try:
        save_avatar(avatar, settings.save_avatar)
    except AvatarError as err:
        raise UsageError(f"--save-avatar: {err}") from None
    except OSError as err:
        raise UsageError(f"cannot write --save-avatar {settings.save_avatar}: {err.strerror or err}; choose a "
                         "folder that exists and that you can write to") from None
    print(f"wrote {settings.save_avatar}; open it with --checkpoint {settings.save_avatar}")


def run_headless(settings: Settings) -> None:
    import torch

    from models.orbit import OrbitCamera
    from viewer.runs.sweep import render_sweep
    from viewer.runs.video import Mp4Writer

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


def plan_reenactment(settings: Settings) -> list:
    """The jobs of --video and --output, checked before anything is loaded or tracked."""
    from viewer.runs.jobs import ReenactError, plan_jobs

    try:
        jobs = plan_jobs(settings.video, settings.output, settings.png, settings.output_is_folder)
    except ReenactError as err:
        raise UsageError(str(err)) from None
    if settings.params is not None and not settings.params.is_file():
        raise UsageError(f"--params {settings.params}: no such file; give a tracked sequence .npz written by "
                         "livehead")
    return jobs


def run_reenact(settings: Settings) -> int:
    from viewer.runs.batch import reenact_all
    from viewer.runs.driven_video import ReenactOptions
    from viewer.runs.jobs import ReenactError

    check_renderer(settings.renderer)
    jobs = plan_reenactment(settings)
    options = ReenactOptions.of(settings)
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
    from viewer.runs.driven_video import ReenactOptions, open_input
    from viewer.runs.jobs import ReenactError

    job = plan_reenactment(settings)[0]
    try:
        return open_input(job, ReenactOptions.of(settings))
    except ReenactError as err:
        raise UsageError(str(err)) from None


def open_video_timeline(settings: Settings, avatar, video):
    """The video, tracked (a progress bar here in the terminal) or its tracking replayed, as the window's
    timeline; its export writes what the headless run with the same options writes."""
    from viewer.runs.driven_video import ReenactOptions
    from viewer.runs.jobs import ReenactError
    from viewer.video_timeline import open_video_timeline as open_timeline

    announce_first_compile(settings.renderer, tracking=video.replay is None)
    try:
        return open_timeline(avatar, video, ReenactOptions.of(settings))
    except ReenactError as err:
        raise UsageError(str(err)) from None


def open_window(settings: Settings):
    """The window that --checkpoint, --webcam, --video and the rest ask for, ready to open (a --video tracked
    first); each expected problem raised as a UsageError before the window would open."""
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
    return app


def run_window(settings: Settings) -> None:
    open_window(settings).run(screenshot=settings.screenshot)


def main(argv: list[str] | None = None) -> int:
    settings = None
    try:
        settings = settings_from(argv, EXAMPLES)
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
