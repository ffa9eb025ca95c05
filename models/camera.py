"""A pinhole camera in the OpenCV convention, and its conversion to the matrices 3DGS rasterizers take."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)  # eq would compare a tensor
class Camera:
    """x right, y down, z forward; intrinsics in pixels with pixel centres at integer coordinates
    (pixel (0, 0) is centred on (0, 0), as in OpenCV and the 3DGS rasterizer)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    world_to_camera: Tensor  # (4, 4)
    znear: float = 0.01
    zfar: float = 100.0

    @staticmethod
    def look_at(eye, target, up, width: int, height: int, fx: float, fy: float | None = None, **kwargs) -> Camera:
        """A camera at `eye` looking at `target`, with `up` pointing up in the image; centred principal point."""
        eye, target, up = (torch.as_tensor(v, dtype=torch.float32) for v in (eye, target, up))
        forward = torch.nn.functional.normalize(target - eye, dim=0)
        right = torch.nn.functional.normalize(torch.linalg.cross(forward, up), dim=0)
        down = torch.linalg.cross(forward, right)
        world_to_camera = torch.eye(4)
        world_to_camera[:3, :3] = torch.stack([right, down, forward])
        world_to_camera[:3, 3] = -world_to_camera[:3, :3] @ eye
        cx, cy = (width - 1) / 2, (height - 1) / 2
        return Camera(width, height, fx, fx if fy is None else fy, cx, cy, world_to_camera, **kwargs)

    @property
    def intrinsics(self) -> Tensor:
        """(3, 3) K."""
        return torch.tensor([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def position(self) -> Tensor:
        """(3,) camera centre in world space."""
        rotation, translation = self.world_to_camera[:3, :3], self.world_to_camera[:3, 3]
        return -rotation.T @ translation

    def to_arrays(self, prefix: str = "camera/") -> dict[str, np.ndarray]:
        """Plain arrays for an `.npz`."""
        intrinsics = [self.width, self.height, self.fx, self.fy, self.cx, self.cy, self.znear, self.zfar]
        return {f"{prefix}intrinsics": np.array(intrinsics, np.float64),
                f"{prefix}world_to_camera": self.world_to_camera.numpy().astype(np.float64)}

    @staticmethod
    def from_arrays(arrays: dict[str, np.ndarray], prefix: str = "camera/") -> Camera:
        width, height, fx, fy, cx, cy, znear, zfar = arrays[f"{prefix}intrinsics"].tolist()
        world_to_camera = torch.from_numpy(arrays[f"{prefix}world_to_camera"]).float()
        return Camera(int(width), int(height), fx, fy, cx, cy, world_to_camera, znear, zfar)

    def resized(self, width: int, height: int) -> Camera:
        """The same view at another image size (intrinsics scaled, pixel-centre convention kept)."""
        sx, sy = width / self.width, height / self.height
        return replace(
            self, width=width, height=height, fx=self.fx * sx, fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5, cy=(self.cy + 0.5) * sy - 0.5,
        )


def to_3dgs(camera: Camera) -> tuple[Tensor, Tensor, float, float]:
    """The inputs of the 3DGS rasterizer: (viewmatrix, full projection matrix, tan_fovx, tan_fovy).

    Both matrices are transposed (row vectors), as 3DGS stores them. The projection matrix carries the
    principal point, so that 3DGS's ndc-to-pixel mapping ((ndc + 1) * W - 1) / 2 lands exactly on
    u = fx * x / z + cx; 3DGS takes its focal length from W / (2 tan_fovx) = fx.
    """
    w, h, n, f = camera.width, camera.height, camera.znear, camera.zfar
    projection = torch.tensor(
        [
            [2 * camera.fx / w, 0.0, (2 * camera.cx + 1) / w - 1, 0.0],
            [0.0, 2 * camera.fy / h, (2 * camera.cy + 1) / h - 1, 0.0],
            [0.0, 0.0, f / (f - n), -f * n / (f - n)],
            [0.0, 0.0, 1.0, 0.0],
        ]
    )
    view = camera.world_to_camera.float()
    return view.T.contiguous(), (projection @ view).T.contiguous(), w / (2 * camera.fx), h / (2 * camera.fy)
