"""python -m avatar.gem: build a GEM from an avatar, or fit its FLAME -> coefficient mapper to tracked frames.

    python -m avatar.gem build --checkpoint EXPERIMENT --output gem.npz --components 50,0,40,40 --regions
    python -m avatar.gem fit-mapper --gem SUBJECT.ptk --params tracked.npz --output gem.npz
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from avatar.gem.build import ORIGINAL_COUNTS
from avatar.gem.model import ATTRIBUTES

EPILOG = """
examples:
  python -m avatar.gem build --output demo_gem.npz                  # the embedded demo avatar
  python -m avatar.gem build --checkpoint experiments/subj/train --output subj_gem.npz \\
      --components geometry=50,opacity=20,scales=40,rotation=40 --samples 512 --regions --ptk subj.ptk
  python -m avatar.gem fit-mapper --gem GAUSSIAN_PCA_256/SUBJ.ptk --params SUBJ.tracked.npz --output subj_gem.npz

The GEM file loads like any avatar: python launch.py --checkpoint subj_gem.npz
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avatar.gem", description=__doc__.splitlines()[0],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser(
        "build", help="sample an avatar over its FLAME range and compress its Gaussians into a GEM",
        description="Sample FLAME expressions, jaw and eye poses over the avatar's range, take its Gaussians' "
                    "activated attributes, and keep the leading principal components of each attribute (per part "
                    "with --regions); fit a FLAME -> coefficient mapper on the same samples.")
    build.add_argument("--checkpoint", metavar="PATH", help="the avatar: anything livehead loads (a livehead .npz, "
                       "a MonoGaussianAvatar experiment folder or ModelParameters .pth); default: the demo avatar")
    build.add_argument("--data-folder", metavar="FOLDER", help="the experiment's dataset folder, if it moved")
    build.add_argument("--output", required=True, metavar="FILE.npz", help="the GEM file to write")
    build.add_argument("--components", type=parse_counts, default=dict(ORIGINAL_COUNTS), metavar="COUNTS",
                       help="components per attribute and part: one number for all, four numbers in the order "
                            f"{','.join(ATTRIBUTES)}, or name=number pairs (default: the original's "
                            f"{','.join(str(v) for v in ORIGINAL_COUNTS.values())}); 0 for an attribute that "
                            "does not vary")
    build.add_argument("--samples", type=int, default=256, metavar="N",
                       help="FLAME parameter sets to sample (default 256; more than the largest count)")
    build.add_argument("--regions", action="store_true",
                       help="one part per skinning region (head, jaw, eyes) instead of one part")
    build.add_argument("--seed", type=int, default=0, help="random seed of the sampling (default 0)")
    build.add_argument("--ptk", metavar="FILE.ptk", help="also write the original's .ptk layout (and its _coeffs "
                       "track of the samples) for the original GEM tools")

    fit = commands.add_parser(
        "fit-mapper", help="fit a GEM's FLAME -> coefficient mapper to its coefficient track and tracked FLAME",
        description="Fit the ridge-regression mapper from FLAME parameters to eigen coefficients on a GEM's own "
                    "per-frame coefficients (an original's _coeffs track, or a livehead GEM's timeline) and the "
                    "FLAME parameters tracked on the same frames, in the same order.")
    fit.add_argument("--gem", required=True, metavar="FILE", help="the GEM: an original .ptk (its _coeffs.ptk "
                     "beside it) or a livehead GEM .npz whose timeline has eigen coefficients")
    fit.add_argument("--params", required=True, metavar="TRACKED", help="the FLAME parameters of the same frames: "
                     "a tracked sequence .npz written by livehead, or an IMavatar flame_params.json")
    fit.add_argument("--output", required=True, metavar="FILE.npz", help="the GEM file to write, with the mapper")
    args = parser.parse_args(argv)

    from models.errors import AvatarError

    try:
        with torch.no_grad():
            return run_build(args) if args.command == "build" else run_fit_mapper(args)
    except (AvatarError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def parse_counts(text: str) -> dict[str, int]:
    """"32" | "50,0,40,40" | "geometry=50,opacity=0,..." -> counts per attribute."""
    try:
        items = [item.strip() for item in text.split(",")]
        if all("=" in item for item in items):
            counts = dict(ORIGINAL_COUNTS) | {name.strip(): int(value) for name, value in
                                              (item.split("=", 1) for item in items)}
        elif len(items) == 1:
            counts = dict.fromkeys(ATTRIBUTES, int(items[0]))
        else:
            counts = dict(zip(ATTRIBUTES, (int(item) for item in items), strict=True))
    except ValueError:
        counts = None
    if counts is None or set(counts) != set(ATTRIBUTES) or min(counts.values()) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give one number, four numbers ({','.join(ATTRIBUTES)}) or "
                                         "name=number pairs, each >= 0")
    return counts


def run_build(args) -> int:
    from avatar import load_avatar
    from avatar.gem.build import build_gem
    from avatar.gem.file import save_gem, save_original_gem

    start = time.perf_counter()
    avatar = load_avatar(args.checkpoint, data_folder=args.data_folder)
    build = build_gem(avatar, args.components, args.samples, args.regions, args.seed)
    save_gem(build.avatar, args.output)
    if args.ptk:
        save_original_gem(build.avatar.model, args.ptk, build.coefficients)
    model = build.avatar.model
    print(f"{len(model)} Gaussians, parts {', '.join(f'{p} ({n})' for p, n in zip(model.parts, model.part_sizes))}, "
          f"{args.samples} samples, {time.perf_counter() - start:.1f} s")
    for attribute in ATTRIBUTES:
        count, explained = model.counts[attribute], build.explained[attribute]
        note = ""
        if count and not any(float(basis.sigma.max()) > 0 for basis in model.bases[attribute]):
            note = f"  (it does not vary over the samples: {attribute}=0 saves its space)"
        print(f"  {attribute:9s} {count:3d} components, {100 * explained:7.3f} % of the variance{note}")
    print(f"wrote {args.output} ({Path(args.output).stat().st_size / 1e6:.1f} MB)"
          + (f" and {args.ptk}" if args.ptk else ""))
    return 0


def run_fit_mapper(args) -> int:
    from dataclasses import replace

    from avatar import load_avatar
    from avatar.gem.avatar import GemAvatar
    from avatar.gem.file import save_gem
    from avatar.gem.mapper import EigenMapper

    gem = load_avatar(args.gem)
    if not isinstance(gem, GemAvatar):
        raise ValueError(f"{args.gem}: not a GEM (it is a {type(gem).__name__} avatar)")
    if gem.timeline is None or gem.timeline.eigen is None:
        raise ValueError(f"{args.gem}: no per-frame coefficients to fit to (an original .ptk needs its _coeffs.ptk "
                         "beside it; a livehead GEM file needs a timeline with eigen coefficients)")
    track = gem.timeline.eigen  # what each frame shows: the mapper's coefficients plus the frame's own
    if gem.mapper is not None:
        track = track + gem.mapper.predict(gem.timeline)
    params = read_flame_sequence(Path(args.params))
    if len(params) != track.shape[0]:
        raise ValueError(f"{args.params} has {len(params)} frames but {args.gem}'s coefficient track has "
                         f"{track.shape[0]}; give the FLAME parameters tracked on exactly the frames GEM was built "
                         "from, in the same order")
    if params.expression.shape[1] != gem.head.num_expressions:
        raise ValueError(f"{args.params} has {params.expression.shape[1]} expression coefficients, but {args.gem} is "
                         f"driven through a head model with {gem.head.num_expressions}; track the frames with that "
                         "head model")
    mapper = EigenMapper.fit(params, track)
    missed = track - mapper.predict(params)
    residual = missed.square().mean() / track.var(0).mean()
    # The timeline keeps playing the track exactly: each frame's tracked FLAME, plus what the mapper misses.
    save_gem(replace(gem, mapper=mapper, timeline=replace(params, eigen=missed)), args.output)
    print(f"fitted the mapper on {len(params)} frames: it leaves {100 * float(residual):.2f} % of the coefficients' "
          f"variance unexplained on them; wrote {args.output}")
    return 0


def read_flame_sequence(path: Path):
    """A tracked sequence .npz written by livehead, or an IMavatar flame_params.json, as a FlameSequence."""
    if path.suffix == ".json":
        from models.imavatar_json import read_flame_params_json

        return read_flame_params_json(path).params
    from tracking.sequence_file import load_tracked_sequence  # a command line, not the avatar: it may read tracks

    return load_tracked_sequence(path).params


if __name__ == "__main__":
    sys.exit(main())
