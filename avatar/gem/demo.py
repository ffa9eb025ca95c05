"""The embedded demo avatar as a GEM: built on first use (a few seconds), then read from a cache.

The cache file is named by a hash of everything that decides its contents (the demo asset, the build settings
and the code that builds it), so a change to any of them builds it again, and a stale file is never read.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

from avatar.demo import DEMO_AVATAR_PATH, load_demo_avatar
from avatar.gem.avatar import GemAvatar
from models.errors import AvatarError

# Measured (tests/test_gem_build.py): held-out positions within 0.001 % of the head's size (rms) with the best
# coefficients, 0.043 % through the mapper; tracked faces render within 0.06-0.18/255 of the demo (mean absolute
# difference). The demo's 33 expressions need the 64 geometry components (32 left 0.03 % rms, 0.55 % at worst).
# Opacities do not vary in the demo: no components.
DEMO_COUNTS = {"geometry": 64, "opacity": 0, "scales": 16, "rotation": 16}
DEMO_SAMPLES = 128
DEMO_SEED = 0
# the code whose output is cached: the GEM's own, and what the demo avatar's Gaussians come from
BUILD_SOURCES = tuple(Path(__file__).parent.glob("*.py")) + tuple(
    Path(__file__).parents[2] / name for name in ("avatar/rigged.py", "avatar/splatting/gaussians.py",
                                                    "models/head_model.py", "models/rotation.py"))


def cache_folder() -> Path:
    """$LIVEHEAD_CACHE, else ~/.cache/livehead."""
    return Path(os.environ.get("LIVEHEAD_CACHE") or Path.home() / ".cache" / "livehead")


def demo_gem_path() -> Path:
    digest = hashlib.sha256(DEMO_AVATAR_PATH.read_bytes())
    digest.update(json.dumps([DEMO_COUNTS, DEMO_SAMPLES, DEMO_SEED], sort_keys=True).encode())
    for source in sorted(BUILD_SOURCES):
        digest.update(source.read_bytes())
    return cache_folder() / f"demo_gem_{digest.hexdigest()[:16]}.npz"


def load_demo_gem(progress: bool = True) -> GemAvatar:
    """The demo avatar's GEM (one part, DEMO_COUNTS components), driven by FLAME parameters through its mapper;
    `progress`: show the build's progress bars when it has to be built."""
    from avatar.gem.build import build_gem
    from avatar.gem.file import load_gem, save_gem

    path = demo_gem_path()
    if path.is_file():
        try:
            return load_gem(path)
        except AvatarError as err:  # damaged (e.g. a disk that filled up): build it again
            warnings.warn(f"rebuilding the demo GEM: {err}", stacklevel=2)
    gem = build_gem(load_demo_avatar(), DEMO_COUNTS, DEMO_SAMPLES, seed=DEMO_SEED, progress=progress).avatar
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_gem(gem, path)  # whole or not at all: written under a temporary name, then renamed
    except OSError as err:  # the cache only saves time: without it, the next start builds again
        warnings.warn(f"could not cache the demo GEM in {path.parent} ({err}); set LIVEHEAD_CACHE to a writable "
                      "folder", stacklevel=2)
    return gem
