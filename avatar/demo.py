"""The embedded demo avatar: a rigged head built from the astronaut portrait (scripts/build_demo_avatar.py)."""
from pathlib import Path

from avatar.rigged import RiggedAvatar, load_rigged_avatar

DEMO_AVATAR_PATH = Path(__file__).parent / "assets" / "demo_avatar.npz"


def load_demo_avatar() -> RiggedAvatar:
    return load_rigged_avatar(DEMO_AVATAR_PATH)
