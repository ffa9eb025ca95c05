"""launch.py on MonoGaussianAvatar experiments, as a user runs it: a moved dataset, conversion, a video."""

import pytest

from avatar import load_avatar
from avatar.point.avatar import PointAvatar
from tests.fake_experiment import write_experiment
from tests.test_headless import assert_one_line_error, launch, read_video


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return write_experiment(tmp_path_factory.mktemp("experiment"), num_points=800, radius=0.01)


def test_moved_dataset_says_which_file_and_what_to_pass(experiment, tmp_path):
    result = launch("--checkpoint", str(experiment.train_dir), "--headless", "--output", str(tmp_path / "x.mp4"))
    assert_one_line_error(result, "flame_params.json", "--data-folder")


def test_not_a_checkpoint_is_one_line(tmp_path):
    (tmp_path / "model.pth").write_bytes(b"\x00" * 64)
    result = launch("--checkpoint", str(tmp_path / "model.pth"), "--headless", "--output", str(tmp_path / "x.mp4"))
    assert_one_line_error(result, "model.pth")


def test_save_avatar_then_render_it(experiment, tmp_path):
    saved = tmp_path / "subject.npz"
    result = launch("--checkpoint", str(experiment.checkpoint), "--data-folder", str(experiment.data_folder),
                    "--save-avatar", str(saved))
    assert result.returncode == 0, result.stderr
    assert isinstance(load_avatar(saved), PointAvatar)

    output = tmp_path / "x.mp4"
    result = launch("--checkpoint", str(saved), "--headless", "--output", str(output), "--frames", "4",
                    "--size", "64", "--renderer", "cpu")
    assert result.returncode == 0, result.stderr
    stream, frames = read_video(output)
    assert len(frames) == 4 and (stream.width, stream.height) == (64, 64)
    assert frames[0].std() > 5  # something is drawn over the white background


def test_save_avatar_needs_an_npz_name(experiment, tmp_path):
    result = launch("--checkpoint", str(experiment.train_dir), "--save-avatar", str(tmp_path / "x.pth"))
    assert_one_line_error(result, "--save-avatar", ".npz")
