"""fer (PyPI `fer`, Justin Shenk's facial expression recogniser) as a peer in
the expression benchmark.

fer is run exactly as its README shows: `FER()` with its defaults (OpenCV's
Haar cascade from `cv2.data.haarcascades`, mtcnn=False, the quantised TFLite
conversion of its bundled mini-Xception FER2013 model), then
`detect_emotions(image)` on the BGR image that `cv2.imread` gives. Of the
faces it finds, the largest box's top emotion is taken (ties go to the first
in fer's label order, as fer's own `top_emotion` does); an image where fer
finds no face gets None.

Face crops (FER2013's 48x48 images, where the face fills the frame) are run
with face_crop=True, since fer's Haar cascade finds no face in such tight
crops (none in any of the 3,266 of FER2013 val): fer is then told where the face
is, `detect_emotions(image, face_rectangles=[(10, 10, w - 20, h - 20)])`, the
whole image less the 10-pixel margin that detect_emotions adds around every
face rectangle (FER()'s default `offsets`), so that its network classifies
exactly the crop, as it was trained on FER2013. Given (0, 0, w, h) instead,
the margin pads the crop to 68 px and the face shrinks to 70 % of the input:
fer's accuracy on FER2013 val falls from 0.634 to 0.494. (mojofer reads such
crops with find_landmarks(face_crop=True).)

Installing it without touching numpy or opencv-python-headless (fer's own
requirements pull in opencv-contrib-python, facenet-pytorch, moviepy, pandas
and more, none of which the image path needs):

    pip install tensorflow-cpu
    pip install --no-deps fer==25.10.3

What `fer.fer` imports: cv2, numpy, requests, PIL, tensorflow (+ keras) and
pkg_resources (setuptools < 81). `fer/__init__.py` in 25.10.x does not export
FER, so it is imported from `fer.fer`.

Results are cached in a JSON file under `cache_dir`, keyed by fer's version
and a hash of the (path, size, mtime) list (and the tensorflow and OpenCV
versions, and face_crop), so a rerun over the same images is instant.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Optional, Sequence

# Before tensorflow is imported anywhere: no C++ info/warning logs, and no
# oneDNN banner (the TFLite interpreter fer uses runs on XNNPACK, not oneDNN).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

FER_CLASSES = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger")

# fer's labels (in fer's output order) -> ours
FER_TO_OURS = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "sad": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}

DEFAULT_CACHE = Path.home() / ".cache" / "mojofer"
PROGRESS_EVERY = 500
FER_MARGIN = 10   # FER()'s default offsets: detect_emotions widens every face rectangle by this
_CACHE_FORMAT = 1


def fer_version() -> str:
    """fer's installed version (without importing tensorflow)."""
    try:
        from importlib.metadata import version

        return version("fer")
    except Exception:
        import fer

        return fer.__version__


def _runtime_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import cv2

    out = {"fer": fer_version(), "opencv": cv2.__version__}
    for name in ("tensorflow-cpu", "tensorflow"):
        try:
            out["tensorflow"] = version(name)
            break
        except PackageNotFoundError:
            continue
    return out


def _load_detector():
    """fer's FER() with its defaults, imported so that it neither floods the
    console nor leaves the root logger reconfigured (fer.fer calls
    logging.basicConfig(level=INFO) at import)."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # pkg_resources / tf.lite.Interpreter deprecation notices
        try:
            from fer.fer import FER
        finally:
            root.setLevel(level)
            for handler in list(root.handlers):
                if handler not in handlers:
                    root.removeHandler(handler)
        logging.getLogger("fer").setLevel(logging.WARNING)
        for name in ("tensorflow", "absl"):
            logging.getLogger(name).setLevel(logging.ERROR)
        return FER(mtcnn=False)


def _cache_key(paths: Sequence[str], versions: dict, face_crop: bool) -> str:
    items = []
    for p in paths:
        st = os.stat(p)
        items.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    key = {"format": _CACHE_FORMAT, "versions": versions, "files": items}
    if face_crop:   # only then, so that the keys of fer's own detections stay as they were
        key["faces"] = "the whole image, less fer's margin"
    blob = json.dumps(key, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def _run(paths: Sequence[str], cache_dir: Path, face_crop: bool) -> list[Optional[dict]]:
    """Per image fer's result for the largest face: {"label": fer's top label,
    "probs": fer's emotion scores (fer's labels), "box": [x, y, w, h],
    "faces": how many faces fer found}; None where it found none. With
    face_crop the whole image is the one face. Cached."""
    paths = [str(p) for p in paths]
    versions = _runtime_versions()
    key = _cache_key(paths, versions, face_crop)
    cache_dir = Path(cache_dir)
    cache_file = cache_dir / f"fer-{versions['fer']}-{key}.json"
    if cache_file.exists():
        try:
            data = json.loads(cache_file.read_text())
            if data.get("key") == key and len(data["results"]) == len(paths):
                return data["results"]
        except (ValueError, KeyError, TypeError):
            pass   # a damaged cache is recomputed

    import cv2

    detector = _load_detector()
    results: list[Optional[dict]] = []
    start = time.perf_counter()
    for i, path in enumerate(paths):
        image = cv2.imread(path)   # BGR, as fer expects
        if image is None:
            raise OSError(f"cannot read image {path}")
        height, width = image.shape[:2]
        whole = ([(FER_MARGIN, FER_MARGIN, width - 2 * FER_MARGIN, height - 2 * FER_MARGIN)]
                 if face_crop else None)
        faces = detector.detect_emotions(image, face_rectangles=whole)
        if not faces:
            results.append(None)
        else:
            # largest box; max keeps the first of equal ones
            face = max(faces, key=lambda f: int(f["box"][2]) * int(f["box"][3]))
            scores = {k: float(v) for k, v in face["emotions"].items()}
            results.append({
                "label": max(scores, key=scores.get),   # as fer's top_emotion: first of ties
                "probs": scores,
                "box": [int(v) for v in face["box"]],
                "faces": len(faces),
            })
        done = i + 1
        if done % PROGRESS_EVERY == 0 or done == len(paths):
            print(f"fer: {done}/{len(paths)} images, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)

    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({
        "key": key, "versions": versions,
        "detector": "the whole image, less fer's margin" if face_crop else "FER(mtcnn=False) defaults",
        "seconds": round(time.perf_counter() - start, 1), "paths": paths, "results": results,
    }))
    os.replace(tmp, cache_file)
    return results


def predict_fer_probs(paths: list[str], cache_dir: Path = DEFAULT_CACHE,
                      face_crop: bool = False) -> list[Optional[dict[str, float]]]:
    """Per image fer's scores for the largest face (with face_crop: for the
    whole image), as {our class: probability} (fer rounds them to 2
    decimals); None where fer finds no face."""
    return [None if r is None else {FER_TO_OURS[k]: v for k, v in r["probs"].items()}
            for r in _run(paths, cache_dir, face_crop)]


def predict_fer(paths: list[str], cache_dir: Path = DEFAULT_CACHE,
                face_crop: bool = False) -> list[Optional[str]]:
    """Per image fer's top emotion for the largest face (with face_crop: for
    the whole image), as one of FER_CLASSES; None where fer finds no face."""
    return [None if r is None else FER_TO_OURS[r["label"]] for r in _run(paths, cache_dir, face_crop)]
