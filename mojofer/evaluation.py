"""Scores of mojofer on a labelled dataset: `evaluate(labels)`.

Two kinds of labels, told apart by their form:

expressions  a CSV with columns image and label (one of mojofer.EMOTIONS),
    optionally subject and any others (e.g. source). Every image is read
    by analyze_images; an image's prediction is the top emotion of its
    largest face. **An image where no face is found (or that cannot be
    read) counts as an error**: it is in the "no face" column of the
    confusion matrix and lowers accuracy and recall. Scores: accuracy,
    macro-F1, per-class recall, the confusion matrix.
landmarks    a CSV with columns image, x0, y0, ..., x67, y67 (0-based pixel
    coordinates, as ../shared/data/landmarks/val.csv), or a folder of
    iBUG .pts files each beside its image of the same name (.pts points
    are 1-based, as 300-W's: 1 is subtracted). The face is the found face
    nearest the labelled one (mojofer.metrics.choose_face); its NME is the
    mean point error over the labelled outer-eye-corner distance; a missed
    face's NME is inf. Scores: mean NME over the faces found, median NME
    and failure rate (a miss or NME > 8 %) over all, the area under the CED.

Image paths are relative to the CSV's folder. Accuracy, macro-F1, mean NME
and failure rate carry bootstrap 95 % intervals (mojofer.metrics.bootstrap_interval,
over images, or whole values of a column such as subject), overall and for
each value of each `by` column.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .dataset import BOX_COLUMNS, analyze_images, landmarks as table_landmarks
from .expressions import EMOTIONS
from .metrics import (BOOTSTRAP_RESAMPLES, FAILURE_NME, Classification, bootstrap_interval, choose_face,
                      landmark_summary, nme)

if TYPE_CHECKING:
    import pandas as pd

NO_FACE_LABEL = "no face"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
POINT_COLUMNS = [f"{axis}{i}" for i in range(68) for axis in "xy"]


@dataclass
class Evaluation:
    """What evaluate() measured: `metrics` (as written to metrics.json),
    `rows` (one per labelled image: its CSV columns and mojofer's answer),
    `groups` (a table per `by` column, one row per value)."""
    kind: str  # "expressions" or "landmarks"
    metrics: dict
    rows: "pd.DataFrame"
    groups: dict = field(default_factory=dict)

    def report(self) -> str:
        """The scores as text: the overall line, per-class recall or the
        landmark summary, and each group table."""
        m = self.metrics
        lines = [f"{m['labels']}: {m['images']} images, {m['missed']} without a face found"
                 + (" (counted as errors)" if self.kind == "expressions" else " (NME = inf)")]
        if self.kind == "expressions":
            lines.append(f"accuracy {_interval(m['accuracy'])}   macro-F1 {_interval(m['macro_f1'])}")
            lines.append("recall: " + ", ".join(f"{c} {_number(v)}" for c, v in m["recall"].items()))
        else:
            lines.append(f"mean NME {_interval(m['mean_nme'], percent=True)} (faces found)   median NME "
                         f"{_percent(m['median_nme'])}   failure rate {_interval(m['failure_rate'], percent=True)}"
                         f"   AUC@{FAILURE_NME:.0%} {_number(m['auc'])}")
        names = ["accuracy", "macro_f1"] if self.kind == "expressions" else ["mean_nme", "failure_rate"]
        for column, table in self.groups.items():
            shown = table[[column, "images", "no_face"]].copy()
            for name in names:
                shown[f"{name} [95 % interval]"] = [
                    _interval({"value": r[name], "low": r[f"{name}_low"], "high": r[f"{name}_high"]},
                              percent=self.kind == "landmarks") for _, r in table.iterrows()]
            lines += ["", f"by {column}:", shown.to_string(index=False)]
        lines.append(f"({m['wall_s']:.1f} s)")
        return "\n".join(lines)

    def save(self, folder) -> list:
        """metrics.json, rows.csv, groups_<column>.csv and confusion.png
        (expressions) or ced.png (landmarks) in `folder`; the paths written."""
        from . import plot

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / "metrics.json", folder / "rows.csv"]
        written[0].write_text(json.dumps(self.metrics, indent=1) + "\n")
        self.rows.to_csv(written[1], index=False)
        for column, table in self.groups.items():
            written.append(folder / f"groups_{column}.csv")
            table.to_csv(written[-1], index=False)
        if self.kind == "expressions":
            m = self.metrics
            written.append(folder / "confusion.png")
            plot.confusion(np.array(m["confusion"]["counts"]), m["confusion"]["true"], path=written[-1],
                           title=f"{Path(m['labels']).name}: accuracy {m['accuracy']['value']:.3f}, "
                                 f"macro-F1 {m['macro_f1']['value']:.3f}")
        else:
            errors = self.rows["nme"].to_numpy(float)
            curves = {"all": errors}
            for column in self.groups:
                if self.rows[column].nunique() < 2:
                    continue  # its one curve would be "all" again
                for value, rows in self.rows.groupby(column, sort=True):
                    curves[f"{column} {value}"] = rows["nme"].to_numpy(float)
            written.append(folder / "ced.png")
            plot.ced(curves, path=written[-1])
        return written


def evaluate(labels, by: Sequence[str] = (), baseline: bool = False, face_crop: bool = False,
             limit: Optional[int] = None, progress: bool = True, out=None,
             bootstrap_by: Optional[str] = None) -> Evaluation:
    """mojofer's scores on a labelled dataset (the module docstring).

    labels: an expressions CSV, a landmarks CSV or a folder of .pts files.
    by: columns of the CSV to score each value of separately (e.g. "source").
    baseline: expressions: read each face against its subject's baseline
        (the CSV's subject column; an empty subject is read alone).
    face_crop: each image is a tight crop of one face (FER2013-style).
    limit: only the first N labelled images.
    out: a folder to save the scores and figures in (Evaluation.save).
    bootstrap_by: a column whose values the bootstrap resamples whole (e.g.
        "subject": a person's images hang together), rather than single
        images; an image with an empty value is a unit of its own."""
    start = time.perf_counter()
    labels = Path(labels)
    table = _read_labels(labels)
    if limit is not None:
        table = table.iloc[:limit].reset_index(drop=True)
    missing = [c for c in [*by, *([bootstrap_by] if bootstrap_by else [])] if c not in table.columns]
    if missing:
        raise ValueError(f"column(s) not in {labels}: {', '.join(missing)}")
    folder = labels if labels.is_dir() else labels.parent
    images = [str(folder / image) for image in table["image"]]
    units = _bootstrap_units(table, bootstrap_by)
    if "label" in table.columns:
        result = _expressions(table, images, units, by, baseline, face_crop, progress)
    else:
        if baseline:
            raise ValueError("baseline is for expression labels")
        result = _landmarks(table, images, units, by, face_crop, progress)
    result.metrics = {"labels": str(labels), **result.metrics,
                      "bootstrap": f"95 % percentile intervals, {BOOTSTRAP_RESAMPLES} resamples (seed 0) of "
                                   + (f"whole {bootstrap_by} values" if bootstrap_by else "the images"),
                      "wall_s": time.perf_counter() - start}
    if out is not None:
        result.save(out)
    return result


def _bootstrap_units(table, column: Optional[str]) -> np.ndarray:
    """Each image's bootstrap unit: its value of `column` (its own where
    empty), or the image itself."""
    if column is None:
        return np.arange(len(table))
    values = table[column].to_numpy(str)
    return np.array([value if value else f"\0{i}" for i, value in enumerate(values)])


def _read_labels(labels: Path):
    """The labels as a table of strings (an empty cell is ""), or the .pts
    folder's points as a landmarks table."""
    import pandas as pd

    if labels.is_dir():
        return _read_pts_folder(labels)
    table = pd.read_csv(labels, dtype=str, keep_default_na=False)
    if "image" not in table.columns or not ("label" in table.columns or "x0" in table.columns):
        raise ValueError(f"{labels}: a labels CSV needs the columns image and label (expressions) "
                         "or image, x0, y0, ..., x67, y67 (landmarks)")
    return table


def _read_pts_folder(folder: Path):
    import pandas as pd

    rows = []
    for pts in sorted(folder.rglob("*.pts")):
        images = [pts.with_suffix(s) for s in IMAGE_SUFFIXES if pts.with_suffix(s).is_file()]
        if not images:
            raise ValueError(f"{pts}: no image of the same name ({', '.join(IMAGE_SUFFIXES)})")
        points = read_pts(pts)
        rows.append({"image": str(images[0].relative_to(folder)), **dict(zip(POINT_COLUMNS, points.ravel()))})
    if not rows:
        raise ValueError(f"no .pts files in {folder}")
    return pd.DataFrame(rows)


def read_pts(path) -> np.ndarray:
    """The 68 points of an iBUG .pts file as 0-based (68, 2) float64
    (the file's points are 1-based, as 300-W's)."""
    text = Path(path).read_text()
    try:
        body = text[text.index("{") + 1:text.index("}")]
        points = np.array(body.split(), float).reshape(-1, 2)
    except ValueError:
        raise ValueError(f"{path}: not an iBUG .pts file (points between {{ and }})") from None
    if len(points) != 68:
        raise ValueError(f"{path}: {len(points)} points, expected 68")
    return points - 1.0


def _faces_by_image(images: list, faces) -> list:
    """analyze_images' rows of each image, in the order given: each image
    starts with face 0 or with its one faceless row (face_id NA)."""
    starts = faces["face_id"].isna().to_numpy() | (faces["face_id"].fillna(-1).to_numpy() == 0)
    bounds = list(np.flatnonzero(starts)) + [len(faces)]
    if len(bounds) - 1 != len(images):
        raise ValueError(f"{len(images)} images gave {len(bounds) - 1} sets of rows: is an image path a folder?")
    return [faces.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _expressions(table, images, units, by, baseline, face_crop, progress) -> Evaluation:
    unknown = sorted(set(table["label"]) - set(EMOTIONS))
    if unknown:
        raise ValueError(f"labels not among mojofer.EMOTIONS ({', '.join(EMOTIONS)}): {', '.join(unknown)}")
    if baseline and "subject" not in table.columns:
        raise ValueError("baseline needs a subject column")
    faces = analyze_images(images, subjects=list(table["subject"]) if baseline else None,
                           face_crop=face_crop, progress=progress)
    truth = np.array([EMOTIONS.index(label) for label in table["label"]])
    answers, emotions, found = [], [], []
    for rows in _faces_by_image(images, faces):
        rows = rows[rows["face_id"].notna()]
        found.append(len(rows))
        if not len(rows):
            answers.append(len(EMOTIONS))
            emotions.append(np.full(len(EMOTIONS), np.nan))
            continue
        largest = rows.iloc[int(np.argmax(rows["box_w"].to_numpy() * rows["box_h"].to_numpy()))]
        shares = largest[list(EMOTIONS)].to_numpy(float)
        answers.append(int(np.argmax(shares)))
        emotions.append(shares)
    predicted = np.array(answers)
    rows = table.copy()
    rows["predicted"] = [(list(EMOTIONS) + [NO_FACE_LABEL])[p] for p in predicted]
    rows["correct"] = truth == predicted
    rows["faces"] = found
    rows[list(EMOTIONS)] = np.array(emotions)
    scores = Classification.of(truth, predicted, len(EMOTIONS))
    overall = _classification_intervals(truth, predicted, units)
    metrics = {"kind": "expressions", "images": len(truth), "missed": scores.missed,
               "no_face_counts_as_error": True, "face_choice": "the largest face of each image",
               "baseline": baseline, **overall,
               "recall": {c: _finite(v) for c, v in zip(EMOTIONS, scores.recall)},
               "confusion": {"true": list(EMOTIONS), "predicted": list(EMOTIONS) + [NO_FACE_LABEL],
                             "counts": scores.confusion.tolist()},
               "analysis": _jsonable(faces.attrs)}
    def group(inside):
        s = Classification.of(truth[inside], predicted[inside], len(EMOTIONS))
        g = _classification_intervals(truth[inside], predicted[inside], units[inside])
        return {"images": int(inside.sum()), "no_face": s.missed,
                **_flat(g), **{f"recall_{c}": v for c, v in zip(EMOTIONS, s.recall)}}
    return Evaluation("expressions", metrics, rows, _groups(table, by, group, metrics))


def _classification_intervals(truth, predicted, units) -> dict:
    def statistic(rows):
        s = Classification.of(truth[rows], predicted[rows], len(EMOTIONS))
        return np.array([s.accuracy, s.macro_f1])
    value = statistic(np.arange(len(truth)))
    low, high = bootstrap_interval(statistic, units)
    return {name: {"value": _finite(value[i]), "low": _finite(low[i]), "high": _finite(high[i])}
            for i, name in enumerate(("accuracy", "macro_f1"))}


def _landmarks(table, images, units, by, face_crop, progress) -> Evaluation:
    truths = table[POINT_COLUMNS].to_numpy(float).reshape(-1, 68, 2)
    faces = analyze_images(images, face_crop=face_crop, progress=progress)
    nmes = []
    for truth, rows in zip(truths, _faces_by_image(images, faces)):
        rows = rows[rows["face_id"].notna()]
        chosen = choose_face(rows[BOX_COLUMNS].to_numpy(float), truth)
        nmes.append(np.inf if chosen is None else float(nme(table_landmarks(rows.iloc[[chosen]])[0], truth)))
    errors = np.array(nmes)
    rows = table.drop(columns=POINT_COLUMNS)
    rows["nme"] = errors
    summary = landmark_summary(errors)
    metrics = {"kind": "landmarks", "images": summary["faces"], "missed": summary["misses"],
               "failure_nme": FAILURE_NME, "face_choice": "the found face nearest the labelled one "
               "(mojofer.metrics.choose_face); a miss has NME inf",
               **_landmark_intervals(errors, units), "median_nme": summary["median_nme"], "auc": summary["auc"],
               "analysis": _jsonable(faces.attrs)}
    def group(inside):
        s = landmark_summary(errors[inside])
        return {"images": s["faces"], "no_face": s["misses"],
                **_flat(_landmark_intervals(errors[inside], units[inside])), "median_nme": s["median_nme"],
                "auc": s["auc"]}
    return Evaluation("landmarks", metrics, rows, _groups(table, by, group, metrics))


def _groups(table, by: Sequence[str], group, metrics: dict) -> dict:
    """Per `by` column, a table of one row per value: `group` (a mask of
    the images with that value -> the row's scores); also into metrics."""
    groups = {}
    for column in by:
        group_rows = [{column: value, **group((table[column] == value).to_numpy())}
                      for value in sorted(set(table[column]))]
        groups[column] = _frame(group_rows)
        metrics.setdefault("groups", {})[column] = _records(groups[column])
    return groups


def _landmark_intervals(errors: np.ndarray, units: np.ndarray) -> dict:
    def statistic(rows):
        e = errors[rows]
        found = np.isfinite(e)
        return np.array([e[found].mean() if found.any() else np.nan, np.mean(e > FAILURE_NME)])
    value = statistic(np.arange(len(errors)))
    low, high = bootstrap_interval(statistic, units)
    return {name: {"value": _finite(value[i]), "low": _finite(low[i]), "high": _finite(high[i])}
            for i, name in enumerate(("mean_nme", "failure_rate"))}


def _flat(intervals: dict) -> dict:
    """{"accuracy": {"value", "low", "high"}} -> accuracy, accuracy_low, accuracy_high columns."""
    flat = {}
    for name, v in intervals.items():
        flat.update({name: v["value"], f"{name}_low": v["low"], f"{name}_high": v["high"]})
    return flat


def _frame(rows: list):
    import pandas as pd
    return pd.DataFrame(rows)


def _records(frame) -> list:
    return [{k: _finite(v) if isinstance(v, float) else v for k, v in r.items()}
            for r in frame.to_dict(orient="records")]


def _finite(value) -> Optional[float]:
    """A float, or None for NaN / inf (JSON has neither)."""
    return float(value) if value is not None and np.isfinite(value) else None


def _jsonable(attrs: dict) -> dict:
    return json.loads(json.dumps(attrs, default=str))


def _number(value) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.3f}"


def _percent(value) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value * 100:.2f} %"


def _interval(v: dict, percent: bool = False) -> str:
    show = _percent if percent else _number
    return f"{show(v['value'])} [{show(v['low'])}, {show(v['high'])}]"
