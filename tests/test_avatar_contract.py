"""The Avatar contract (avatar/contract.py), for every avatar kind and every mode, on a GPU.

Each kind is opened as a user opens it (launch.py's arguments), placed as launch.py places it for a CUDA renderer,
and taken through every mode's start-up and first frames: the window (with live driving from a camera, and a PLY
export), the headless sweep, the reenactment of a clip, the window's timeline export, and --save-avatar. The GPU is
tests/gpu_stand_in.py: torch's meta device with a stand-in CUDA renderer that checks that what it is handed is on
the device; where CUDA is (bench/gpu_check.sh), the real device. Every mode also shows that a frame moves only
parameters to the device and one image back.

A kind added later is listed once in KINDS: a function that writes its files and returns its arguments, and
what it can do.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

import launch
from avatar import load_avatar, save_avatar
from models.params import FlameParams, FlameSequence
from tests.gpu_stand_in import stand_in

ROOT = Path(__file__).resolve().parent.parent
GAUSSIANAVATARS = ROOT.parent / "shared" / "fixtures" / "gaussianavatars"
DEVICE = "cuda" if torch.cuda.is_available() else "meta"  # the GPU, or what stands in for it
SIZE = 32  # the runs' images, a side
WINDOW_SIZE = 64
SECONDS = 120  # the longest wait on a thread's work (a frame or three, tracked and drawn)


def demo(folder: Path) -> list[str]:
    return []


def point(folder: Path) -> list[str]:
    from tests.fake_experiment import write_experiment

    written = write_experiment(folder, num_points=2000, seed=1)
    return ["--checkpoint", str(written.train_dir), "--data-folder", str(written.data_folder)]


def gem(folder: Path) -> list[str]:
    return ["--gem"]  # the demo's GEM


def gaussianavatars(folder: Path) -> list[str]:
    """The original's own files: point_cloud.ply, flame_param.npz beside it, FLAME 2023."""
    if not GAUSSIANAVATARS.is_dir():
        pytest.skip("../shared/fixtures/gaussianavatars is absent")
    return ["--checkpoint", str(GAUSSIANAVATARS / "avatar"), "--flame",
            str(GAUSSIANAVATARS / "flame" / "flame2023.pkl")]


def gaussianavatars_file(folder: Path) -> list[str]:
    """A GaussianAvatars avatar as the livehead file --save-avatar writes of one: Gaussians with spherical harmonics
    bound to the triangles of the demo's head, and frames of their own. It needs nothing outside the checkout, so
    the GPU check runs it where ../shared is not."""
    from avatar.flame_bound.avatar import FlameBoundAvatar

    demo_avatar = load_avatar()
    head, camera = demo_avatar.head, demo_avatar.default_camera
    generator, n = torch.Generator().manual_seed(2), 3000

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    frames = 3
    timeline = FlameSequence(0.3 * normal(frames, head.num_expressions), 0.1 * normal(frames, 5, 3),
                             0.01 * normal(frames, 3), tuple(f"frame {k}" for k in range(frames)))
    avatar = FlameBoundAvatar(head, torch.randint(len(head.faces), (n,), generator=generator), 0.3 * normal(n, 3),
                              torch.full((n, 3), 0.4), torch.nn.functional.normalize(normal(n, 4), dim=1),
                              torch.rand(n, generator=generator), 0.2 * normal(n, 16, 3), camera, timeline)
    save_avatar(avatar, folder / "gaussianavatars.npz")
    return ["--checkpoint", str(folder / "gaussianavatars.npz")]


def static_ply(folder: Path) -> list[str]:
    """A plain 3DGS PLY: the demo's Gaussians at rest, bound to nothing."""
    from avatar.splatting.ply import save_3dgs_ply

    avatar = load_avatar()
    save_3dgs_ply(folder / "point_cloud.ply", avatar.gaussians(FlameParams.neutral(avatar.head.num_expressions)))
    return ["--checkpoint", str(folder / "point_cloud.ply")]


@dataclass(frozen=True)
class Kind:
    """An avatar kind as a user opens it, and what it can do."""

    write: Callable[[Path], list[str]]  # writes its files into a folder; returns launch.py's arguments for it
    saves: bool  # --save-avatar writes it (its file_kind)
    drives: bool  # tracking drives it (its head has landmarks)
    eigen: bool  # it takes eigen coefficients (its eigen_layout: a GEM's)
    timeline: bool  # it comes with frames

    @property
    def name(self) -> str:
        return self.write.__name__


KINDS = [
    Kind(demo, saves=True, drives=True, eigen=False, timeline=False),
    Kind(point, saves=True, drives=True, eigen=False, timeline=True),
    Kind(gem, saves=True, drives=True, eigen=True, timeline=False),
    Kind(gaussianavatars, saves=True, drives=True, eigen=False, timeline=True),
    Kind(gaussianavatars_file, saves=True, drives=True, eigen=False, timeline=True),
    Kind(static_ply, saves=False, drives=False, eigen=False, timeline=False),
]


@dataclass(frozen=True)
class Opened:
    kind: Kind
    arguments: list[str]  # launch.py's, to open it
    avatar: object  # as launch.py loads it, on the CPU; the tests only read it


@pytest.fixture(scope="module", params=KINDS, ids=lambda kind: kind.name)
def opened(request, tmp_path_factory) -> Opened:
    kind = request.param
    arguments = kind.write(tmp_path_factory.mktemp(kind.name))
    return Opened(kind, arguments, launch.load(settings(*arguments)))


@pytest.fixture
def gpu(monkeypatch):
    """CUDA renderers on the GPU or what stands in for it; yields what crosses between it and the CPU."""
    with stand_in(monkeypatch, DEVICE) as crossings:
        yield crossings


@pytest.fixture(scope="module")
def face_folder(tmp_path_factory) -> Path:
    """A folder with one picture of a face, a camera that shows it: the demo at rest, drawn on the CPU."""
    from avatar.splatting.rasterizer import rasterize

    avatar = load_avatar()
    camera = avatar.default_camera.resized(256, 256)
    image = rasterize(avatar.gaussians(FlameParams.neutral(avatar.head.num_expressions)), camera, backend="cpu").image
    folder = tmp_path_factory.mktemp("camera")
    Image.fromarray((image.clamp(0, 1) * 255 + 0.5).byte().numpy()).save(folder / "face.png")
    return folder


@pytest.fixture(scope="module")
def face_clip(face_folder, tmp_path_factory) -> Path:
    """Three frames of that face, the picture sliding a few pixels a frame."""
    from tests.test_reenact import write_clip

    picture = np.asarray(Image.open(face_folder / "face.png"))
    frames = [np.roll(picture, 3 * k, axis=1) for k in range(3)]
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", frames, 25)


def settings(*arguments: str):
    return launch.settings_from(list(arguments))


def frame_count(video: Path) -> int:
    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))


def driving_params(avatar) -> FlameParams:
    """A turned, moved head with an expression, jaw, eyes (and eigen coefficients for a GEM), on the CPU."""
    generator = torch.Generator().manual_seed(5)
    layout = avatar.eigen_layout
    return FlameParams(0.5 * torch.randn(avatar.head.num_expressions, generator=generator),
                       0.2 * torch.randn(5, 3, generator=generator), 0.05 * torch.randn(3, generator=generator),
                       None if layout is None else 0.5 * torch.randn(*layout.shape, generator=generator))


def largest_parameter(avatar) -> int:
    """The most elements of anything a frame needs on the device: the FLAME parameters (expression, pose,
    translation, eigen coefficients) and the view (a camera's 4x4 matrices, its position, the background)."""
    layout = avatar.eigen_layout
    return max(avatar.head.num_expressions, 16, math.prod(layout.shape) if layout else 0)


def assert_a_frame_moves_parameters_over_and_one_image_back(crossings: list, avatar, image_size: int) -> None:
    """`crossings`: what one frame moved (Crossings.last_frame(), or their dicts). Nothing the size of the
    Gaussians or the mesh crosses: over, a few tensors no larger than a parameter; back, the image alone."""
    crossings = [vars(c) if not isinstance(c, dict) else c for c in crossings]
    assert crossings, "fewer than two frames were drawn"
    back = [math.prod(c["shape"]) for c in crossings if c["what"] == "back"]
    over = [math.prod(c["shape"]) for c in crossings if c["what"] == "over"]
    assert back == [image_size * image_size * 3], crossings
    assert len(over) <= 12 and max(over) <= largest_parameter(avatar), crossings


# -- the members ----------------------------------------------------------------------------------------------


def test_it_has_the_contracts_members_and_poses_on_the_gpu_from_parameters_on_the_cpu(opened, gpu):
    kind, avatar = opened.kind, opened.avatar
    assert (avatar.file_kind is not None, bool(avatar.head.landmarks), avatar.eigen_layout is not None,
            avatar.timeline is not None) == (kind.saves, kind.drives, kind.eigen, kind.timeline)
    assert avatar.device.type == "cpu"
    assert launch.on_renderer_device(avatar, settings(*opened.arguments, "--renderer", "cpu")) is avatar
    placed = launch.on_renderer_device(avatar, settings(*opened.arguments))
    assert placed.device.type == DEVICE and avatar.device.type == "cpu"  # a copy moved
    # What tracking and the window read stays on the CPU.
    head = placed.head
    assert {getattr(head, name).device.type for name in ("v_template", "exprdirs", "faces", "lbs_weights")} == {"cpu"}
    assert {tensor.device.type for embedding in head.landmarks.values() for tensor in vars(embedding).values()} \
        <= {"cpu"}
    assert placed.default_camera.world_to_camera.device.type == "cpu"
    assert placed.timeline is avatar.timeline and placed.eigen_layout == avatar.eigen_layout
    assert placed.expression_range == avatar.expression_range and placed.file_kind == avatar.file_kind
    params = driving_params(avatar)
    expected, out = avatar.gaussians(params), placed.gaussians(params)
    for name, tensor in vars(expected).items():
        moved = getattr(out, name)
        assert (moved is None) == (tensor is None), name
        if tensor is not None:
            assert moved.device.type == DEVICE and moved.shape == tensor.shape and moved.dtype == tensor.dtype, name


def test_a_timeline_set_on_it_moves_with_it(opened):
    """A caller may set the timeline (launch.py's --params motion); a copy on another device keeps it."""
    avatar = launch.load(settings(*opened.arguments))
    motion = FlameSequence(torch.zeros(2, avatar.head.num_expressions), torch.zeros(2, 5, 3), torch.zeros(2, 3),
                           ("a", "b"))
    avatar.timeline = motion
    assert avatar.to("meta").timeline is motion


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_its_gaussians_are_its_cpu_ones(opened):
    avatar = opened.avatar
    params = driving_params(avatar)
    expected, on_gpu = avatar.gaussians(params), avatar.to("cuda").gaussians(params)
    for name, tensor in vars(on_gpu).items():
        if tensor is None:
            continue
        # CUDA's transcendentals and order of summation differ from the CPU's by a few float32 roundings
        reference = getattr(expected, name)
        assert tensor.is_cuda, name
        torch.testing.assert_close(tensor.cpu(), reference, rtol=1e-4, atol=1e-5 * float(reference.abs().max()),
                                   msg=name)


# -- the window ---------------------------------------------------------------------------------------------

WINDOW = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import pytest
    import launch
    from tests.gpu_stand_in import stand_in

    device, out, arguments = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    with pytest.MonkeyPatch.context() as monkeypatch, stand_in(monkeypatch, device) as crossings:
        app = launch.open_window(launch.settings_from(arguments))
        app.open()
        result = {"first_frame_drawn": app.wait_until_drawn(), "live": app.wait_until_live(120)}
        result |= {"status": app.driver.status, "problem": app.driver.problem,
                   "live_on_screen": app.on_screen(app.shown.live_since)}
        app.shown.again()  # one more frame, to see what a frame moves
        result["drawn_again"] = app.wait_until_drawn()
        result["frame"] = [vars(crossing) for crossing in crossings.last_frame()]
        result["draws_on"] = sorted({crossing.thread for crossing in crossings.draws()})
        result["export"] = app.export_ply(out / "export.ply")
        result["device"] = app.avatar.device.type
        result["eigen_sliders"] = len(app.eigen.sliders)
        app.save_screenshot(out / "window.png")
        app.close()
    print(json.dumps(result))
""")


def test_the_window_opens_is_driven_live_and_exports_on_the_gpu(opened, display, face_folder, tmp_path):
    from avatar.splatting.ply import read_vertices
    from viewer.app import IMAGE_LEFT

    kind = opened.kind
    result = subprocess.run([sys.executable, "-c", WINDOW, DEVICE, str(tmp_path), *opened.arguments, "--webcam",
                             str(face_folder), "--size", str(WINDOW_SIZE)], capture_output=True, text=True,
                            env=display, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown["device"] == DEVICE and shown["first_frame_drawn"] and shown["live"] and shown["drawn_again"]
    assert shown["draws_on"] == ["render"]  # the window's render thread drew every frame with the CUDA renderer
    avatar = opened.avatar
    assert shown["eigen_sliders"] == (math.prod(avatar.eigen_layout.shape) if kind.eigen else 0)
    if kind.drives:  # the tracker, built on the avatar's head, drove what the window shows
        assert shown["status"] == "live" and shown["live_on_screen"], shown
    else:
        assert shown["status"] == "error" and "no landmark embedding" in shown["problem"], shown
    assert_a_frame_moves_parameters_over_and_one_image_back(shown["frame"], avatar, WINDOW_SIZE)
    # On screen: the image that came back from the renderer (black), not the white background.
    image = np.asarray(Image.open(tmp_path / "window.png").convert("RGB"))[:WINDOW_SIZE,
                                                                           IMAGE_LEFT:IMAGE_LEFT + WINDOW_SIZE]
    assert image.max() < 10
    assert shown["export"].startswith("wrote") and len(read_vertices(tmp_path / "export.ply")) == len(
        avatar.gaussians(FlameParams.neutral(avatar.head.num_expressions)))


# -- the runs without a window ----------------------------------------------------------------------------------

def test_the_headless_sweep_renders_on_the_gpu(opened, gpu, tmp_path):
    output = tmp_path / "sweep.mp4"
    assert launch.main([*opened.arguments, "--headless", "--frames", "3", "--size", str(SIZE), "--output",
                        str(output)]) == 0
    assert frame_count(output) == 3 and len(gpu.draws()) == 3
    assert_a_frame_moves_parameters_over_and_one_image_back(gpu.last_frame(), opened.avatar, SIZE)


def test_a_clip_is_reenacted_on_the_gpu(opened, gpu, face_clip, tmp_path, capsys):
    output = tmp_path / "reenacted.mp4"
    status = launch.main([*opened.arguments, "--video", str(face_clip), "--headless", "--size", str(SIZE),
                          "--output", str(output)])
    if not opened.kind.drives:
        error = capsys.readouterr().err.strip().splitlines()
        assert status == 2 and len(error) == 1 and "no landmark embedding" in error[0], error
        return
    assert status == 0 and frame_count(output) == 3 and len(gpu.draws()) == 3
    report = json.loads(output.with_name("reenacted.report.json").read_text())
    assert report["frames_without_face"] == []  # the tracker found the face, and the avatar followed it
    assert_a_frame_moves_parameters_over_and_one_image_back(gpu.last_frame(), opened.avatar, SIZE)


def test_the_windows_timeline_exports_on_the_gpu(opened, gpu, face_clip, tmp_path):
    """launch.py --video in the window: the clip tracked as its timeline, then "export video" (the headless
    writer, on a thread of its own)."""
    chosen = settings(*opened.arguments, "--video", str(face_clip), "--size", str(SIZE), "--output",
                      str(tmp_path / "exported.mp4"))
    video = launch.check_video(chosen)
    avatar = launch.on_renderer_device(launch.load(chosen), chosen)
    if not opened.kind.drives:
        with pytest.raises(launch.UsageError, match="no landmark embedding"):
            launch.open_video_timeline(chosen, avatar, video)
        return
    timeline = launch.open_video_timeline(chosen, avatar, video)
    try:
        timeline.start_export()
        deadline = time.monotonic() + SECONDS
        while timeline.export.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert timeline.export.status().startswith("wrote"), timeline.export.status()
    finally:
        timeline.close()
    assert frame_count(tmp_path / "exported.mp4") == 3
    assert {crossing.thread for crossing in gpu.draws()} == {"export"}
    assert_a_frame_moves_parameters_over_and_one_image_back(gpu.last_frame(), avatar, SIZE)


def test_save_avatar_writes_what_it_can_save(opened, tmp_path, capsys):
    output = tmp_path / "saved.npz"
    status = launch.main([*opened.arguments, "--save-avatar", str(output)])
    if not opened.kind.saves:
        error = capsys.readouterr().err.strip().splitlines()
        assert status == 2 and len(error) == 1 and "cannot be saved" in error[0], error
        assert not output.exists()
        return
    assert status == 0
    avatar, saved = opened.avatar, load_avatar(output)
    assert saved.file_kind == avatar.file_kind
    params = driving_params(avatar)
    for name, tensor in vars(avatar.gaussians(params)).items():
        if tensor is not None:
            torch.testing.assert_close(getattr(saved.gaussians(params), name), tensor, rtol=0, atol=0, msg=name)


def test_the_window_moves_its_avatar_once_to_each_device_its_renderers_use(opened, gpu):
    """Switching the window's renderer between the CPU and a CUDA backend and back moves nothing per frame."""
    from viewer.render_thread import RenderThread

    avatar = opened.avatar
    thread = RenderThread(avatar)
    try:
        assert thread.avatar_for("cpu") is avatar
        on_gpu = thread.avatar_for("inria")
        assert on_gpu.device.type == DEVICE and thread.avatar_for("auto") is on_gpu
        assert thread.avatar_for("cpu") is avatar and thread.avatar_for("inria") is on_gpu
    finally:
        thread.stop()
