"""Slider presets saved as JSON and loaded onto the same avatar or another one."""
import json
import re

import pytest

from viewer.controls import POSE_CONTROLS
from viewer.presets import expression_keys, load_preset, save_preset

DEMO_NAMES = ("smile", "frown", "blink_left", "blink_right", "brows_up", "jaw_open", "pucker", "cheeks", "sneer")
POSE = {"jaw": 12.5, "jaw_side": -3.0, "head_turn": 20.0, "head_nod": -7.25, "head_tilt": 4.0,
        "eyes_turn": -10.0, "eyes_up": 2.0}


def test_round_trip_with_names(tmp_path):
    expression = [0.1 * k - 0.3 for k in range(9)]
    save_preset(tmp_path / "p.json", expression, POSE, DEMO_NAMES)
    loaded = load_preset(tmp_path / "p.json", 9, DEMO_NAMES)
    assert loaded.expression == pytest.approx(expression, abs=1e-6)
    assert loaded.pose == POSE and loaded.skipped == []
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["livehead_preset"] == 1
    assert list(data["expression"]) == list(DEMO_NAMES)
    assert list(data["pose_degrees"]) == [control.name for control in POSE_CONTROLS]


def test_round_trip_without_names_and_float32_noise_is_rounded(tmp_path):
    expression = [0.30000001192092896, -1.5, 0.0, -0.0, 2.0]
    save_preset(tmp_path / "p.json", expression, {"jaw": 10.000000149011612}, ())
    text = (tmp_path / "p.json").read_text()
    assert '"expression 0": 0.3,' in text and '"jaw": 10.0' in text and "-0.0" not in text
    loaded = load_preset(tmp_path / "p.json", 5, ())
    assert loaded.expression == pytest.approx(expression) and loaded.skipped == []
    assert loaded.pose == {control.name: (10.0 if control.name == "jaw" else 0.0) for control in POSE_CONTROLS}


def test_values_outside_the_slider_ranges_are_kept(tmp_path):
    save_preset(tmp_path / "p.json", [7.0], {"jaw": 90.0}, ())
    loaded = load_preset(tmp_path / "p.json", 1, ())
    assert loaded.expression == [7.0] and loaded.pose["jaw"] == 90.0


def test_unnamed_9_expression_preset_on_unnamed_50_expression_avatar_goes_by_index(tmp_path):
    save_preset(tmp_path / "p.json", [float(k + 1) for k in range(9)], POSE, ())
    loaded = load_preset(tmp_path / "p.json", 50, ())
    assert loaded.expression == [float(k + 1) for k in range(9)] + [0.0] * 41
    assert loaded.pose == POSE and loaded.skipped == []


def test_unnamed_50_expression_preset_on_unnamed_9_expression_avatar_skips_the_rest(tmp_path):
    save_preset(tmp_path / "p.json", [1.0] * 50, {}, ())
    loaded = load_preset(tmp_path / "p.json", 9, ())
    assert loaded.expression == [1.0] * 9
    assert len(loaded.skipped) == 41 and loaded.skipped[0].startswith('expression "expression 9": this avatar has no')


def test_named_preset_on_unnamed_avatar_sets_no_expression_but_keeps_the_pose(tmp_path):
    save_preset(tmp_path / "p.json", [1.0] * 9, POSE, DEMO_NAMES)
    loaded = load_preset(tmp_path / "p.json", 50, ())
    assert loaded.expression == [0.0] * 50 and loaded.pose == POSE
    assert len(loaded.skipped) == 9 and all("no such coefficient" in line for line in loaded.skipped)


def test_unnamed_preset_on_named_avatar_does_not_guess_meanings(tmp_path):
    save_preset(tmp_path / "p.json", [1.0] * 50, {}, ())
    loaded = load_preset(tmp_path / "p.json", 9, DEMO_NAMES)
    assert loaded.expression == [0.0] * 9
    assert 'expression "expression 0": this avatar names coefficient 0 "smile"' in loaded.skipped
    assert len(loaded.skipped) == 50


def test_names_match_wherever_they_are(tmp_path):
    save_preset(tmp_path / "p.json", [0.5, 0.0, -0.25], {}, ("jaw_open", "", "smile"))
    loaded = load_preset(tmp_path / "p.json", 9, DEMO_NAMES)  # another order; "expression 1" has a name here
    assert loaded.expression == [-0.25] + [0.0] * 4 + [0.5] + [0.0] * 3
    assert loaded.skipped == ['expression "expression 1": this avatar names coefficient 1 "frown"']


def test_keys_fall_back_to_labels_where_names_are_missing_or_clash():
    assert expression_keys(5, ("a", "", "a", "expression 0", "expression 4")) == [
        "a", "expression 1", "expression 2", "expression 3", "expression 4"]


def test_hand_written_presets_unknown_pose_keys_and_integers(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({
        "livehead_preset": 1, "expression": {"expression 03": 2, "smile": 1}, "pose_degrees": {"wink": 3, "jaw": 5}}))
    loaded = load_preset(tmp_path / "p.json", 4, ())
    assert loaded.expression == [0.0, 0.0, 0.0, 2.0] and loaded.pose["jaw"] == 5.0
    assert loaded.skipped == ['expression "smile": this avatar has no such coefficient (4 coefficients)',
                              'pose "wink": no such pose slider']


def test_a_preset_without_sections_is_the_neutral_face(tmp_path):
    (tmp_path / "p.json").write_text('{"livehead_preset": 1}')
    loaded = load_preset(tmp_path / "p.json", 3, ())
    assert loaded.expression == [0.0] * 3 and set(loaded.pose.values()) == {0.0} and loaded.skipped == []


def test_saving_non_finite_values_fails_and_keeps_the_old_file(tmp_path):
    save_preset(tmp_path / "p.json", [1.0], {}, ())
    before = (tmp_path / "p.json").read_text()
    with pytest.raises(ValueError, match="expression 0"):
        save_preset(tmp_path / "p.json", [float("nan")], {}, ())
    assert (tmp_path / "p.json").read_text() == before and len(list(tmp_path.iterdir())) == 1


def test_the_write_is_atomic(tmp_path, monkeypatch):
    save_preset(tmp_path / "p.json", [1.0], {}, ())
    before = (tmp_path / "p.json").read_text()
    monkeypatch.setattr("models.atomic_file.os.replace", lambda *args: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        save_preset(tmp_path / "p.json", [2.0], {}, ())
    assert (tmp_path / "p.json").read_text() == before and len(list(tmp_path.iterdir())) == 1


MALFORMED = {
    "not_json": ("{livehead_preset: 1,\n", "invalid JSON at line 1"),
    "empty": ("", "invalid JSON"),
    "list": ("[1, 2]", 'no "livehead_preset" key'),
    "other_json": ('{"expression": {}}', 'no "livehead_preset" key'),
    "newer": ('{"livehead_preset": 2}', "version 2 is not one this livehead reads"),
    "version_text": ('{"livehead_preset": "1"}', "version '1'"),
    "section_list": ('{"livehead_preset": 1, "expression": [0.5, 1.0]}', '"expression" must be an object'),
    "value_text": ('{"livehead_preset": 1, "pose_degrees": {"jaw": "wide\\nopen"}}',
                   r'"pose_degrees" "jaw" is "wide\nopen", expected a number'),
    "value_nan": ('{"livehead_preset": 1, "expression": {"expression 0": NaN}}', "expected a number"),
    "value_bool": ('{"livehead_preset": 1, "expression": {"expression 0": true}}', "expected a number"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_files_give_one_line(tmp_path, name):
    text, message = MALFORMED[name]
    (tmp_path / f"{name}.json").write_text(text)
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        load_preset(tmp_path / f"{name}.json", 9, DEMO_NAMES)
    assert "\n" not in str(error.value) and f"{name}.json" in str(error.value)


def test_unreadable_files_give_one_line(tmp_path):
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00junk")
    for path in (tmp_path / "missing.json", tmp_path / "binary.json", tmp_path):
        with pytest.raises(ValueError, match="cannot read the preset") as error:
            load_preset(path, 9, DEMO_NAMES)
        assert "\n" not in str(error.value)


EIGEN_NAMES = [f"{part} {attribute} {j}" for part in ("eye region", "mouth") for attribute, count
               in (("geometry", 3), ("rotation", 2)) for j in range(count)]


def test_eigen_values_round_trip_and_only_moved_ones_are_written(tmp_path):
    eigen = [0.0] * len(EIGEN_NAMES)
    eigen[EIGEN_NAMES.index("mouth geometry 2")] = 1.2500000476837158  # float32 noise, rounded away
    eigen[EIGEN_NAMES.index("eye region rotation 0")] = -3.5  # beyond the sliders' range: kept
    save_preset(tmp_path / "p.json", [0.5] * 9, POSE, DEMO_NAMES, dict(zip(EIGEN_NAMES, eigen)))
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["eigen"] == {"eye region rotation 0": -3.5, "mouth geometry 2": 1.25}
    loaded = load_preset(tmp_path / "p.json", 9, DEMO_NAMES, EIGEN_NAMES)
    assert loaded.eigen == pytest.approx(eigen, abs=1e-6) and loaded.skipped == []
    assert loaded.expression == [0.5] * 9 and loaded.pose == POSE


def test_presets_without_eigen_values_load_as_zero_and_write_no_section(tmp_path):
    save_preset(tmp_path / "p.json", [0.5] * 9, POSE, DEMO_NAMES, dict.fromkeys(EIGEN_NAMES, 0.0))
    assert "eigen" not in json.loads((tmp_path / "p.json").read_text())
    (tmp_path / "old.json").write_text('{"livehead_preset": 1, "expression": {"smile": 1.0}}')  # written before
    loaded = load_preset(tmp_path / "old.json", 9, DEMO_NAMES, EIGEN_NAMES)
    assert loaded.eigen == [0.0] * len(EIGEN_NAMES) and loaded.expression[0] == 1.0 and loaded.skipped == []


def test_eigen_values_another_avatar_lacks_are_skipped(tmp_path):
    save_preset(tmp_path / "p.json", [], {}, (), {"mouth geometry 2": 1.0, "full geometry 7": 2.0})
    loaded = load_preset(tmp_path / "p.json", 9, DEMO_NAMES, EIGEN_NAMES)
    assert loaded.eigen[EIGEN_NAMES.index("mouth geometry 2")] == 1.0 and sum(loaded.eigen) == 1.0
    assert loaded.skipped == ['eigen "full geometry 7": this avatar has no such eigen coefficient']
    on_demo = load_preset(tmp_path / "p.json", 9, DEMO_NAMES)  # an avatar without eigen sliders
    assert on_demo.eigen == [] and len(on_demo.skipped) == 2


def test_malformed_eigen_values_give_one_line(tmp_path):
    (tmp_path / "p.json").write_text('{"livehead_preset": 1, "eigen": {"mouth geometry 2": "big"}}')
    with pytest.raises(ValueError, match='"eigen" "mouth geometry 2" is "big", expected a number'):
        load_preset(tmp_path / "p.json", 9, DEMO_NAMES, EIGEN_NAMES)
    with pytest.raises(ValueError, match="mouth geometry 2"):
        save_preset(tmp_path / "p.json", [], {}, (), {"mouth geometry 2": float("inf")})
