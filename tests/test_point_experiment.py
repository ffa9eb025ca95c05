"""Finding and reading MonoGaussianAvatar experiments, IMavatar jsons and their camera; every fault one line."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from avatar.point.experiment import open_experiment
from models.camera import to_3dgs
from models.errors import AvatarError
from models.imavatar_json import imavatar_camera, read_flame_params_json
from tests.fake_experiment import MOVED_DATA_FOLDER, FakeExperiment, write_experiment

FIXTURE = Path(__file__).parents[2] / "shared" / "fixtures" / "monogaussianavatar"
FIXTURE_TRAIN = FIXTURE / "experiments" / "subj" / "yufeng" / "train1" / "train"
needs_fixture = pytest.mark.skipif(not FIXTURE.is_dir(), reason="the shared MonoGaussianAvatar fixture is absent")


def fault(call, *args) -> str:
    """The one-line message of the AvatarError `call(*args)` raises."""
    with pytest.raises(AvatarError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.fixture(scope="module")
def reference() -> dict:
    return torch.load(FIXTURE / "reference.pt", map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("written")
    write_experiment(root, num_points=500, radius=0.005, seed=1)
    return root


@pytest.fixture
def fake(written, tmp_path) -> FakeExperiment:
    """A fresh copy of one fake experiment (quicker than writing one per test), free to damage."""
    shutil.copytree(written, tmp_path, dirs_exist_ok=True)
    train_dir = tmp_path / "experiments" / "subj" / "method" / "train1" / "train"
    return FakeExperiment(train_dir, train_dir / "checkpoints" / "ModelParameters" / "latest.pth",
                          tmp_path / "dataset")


# ---------------------------------------------------------------------------------------------------------------
# The fixture made by the original code


@needs_fixture
def test_fixture_experiment_opens_with_data_folder(reference):
    experiment = open_experiment(FIXTURE_TRAIN, FIXTURE / "dataset")
    assert experiment.checkpoint_path == FIXTURE_TRAIN / "checkpoints" / "ModelParameters" / "latest.pth"
    assert len(experiment.state_dict) == 125
    assert experiment.state_dict["pc.points"].shape == (2000, 3)
    assert experiment.radius == pytest.approx(0.0123)
    assert experiment.canonical_jaw == pytest.approx(0.4)
    torch.testing.assert_close(experiment.canonical_expression, reference["mean_expression"][0], atol=1e-6, rtol=0)

    timeline = experiment.timeline
    assert timeline.names == tuple(f"train1/{k}" for k in range(1, 7)) + tuple(f"test1/{k}" for k in range(1, 4))
    torch.testing.assert_close(timeline.expression[6:], reference["expression"])
    torch.testing.assert_close(timeline.pose[6:].reshape(3, 15), reference["flame_pose"])
    assert not timeline.translation.any()


@needs_fixture
@pytest.mark.parametrize("deeper", ["subj", "subj/subj"])
def test_data_folder_may_be_given_one_or_two_levels_deeper(deeper):
    assert len(open_experiment(FIXTURE_TRAIN, FIXTURE / "dataset" / deeper).timeline) == 9


@needs_fixture
def test_fixture_without_data_folder_says_how_to_point_at_the_moved_dataset():
    message = fault(open_experiment, FIXTURE_TRAIN)
    assert message.startswith("/disk1/dataset/pointavatar/pointavatar_dataset/subj/subj/train1/flame_params.json")
    assert "pass --data-folder DIR (the folder that holds subj/subj/train1)" in message


@needs_fixture
def test_camera_reproduces_what_the_original_passed_to_its_rasterizer(reference):
    test = read_flame_params_json(FIXTURE / "dataset" / "subj" / "subj" / "test1" / "flame_params.json")
    for index, frame in enumerate(reference["frames"]):
        camera = imavatar_camera(test.intrinsics, test.world_mats[index], (512, 512))
        assert (camera.height, camera.width) == tuple(frame["image_size"].tolist())
        view, projection, tan_fovx, tan_fovy = to_3dgs(camera)
        torch.testing.assert_close(view, frame["viewmatrix"], atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(projection, frame["projmatrix"], atol=1e-6, rtol=1e-6)
        assert tan_fovx == pytest.approx(frame["tanfovx"].item(), rel=1e-6)
        assert tan_fovy == pytest.approx(frame["tanfovy"].item(), rel=1e-6)


@needs_fixture
def test_fake_state_dict_has_the_original_keys_in_order(tmp_path):
    original = torch.load(FIXTURE_TRAIN / "checkpoints" / "ModelParameters" / "latest.pth", weights_only=True)
    fake = torch.load(write_experiment(tmp_path, num_points=10).checkpoint, weights_only=True)
    assert list(fake["model_state_dict"]) == list(original["model_state_dict"])
    for key, value in original["model_state_dict"].items():
        assert fake["model_state_dict"][key].dtype == value.dtype, key


# ---------------------------------------------------------------------------------------------------------------
# IMavatar jsons


def test_json_reads_frames(fake):
    sequence = read_flame_params_json(fake.data_folder / "subj" / "subj" / "train1" / "flame_params.json")
    assert sequence.params.names == ("1", "2", "3", "4", "5", "6")
    assert sequence.params.expression.shape == (6, 50) and sequence.params.pose.shape == (6, 5, 3)
    assert sequence.world_mats.shape == (6, 3, 4) and sequence.shape.shape == (100,)
    assert sequence.intrinsics.tolist() == pytest.approx([-4.2, 4.3, 0.49, 0.52])
    assert all(t.dtype == torch.float32 for t in (sequence.params.expression, sequence.world_mats, sequence.shape))


def test_camera_looks_at_the_head_from_the_front():
    camera = imavatar_camera(torch.tensor([-4.0, 4.0, 0.5, 0.5]), torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0],
                                                                                [0, 0, 1, -4]]))
    assert camera.position.tolist() == pytest.approx([0, 0, 4])
    point = camera.world_to_camera @ torch.tensor([0.0, 0.5, 0.0, 1.0])  # above the head's centre
    assert point[2] == pytest.approx(4)  # in front of the camera
    assert camera.fy * point[1] / point[2] + camera.cy < camera.cy  # higher in the image
    assert (camera.fx, camera.cx) == (2048, 255.5)


@pytest.mark.parametrize("edit, expected", [
    (lambda data: "{not json", "not a readable JSON file"),
    (lambda data: [data], "holds a JSON list"),
    (lambda data: {key: value for key, value in data.items() if key != "shape_params"}, "has no 'shape_params'"),
    (lambda data: data | {"intrinsics": [1, 2, 3]}, "'intrinsics' has shape (3,), expected (4,)"),
    (lambda data: data | {"frames": []}, "'frames' is not a non-empty list"),
    (lambda data: data | {"frames": [data["frames"][0] | {"expression": [0.0] * 49}]},
     "'frames[0].expression' has shape (49,), expected (50,)"),
    (lambda data: data | {"frames": [data["frames"][0] | {"pose": "up"}]}, "'frames[0].pose' is not a list"),
    (lambda data: data | {"frames": [{"file_path": "./image/1"}]}, "frames[0] has no 'expression', 'pose', 'world_mat'"),
])
def test_bad_json_is_named_with_its_fault(fake, tmp_path, edit, expected):
    data = json.loads((fake.data_folder / "subj" / "subj" / "train1" / "flame_params.json").read_text())
    edited = edit(data)
    path = tmp_path / "flame_params.json"
    path.write_text(edited if isinstance(edited, str) else json.dumps(edited))
    message = fault(read_flame_params_json, path)
    assert message.startswith(f"{path}: ") and expected in message


def test_missing_json_is_named(tmp_path):
    assert fault(read_flame_params_json, tmp_path / "nope.json") == f"{tmp_path / 'nope.json'}: no such file"


# ---------------------------------------------------------------------------------------------------------------
# A fake experiment: every kind of path, and every fault


@pytest.mark.parametrize("where", ["train", "train/checkpoints", "train/checkpoints/ModelParameters",
                                   "train/checkpoints/ModelParameters/latest.pth", "experiment"])
def test_fake_experiment_opens_from_every_kind_of_path(fake, where):
    path = {"train": fake.train_dir, "experiment": fake.train_dir.parent}.get(where) or fake.train_dir.parent / where
    experiment = open_experiment(path, fake.data_folder)
    assert experiment.checkpoint_path == fake.checkpoint
    assert experiment.state_dict["pc.points"].shape == (500, 3)
    assert experiment.radius == pytest.approx(0.005)
    assert len(experiment.timeline) == 9 and experiment.timeline.names[0] == "train1/1"
    assert experiment.camera.width == 512 and experiment.camera.fx == pytest.approx(4.2 * 512)


def test_config_data_folder_is_used_when_no_override(tmp_path):
    fake = write_experiment(tmp_path, num_points=10, data_folder_in_config=str(tmp_path / "dataset"))
    assert len(open_experiment(fake.train_dir).timeline) == 9


def test_canonical_expression_is_the_mean_of_the_train_json(fake):
    train = read_flame_params_json(fake.data_folder / "subj" / "subj" / "train1" / "flame_params.json")
    experiment = open_experiment(fake.checkpoint, fake.data_folder)
    torch.testing.assert_close(experiment.canonical_expression, train.params.expression.mean(dim=0))


def test_highest_epoch_is_picked_without_latest(fake):
    folder = fake.checkpoint.parent
    for epoch in (5, 40, 100):
        shutil.copy(fake.checkpoint, folder / f"{epoch}.pth")
    fake.checkpoint.unlink()
    assert open_experiment(fake.train_dir, fake.data_folder).checkpoint_path == folder / "100.pth"


def test_fitted_train_params_replace_the_json_values_in_the_timeline(fake):
    fitted = {"epoch": 77, "expression_state_dict": {"weight": torch.full((6, 50), 0.25)},
              "flame_pose_state_dict": {"weight": torch.full((6, 15), 0.125)},
              "camera_pose_state_dict": {"weight": torch.zeros(6, 3)}}
    (fake.train_dir / "checkpoints" / "InputParameters").mkdir()
    torch.save(fitted, fake.train_dir / "checkpoints" / "InputParameters" / "latest.pth")
    experiment = open_experiment(fake.train_dir, fake.data_folder)
    assert (experiment.timeline.expression[:6] == 0.25).all() and (experiment.timeline.pose[:6] == 0.125).all()
    assert not (experiment.timeline.expression[6:] == 0.25).any()  # test frames keep their json values
    assert not (experiment.canonical_expression == 0.25).all()  # the original averages the json values


def edit_state_dict(path: Path, edit) -> None:
    checkpoint = torch.load(path, weights_only=True)
    edit(checkpoint["model_state_dict"])
    torch.save(checkpoint, path)


@pytest.mark.parametrize("damage, expected", [
    (lambda path: torch.save(torch.zeros(3), path), "not a MonoGaussianAvatar checkpoint (holds a Tensor"),
    (lambda path: torch.save({"epoch": 3, "optimizer_state_dict": {}}, path),
     "not a MonoGaussianAvatar checkpoint (holds a dict of ['epoch', 'optimizer_state_dict']"),
    (lambda path: path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2]), "truncated or corrupt"),
    (lambda path: path.write_bytes(b"not a checkpoint at all"), "not a readable tensor-only PyTorch file"),
    (lambda path: edit_state_dict(path, lambda sd: sd.update({"deformer_network.skinning.weight": torch.zeros(5, 128)})),
     "'deformer_network.skinning.weight' has shape (5, 128), expected (6, 128)"),
    (lambda path: edit_state_dict(path, lambda sd: sd.update({"FLAMEServer.posedirs": torch.zeros(36, 3)})),
     "'FLAMEServer.posedirs' has shape (36, 3), expected (36, 900)"),
    (lambda path: edit_state_dict(path, lambda sd: sd.pop("geometry_network.lin4.weight_g")),
     "no 'geometry_network.lin4.weight_g' (expected shape (256, 1))"),
    (lambda path: edit_state_dict(path, lambda sd: sd.pop("pc.points")), "no 'pc.points'"),
    (lambda path: edit_state_dict(path, lambda sd: sd.update({"FLAMEServer.parents": torch.zeros(5)})),
     "'FLAMEServer.parents' holds torch.float32, expected integers"),
])
def test_bad_checkpoint_is_named_with_its_fault(fake, damage, expected):
    damage(fake.checkpoint)
    message = fault(open_experiment, fake.train_dir, fake.data_folder)
    assert message.startswith(f"{fake.checkpoint}: ") and expected in message


def test_missing_config_is_named(fake):
    (fake.train_dir / "runconf.conf").unlink()
    message = fault(open_experiment, fake.checkpoint, fake.data_folder)
    assert message.startswith(f"{fake.train_dir / 'runconf.conf'}: no such file")


def test_unparseable_config_is_named(fake):
    (fake.train_dir / "runconf.conf").write_text("dataset { subject_name = ")
    message = fault(open_experiment, fake.train_dir, fake.data_folder)
    assert message.startswith(f"{fake.train_dir / 'runconf.conf'}: not a readable HOCON config")


def test_config_without_a_needed_field_is_named(fake):
    path = fake.train_dir / "runconf.conf"
    path.write_text(path.read_text().replace('subject_name = "subj"', ""))
    assert fault(open_experiment, fake.train_dir, fake.data_folder) == f"{path}: no 'dataset.subject_name'; " \
                                                                        "not a MonoGaussianAvatar config"


def test_moved_dataset_names_the_missing_json(fake):
    message = fault(open_experiment, fake.train_dir)
    assert message.startswith(f"{MOVED_DATA_FOLDER}/subj/subj/train1/flame_params.json: no such file")
    assert "pass --data-folder DIR (the folder that holds subj/subj/train1)" in message


def test_missing_train_json_names_it_under_the_given_data_folder(fake):
    json_path = fake.data_folder / "subj" / "subj" / "train1" / "flame_params.json"
    json_path.unlink()
    message = fault(open_experiment, fake.train_dir, fake.data_folder)
    assert message.startswith(f"{json_path}: no such file") and "--data-folder" in message


def test_missing_test_json_only_shortens_the_timeline(fake):
    (fake.data_folder / "subj" / "subj" / "test1" / "flame_params.json").unlink()
    assert len(open_experiment(fake.train_dir, fake.data_folder).timeline) == 6


def test_folder_without_checkpoint_is_named(fake, tmp_path):
    fake.checkpoint.unlink()
    message = fault(open_experiment, fake.train_dir, fake.data_folder)
    assert message.startswith(f"{fake.checkpoint.parent}: no checkpoint")
    assert fault(open_experiment, tmp_path / "dataset").startswith(f"{tmp_path / 'dataset'}: not a "
                                                                    "MonoGaussianAvatar experiment")
    assert fault(open_experiment, tmp_path / "nowhere").startswith(f"{tmp_path / 'nowhere'}: no such file or folder")


def test_fake_experiment_is_quick_to_write_at_full_size(tmp_path):
    fake = write_experiment(tmp_path, num_points=100_000)
    assert open_experiment(fake.train_dir, fake.data_folder).state_dict["pc.points"].shape == (100_000, 3)
