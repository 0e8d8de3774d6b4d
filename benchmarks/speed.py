"""Speed benchmark: mojofer's landmarks and tracking against dlib's shape predictor.

    python benchmarks/speed.py [--data PATH] [--model PATH] [--repeats N] [--scenes N]
                               [--size-faces N] [--cpu K] [--results-dir DIR]

Each library is measured in its own subprocess (this script with `--only
mojofer` or `--only dlib`), pinned to one CPU with OPENBLAS_NUM_THREADS=1,
so that each reports its own peak memory. Both measure the same frames:

- the val crops of landmarks/val.csv with mojofer's boxes (mapped to dlib's
  box convention for dlib's predictor, as benchmarks/landmarks.py does);
- 640x480 scenes: a val crop, resized so its face is 120-200 px wide,
  pasted onto a blurred, stretched copy of another val crop; and short
  sequences of such a scene with the face moving a few pixels per frame;
- the first --size-faces of those val crops resized so the face is 50, 100,
  200 and 400 px wide, centred in a 960x960 frame: whether a fit's cost
  grows with the face's size.

Writes benchmarks/results/speed.md (the tables) and speed.json (the numbers),
or into --results-dir.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from mojofer.metrics import tight_box

from _common import (DLIB_PREDICTOR, DLIB_UPSAMPLE, Faces, Run, add_results_dir, add_val_arguments,
                     box_corners, box_to_rect, choose_face, corners_box, detect_val_faces,
                     dlib_accepts, environment,
                     header, load_val, map_box, mojofer_accepts, rect_to_box, rescaled_crop, table,
                     verdict, write_results)

SCENE_SIZE = (640, 480)
FACE_WIDTHS = (120, 200)     # px, the pasted face's tight-box width
BACKGROUND_BLUR = 8          # px, Gaussian radius: the background's face should not be found
STEP = 3.0                   # px per frame the face moves in a sequence
SEQUENCES, SEQUENCE_FRAMES = 5, 60
SIZE_FRAME = (960, 960)      # px: holds the head of a 400 px wide face
SIZE_WIDTHS = (50, 100, 200, 400)  # px, the face's tight-box width, for the cost by face size
GOAL_FIT_MS, GOAL_FIT_RATIO, GOAL_TRACK_MS, GOAL_MODEL_MB = 0.5, 2.0, 1.0, 10.0


# ---------------------------------------------------------------- frames

@dataclass
class Scene:
    """A face crop to paste at (x, y) onto a 640x480 background."""
    background: np.ndarray
    face: np.ndarray
    truth: np.ndarray     # the face's points in the crop's pixels
    x: float
    y: float

    def frame(self, x: float, y: float) -> tuple[np.ndarray, np.ndarray]:
        """The frame with the crop's corner at (x, y) and the face's points in it."""
        frame = self.background.copy()
        h, w = self.face.shape[:2]
        frame[round(y):round(y) + h, round(x):round(x) + w] = self.face
        return frame, self.truth + (round(x), round(y))


def make_scenes(faces: Faces, count: int, seed: int) -> list[Scene]:
    """`count` scenes, the same for a seed (each subprocess builds its own)."""
    rng = np.random.default_rng(seed)
    n = len(faces.frames)
    scenes = []
    for i in rng.choice(n, size=min(count, n), replace=False):
        other = (i + 1 + rng.integers(n - 1)) % n
        background = Image.fromarray(faces.frames[other]).resize(SCENE_SIZE, Image.Resampling.BILINEAR)
        background = np.asarray(background.filter(ImageFilter.GaussianBlur(BACKGROUND_BLUR)))
        crop = faces.frames[i]
        scale = min(rng.uniform(*FACE_WIDTHS) / tight_box(faces.truths[i])[2],
                    SCENE_SIZE[1] / crop.shape[0])
        face, truth = rescaled_crop(crop, faces.truths[i], scale)
        side = face.shape[0]
        scenes.append(Scene(background, face, truth, rng.uniform(0, SCENE_SIZE[0] - side),
                            rng.uniform(0, SCENE_SIZE[1] - side)))
    return scenes


def sequence(scene: Scene, frames: int, rng: np.random.Generator):
    """The scene's frames with the face moving STEP px a frame, bouncing off the edges."""
    limit = np.array(SCENE_SIZE) - scene.face.shape[1::-1]
    position = np.array([scene.x, scene.y])
    angle = rng.uniform(0, 2 * np.pi)
    velocity = STEP * np.array([np.cos(angle), np.sin(angle)])
    for _ in range(frames):
        yield scene.frame(*position)
        ahead = position + velocity
        velocity = np.where((ahead < 0) | (ahead > limit), -velocity, velocity)
        position = np.clip(position + velocity, 0, limit)


def centred(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The square image centred in a frame of `size` (w, h), cut where it is
    larger, edge-replicated around where smaller; and its corner's place in
    the frame."""
    w, h = size
    side = image.shape[0]
    corner = np.array([(w - side) // 2, (h - side) // 2])
    x, y = np.maximum(0, -corner)
    cut = image[y:y + min(side, h), x:x + min(side, w)]
    px, py = np.maximum(0, corner)
    return np.pad(cut, ((py, h - py - cut.shape[0]), (px, w - px - cut.shape[1]), (0, 0)),
                  mode="edge"), corner


def sized_faces(faces: Faces, job: dict, width: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(frame, mojofer's box) of the first job["size_faces"] measured val
    crops, each resized so its face is `width` px wide and centred in a
    SIZE_FRAME frame."""
    pairs = []
    for i, box in list(zip(job["faces"], job["boxes"]))[:job["size_faces"]]:
        scale = width / tight_box(faces.truths[i])[2]
        image, corners = rescaled_crop(faces.frames[i], box_corners(np.array(box)), scale)
        frame, corner = centred(image, SIZE_FRAME)
        pairs.append((frame, corners_box(corners + corner)))
    return pairs


# ---------------------------------------------------------------- timing

def timed(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return 1e3 * (time.perf_counter() - start), result


def stats(ms: list[float], **extra) -> dict:
    return {"median_ms": float(np.median(ms)), "mean_ms": float(np.mean(ms)), "calls": len(ms), **extra}


def time_per_face(fit: Callable, inputs: list[tuple], repeats: int) -> dict:
    """fit(*args) for every input, `repeats` passes, after one warm-up call."""
    fit(*inputs[0])
    return stats([timed(lambda: fit(*args))[0] for _ in range(repeats) for args in inputs],
                 faces=len(inputs), repeats=repeats)


def time_by_size(fit: Callable, sized: dict[int, list[tuple]], repeats: int) -> dict:
    """fit(*args) for every face at every size, `repeats` passes, each pass
    going through all the sizes (so that other processes' load falls on all
    sizes alike), after one warm-up call; a result per size."""
    fit(*next(iter(sized.values()))[0])
    ms = {width: [] for width in sized}
    for _ in range(repeats):
        for width, inputs in sized.items():
            ms[width] += [timed(lambda: fit(*args))[0] for args in inputs]
    return {f"fit_face{width}px": stats(t, faces=len(sized[width]), repeats=repeats) for width, t in ms.items()}


def time_frames(process: Callable[[np.ndarray], list[np.ndarray]], frames: list[tuple],
                accepts: Callable, repeats: int) -> dict:
    """process(frame) -> the boxes it fitted, for every scene frame; also how
    often the pasted face was among them."""
    process(frames[0][0])
    ms, found, faces = [], 0, 0
    for _ in range(repeats):
        for frame, truth in frames:
            t, boxes = timed(lambda: process(frame))
            ms.append(t)
            faces += len(boxes)
            found += choose_face(boxes, truth, accepts) is not None
    return stats(ms, face_found=found / len(ms), faces_per_frame=faces / len(ms))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- the two libraries

def measure_mojofer(job: dict, faces: Faces, scenes: list[Scene], frames: list[tuple]) -> dict:
    import mojofer

    memory = {"before_models_mb": peak_rss_mb()}
    load_ms, (detector, landmarker) = timed(
        lambda: (mojofer.FaceDetector(), mojofer.Landmarker(job["model"])))
    memory["after_models_mb"] = peak_rss_mb()
    repeats = job["repeats"]
    crops = [(faces.frames[i], tuple(box)) for i, box in zip(job["faces"], job["boxes"])]
    print("  mojofer: landmarks alone ...", file=sys.stderr, flush=True)
    result = {"load_ms": load_ms, "fit": time_per_face(landmarker.fit, crops, repeats)}

    starts = [(frame, landmarker.fit(frame, tight_box(truth))[0]) for frame, truth in frames]
    print("  mojofer: tracked frames ...", file=sys.stderr, flush=True)
    result["track"] = time_per_face(landmarker.track, starts, repeats)
    result["tracker"] = time_tracker(mojofer.FaceTracker(detector=detector, landmarker=landmarker),
                                     scenes, job["seed"])

    def detect_and_fit(frame):
        boxes = [np.array(b.as_tuple()) for b in detector.detect(frame)]
        for box in boxes:
            landmarker.fit(frame, tuple(box))
        return boxes
    print("  mojofer: detection + landmarks ...", file=sys.stderr, flush=True)
    result["detect_fit"] = time_frames(detect_and_fit, frames, mojofer_accepts, job["frame_repeats"])
    memory["peak_mb"] = peak_rss_mb()
    # after the memory reading: the large frames are this test's, not use's
    print("  mojofer: landmarks by face size ...", file=sys.stderr, flush=True)
    result.update(time_by_size(landmarker.fit, {
        width: [(frame, tuple(box)) for frame, box in sized_faces(faces, job, width)]
        for width in SIZE_WIDTHS}, repeats))
    return {**result, "memory": memory}


def time_tracker(tracker, scenes: list[Scene], seed: int) -> dict:
    """FaceTracker.process over a few moving sequences, a fresh track each."""
    rng = np.random.default_rng(seed)
    ms, frames, detections, found = [], 0, 0, 0
    for scene in scenes[:SEQUENCES]:
        tracker.reset()
        for frame, truth in sequence(scene, SEQUENCE_FRAMES, rng):
            t, result = timed(lambda: tracker.process(frame))
            ms.append(t)
            found += choose_face([np.array(f.box.as_tuple()) for f in result], truth,
                                 mojofer_accepts) is not None
        frames += SEQUENCE_FRAMES
        detections += tracker.detections
    return stats(ms, sequences=min(SEQUENCES, len(scenes)), detections=detections,
                 face_found=found / frames)


def measure_dlib(job: dict, faces: Faces, scenes: list[Scene], frames: list[tuple]) -> dict:
    import dlib

    memory = {"before_models_mb": peak_rss_mb()}
    load_ms, (hog, predictor) = timed(
        lambda: (dlib.get_frontal_face_detector(), dlib.shape_predictor(str(DLIB_PREDICTOR))))
    memory["after_models_mb"] = peak_rss_mb()
    box_map = np.array(job["box_map"])
    crops = [(faces.frames[i], box_to_rect(map_box(np.array(box), box_map)))
             for i, box in zip(job["faces"], job["boxes"])]
    print("  dlib: landmarks alone ...", file=sys.stderr, flush=True)
    result = {"load_ms": load_ms, "fit": time_per_face(predictor, crops, job["repeats"])}

    for upsample in (0, 1):
        def detect_and_fit(frame, upsample=upsample):
            rects = hog(frame, upsample)
            for rect in rects:
                predictor(frame, rect)
            return [rect_to_box(r) for r in rects]
        print(f"  dlib: detection (upsample {upsample}) + landmarks ...", file=sys.stderr, flush=True)
        result[f"detect_fit_upsample{upsample}"] = time_frames(detect_and_fit, frames, dlib_accepts,
                                                               job["frame_repeats"])
    memory["peak_mb"] = peak_rss_mb()
    # after the memory reading: the large frames are this test's, not use's
    print("  dlib: landmarks by face size ...", file=sys.stderr, flush=True)
    result.update(time_by_size(predictor, {
        width: [(frame, box_to_rect(map_box(box, box_map))) for frame, box in sized_faces(faces, job, width)]
        for width in SIZE_WIDTHS}, job["repeats"]))
    return {**result, "memory": memory}


MEASURE = {"mojofer": measure_mojofer, "dlib": measure_dlib}


def run_one(name: str, job_path: Path, out: Path) -> int:
    """The measuring subprocess: one library, one CPU."""
    job = json.loads(job_path.read_text())
    os.sched_setaffinity(0, {job["cpu"]})
    faces = load_val(Path(job["data"]))
    scenes = make_scenes(faces, job["scenes"], job["seed"])
    frames = [s.frame(s.x, s.y) for s in scenes]   # (frame, truth) of each still scene
    out.write_text(json.dumps(MEASURE[name](job, faces, scenes, frames)))
    return 0


def spawn(name: str, job_path: Path) -> dict:
    out = job_path.with_name(f"{name}.json")
    print(f"  {name} ...", flush=True)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run([sys.executable, __file__, "--only", name, "--job", str(job_path), "--out", str(out)],
                   env=env, check=True)
    return json.loads(out.read_text())


def best_of(rounds: list[dict]) -> dict:
    """Per timing, the round with the lowest median: the one least slowed by
    other processes; every round's median is kept. Memory: the highest peaks."""
    best = {"load_ms": min(r["load_ms"] for r in rounds),
            "memory": {k: max(r["memory"][k] for r in rounds) for k in rounds[0]["memory"]}}
    for key in rounds[0].keys() - best.keys():
        fastest = min((r[key] for r in rounds), key=lambda s: s["median_ms"])
        best[key] = {**fastest, "round_medians_ms": [r[key]["median_ms"] for r in rounds]}
    return best


# ---------------------------------------------------------------- report

def ms(s: dict) -> tuple[str, str]:
    return f"{s['median_ms']:.3f}", f"{s['mean_ms']:.3f}"


def rounds(s: dict) -> str:
    return ", ".join(f"{t:.3f}" for t in s["round_medians_ms"])


def markdown(report: dict) -> str:
    m, d, job = report["mojofer"], report["dlib"], report["job"]
    fit_ratio = d["fit"]["median_ms"] / m["fit"]["median_ms"]
    lines = header("Speed benchmark", report["environment"], report["wall_s"], report["load_average"]) + [
        f"- each library in its own subprocess, pinned to CPU {job['cpu']} "
        "(os.sched_setaffinity) with OPENBLAS_NUM_THREADS=1; time.perf_counter around each call, "
        "after one warm-up call; RGB frames for both",
        f"- {job['rounds']} rounds, the two subprocesses alternating; each timing is the round with "
        "the lowest median (the least slowed by other processes), every round's median is listed",
        f"- landmarks alone: the {m['fit']['faces']} val crops (landmarks/val.csv) where mojofer's "
        f"detector found the face, × {job['repeats']} passes; the same boxes for both: mojofer's, "
        f"mapped for dlib's predictor by (dx, dy, sw, sh) = {job['box_map']} (the median map to "
        f"dlib HOG upsample {DLIB_UPSAMPLE} boxes over the {job['box_map_faces']} val faces both found, "
        "as in benchmarks/landmarks.py); dlib's time is the predictor call alone",
        f"- 640x480 scenes: {job['scenes']} val crops resized so the face's tight box is "
        f"{FACE_WIDTHS[0]}-{FACE_WIDTHS[1]} px wide, pasted onto another val crop stretched to 640x480 "
        f"and blurred (Gaussian radius {BACKGROUND_BLUR}); seed {job['seed']}",
        "",
        "**Landmarks alone** (ms per face)", "",
    ]
    lines += table(["method", "median ms", "mean ms", "calls", "mojofer is × faster (median)",
                    "each round's median"], [
        ["mojofer Landmarker.fit", *ms(m["fit"]), m["fit"]["calls"], "—", rounds(m["fit"])],
        ["dlib shape_predictor", *ms(d["fit"]), d["fit"]["calls"], f"{fit_ratio:.2f}", rounds(d["fit"])],
    ])
    lines += size_table(report)
    lines += frame_table(report)
    lines += memory_table(report)
    lines += ["**Goals**", ""] + [f"- {g['goal']}: {verdict(g['met'])}" for g in report["goals"]]
    return "\n".join(lines) + "\n"


def size_table(report: dict) -> list[str]:
    m, d, job = report["mojofer"], report["dlib"], report["job"]
    base = {name: report[name][f"fit_face{SIZE_WIDTHS[1]}px"]["median_ms"] for name in MEASURE}
    rows = []
    for width in SIZE_WIDTHS:
        ours, theirs = m[f"fit_face{width}px"], d[f"fit_face{width}px"]
        rows.append([str(width), f"{ours['median_ms']:.3f}", f"{theirs['median_ms']:.3f}",
                     f"{theirs['median_ms'] / ours['median_ms']:.2f}",
                     f"{ours['median_ms'] / base['mojofer']:.2f}", f"{theirs['median_ms'] / base['dlib']:.2f}",
                     rounds(ours), rounds(theirs)])
    return [f"**Landmarks by face size** (ms per face, median; the first {job['size_faces']} of those "
            f"val crops resized (bilinear) so the face's tight box is each width, centred in a "
            f"{SIZE_FRAME[0]}x{SIZE_FRAME[1]} frame with the crop's edges replicated around it; the "
            f"same boxes as above, scaled; × {job['repeats']} passes, each through all sizes)", ""] + table(
        ["face width px", "mojofer Landmarker.fit", "dlib shape_predictor", "mojofer is × faster",
         f"mojofer × its {SIZE_WIDTHS[1]} px time", f"dlib × its {SIZE_WIDTHS[1]} px time",
         "mojofer's round medians", "dlib's round medians"], rows)


def frame_table(report: dict) -> list[str]:
    m, d, job = report["mojofer"], report["dlib"], report["job"]
    tracker = m["tracker"]
    base = m["detect_fit"]["median_ms"]
    rows = [
        ["mojofer Landmarker.track from the frame's own fit (a tracked frame, no detection)",
         *ms(m["track"]), m["track"]["calls"], "—", "—", rounds(m["track"])],
        [f"mojofer FaceTracker.process, {tracker['sequences']} sequences × {SEQUENCE_FRAMES} frames, "
         f"face moving {STEP:g} px/frame; detector ran on {tracker['detections']} of "
         f"{tracker['calls']} frames", *ms(tracker), tracker["calls"], f"{tracker['face_found']:.0%}", "—",
         rounds(tracker)],
    ]
    for name, s in [("mojofer FaceDetector.detect + Landmarker.fit", m["detect_fit"]),
                    ("dlib HOG upsample 0 + shape_predictor", d["detect_fit_upsample0"]),
                    ("dlib HOG upsample 1 + shape_predictor", d["detect_fit_upsample1"])]:
        ratio = "—" if s is m["detect_fit"] else f"{s['median_ms'] / base:.2f}"
        rows.append([f"{name}, every detected face", *ms(s), s["calls"], f"{s['face_found']:.0%}", ratio,
                     rounds(s)])
    return [f"**640x480 frames** (ms per frame; {job['scenes']} scenes, detection × "
            f"{job['frame_repeats']} passes, tracking × {job['repeats']})", ""] + table(
        ["what", "median ms", "mean ms", "frames", "pasted face found", "× mojofer detect + fit (median)",
         "each round's median"], rows)


def memory_table(report: dict) -> list[str]:
    rows = []
    for name in ("mojofer", "dlib"):
        mem, model = report[name]["memory"], report["environment"]["models"][name]
        rows.append([name, f"{model['bytes'] / 1e6:.1f} MB", f"{report[name]['load_ms']:.0f}",
                     f"{mem['before_models_mb']:.0f}", f"{mem['after_models_mb']:.0f}",
                     f"{mem['peak_mb']:.0f}", f"{mem['peak_mb'] - mem['before_models_mb']:.0f}"])
    return ["**Memory** (peak RSS of each subprocess, ru_maxrss, MB; both hold the same val crops "
            "and scenes before loading models)", ""] + table(
        ["library", "landmark model file", "model load ms", "peak RSS before models",
         "after loading models", "at end", "growth from models and runs"], rows)


def goals(report: dict) -> list[dict]:
    m, d = report["mojofer"], report["dlib"]
    fit, ratio = m["fit"]["median_ms"], d["fit"]["median_ms"] / m["fit"]["median_ms"]
    track, size = m["track"]["median_ms"], report["environment"]["models"]["mojofer"]["bytes"] / 1e6
    return [
        {"goal": f"landmarks ≤ {GOAL_FIT_MS} ms per face on one core (median {fit:.3f} ms)",
         "met": fit <= GOAL_FIT_MS},
        {"goal": f"landmarks ≥ {GOAL_FIT_RATIO:g}× faster than dlib's predictor ({ratio:.2f}×)",
         "met": ratio >= GOAL_FIT_RATIO},
        {"goal": f"a tracked 640x480 frame ≤ {GOAL_TRACK_MS} ms (median {track:.3f} ms)",
         "met": track <= GOAL_TRACK_MS},
        {"goal": f"model file ≤ {GOAL_MODEL_MB:g} MB ({size:.1f} MB)", "met": size <= GOAL_MODEL_MB},
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_val_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating runs of the two subprocesses; each timing is the best round's")
    parser.add_argument("--repeats", type=int, default=10, help="passes over the faces, per-face timings")
    parser.add_argument("--frame-repeats", type=int, default=2, help="passes over the scenes, detection")
    parser.add_argument("--scenes", type=int, default=40, help="640x480 scenes")
    parser.add_argument("--size-faces", type=int, default=10, help="val crops timed at each face size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)), help="CPU to pin to")
    parser.add_argument("--only", choices=sorted(MEASURE), help=argparse.SUPPRESS)
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    add_results_dir(parser)
    args = parser.parse_args(argv)
    if args.only:
        return run_one(args.only, args.job, args.out)

    run = Run()
    faces = load_val(args.data)
    print(f"{len(faces.frames)} faces from {args.data}; detecting ...", flush=True)
    val = detect_val_faces(faces)
    found = [i for i, box in enumerate(val.mojofer) if box is not None]
    job = {"data": str(args.data), "model": str(args.model), "rounds": args.rounds, "repeats": args.repeats,
           "frame_repeats": args.frame_repeats, "scenes": min(args.scenes, len(faces.frames)),
           "seed": args.seed, "cpu": args.cpu, "faces": found, "size_faces": args.size_faces,
           "boxes": [val.mojofer[i].tolist() for i in found],
           "box_map": val.box_map.round(4).tolist(), "box_map_faces": val.map_faces}
    with tempfile.TemporaryDirectory() as folder:
        job_path = Path(folder) / "job.json"
        job_path.write_text(json.dumps(job))
        rounds = [{name: spawn(name, job_path) for name in MEASURE} for _ in range(args.rounds)]
    results = {name: best_of([r[name] for r in rounds]) for name in MEASURE}
    report = {"environment": environment(args.model, {"data": str(args.data)}),
              "job": {k: v for k, v in job.items() if k not in ("faces", "boxes")}, **results,
              **run.finish()}
    report["goals"] = goals(report)
    write_results(args.results_dir, "speed", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
