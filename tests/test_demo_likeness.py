"""The demo avatar looks like the person in its photo: at neutral, through its default camera, laid onto the photo by
the similarity of the face landmarks, it covers the person's silhouette around the head (hair, ears, neck, collar)
and shows the photo's colours there (scripts/demo_avatar/likeness.py measures both)."""
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import skimage.data

from avatar import load_avatar
from scripts.demo_avatar.likeness import likeness

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "fixtures" / "faces"


def test_the_demo_looks_like_the_astronaut_photo():
    measured = likeness(load_avatar(), skimage.data.astronaut())
    print(f"demo: {measured}")
    assert measured.iou >= 0.9 and measured.psnr >= 20  # the procedural head of before: IoU 0.70, 11.4 dB


@pytest.mark.skipif(not FACES.is_dir(), reason="../shared/fixtures/faces is absent")
@pytest.mark.parametrize("name", ["skimage_astronaut.png", "pillow_hopper.png"])
def test_an_avatar_built_with_photo_looks_like_that_photo(name, tmp_path):
    """The builder's command line on a user's own photo: the hopper portrait is 128x128, glasses and a cap."""
    output = tmp_path / "avatar.npz"
    subprocess.run([sys.executable, "-m", "scripts.build_demo_avatar", "--photo", str(FACES / name),
                    "--output", str(output)], cwd=ROOT, check=True, capture_output=True, timeout=300)
    photo = cv2.cvtColor(cv2.imread(str(FACES / name)), cv2.COLOR_BGR2RGB)
    measured = likeness(load_avatar(output), photo)
    print(f"{name}: {measured}")
    assert measured.iou >= 0.85 and measured.psnr >= 18
