"""The eigen coefficient sliders of GEM avatars: naming and grouping, and the window driven for real under Xvfb."""
import json
import textwrap

from avatar.gem.avatar import GemAvatar
from tests.test_app import run
from tests.test_gem_original import FIXTURE_FILES, needs_fixture, write_gem
from viewer.eigen_sliders import EigenSliders


def test_a_slider_per_coefficient_grouped_by_part_and_attribute(tmp_path):
    path, _ = write_gem(tmp_path, parts=("eye_region", "mouth"), sizes=(20, 10))
    avatar = GemAvatar.from_original(path)
    sliders = EigenSliders.of(avatar)
    slices = avatar.model.coefficient_slices()
    assert [part.tag for part in sliders.parts] == ["eigen/eye_region", "eigen/mouth"]
    assert [part.label for part in sliders.parts] == ["eye region", "mouth"]
    assert [group.label for group in sliders.parts[1].attributes] == [
        "geometry (4)", "opacity (3)", "scales (2)", "rotation (2)"]
    assert len(sliders.sliders) == len(sliders.names) == 2 * avatar.model.coefficients_per_part
    rotation = sliders.parts[1].attributes[3].sliders[1]
    assert rotation.tag == "eigen/mouth/rotation/1" and rotation.label == "rotation 1"
    assert rotation.name == "mouth rotation 1" and (rotation.part, rotation.column) == (1, slices["rotation"].start + 1)
    # in (part, column) order: the values read back reshape to (P, K)
    assert [(s.part, s.column) for s in sliders.sliders] == [(p, k) for p in range(2) for k in range(11)]
    assert sliders.shape == tuple(avatar.zero_coefficients.shape)


def test_avatars_without_eigen_coefficients_have_no_eigen_sliders():
    from avatar import load_avatar

    sliders = EigenSliders.of(load_avatar())
    assert sliders.sliders == [] and sliders.names == [] and sliders.by_name(None) == {}


DRIVE = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import dearpygui.dearpygui as dpg
    import numpy as np
    import torch
    from avatar import load_avatar
    from avatar.splatting.rasterizer import rasterize
    from viewer.app import ViewerApp

    avatar, out = load_avatar(sys.argv[1]), Path(sys.argv[2])
    model, timeline = avatar.model, avatar.timeline
    p = len(model.parts) // 2  # "mouth" of the 10 parts
    part, slices = model.parts[p], model.coefficient_slices()
    geometry, scales = f"eigen/{part}/geometry/3", f"eigen/{part}/scales/1"
    app = ViewerApp(avatar, 96, 96, (255, 255, 255), "auto", record_dir=out)
    app.open()
    result, images = {}, {}

    def drawn(name):
        assert app.wait_until_drawn()
        images[name] = app.image()

    def moved():  # [part, column, value] of every coefficient away from 0
        return [[*index, app.params.eigen[tuple(index)].item()] for index in app.params.eigen.nonzero().tolist()]

    def press(tag):  # what clicking the 0 beside a slider does
        dpg.get_item_callback(tag)(tag, None, dpg.get_item_user_data(tag))

    result["count"] = len(app.eigen.sliders)
    result["slider"] = [dpg.get_item_label(geometry), dpg.get_item_configuration(geometry)["min_value"],
                        dpg.get_item_configuration(geometry)["max_value"], dpg.get_value(f"eigen/{part}")]
    drawn("frame0")  # a timeline opens at its first frame
    result["frame0"] = torch.equal(app.eigen.values(), timeline.eigen[0])
    app.reset_face()
    drawn("mean")
    result["mean"] = moved()

    dpg.set_value(geometry, 3.0)  # as dragging it does
    dpg.set_value(scales, -3.0)
    app.edited()
    drawn("moved")
    result["moved"] = moved()
    result["columns"] = [slices["geometry"].start + 3, slices["scales"].start + 1]
    press(f"reset/{geometry}")  # the 0 beside it
    drawn("one_reset")
    result["one_reset"] = [dpg.get_value(geometry), moved()]
    assert dpg.get_item_callback("eigen/reset") == app.reset_eigen
    app.reset_eigen()
    drawn("all_reset")
    dpg.set_value(geometry, 1.0)
    app.edited()
    drawn("moved_again")
    app.reset_face()
    drawn("face_reset")

    app.show_frame(3)
    drawn("frame3")
    frame = timeline.frame(3)
    reference = rasterize(avatar.gaussians(frame), app.orbit.camera(), app.background, app.backend).image.numpy()
    result["frame3"] = [torch.equal(app.eigen.values(), timeline.eigen[3]), torch.equal(app.params.eigen, frame.eigen),
                        float(np.abs(images["frame3"] - reference).max())]
    dpg.set_value(geometry, 2.0)  # an edit on top of the frame
    app.edited()
    app.step()
    expected = frame.eigen.clone()
    expected[p, slices["geometry"].start + 3] = 2.0
    result["frame3_edited"] = torch.equal(app.params.eigen, expected)

    label = part.replace("_", " ")
    app.set_filter(f"{label} geometry")
    result["filter_part"] = [app.shown_sliders(), dpg.get_value(f"eigen/{part}"),
                             dpg.get_value(f"eigen/{part}/geometry"), dpg.get_value(f"eigen/{part}/rotation"),
                             [dpg.is_item_shown(group.tag) for group in app.eigen.parts]]
    app.set_filter("ROTATION 3")
    result["filter_attribute"] = app.shown_sliders()
    app.set_filter("")
    result["unfiltered"] = [len(app.shown_sliders()), dpg.get_value(f"eigen/{part}"),
                            all(dpg.is_item_shown(group.tag) for group in app.eigen.parts)]

    app.reset_face()
    dpg.set_value(geometry, 1.25)
    dpg.set_value(scales, -0.5)
    app.edited()
    app.save_preset(out / "preset.json")
    app.reset_face()
    result["loaded"] = app.load_preset(out / "preset.json")
    result["preset"] = [dpg.get_value(geometry), dpg.get_value(scales), float(app.eigen.values().abs().sum())]
    (out / "old.json").write_text('{"livehead_preset": 1, "expression": {"smile": 0.5}}')
    app.load_preset(out / "old.json")  # from before eigen sliders: they go to 0
    result["old_preset"] = float(app.eigen.values().abs().sum())
    app.close()
    np.savez(out / "images.npz", **images)
    print(json.dumps(result))
""")


def drive(path, out, env) -> tuple[dict, dict]:
    result = json.loads(run(["-c", DRIVE, str(path), str(out)], env).stdout.strip().splitlines()[-1])
    import numpy as np

    return result, dict(np.load(out / "images.npz"))


def check_the_window(result: dict, images: dict, avatar: GemAvatar, out) -> None:
    model = avatar.model
    p, names = len(model.parts) // 2, EigenSliders.of(avatar).names
    label = model.parts[p].replace("_", " ")
    geometry_column, scales_column = result["columns"]

    def changed(a, b):  # the share of pixels that differ visibly
        return (abs(images[a] - images[b]).max(axis=-1) > 0.05).mean()

    assert result["count"] == len(model.parts) * model.coefficients_per_part
    assert result["slider"] == ["geometry 3", -3.0, 3.0, False]  # in sigma units, folded under its part
    assert result["frame0"] and result["mean"] == []
    assert result["moved"] == [[p, geometry_column, 3.0], [p, scales_column, -3.0]]
    assert changed("moved", "mean") > 0.001
    assert result["one_reset"] == [0.0, [[p, scales_column, -3.0]]]
    assert abs(images["one_reset"] - images["mean"]).max() > 0.02  # the scales still changed, a little
    assert changed("one_reset", "moved") > 0.001  # the geometry back
    assert (images["all_reset"] == images["mean"]).all()  # "reset eigen"
    assert changed("moved_again", "mean") > 0 and (images["face_reset"] == images["mean"]).all()  # "reset face"

    sliders_shown, params_are_the_frame, difference = result["frame3"]
    assert sliders_shown and params_are_the_frame and difference < 1e-6  # the frame, rendered as the window does
    assert changed("frame3", "mean") > 0.001 and result["frame3_edited"]

    shown, part_open, geometry_open, rotation_open, parts_shown = result["filter_part"]
    assert shown == [f"{label} geometry {j}" for j in range(model.counts["geometry"])]
    assert part_open and geometry_open and not rotation_open  # opened where it found them
    assert parts_shown == [k == p for k in range(len(model.parts))]
    assert result["filter_attribute"] == [name for name in names if "rotation 3" in name]
    assert len(result["filter_attribute"]) == len(model.parts) * sum(
        "3" in f"{j}"[:1] for j in range(model.counts["rotation"]))  # rotation 3, 30..39
    assert result["unfiltered"] == [avatar.head.num_expressions + 7 + len(names), False, True]

    assert result["loaded"] == f"loaded {out / 'preset.json'}"
    assert result["preset"] == [1.25, -0.5, 1.75]
    assert json.loads((out / "preset.json").read_text())["eigen"] == {f"{label} geometry 3": 1.25,
                                                                       f"{label} scales 1": -0.5}
    assert result["old_preset"] == 0.0


def test_the_eigen_sliders_of_a_small_gem_drive_the_window(display, tmp_path):
    path, _ = write_gem(tmp_path, parts=("full",), sizes=(60,))
    result, images = drive(path, tmp_path, display)
    check_the_window(result, images, GemAvatar.from_original(path), tmp_path)


@needs_fixture
def test_the_1800_eigen_sliders_of_the_original_gem_fixture_drive_the_window(display, tmp_path):
    result, images = drive(FIXTURE_FILES["parts"], tmp_path, display)
    check_the_window(result, images, GemAvatar.from_original(FIXTURE_FILES["parts"]), tmp_path)
