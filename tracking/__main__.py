"""Track a video, an image folder or a webcam into FLAME parameters, saved as livehead .npz and/or IMavatar json.

    .venv/bin/python -m tracking clip.mp4 --output clip_tracked.npz --imavatar clip/flame_params.json
    .venv/bin/python -m tracking clip.mp4 --checkpoint EXPS/subj/method/train1/train --output clip.npz

The parameters are fitted to the avatar's own head model (the demo's by default); a MonoGaussianAvatar
checkpoint's FLAME makes them a FLAME sequence that can drive it, or train a new one (--imavatar).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracking", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a video file, a folder of images, or a webcam index (0)")
    parser.add_argument("--output", type=Path, help="livehead tracked sequence (.npz): parameters, face-found "
                        "flags, fit errors, fps and camera")
    parser.add_argument("--imavatar", type=Path, help="also write IMavatar / MonoGaussianAvatar flame_params.json")
    parser.add_argument("--checkpoint", help="the avatar whose head model is fitted; default: the demo avatar")
    parser.add_argument("--data-folder", help="a MonoGaussianAvatar checkpoint's moved dataset (see launch.py)")
    parser.add_argument("--embedding", help="FLAME's mediapipe_landmark_embedding.npz, to fit through its "
                        "105 MediaPipe points instead of the 68-point embedding")
    parser.add_argument("--focal", type=float, help="the camera's focal length in pixels; default: the image's "
                        "larger side")
    args = parser.parse_args(argv)
    if args.output is None and args.imavatar is None:
        parser.error("give --output FILE.npz and/or --imavatar flame_params.json")

    from avatar import AvatarError, load_avatar
    from tracking.offline import track_source
    from tracking.sequence_file import export_imavatar, save_tracked_sequence
    from tracking.sources import SourceError, open_source
    from tracking.tracker import Tracker, TrackerSettings

    try:
        avatar = load_avatar(args.checkpoint, data_folder=args.data_folder)
        tracker = Tracker(avatar.head, TrackerSettings(focal=args.focal), embedding_file=args.embedding)
        with open_source(args.source) as source:
            if source.live:
                parser.error("track a file or a folder here; the live window (launch.py) takes webcams")
            tracked = track_source(source, tracker)
    except (AvatarError, SourceError, ValueError) as err:
        print(f"tracking: {err}", file=sys.stderr)
        return 2
    for path, write in ((args.output, save_tracked_sequence), (args.imavatar, export_imavatar)):
        if path is None:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path, tracked)
        except OSError as err:
            print(f"tracking: cannot write {path}: {err.strerror or err}", file=sys.stderr)
            return 2
        print(f"wrote {path}")
    print(f"{int(tracked.face_found.sum())} of {len(tracked)} frames had a face")
    return 0


if __name__ == "__main__":
    sys.exit(main())
