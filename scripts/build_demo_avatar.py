"""Regenerate livehead's embedded demo avatar (avatar/assets/demo_avatar.npz) from a face photo.

    python -m scripts.build_demo_avatar                 # the astronaut portrait bundled with scikit-image
    python -m scripts.build_demo_avatar --photo me.jpg --output my_avatar.npz
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2

from avatar.demo import DEMO_AVATAR_PATH
from avatar.rigged import save_rigged_avatar
from models.atomic_file import replace_problem, replaced_atomically
from scripts.demo_avatar.build import build_demo_avatar
from scripts.demo_avatar.likeness import likeness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photo", type=Path, help="a photo of one face, frontal (default: scikit-image's astronaut)")
    parser.add_argument("--output", type=Path, default=DEMO_AVATAR_PATH)
    args = parser.parse_args()
    if args.photo is None:
        import skimage.data

        photo = skimage.data.astronaut()
    else:
        photo = cv2.imread(str(args.photo))
        if photo is None:
            raise SystemExit(f"{args.photo}: cannot read this image")
        photo = cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)
    problem = replace_problem(args.output)
    if problem:
        raise SystemExit(f"{args.output}: cannot be written: {problem}")
    try:
        avatar = build_demo_avatar(photo)
    except RuntimeError as error:  # no face, or several
        raise SystemExit(f"{args.photo or 'the astronaut'}: {error}")
    with replaced_atomically(args.output) as temporary:
        save_rigged_avatar(avatar, temporary)
    print(f"wrote {args.output}: {len(avatar.opacities)} Gaussians, {len(avatar.head.v_template)} vertices, "
          f"{args.output.stat().st_size / 1e6:.1f} MB; at neutral, laid onto the photo: {likeness(avatar, photo)}")


if __name__ == "__main__":
    main()
