"""Landmark accuracy benchmark: mojofer against dlib's 68-point shape predictor.

Runs every method on the same val crops in one run (landmarks/val.csv of
the shared data, the 224 LFPW test faces) and scores the 68 points against
the human annotation:

    python benchmarks/landmarks.py [--data PATH] [--limit N] [--results-dir DIR]

Writes benchmarks/results/landmarks.md (the table) and landmarks.json (the
numbers, with every face's NME), or into --results-dir. The crops are research / non-commercial
data: they are read at run time and never copied here.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import dlib
import numpy as np

import mojofer
from mojofer.train.landmarks import nme, tight_box

from _common import (DLIB_PREDICTOR, DLIB_RULE, DLIB_UPSAMPLE, MOJOFER_RULE, Faces, Run, ValBoxes,
                     add_results_dir, add_val_arguments, box_to_rect, detect_val_faces, environment,
                     header, load_val, map_box, percent, table, verdict, write_results)
from _common import choose_face, mojofer_accepts

FAIL_NME = 0.08
GOAL_NME = 0.04
GOAL_FAILURE = 0.03

# Fits one face: (RGB frame, box as x, y, w, h) -> (68, 2) points.
Fit = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Row:
    name: str
    boxes: str
    nme: np.ndarray   # per val face; inf where no face was found


def mojofer_fit(landmarker: mojofer.Landmarker) -> Fit:
    return lambda frame, box: landmarker.fit(frame, tuple(box))[0]


def dlib_fit(predictor) -> Fit:
    def fit(frame, box):
        shape = predictor(frame, box_to_rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], float)
    return fit


def checked_faces(faces: Faces) -> list[Optional[np.ndarray]]:
    """Each crop's face as mojofer.find_landmarks gives it: the detector's
    boxes whose landmark fit passes the quality check, chosen as for the
    detector alone."""
    return [choose_face([np.array(f.box.as_tuple()) for f in mojofer.find_landmarks(frame)], truth,
                        mojofer_accepts)
            for frame, truth in zip(faces.frames, faces.truths)]


def errors(fit: Fit, faces: Faces, boxes: list[Optional[np.ndarray]]) -> np.ndarray:
    """Each face's NME, inf where it has no box."""
    return np.array([np.inf if box is None else float(nme(fit(frame, box), truth))
                     for frame, truth, box in zip(faces.frames, faces.truths, boxes)])


def finite(value: float) -> Optional[float]:
    """The value, or None (JSON has no infinity) where it is a miss."""
    return float(value) if np.isfinite(value) else None


def summary(values: np.ndarray) -> dict:
    found = np.isfinite(values)
    return {"faces": len(values), "found": int(found.sum()), "misses": int((~found).sum()),
            "mean_nme": float(values[found].mean()) if found.any() else None,
            "median_nme": finite(np.median(values)) if len(values) else None,
            "failure_rate": float((values > FAIL_NME).mean()) if len(values) else None}


def measure(faces: Faces, model: Path) -> tuple[list[Row], list[Row], ValBoxes]:
    """The full-pipeline rows and the reference rows (fits from the ground
    truth's tight box), and the detectors' boxes."""
    print("  detecting ...", flush=True)
    val = detect_val_faces(faces)
    mojo, dl = mojofer_fit(mojofer.Landmarker(model)), dlib_fit(dlib.shape_predictor(str(DLIB_PREDICTOR)))
    as_dlib = [None if b is None else map_box(b, val.box_map) for b in val.mojofer]
    truth_boxes = [tight_box(t) for t in faces.truths]
    print("  fitting ...", flush=True)
    pipeline = [
        Row("mojofer", "mojofer.find_landmarks: detector, then the fit-quality check",
            errors(mojo, faces, checked_faces(faces))),
        Row("mojofer", "mojofer detector alone", errors(mojo, faces, val.mojofer)),
        Row("dlib", f"dlib HOG, upsample {DLIB_UPSAMPLE}", errors(dl, faces, val.dlib)),
        Row("dlib", "mojofer detector, mapped to dlib's convention", errors(dl, faces, as_dlib)),
    ]
    reference = [
        Row("mojofer", "ground-truth tight box", errors(mojo, faces, truth_boxes)),
        Row("dlib", "ground-truth tight box, mapped to dlib's convention",
            errors(dl, faces, [map_box(b, val.box_map) for b in truth_boxes])),
    ]
    return pipeline, reference, val


def row_report(row: Row, names: list[str]) -> dict:
    return {"method": row.name, "boxes": row.boxes, **summary(row.nme),
            "nme": {n: finite(round(v, 5)) for n, v in zip(names, row.nme)}}


def goals(pipeline: list[Row], same: np.ndarray) -> list[dict]:
    mojofer_row, dlib_rows = pipeline[0], [r for r in pipeline if r.name == "dlib"]
    s = summary(mojofer_row.nme)
    accurate = s["mean_nme"] is not None and s["mean_nme"] <= GOAL_NME and s["failure_rate"] <= GOAL_FAILURE
    on_same = mojofer_row.nme[same].mean()
    return [{"goal": f"mojofer, full pipeline: mean NME ≤ {percent(GOAL_NME)} with failure rate "
                     f"≤ {percent(GOAL_FAILURE)}", "met": bool(accurate)}] + [
            {"goal": f"lower mean NME than dlib's predictor ({r.boxes}) on the same faces: "
                     f"{percent(on_same)} vs {percent(r.nme[same].mean())}",
             "met": bool(same.any() and on_same < r.nme[same].mean())} for r in dlib_rows]


COLUMNS = ["method", "boxes", "faces found", "misses", "mean NME (found)",
           "median NME (misses = ∞)", f"failure rate (miss or NME > {percent(FAIL_NME)})"]


def cells(label: str, r: dict) -> list[str]:
    return [label, r["boxes"], f"{r['found']} / {r['faces']}", str(r["misses"]),
            percent(r["mean_nme"]), percent(r["median_nme"]), percent(r["failure_rate"])]


def markdown(report: dict) -> str:
    rows = ([cells(r["method"], r) for r in report["pipeline"]]
            + [cells(f"{r['method']}, same faces", r) for r in report["same_faces"]]
            + [cells(f"reference, NOT the full pipeline: {r['method']}", r) for r in report["reference"]])
    lines = header("Landmark accuracy benchmark", report["environment"], report["wall_s"],
                   report["load_average"]) + [
        f"- data: {report['faces']} val faces (LFPW test set, landmarks/val.csv of the shared data), "
        "RGB crops; every method gets the same frame",
        "- NME: mean point-to-point error over the 68 points / distance between the ground truth's "
        "points 36 and 45 (outer eye corners, 0-based); mean over the faces found, median over all "
        "faces with a miss counted as ∞",
        "- face choice: of a detector's boxes, the one whose centre is nearest the centre of the "
        "ground truth's tight box; the face counts as found if that box overlaps the tight box "
        f"— mojofer: {MOJOFER_RULE}; dlib HOG (get_frontal_face_detector(), upsample {DLIB_UPSAMPLE}): "
        f"{DLIB_RULE}, since dlib's boxes are a larger, lower convention; otherwise \"no face found\"",
        f"- mojofer's boxes for dlib's predictor: mapped to dlib-detector-style boxes, "
        f"(x + dx·w, y + dy·h, sw·w, sh·h) with (dx, dy, sw, sh) = {report['box_map']}, the median "
        f"over the {report['box_map_faces']} val faces both detectors found — **fitted on these val "
        "images**, from the two detectors' boxes only (no landmark labels)",
        f"- same faces: the {report['same_face_count']} faces that every full-pipeline row found "
        "(mojofer with and without the fit check, dlib's HOG; dlib on mojofer's boxes has mojofer's faces)",
        "",
    ]
    lines += table(COLUMNS, rows)
    lines += ["**Goals**", ""] + [f"- {g['goal']}: {verdict(g['met'])}" for g in report["goals"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_val_arguments(parser)
    parser.add_argument("--limit", type=int, help="only the first N faces, for a quick check")
    add_results_dir(parser)
    args = parser.parse_args(argv)
    run = Run()
    faces = load_val(args.data, args.limit)
    print(f"{len(faces.frames)} faces from {args.data}", flush=True)
    env = environment(args.model, {"data": str(args.data)})
    pipeline, reference, val = measure(faces, args.model)
    same = np.all([np.isfinite(r.nme) for r in pipeline], axis=0)
    same_names = [n for n, s in zip(faces.names, same) if s]
    report = {"environment": env, "faces": len(faces.frames), "fail_nme": FAIL_NME,
              "box_map": val.box_map.round(4).tolist(), "box_map_faces": val.map_faces,
              "same_face_count": int(same.sum()),
              "pipeline": [row_report(r, faces.names) for r in pipeline],
              "same_faces": [row_report(Row(r.name, r.boxes, r.nme[same]), same_names) for r in pipeline],
              "reference": [row_report(r, faces.names) for r in reference],
              "goals": goals(pipeline, same),
              **run.finish()}
    write_results(args.results_dir, "landmarks", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
