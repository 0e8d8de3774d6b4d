"""What the benchmarks share: the data folder, the val faces, the face
choice, box maps and dlib's box convention, the run's environment, header,
timing and load, markdown tables, and where the results are written.

mojofer and dlib are imported inside the functions that use them, so that
each of speed.py's measuring subprocesses loads only its own library.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
from PIL import Image

from mojofer.detect import iou
from mojofer.metrics import FACE_MIN_IOU
from mojofer.metrics import choose_face as chosen_face
from mojofer.train.landmarks import read_faces

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
MOJOFER_MODEL = REPO / "models" / "landmarks.mfm"   # the bundled one, in an editable install
DLIB_PREDICTOR = Path("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
DLIB_UPSAMPLE = 1       # for choosing the val faces: the crops' faces are 60-130 px wide
DLIB_MIN_IOU = 0.2      # dlib's boxes are larger and lower than the tight box
MOJOFER_RULE = f"IoU ≥ {FACE_MIN_IOU} with the tight box"
DLIB_RULE = f"IoU ≥ {DLIB_MIN_IOU} with the tight box or its centre inside it"

# A box is (x, y, w, h) in frame pixels; Accept tells whether a box is the
# face whose tight landmark box is the second argument.
Accept = Callable[[np.ndarray, np.ndarray], bool]


# ---------------------------------------------------------------- data

def default_data(folder: str) -> Path:
    root = os.environ.get("MOJOFER_DATA")
    return Path(root) / folder if root else REPO.parent / "shared" / "data" / folder


@dataclass
class Faces:
    """The val crops (RGB) and their 68 ground-truth points, in the same order."""
    names: list[str]
    frames: list[np.ndarray]
    truths: np.ndarray   # (N, 68, 2)


def load_val(folder: Path, limit: Optional[int] = None) -> Faces:
    paths, truths = read_faces(folder / "val.csv")
    paths, truths = paths[:limit], truths[:limit]
    frames = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    return Faces([p.name for p in paths], frames, truths)


def rescaled_crop(crop: np.ndarray, points: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The square crop resized by `scale` (to whole pixels, bilinear) and
    the (n, 2) points in it, by the pixel-centre convention of the data's
    README: x' = (x + 0.5)·s − 0.5."""
    side = max(1, round(crop.shape[0] * scale))
    image = np.asarray(Image.fromarray(crop).resize((side, side), Image.Resampling.BILINEAR))
    s = side / crop.shape[0]
    return image, (np.asarray(points, float) + 0.5) * s - 0.5


def box_corners(box: np.ndarray) -> np.ndarray:
    """(x, y, w, h) -> its corners [(x, y), (x + w, y + h)], for moving a box as points."""
    return np.array([box[:2], box[:2] + box[2:]], float)


def corners_box(corners: np.ndarray) -> np.ndarray:
    return np.concatenate([corners[0], corners[1] - corners[0]])


# ---------------------------------------------------------------- choosing the face

def mojofer_accepts(box: np.ndarray, truth_box: np.ndarray) -> bool:
    return iou(box, truth_box) >= FACE_MIN_IOU


def dlib_accepts(box: np.ndarray, truth_box: np.ndarray) -> bool:
    cx, cy = box[:2] + box[2:] / 2
    x, y, w, h = truth_box
    return iou(box, truth_box) >= DLIB_MIN_IOU or (x <= cx <= x + w and y <= cy <= y + h)


def choose_face(boxes: Sequence[np.ndarray], truth: np.ndarray, accept: Accept) -> Optional[np.ndarray]:
    """The box mojofer.metrics.choose_face picks as the face with points
    `truth` under `accept`, or None (no face found)."""
    index = chosen_face(boxes, truth, accept)
    return None if index is None else np.asarray(boxes[index], float)


# ---------------------------------------------------------------- dlib's boxes

def rect_to_box(rect) -> np.ndarray:
    return np.array([rect.left(), rect.top(), rect.width(), rect.height()], float)


def box_to_rect(box: np.ndarray):
    import dlib

    x, y, w, h = np.round(box).astype(int)
    return dlib.rectangle(int(x), int(y), int(x + w - 1), int(y + h - 1))


def median_box_map(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[Optional[np.ndarray], int]:
    """Median (dx, dy, sw, sh) taking each source box to its target box, over
    the (source, target) pairs (None where there are none); and how many
    pairs there were."""
    relative = [[(t[0] - s[0]) / s[2], (t[1] - s[1]) / s[3], t[2] / s[2], t[3] / s[3]]
                for s, t in pairs]
    return (np.median(relative, axis=0) if relative else None), len(relative)


def fit_box_map(sources: Sequence[Optional[np.ndarray]],
                targets: Sequence[Optional[np.ndarray]]) -> tuple[np.ndarray, int]:
    """Median (dx, dy, sw, sh) taking each source box to the target box of
    the same face, over the faces that have both; and how many those are."""
    box_map, count = median_box_map((s, t) for s, t in zip(sources, targets)
                                    if s is not None and t is not None)
    if box_map is None:
        raise SystemExit("no face was found by both detectors: cannot map mojofer's boxes to dlib's")
    return box_map, count


def map_box(box: np.ndarray, box_map: np.ndarray) -> np.ndarray:
    """(x + dx·w, y + dy·h, sw·w, sh·h): one box (4,) or many (n, 4)."""
    dx, dy, sw, sh = box_map
    x, y, w, h = np.moveaxis(np.asarray(box, float), -1, 0)
    return np.stack([x + dx * w, y + dy * h, sw * w, sh * h], axis=-1)


@dataclass
class ValBoxes:
    """Per val face the chosen mojofer and dlib HOG boxes (None: not found),
    and the map from mojofer's boxes to dlib-detector-style ones."""
    mojofer: list[Optional[np.ndarray]]
    dlib: list[Optional[np.ndarray]]
    box_map: np.ndarray
    map_faces: int


def detect_val_faces(faces: Faces) -> ValBoxes:
    """Each detector's choice of box for every val crop (mojofer with its
    defaults, dlib's HOG at upsample DLIB_UPSAMPLE)."""
    import mojofer

    detector = mojofer.FaceDetector()
    mojo = [choose_face([np.array(b.as_tuple()) for b in detector.detect(frame)], truth, mojofer_accepts)
            for frame, truth in zip(faces.frames, faces.truths)]
    hogs = dlib_hog_faces(faces)
    box_map, count = fit_box_map(mojo, hogs)
    return ValBoxes(mojo, hogs, box_map, count)


def dlib_hog_faces(faces: Faces) -> list[Optional[np.ndarray]]:
    """dlib HOG's (upsample DLIB_UPSAMPLE) choice of box for every crop."""
    import dlib

    hog = dlib.get_frontal_face_detector()
    return [choose_face([rect_to_box(r) for r in hog(frame, DLIB_UPSAMPLE)], truth, dlib_accepts)
            for frame, truth in zip(faces.frames, faces.truths)]


# ---------------------------------------------------------------- the run's header

def machine_environment(versions: dict, extra: Optional[dict] = None) -> dict:
    """When, how and on what the benchmark ran: the command, the machine,
    mojofer's version and commit, the other libraries' `versions` (numpy
    last), then `extra`."""
    import mojofer

    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "python " + shlex.join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
        "platform": platform.platform(), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "mojofer": mojofer.__version__,
        "commit": git_commit(), **versions, "numpy": np.__version__,
        **(extra or {}),
    }


def environment(model: Path, extra: Optional[dict] = None) -> dict:
    """The landmark benchmarks' environment: dlib, and both landmark models."""
    import dlib

    return machine_environment(
        {"dlib": dlib.__version__},
        {"models": {"mojofer": model_file(model), "dlib": model_file(DLIB_PREDICTOR)}, **(extra or {})})


def model_file(path: Path) -> dict:
    """Size, time and hash of a model file, to tell which model was measured."""
    data = path.read_bytes()
    mtime = datetime.datetime.fromtimestamp(path.stat().st_mtime).astimezone()
    return {"path": str(path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()[:16],
            "modified": mtime.isoformat(timespec="seconds")}


def git_commit() -> Optional[str]:
    """HEAD, marked when the working tree differs from it."""
    def git(*words):
        # --no-optional-locks: never take the index lock from under a concurrent git command
        return subprocess.run(["git", "--no-optional-locks", *words], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    try:
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        return names[0] if names else platform.processor()
    except OSError:
        return platform.processor() or platform.machine()


def run_lines(title: str, env: dict, wall_s: float, libraries: Sequence[str]) -> list[str]:
    """The title, and the date, command and machine lines, naming the
    versions of `libraries` (keys of env) after mojofer's."""
    versions = ", ".join(f"{name} {env[name]}" for name in libraries)
    return [
        f"# {title}", "",
        f"- date: {env['date']}; command: `{env['command']}`; total wall time {wall_s:.0f} s",
        f"- machine: {env['platform']}, {env['cpu']}, {env['cpu_count']} CPUs; Python {env['python']}, "
        f"mojofer {env['mojofer']} (commit {env['commit']}), {versions}",
    ]


def load_text(load_average: dict) -> str:
    return (f"1-minute load average {load_average['start'][0]:.2f} at start, "
            f"{load_average['end'][0]:.2f} at end")


def header(title: str, env: dict, wall_s: float, load_average: dict) -> list[str]:
    """The landmark benchmarks' header: the run, the two models and the load."""
    models = env["models"]
    return run_lines(title, env, wall_s, ("dlib", "numpy")) + [
        f"- models: mojofer `{os.path.relpath(models['mojofer']['path'], REPO)}` "
        f"({models['mojofer']['bytes']:,} bytes, modified {models['mojofer']['modified']}, "
        f"sha256 {models['mojofer']['sha256']}…); dlib `{models['dlib']['path']}` "
        f"({models['dlib']['bytes']:,} bytes, Debian's libdlib-data)",
        f"- {load_text(load_average)} (other processes on the machine skew timings)",
    ]


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return (["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            + ["| " + " | ".join(map(str, row)) + " |" for row in rows] + [""])


def percent(value: float) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{100 * value:.2f}%"


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"



# ---------------------------------------------------------------- the run and its results

class Run:
    """A run's wall time and the machine's 1-minute load at its start and end."""

    def __init__(self):
        self.start, self.load_at_start = time.perf_counter(), os.getloadavg()

    def finish(self) -> dict:
        return {"wall_s": time.perf_counter() - self.start,
                "load_average": {"start": self.load_at_start, "end": os.getloadavg()}}


def add_val_arguments(parser: argparse.ArgumentParser) -> None:
    """--data (the val faces' folder) and --model (mojofer's landmarks model)."""
    parser.add_argument("--data", type=Path, default=default_data("landmarks"),
                        help="folder with val.csv and the crops")
    parser.add_argument("--model", type=Path, default=MOJOFER_MODEL, help="mojofer's landmarks model")


def add_expression_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--data (the expressions folder) and --fer2013 (FER2013's folder)."""
    parser.add_argument("--data", type=Path, default=default_data("expressions"),
                        help="folder with labels.csv and images/")
    parser.add_argument("--fer2013", type=Path, default=default_data("fer2013"),
                        help="FER2013's folder (labels.csv with train / val splits, images/)")


def add_results_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results-dir", type=Path, default=RESULTS, metavar="DIR",
                        help="where to write NAME.md and NAME.json (default benchmarks/results)")


def write_results(folder: Path, name: str, report: dict, text: str) -> None:
    """NAME.md (the text) and NAME.json (the report) in folder; and the text on stdout."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(text)
    (folder / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(text)
