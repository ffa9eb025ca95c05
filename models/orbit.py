"""An orbit camera: yaw and pitch around a target, pan, dolly, reset; it hands out `Camera`s.

Everything is expressed in the frame of the avatar's default ("home") camera, so whatever way that camera
looks, yaw turns around its vertical image axis, pitch around its horizontal one, and the view at rest is
exactly the home camera.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from models.camera import Camera

MAX_PITCH = math.radians(85.0)  # short of the pole, where "up" would flip and the view spin
RADIANS_PER_PIXEL = math.radians(0.4)  # mouse drag -> rotation
ZOOM_STEP = 0.9  # one wheel notch moves the camera to this fraction of its distance
MIN_DISTANCE, MAX_DISTANCE = 0.3, 5.0  # times the home distance: closer would cut into the head


def target_depth(camera: Camera, points: Tensor) -> float:
    """How far in front of `camera` the centre of `points` (N, 3) lies: where to put the orbit target."""
    camera_space = points.double() @ camera.world_to_camera[:3, :3].double().T + camera.world_to_camera[:3, 3].double()
    return float(camera_space[:, 2].mean())


@dataclass
class OrbitCamera:
    home: Camera  # the view that reset returns to
    home_distance: float  # from the home camera to the target, along its optical axis
    width: int  # the image size the cameras are made for
    height: int
    distance: float  # from the camera to the target
    yaw: float = 0.0  # radians; > 0: the camera has moved to its right around the target
    pitch: float = 0.0  # radians; > 0: the camera has moved up
    pan: tuple[float, float, float] = (0.0, 0.0, 0.0)  # target offset, in home-camera axes (x right, y down)
    focal_scale: float = 1.0  # the focal length, times the home camera's: > 1 narrows the field of view

    @staticmethod
    def around(home: Camera, depth: float) -> OrbitCamera:
        """Orbit around the point `depth` in front of `home`, starting at `home`."""
        return OrbitCamera(home, depth, home.width, home.height, depth)

    @staticmethod
    def home_of(avatar, width: int, height: int) -> OrbitCamera:
        """An avatar's home view for a width x height image: its own camera, orbiting the centre of its head."""
        home = avatar.default_camera
        orbit = OrbitCamera.around(home, target_depth(home, avatar.head.v_template))
        orbit.resize(width, height)
        return orbit

    def camera(self) -> Camera:
        home_to_world = self.home.world_to_camera[:3, :3].double().T.numpy()  # columns: right, down, forward
        home_eye = self.home.position.double().numpy()
        target = home_eye + home_to_world @ (np.array([0.0, 0.0, self.home_distance]) + self.pan)
        right, down, forward = self._axes()
        rotation = np.stack([right, down, forward]) @ home_to_world.T  # world -> orbiting camera
        eye = target - self.distance * (home_to_world @ forward)
        world_to_camera = np.eye(4)
        world_to_camera[:3, :3] = rotation
        world_to_camera[:3, 3] = -rotation @ eye
        return replace(self._intrinsics(), world_to_camera=torch.from_numpy(world_to_camera).float())

    def _axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Right, down and forward of the orbiting camera in home-camera coordinates (OpenCV axes)."""
        cy, sy, cp, sp = math.cos(self.yaw), math.sin(self.yaw), math.cos(self.pitch), math.sin(self.pitch)
        forward = np.array([-sy * cp, sp, cy * cp])
        right = np.array([cy, 0.0, sy])  # yaw turns around the vertical axis, so right stays level
        return right, np.cross(forward, right), forward

    def _intrinsics(self) -> Camera:
        """The home intrinsics at this image size: square pixels kept, the home view fits in the smaller side."""
        home = self.home
        scale = min(self.width / home.width, self.height / home.height)
        return replace(
            home, width=self.width, height=self.height, fx=home.fx * scale * self.focal_scale,
            fy=home.fy * scale * self.focal_scale,
            cx=(home.cx + 0.5 - home.width / 2) * scale + self.width / 2 - 0.5,
            cy=(home.cy + 0.5 - home.height / 2) * scale + self.height / 2 - 0.5,
        )

    def rotate(self, yaw: float, pitch: float) -> None:
        """Turn around the target by `yaw` and `pitch` radians (pitch stays short of straight above or below)."""
        self.yaw = (self.yaw + yaw + math.pi) % (2 * math.pi) - math.pi
        self.pitch = min(max(self.pitch + pitch, -MAX_PITCH), MAX_PITCH)

    def drag_rotate(self, dx: float, dy: float) -> None:
        """A mouse drag of (dx, dy) pixels: the surface under the mouse follows it."""
        self.rotate(-dx * RADIANS_PER_PIXEL, dy * RADIANS_PER_PIXEL)

    def drag_pan(self, dx: float, dy: float) -> None:
        """Slide camera and target together so that the point at the target follows a (dx, dy)-pixel drag."""
        metres_per_pixel = self.distance / self._intrinsics().fx
        right, down, _ = self._axes()
        self.pan = tuple(np.array(self.pan) - metres_per_pixel * (dx * right + dy * down))

    def zoom(self, steps: float) -> None:
        """Dolly towards the target by `steps` wheel notches (negative: away)."""
        limits = MIN_DISTANCE * self.home_distance, MAX_DISTANCE * self.home_distance
        self.distance = min(max(self.distance * ZOOM_STEP**steps, limits[0]), limits[1])

    def field_of_view(self) -> float:
        """The vertical field of view in degrees (of the home view's extent, as it fits the image)."""
        home = self.home
        return math.degrees(2 * math.atan(home.height / 2 / (home.fy * self.focal_scale)))

    def set_field_of_view(self, degrees: float) -> None:
        """Change the focal length (not the camera's position) so that the view spans `degrees` vertically."""
        home = self.home
        self.focal_scale = home.height / 2 / math.tan(math.radians(degrees) / 2) / home.fy

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = width, height

    def reset(self) -> None:
        """Back to the home view, its focal length included (the image size stays)."""
        self.yaw, self.pitch, self.distance, self.pan = 0.0, 0.0, self.home_distance, (0.0, 0.0, 0.0)
        self.focal_scale = 1.0
