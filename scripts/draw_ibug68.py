"""Draw the 68 iBUG points that tracking.ibug68 derives from MediaPipe's face mesh, numbered, to check the table by eye.

    python -m scripts.draw_ibug68 out.png                       # the astronaut fixture, face region enlarged
    python -m scripts.draw_ibug68 out.png --photo me.jpg --scale 4
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from tracking.face_mesh import FaceMeshDetector
from tracking.ibug68 import ibug68_from_mediapipe

ASTRONAUT = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces" / "skimage_astronaut.png"
# one colour (BGR) per group: jaw, brows, nose, eyes, outer lip, inner lip
GROUPS = [(range(0, 17), (255, 255, 0)), (range(17, 27), (0, 165, 255)), (range(27, 36), (0, 255, 0)),
          (range(36, 48), (255, 0, 255)), (range(48, 60), (0, 0, 255)), (range(60, 68), (255, 255, 255))]


def draw(image_bgr: np.ndarray, scale: float) -> np.ndarray:
    """Crop the face (with a margin), enlarge it `scale` times and draw the numbered 68 points on it."""
    with FaceMeshDetector(static_images=True) as detector:
        faces = detector.detect(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
    if not faces:
        raise SystemExit("no face found")
    mesh = faces[0][:, :2]
    points = ibug68_from_mediapipe(mesh)
    low, high = mesh.min(0), mesh.max(0)
    margin = 0.15 * (high - low)
    x0, y0 = np.maximum(np.floor(low - margin), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(high + margin), image_bgr.shape[1::-1]).astype(int)
    canvas = cv2.resize(image_bgr[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    # continuous image coordinates: x maps to (x - x0) * scale in the enlarged crop
    where = (points - [x0, y0]) * scale
    for indices, colour in GROUPS:
        for i in indices:
            x, y = np.round(where[i]).astype(int)
            cv2.circle(canvas, (x, y), 3, colour, -1, cv2.LINE_AA)
            cv2.putText(canvas, str(i), (x + 4, y - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(canvas, str(i), (x + 4, y - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, help="PNG to write")
    parser.add_argument("--photo", type=Path, default=ASTRONAUT, help="a photo of one face (default: the astronaut)")
    parser.add_argument("--scale", type=float, default=8.0, help="enlargement of the face crop (default 8)")
    args = parser.parse_args()
    image = cv2.imread(str(args.photo))
    if image is None:
        raise SystemExit(f"{args.photo}: cannot read this image")
    if not cv2.imwrite(str(args.output), draw(image, args.scale)):
        raise SystemExit(f"{args.output}: cannot write this image")


if __name__ == "__main__":
    main()
