"""Face detection benchmark: mojofer against OpenCV's Haar cascade and dlib's HOG.

Runs every detector on the same photos in one run (the AFW photos of the
shared data's detection/ folder) and scores them against the tight
landmark boxes of boxes.csv:

    python benchmarks/detection.py [--data PATH] [--limit N]
                                   [--scale-factor F] [--min-neighbors K]
                                   [--results-dir DIR]

Writes benchmarks/results/detection.md (the tables) and detection.json (the
raw numbers), or into --results-dir. The photos are research /
non-commercial data: they are read at run time and never copied here.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import cv2
import dlib
import numpy as np
from PIL import Image

import mojofer
from mojofer.landmarks import DEFAULT_MAX_QUALITY
from mojofer.detect import _DEFAULTS as MOJOFER_DEFAULTS
from mojofer.train.detector import DEFAULT_CASCADE as CASCADE, read_box_annotations

from _common import (Run, add_results_dir, default_data, load_text, machine_environment, map_box,
                     median_box_map, rect_to_box, run_lines, table, write_results)

MIN_FACE = 24            # px, face box side, for every detector that takes a minimum
MATCH_IOU = 0.4          # a detection finds an annotated face at this IoU or more
FIT_IOU = 0.3            # as mojofer.train.detector fits the box calibration
TARGET_PRECISION = 0.90
SMALL_SIZE = (640, 480)
OPENCV_DEFAULT_THREADS = cv2.getNumThreads()
IDENTITY = np.array([0.0, 0.0, 1.0, 1.0])
MOJOFER_MAX_FACES = 256  # mojofer's default limit on the faces one call returns

# A detector maps an 8-bit grayscale frame to (boxes [n, 4] as x, y, w, h; scores [n]).
Detect = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray]"]


@dataclass
class Method:
    name: str
    min_face: str
    detect: Detect
    calibration: Optional[np.ndarray]   # None: fitted here on the matched faces
    calibration_source: str
    opencv_threads: Optional[int] = None
    check_calibration: bool = False   # also fit a calibration on its raw boxes, as a check


@dataclass
class Photos:
    """The frames of one size and their annotated boxes, in the same order."""
    label: str
    frames: list[np.ndarray]
    truths: list[np.ndarray]
    smallest_side: float   # longer side of the smallest box in all of boxes.csv, whatever --limit


# ---------------------------------------------------------------- data

def load_photos(folder: Path, limit: Optional[int]) -> tuple[Photos, Photos]:
    """The photos at their own size and resized to 640x480, with boxes scaled to match."""
    boxes = read_box_annotations(folder)
    truths = {name: np.array(b) for name, b in boxes.items()}
    small_truths = {}
    for name, truth in truths.items():
        with Image.open(folder / name) as image:
            small_truths[name] = truth * np.tile(np.array(SMALL_SIZE) / image.size, 2)
    names = list(boxes)[:limit]
    # PIL's grayscale, as mojofer.train.detector used when fitting the calibration
    frames = [np.asarray(Image.open(folder / name).convert("L")) for name in names]
    small_frames = [cv2.resize(f, SMALL_SIZE, interpolation=cv2.INTER_AREA) for f in frames]
    return (photos_of("photo's own size", frames, truths, names),
            photos_of(f"resized to {SMALL_SIZE[0]}x{SMALL_SIZE[1]}", small_frames, small_truths,
                      names))


def photos_of(label: str, frames: list[np.ndarray], truths: dict[str, np.ndarray],
              names: list[str]) -> Photos:
    smallest = float(min(longer_side(t).min() for t in truths.values()))
    return Photos(label, frames, [truths[name] for name in names], smallest)


# ---------------------------------------------------------------- detectors

def as_arrays(boxes, scores) -> tuple[np.ndarray, np.ndarray]:
    return np.array(boxes, float).reshape(-1, 4), np.array(scores, float).reshape(-1)


def mojofer_detect(detector: mojofer.FaceDetector, **options) -> Detect:
    def detect(frame):
        found = detector.detect(frame, min_size=MIN_FACE, **options)
        return as_arrays([b.as_tuple() for b in found], [b.score for b in found])
    return detect


def mojofer_checked(max_quality: float) -> Detect:
    """Detection, then landmarks: a box whose fit is worse than max_quality is dropped."""
    def detect(frame):
        found = mojofer.find_landmarks(frame, min_size=MIN_FACE, max_quality=max_quality)
        return as_arrays([f.box.as_tuple() for f in found], [f.box.score for f in found])
    return detect


def opencv_detect(cascade: cv2.CascadeClassifier, min_window: int, min_neighbors: int) -> Detect:
    def detect(frame):
        found, neighbours = cascade.detectMultiScale2(
            frame, scaleFactor=1.1, minNeighbors=min_neighbors, minSize=(min_window, min_window))
        return as_arrays(found, neighbours)
    return detect


def dlib_detect(detector, upsample: int) -> Detect:
    def detect(frame):
        found = detector(frame, upsample)
        return as_arrays([rect_to_box(r) for r in found], np.zeros(len(found)))
    return detect


def methods(args) -> tuple[list[Method], dict[str, Method], np.ndarray]:
    """The timed methods, the untimed ones whose scores are swept, and
    mojofer's box calibration (which the OpenCV methods borrow)."""
    mojo = mojofer.FaceDetector()
    calibration = np.asarray(mojo.model.tensor("box_calibration"), float)
    min_window = math.ceil(MIN_FACE / calibration[2])
    cascade = cv2.CascadeClassifier(CASCADE)
    if cascade.empty():
        raise SystemExit(f"cannot load {CASCADE}")
    hog = dlib.get_frontal_face_detector()
    own = "mojofer model, fitted by mojofer.train detector on this folder"
    opencv_window = f"{min_window} px window (= {MIN_FACE} px box)"
    options = dict(scale_factor=args.scale_factor, min_neighbors=args.min_neighbors)
    timed = [
        Method("mojofer", f"{MIN_FACE} px box", mojofer_detect(mojo, **options), IDENTITY, own),
        Method(f"mojofer + landmark check (fit quality <= {DEFAULT_MAX_QUALITY})", f"{MIN_FACE} px box",
               mojofer_checked(DEFAULT_MAX_QUALITY), IDENTITY, own),
        Method("OpenCV, 1 thread", opencv_window, opencv_detect(cascade, min_window, 3),
               calibration, own, 1, check_calibration=True),
        Method(f"OpenCV, default threads ({OPENCV_DEFAULT_THREADS})", opencv_window,
               opencv_detect(cascade, min_window, 3), calibration, own, OPENCV_DEFAULT_THREADS),
        Method("dlib HOG, upsample 0", "~80 px window", dlib_detect(hog, 0), None,
               "median fit here, on the matched faces"),
        Method("dlib HOG, upsample 1", "~40 px window", dlib_detect(hog, 1), None,
               "median fit here, on the matched faces"),
    ]
    swept = {
        "mojofer": Method("mojofer", "", mojofer_detect(mojo, scale_factor=args.scale_factor,
                                                        min_neighbors=1), IDENTITY, own),
        "OpenCV": Method("OpenCV", "", opencv_detect(cascade, min_window, 1), calibration, own, 1),
    }
    return timed, swept, calibration


def run_detector(method: Method, frames: list[np.ndarray]) -> tuple[list, list, list[float]]:
    """Raw boxes, scores and seconds per frame, after one warm-up call."""
    if method.opencv_threads is not None:
        cv2.setNumThreads(method.opencv_threads)
    method.detect(frames[0])
    boxes, scores, seconds = [], [], []
    for frame in frames:
        start = time.perf_counter()
        found, score = method.detect(frame)
        seconds.append(time.perf_counter() - start)
        boxes.append(found)
        scores.append(score)
    cv2.setNumThreads(OPENCV_DEFAULT_THREADS)
    return boxes, scores, seconds


# ---------------------------------------------------------------- scoring

def longer_side(boxes: np.ndarray) -> np.ndarray:
    """A box's size: max(w, h), so a box whose side is below the smallest
    annotated box's is smaller than that box in both directions."""
    return boxes[:, 2:].max(axis=1)


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of a [n, 4] with every box of b [m, 4], as [n, m]."""
    a, b = a[:, None, :], b[None, :, :]
    w = np.clip(np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) -
                np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) -
                np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match(truths: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Which boxes found an annotated face: one-to-one, greedily by IoU >= MATCH_IOU."""
    matched = np.zeros(len(boxes), bool)
    if not len(truths) or not len(boxes):
        return matched
    iou = pairwise_iou(truths, boxes)
    taken = np.zeros(len(truths), bool)
    for t, b in zip(*np.unravel_index(np.argsort(-iou, axis=None), iou.shape)):
        if iou[t, b] < MATCH_IOU:
            break
        if not taken[t] and not matched[b]:
            taken[t] = matched[b] = True
    return matched


def evaluate(photos: Photos, boxes: list[np.ndarray]) -> dict:
    """Recall and precision; unmatched detections smaller than the smallest
    annotated face are ignored (likely unannotated faces, as the data's README advises)."""
    faces, found, detections, ignored = sum(map(len, photos.truths)), 0, 0, 0
    for truth, box in zip(photos.truths, boxes):
        matched = match(truth, box)
        found += int(matched.sum())
        detections += len(box)
        ignored += int((longer_side(box[~matched]) < photos.smallest_side).sum())
    counted = detections - ignored
    return {"faces": faces, "matched": found, "detections": detections, "ignored": ignored,
            "recall": found / faces,
            "precision": found / counted if counted else 1.0,
            "precision_all": found / detections if detections else 1.0}


def calibrate(boxes: list[np.ndarray], calibration: np.ndarray) -> list[np.ndarray]:
    return [map_box(b, calibration) for b in boxes]


def fit_calibration(photos: Photos, boxes: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Median (dx, dy, sw, sh) from raw boxes to annotated ones, fitted as
    mojofer.train.detector fits mojofer's: each face's best box at IoU >= FIT_IOU."""
    pairs = []
    for truth, box in zip(photos.truths, boxes):
        if not len(box):
            continue
        iou = pairwise_iou(truth, box)
        pairs += [(box[b], truth[t]) for t, b in enumerate(iou.argmax(axis=1)) if iou[t, b] >= FIT_IOU]
    calibration, faces = median_box_map(pairs)
    return (IDENTITY if calibration is None else calibration), faces


def sweep(photos: Photos, boxes: list[np.ndarray], scores: list[np.ndarray]) -> dict:
    """Precision and recall keeping boxes with score >= t, for every score t seen."""
    thresholds = np.unique(np.concatenate(scores)) if scores else []
    curve = [{"threshold": float(t),
              **evaluate(photos, [b[s >= t] for b, s in zip(boxes, scores)])}
             for t in thresholds]
    good = [p for p in curve if p["precision"] >= TARGET_PRECISION]
    return {"curve": curve, "best": max(good, key=lambda p: p["recall"]) if good else None}


# ---------------------------------------------------------------- runs

def measure(method: Method, sizes: list[Photos]) -> dict:
    """Accuracy and speed of one method at each size; the calibration is
    fitted (if the method needs one) at the photos' own size."""
    print(f"  {method.name} ...", flush=True)
    raw = {p.label: run_detector(method, p.frames) for p in sizes}
    calibration, fitted_on = method.calibration, None
    if calibration is None:
        calibration, fitted_on = fit_calibration(sizes[0], raw[sizes[0].label][0])
    result = {"min_face": method.min_face, "calibration": np.round(calibration, 4).tolist(),
              "calibration_source": method.calibration_source, "calibration_faces": fitted_on,
              "opencv_threads": method.opencv_threads}
    for photos in sizes:
        boxes, _, seconds = raw[photos.label]
        result[photos.label] = {**evaluate(photos, calibrate(boxes, calibration)),
                                "ms_mean": 1e3 * float(np.mean(seconds)),
                                "ms_median": 1e3 * float(np.median(seconds))}
    if method.check_calibration:
        raw_fit, faces = fit_calibration(sizes[0], raw[sizes[0].label][0])
        result["check_fit_on_raw_windows"] = {"calibration": np.round(raw_fit, 4).tolist(),
                                              "faces": faces}
    return result


def measure_sweep(method: Method, photos: Photos) -> dict:
    print(f"  {method.name} score sweep ...", flush=True)
    boxes, scores, _ = run_detector(method, photos.frames)
    truncated = sum(len(b) >= MOJOFER_MAX_FACES for b in boxes)
    return {**sweep(photos, calibrate(boxes, method.calibration), scores),
            "frames_at_max_faces": truncated}


# ---------------------------------------------------------------- report

def environment(args) -> dict:
    return machine_environment(
        {"cv2": cv2.__version__, "dlib": dlib.__version__},
        {"data": str(args.data), "scale_factor": args.scale_factor, "min_neighbors": args.min_neighbors})


def size_table(results: dict, label: str) -> list[str]:
    mojo_ms = results["mojofer"][label]["ms_mean"]
    rows = []
    for name, r in results.items():
        m = r[label]
        ratio = "—" if name == "mojofer" else f"{m['ms_mean'] / mojo_ms:.2f}"
        rows.append([name, r["min_face"], f"{m['recall']:.3f}", f"{m['precision']:.3f}",
                     f"{m['precision_all']:.3f}",
                     f"{m['matched']} / {m['detections']} ({m['ignored']})",
                     f"{m['ms_mean']:.1f}", ratio])
    return [f"**{label}**", ""] + table(
        ["method", "min face", "recall", "precision", "precision, no ignore rule",
         "matched / detections (ignored)", "ms / image", "mojofer is × faster"], rows)


def sweep_table(sweeps: dict) -> list[str]:
    rows = []
    for name, s in sweeps.items():
        b = s["best"]
        rows.append([name, "—", "—", "—", "—"] if b is None else
                    [name, f"{b['recall']:.3f}", f"{b['threshold']:g}", f"{b['precision']:.3f}",
                     f"{b['precision_all']:.3f}"])
    return [f"**Score sweep** (photo's own size; best recall at precision ≥ "
            f"{TARGET_PRECISION:.2f}, ignore rule applied)", ""] + table(
        ["method", "best recall", "at score ≥", "precision there", "precision, no ignore rule"], rows)


def markdown(report: dict) -> str:
    env, results = report["environment"], report["methods"]
    check = next(r["check_fit_on_raw_windows"] for r in results.values()
                 if "check_fit_on_raw_windows" in r)
    dlib_fits = "; ".join(f"{n}: {r['calibration']} from {r['calibration_faces']} faces"
                          for n, r in results.items() if r["calibration_faces"] is not None)
    lines = run_lines("Face detection benchmark", env, report["wall_s"], ("cv2", "dlib", "numpy")) + [
        f"- data: {report['photos']} photos, {report['faces']} annotated faces (AFW, detection/ of "
        f"the shared data); every detector gets the same 8-bit grayscale frame",
        f"- mojofer: scale_factor {env['scale_factor']:g}, min_neighbors {env['min_neighbors']}; "
        f"OpenCV: the same cascade ({CASCADE}), scaleFactor 1.1, minNeighbors 3; "
        f"dlib: get_frontal_face_detector()",
        f"- mojofer + landmark check: the same detections, each then fitted with mojofer's 68-point "
        f"model; a box whose predicted fit error is above {DEFAULT_MAX_QUALITY} (inter-ocular units) "
        f"is dropped (mojofer.find_landmarks). **Optimistic here**: the landmark model was trained "
        f"on landmarks/train.csv, which holds these same AFW faces (as crops); its time includes "
        f"the fits",
        f"- match: one-to-one, greedy by IoU ≥ {MATCH_IOU}; precision ignores unmatched "
        f"detections whose longer side is below the smallest annotated box's "
        f"({report['smallest_side'][0]:.1f} px at own size, "
        f"{report['smallest_side'][1]:.1f} px at 640x480), as the data's README advises "
        "since not every face is annotated",
        f"- box calibration to the tight landmark box (dx, dy, sw, sh), **fitted on these same "
        f"photos for every method** (median over the matched faces, best box at "
        f"IoU ≥ {FIT_IOU}): "
        f"mojofer's own {report['mojofer_box_calibration']} "
        f"(fitted by mojofer.train detector on this folder) is used for mojofer and OpenCV "
        f"(the same fit on OpenCV's raw windows here gives {check['calibration']} from "
        f"{check['faces']} faces); dlib, fitted here: {dlib_fits}",
        "- timing: time.perf_counter around each detect call after one warm-up call; "
        f"mojofer and dlib run on one thread; {load_text(report['load_average'])} "
        "(other processes on the machine skew the timings)", "",
    ]
    for label in report["sizes"]:
        lines += size_table(results, label)
    lines += sweep_table(report["sweep"])
    lines.append(f"Sweep: boxes kept at score ≥ t out of mojofer min_neighbors=1 and OpenCV "
                 f"detectMultiScale2 minNeighbors=1 (score = grouped raw detections; OpenCV "
                 f"returns ungrouped windows at minNeighbors=0); full curves in detection.json.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data("detection"),
                        help="folder with boxes.csv and the photos")
    parser.add_argument("--limit", type=int, help="only the first N photos, for a quick check")
    parser.add_argument("--scale-factor", type=float, default=MOJOFER_DEFAULTS["scale_factor"],
                        help="mojofer's pyramid step")
    parser.add_argument("--min-neighbors", type=int, default=MOJOFER_DEFAULTS["min_neighbors"],
                        help="mojofer's grouping threshold")
    add_results_dir(parser)
    args = parser.parse_args(argv)
    run = Run()
    sizes = load_photos(args.data, args.limit)
    timed, swept, calibration = methods(args)
    print(f"{len(sizes[0].frames)} photos from {args.data}", flush=True)
    results = {m.name: measure(m, list(sizes)) for m in timed}
    sweeps = {name: measure_sweep(m, sizes[0]) for name, m in swept.items()}
    report = {"environment": environment(args), "photos": len(sizes[0].frames),
              "faces": sum(map(len, sizes[0].truths)), "sizes": [p.label for p in sizes],
              "mojofer_box_calibration": np.round(calibration, 4).tolist(),
              "smallest_side": [p.smallest_side for p in sizes],
              "methods": results, "sweep": sweeps, **run.finish()}
    write_results(args.results_dir, "detection", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
