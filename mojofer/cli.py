"""The `mojofer` command line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import _core
from .analyzer import Analyzer
from .dataset import NO_FACE, TABLE_SUFFIXES, analyze_images, check_table_path, expand, write_table
from .detect import FaceDetector
from .expressions import ExpressionClassifier
from .landmarks import Landmarker
from .pose import HeadPose
from .sample import SAMPLE_PATH, load_rgb
from .video import VIDEO_SUFFIXES, Video, analyze_video, video_results


def draw_boxes(frame: np.ndarray, boxes, color=(255, 40, 40), width: int = 3) -> np.ndarray:
    """A copy of `frame` with each box outlined."""
    out = frame.copy()
    h, w = out.shape[:2]
    for b in boxes:
        x0, y0 = int(round(b.x)), int(round(b.y))
        x1, y1 = int(round(b.x + b.w)), int(round(b.y + b.h))
        for t in range(width):
            top, bottom = np.clip([y0 + t, y1 - t], 0, h - 1)
            left, right = np.clip([x0 + t, x1 - t], 0, w - 1)
            out[top, left:right + 1] = color
            out[bottom, left:right + 1] = color
            out[top:bottom + 1, left] = color
            out[top:bottom + 1, right] = color
    return out


def draw_points(frame: np.ndarray, points: np.ndarray, color=(40, 255, 40)) -> np.ndarray:
    """`frame` with a 3x3 dot at each point (in place)."""
    h, w = frame.shape[:2]
    for x, y in np.round(points).astype(int):
        frame[max(y - 1, 0):min(y + 2, h), max(x - 1, 0):min(x + 2, w)] = color
    return frame


def output_path(out: Path, image: Path, count: int) -> Path:
    return out if count == 1 else out.with_name(f"{out.stem}_{image.stem}{out.suffix}")


def cmd_analyze(args) -> int:
    """Faces; for `analyze` also their landmarks, head pose, expression and
    social cues (each image is one frame at time 0 of a fresh Analyzer)."""
    from PIL import Image

    if args.landmarks and args.out and args.out.suffix.lower() in TABLE_SUFFIXES:
        return write_analysis_table(args)
    if getattr(args, "subjects_from", None):
        raise ValueError("--subjects-from is for table output (--out faces.csv, .jsonl or .parquet)")

    detector = FaceDetector(args.detector_model)
    if args.landmarks:
        models: dict[str, Any] = dict(detector=detector, landmarker=Landmarker(args.landmarks_model),
                                      pose=HeadPose(args.pose_model),
                                      expressions=ExpressionClassifier(args.expressions_model))
    images = args.images or [SAMPLE_PATH]
    for path in images:
        if args.landmarks and Path(path).suffix.lower() in VIDEO_SUFFIXES:
            print_video(Path(path), Analyzer(min_size=args.min_size, face_crop=args.face_crop, **models))
            continue
        frame = load_rgb(path)
        if args.landmarks:
            analyzer = Analyzer(min_size=args.min_size, face_crop=args.face_crop, **models)
            faces = analyzer.process(frame, 0.0).faces
            boxes = [f.box for f in faces]
        else:
            faces, boxes = [], detector.detect(frame, min_size=args.min_size)
        print(f"{path}: {len(boxes)} face(s)")
        annotated = draw_boxes(frame, boxes)
        for i, b in enumerate(boxes):
            print(f"  face {i}: box x={b.x:.1f} y={b.y:.1f} w={b.w:.1f} h={b.h:.1f} score={b.score:.0f}")
        for f in faces:
            (rx, ry), (lx, ly) = f.landmarks[36], f.landmarks[45]
            print(f"    face id {f.id}: 68 landmarks, fit quality {f.quality:.3f} (lower is better); "
                  f"outer eye corners ({rx:.1f}, {ry:.1f}) and ({lx:.1f}, {ly:.1f})")
            print(f"    head pose: yaw {f.pose.yaw:+.1f}°, pitch {f.pose.pitch:+.1f}°, roll {f.pose.roll:+.1f}°")
            ranked = sorted(f.emotions.items(), key=lambda kv: -kv[1])[:3]
            print("    emotions: " + ", ".join(f"{k} {v:.2f}" for k, v in ranked)
                  + f"; amusement {f.amusement:.2f}, surprise {f.surprise:.2f}, "
                  f"confusion {f.confusion:.2f} (geometric rule)")
            print("    action units: " + ", ".join(f"{k} {v:+.3f}" for k, v in f.action_units.items()))
            print(f"    attention {f.attention:.2f}, engagement {f.engagement}, status {f.status} "
                  "(one frame: engaged needs 1 s of attention)")
            draw_points(annotated, f.landmarks)
        if args.out:
            out = output_path(args.out, Path(path), len(images))
            Image.fromarray(annotated).save(out)
            print(f"  annotated image: {out}")
    return 0


def write_analysis_table(args) -> int:
    """Every image of the arguments (files, folders, globs) analysed into one
    table (mojofer.analyze_images), or every video into one table and its
    events (write_video_tables); 1 if any file could not be read."""
    check_table_path(args.out)
    files = [Path(source) for source, _, _ in expand([str(p) for p in args.images])]
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    if videos:
        if len(videos) < len(files):
            raise ValueError("table output takes images or videos, not both in one table")
        return write_video_tables(args, videos)
    subjects = (lambda source: Path(source).parent.name) if args.subjects_from == "parent" else None
    table = analyze_images([str(p) for p in args.images] or [SAMPLE_PATH], subjects=subjects,
                           face_crop=args.face_crop, min_size=args.min_size,
                           detector_model=args.detector_model, landmarks_model=args.landmarks_model,
                           pose_model=args.pose_model, expressions_model=args.expressions_model)
    write_table(table, args.out)
    images = table.drop_duplicates("source")
    failed = images[images["error"].notna() & (images["error"] != NO_FACE)]
    print(f"{args.out}: {int(table['face_id'].notna().sum())} face(s) in {len(images)} file(s); "
          f"{int((images['error'] == NO_FACE).sum())} without a face; {len(failed)} unreadable")
    for source, error in zip(failed["source"], failed["error"]):
        print(f"  {source}: {error}", file=sys.stderr)
    if len(failed):
        print(f"mojofer: {len(failed)} of {len(images)} file(s) could not be read", file=sys.stderr)
    return 1 if len(failed) else 0


def events_path(out: Path) -> Path:
    """Where the events of a video table go: out.csv -> out.events.csv."""
    return out.with_name(f"{out.stem}.events{out.suffix}")


def write_video_tables(args, videos) -> int:
    """The faces of every video (mojofer.analyze_video) to args.out and
    their events to events_path(args.out); 1 if a video could not be read."""
    import pandas as pd

    tables, event_tables, described, failed = [], [], {}, []
    for path in videos:
        try:
            table, events = analyze_video(path, every=args.every, face_crop=args.face_crop,
                                          min_size=args.min_size, detector_model=args.detector_model,
                                          landmarks_model=args.landmarks_model, pose_model=args.pose_model,
                                          expressions_model=args.expressions_model)
        except (OSError, ValueError) as failure:  # av's errors are both; the other videos go on
            failed.append((path, f"{type(failure).__name__}: {failure}"))
            continue
        tables.append(table)
        event_tables.append(events)
        described[str(path)] = table.attrs["video"]
    if not tables:
        raise OSError("; ".join(f"{path}: {error}" for path, error in failed))
    table = pd.concat(tables, ignore_index=True)
    # the same models and parameters for every video; each video's own facts by its source
    table.attrs = {**tables[0].attrs, "video": described}
    events = pd.concat(event_tables, ignore_index=True)
    write_table(table, args.out)
    write_table(events, events_path(args.out))
    frames = table.drop_duplicates(["source", "frame"])
    print(f"{args.out}: {len(table)} row(s), {int(table['face_id'].notna().sum())} face row(s) in "
          f"{len(frames)} frame(s) of {len(tables)} video(s); {len(events)} event(s) in {events_path(args.out)}")
    for path, error in failed:
        print(f"  {path}: {error}", file=sys.stderr)
    if failed:
        print(f"mojofer: {len(failed)} of {len(videos)} video(s) could not be read", file=sys.stderr)
    return 1 if failed else 0


def print_video(path: Path, analyzer) -> None:
    """Streams a video file through the analyzer (timestamps from the
    container) and prints every event and each face once a second."""
    with Video(path) as video:
        print(f"{path}: {video.frame_count or 'unknown number of'} frames")
        next_report = 0.0
        for _, r in video_results(video, analyzer):
            for e in r.events:
                print(f"  {e.timestamp:7.3f} s  face {e.face_id}: {e.kind} {e.from_state} -> {e.to_state}")
            if r.timestamp >= next_report:
                next_report += 1.0
                for f in r.faces:
                    print(f"  {r.timestamp:7.3f} s  face {f.id}{'' if f.visible else ' (lost)'}: "
                          f"yaw {f.pose.yaw:+.0f}°, {f.top_emotion}, attention {f.attention:.2f}, "
                          f"{f.engagement} / {f.status}")


# `mojofer serve` without --config: loopback only, one key made for the run,
# whose plan lets one page (30 frames/s) and a few other clients stream
TRY_PORT = 8765
TRY_SESSIONS, TRY_FPS, TRY_SESSION_SECONDS = 4, 60.0, 24 * 3600.0


def cmd_serve(args) -> int:
    """The streaming server, configured by a TOML file (mojofer.server.load_config),
    until Ctrl-C or SIGTERM; session starts, ends and refusals are logged to stderr.
    Without --config: on 127.0.0.1 (--port, 8765) with one key made for this
    run and printed, to try the server or the page on this machine."""
    import logging
    import secrets
    import signal
    import threading

    from .server import Key, Server, load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    made_key = None
    if args.config is not None:
        if args.port is not None:
            raise ValueError("--port is for a server without --config: give port in the config file")
        options = load_config(args.config)
    else:
        made_key = Key("try", secrets.token_hex(16), secrets.token_hex(16), max_sessions=TRY_SESSIONS,
                       max_fps=TRY_FPS, max_session_seconds=TRY_SESSION_SECONDS)
        options = {"host": "127.0.0.1", "port": TRY_PORT if args.port is None else args.port,
                   "keys": [made_key]}
    if args.web and not options.get("web"):
        options["web"] = True
    # the handlers go in before the server runs: a signal at any moment after
    # (even before the wait below starts) ends in a clean stop
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    server = Server(**options).start()
    print(f"mojofer: serving on {server.url} with {len(options['keys'])} key(s)", flush=True)
    if server.page_url:
        print(f"mojofer: the page at {server.page_url}", flush=True)
    if made_key is not None:
        print(f"mojofer: no --config: a key made for this run, on this machine only: "
              f"api key {made_key.api_key} socket key {made_key.socket_key}", flush=True)
    while not stopping.wait(0.5):
        pass
    server.stop()
    return 0


def cmd_evaluate(args) -> int:
    """mojofer's scores on a labelled CSV or .pts folder (mojofer.evaluate),
    printed and saved in --out."""
    from .evaluation import evaluate

    result = evaluate(args.labels, by=args.by, baseline=args.baseline, face_crop=args.face_crop,
                      limit=args.limit, out=args.out, bootstrap_by=args.bootstrap_by)
    print(result.report())
    print(f"written to {args.out}/")
    return 0


def cmd_version(args) -> int:
    for name, version in _core.versions().items():
        print(f"{name}: {version}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mojofer", description="Facial expression and social-cue recognition.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, landmarks, summary in (
            ("analyze", True, "faces, landmarks, head pose, expression and social cues (default: the bundled sample)"),
            ("detect", False, "faces only (default: the bundled sample)")):
        command = commands.add_parser(name, help=summary)
        command.set_defaults(landmarks=landmarks)
        command.add_argument("images", nargs="*", type=Path,
                             help="image files (analyze: also video files, .mp4 .avi .mov .mkv .webm; "
                                  "with a table --out also folders and globs); none = bundled astronaut portrait")
        command.add_argument("-o", "--out", type=Path,
                             help="write the image with the results drawn to this PNG"
                                  + ("; or, ending in .csv, .jsonl or .parquet, the table of all faces "
                                     "(mojofer.analyze_images; for videos mojofer.analyze_video, their events to "
                                     "OUT.events.csv|.jsonl|.parquet beside it), exit status 1 if a file "
                                     "could not be read"
                                     if landmarks else ""))
        command.add_argument("--min-size", type=int, default=_core.detect_defaults()["min_size"],
                             help="smallest face side in pixels")
        if landmarks:
            command.add_argument("--face-crop", action="store_true",
                                 help="each image is a tight crop of one face (e.g. FER2013's 48x48): "
                                      "fit it even where the detector finds none")
            command.add_argument("--every", type=int, default=1, metavar="N",
                                 help="video table output: analyse every N-th frame")
            command.add_argument("--subjects-from", choices=["parent"],
                                 help="table output: each image's subject is its folder's name "
                                      "(faces read against the subject's baseline)")
        command.add_argument("--detector-model", type=Path, help="face_detector model file (default: bundled)")
        command.add_argument("--landmarks-model", type=Path, help="landmarks model file (default: bundled)")
        command.add_argument("--pose-model", type=Path, help="head_pose model file (default: bundled)")
        command.add_argument("--expressions-model", type=Path,
                             help="expressions model file (default: bundled)")
    serve = commands.add_parser("serve", help="the streaming server (docs/protocol.md)")
    serve.add_argument("--config", type=Path,
                       help="server.toml: host, port, keys_file or [[keys]], limits, tls_cert/tls_key, [web]; "
                            "without it: 127.0.0.1 with one key made for the run and printed")
    serve.add_argument("--port", type=int, help=f"the port without --config ({TRY_PORT}; 0: any free one)")
    serve.add_argument("--web", action="store_true",
                       help="also serve the browser page at / (and the models it fetches at /models/) "
                            "on the same port, as [web] enabled = true does")
    evaluate = commands.add_parser("evaluate", help="scores on labelled images: expressions or landmarks")
    evaluate.add_argument("labels", type=Path,
                          help="a CSV with columns image,label[,subject,...] (expressions) or image,x0,y0,...,"
                               "x67,y67 (landmarks), image paths relative to it; or a folder of .pts files")
    evaluate.add_argument("--by", action="append", default=[], metavar="COLUMN",
                          help="also score each value of this CSV column (e.g. source); repeatable")
    evaluate.add_argument("--baseline", action="store_true",
                          help="expressions: read each face against its subject's baseline (subject column)")
    evaluate.add_argument("--face-crop", action="store_true", help="each image is a tight crop of one face")
    evaluate.add_argument("--bootstrap-by", metavar="COLUMN",
                          help="resample whole values of this column (e.g. subject) for the intervals, "
                               "not single images")
    evaluate.add_argument("--limit", type=int, help="only the first N labelled images")
    evaluate.add_argument("-o", "--out", type=Path, default=Path("evaluation"),
                          help="folder for metrics.json, rows.csv, groups_COLUMN.csv and confusion.png "
                               "or ced.png (default: ./evaluation)")
    commands.add_parser("version", help="versions of mojofer and its system libraries")
    args = parser.parse_args(argv)
    try:
        return {"analyze": cmd_analyze, "detect": cmd_analyze, "serve": cmd_serve,
                "evaluate": cmd_evaluate, "version": cmd_version}[args.command](args)
    except (OSError, ValueError, ImportError) as exc:
        print(f"mojofer: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
