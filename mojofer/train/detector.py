"""Convert an OpenCV Haar cascade into a mojofer face_detector model.

The cascade (from Debian's opencv-data, /usr/share/opencv4/haarcascades) is
translated tensor by tensor; then the box calibration — the affine map from
the cascade's square window to the tight brows-to-chin face box that the
68-point landmarks use — is fitted as the median over the faces matched in
a box-annotated photo set (../shared/data/detection).
"""
from __future__ import annotations

import csv
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..detect import iou
from ..modelfile import write_model

DEFAULT_CASCADE = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"
IDENTITY_CALIBRATION = np.array([0.0, 0.0, 1.0, 1.0], np.float32)
MAX_RECT_WEIGHT = 16  # as the C core's loader checks


def _numbers(text: str, kind=float) -> list:
    return [kind(float(v)) for v in text.split()]


def cascade_tensors(xml_path: str | Path) -> dict[str, np.ndarray]:
    """The face_detector tensors of an OpenCV (new format) HAAR/BOOST cascade."""
    cascade = ET.parse(xml_path).getroot().find("cascade")
    if cascade is None or cascade.findtext("featureType", "").strip() != "HAAR":
        raise ValueError(f"{xml_path}: not an OpenCV HAAR cascade in the new format")
    window = [int(cascade.findtext("width")), int(cascade.findtext("height"))]
    stage_threshold, stage_weak = [], [0]
    stump_feature, stump_threshold, stump_leaf = [], [], []
    for stage in cascade.find("stages"):
        stage_threshold.append(float(stage.findtext("stageThreshold")))
        for weak in stage.find("weakClassifiers"):
            internal = _numbers(weak.findtext("internalNodes"))
            leaf = _numbers(weak.findtext("leafValues"))
            # a stump is one node "0 -1 feature threshold" with two leaves
            if len(internal) != 4 or len(leaf) != 2 or internal[:2] != [0, -1]:
                raise ValueError(f"{xml_path}: only stump cascades are supported "
                                 "(e.g. haarcascade_frontalface_default.xml)")
            stump_feature.append(int(internal[2]))
            stump_threshold.append(internal[3])
            stump_leaf.append(leaf)
        stage_weak.append(len(stump_feature))
    rects = []
    for feature in cascade.find("features"):
        if int(feature.findtext("tilted", "0")) != 0:
            raise ValueError(f"{xml_path}: tilted Haar features are not supported")
        parts = [_numbers(r.text) for r in feature.find("rects")]
        if not 1 <= len(parts) <= 3:
            raise ValueError(f"{xml_path}: a feature has {len(parts)} rects, expected 1 to 3")
        # the C core sums features in integers (OpenCV's Haar cascades weigh -1, 2, 3)
        if any(p[4] != round(p[4]) or abs(p[4]) > MAX_RECT_WEIGHT for p in parts):
            raise ValueError(f"{xml_path}: rect weights must be integers within "
                             f"±{MAX_RECT_WEIGHT}, got {[p[4] for p in parts]}")
        rects.append(parts + [[0, 0, 0, 0, 0]] * (3 - len(parts)))
    return {
        "window": np.array(window, np.int32),
        "stage_threshold": np.array(stage_threshold, np.float32),
        "stage_weak": np.array(stage_weak, np.int32),
        "stump_feature": np.array(stump_feature, np.int32),
        "stump_threshold": np.array(stump_threshold, np.float32),
        "stump_leaf": np.array(stump_leaf, np.float32),
        "rect": np.array(rects, np.float32),
        "box_calibration": IDENTITY_CALIBRATION,
    }


def read_box_annotations(folder: Path) -> dict[str, list[list[float]]]:
    boxes = defaultdict(list)
    with open(folder / "boxes.csv", newline="") as f:
        for row in csv.DictReader(f):
            boxes[row["image"]].append([float(row[k]) for k in "xywh"])
    return dict(boxes)


def fit_calibration(model_path: Path, folder: Path) -> tuple[np.ndarray, int]:
    """Median (dx, dy, sw, sh) mapping uncalibrated detections onto annotated boxes."""
    from PIL import Image

    from ..detect import FaceDetector

    detector = FaceDetector(model_path)
    relative = []
    for name, truths in read_box_annotations(folder).items():
        frame = np.asarray(Image.open(folder / name).convert("L"))
        # every window, as OpenCV's search visits them: the calibration also serves OpenCV's boxes
        found = detector.detect(frame, min_size=20, exhaustive=True)
        for truth in truths:
            # an uncalibrated window is larger than the tight box: match on overlap of the truth
            scored = [(iou(truth, [b.x, b.y, b.w, b.h]), b) for b in found]
            if not scored:
                continue
            best_iou, b = max(scored, key=lambda s: s[0])
            if best_iou >= 0.3:
                relative.append([(truth[0] - b.x) / b.w, (truth[1] - b.y) / b.h,
                                 truth[2] / b.w, truth[3] / b.h])
    if not relative:
        raise RuntimeError(f"no detection matched an annotated face in {folder}")
    return np.median(np.array(relative), axis=0).astype(np.float32), len(relative)


def add_arguments(parser) -> None:
    parser.add_argument("--cascade", default=DEFAULT_CASCADE, help="OpenCV HAAR cascade XML")
    parser.add_argument("--data", default="../shared/data/detection",
                        help="folder with boxes.csv and photos, for the box calibration")
    parser.add_argument("--out", default="models/face_detector.mfm")


def run(args) -> int:
    start = time.perf_counter()
    tensors = cascade_tensors(args.cascade)
    out = Path(args.out)
    write_model(out, "face_detector", tensors)
    tensors["box_calibration"], matched = fit_calibration(out, Path(args.data))
    write_model(out, "face_detector", tensors)
    print(f"{out}: {len(tensors['stage_threshold'])} stages, {len(tensors['stump_feature'])} stumps, "
          f"box calibration {np.round(tensors['box_calibration'], 4).tolist()} from {matched} faces, "
          f"{time.perf_counter() - start:.1f} s")
    return 0
