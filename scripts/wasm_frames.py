"""Frames for comparing and timing the anonymizer in WebAssembly
(scripts/wasm_anonymize.js) with Python's mojofer.Anonymizer, as raw RGBA
files both read (tests/test_wasm.py, benchmarks/wasm.py).

    python3 scripts/wasm_frames.py MANIFEST.json OUT.json

runs mojofer.Anonymizer (the mojofer on PYTHONPATH: the normal build or
build/portable) over a manifest as wasm_anonymize.js does and writes the
same JSON: {"runs": keypoint frames per run, "ms": per repeat, run, frame}.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 640, 480


def glide(count: int, step: tuple = (3, 2)) -> list:
    """`count` 640x480 RGBA frames: the sample's head on a grey canvas,
    moved `step` (x, y) pixels a frame, so a tracker follows it."""
    from mojofer.sample import SAMPLE_HEAD, sample_image

    head = sample_image()[SAMPLE_HEAD]
    h, w = head.shape[:2]
    frames = []
    for i in range(count):
        frame = np.full((HEIGHT, WIDTH, 4), 90, np.uint8)
        frame[..., 3] = 255
        x, y = 120 + step[0] * i, 80 + step[1] * i
        frame[y:y + h, x:x + w, :3] = head
        frames.append(frame)
    return frames


def rgba(rgb: np.ndarray) -> np.ndarray:
    """An (H, W, 3) frame with an opaque alpha channel."""
    return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)


def write_manifest(folder: Path, runs: list, models: Path, options: dict, repeats: int = 1) -> Path:
    """Writes each frame of each run (a list of (H, W, 4) frames, frame i at
    i / 10 s) under `folder` and the manifest naming them; returns its path."""
    entries = []
    for r, run in enumerate(runs):
        entries.append([])
        for i, frame in enumerate(run):
            path = folder / f"run{r}_frame{i}.rgba"
            np.ascontiguousarray(frame, np.uint8).tofile(path)
            entries[-1].append({"path": str(path), "width": frame.shape[1], "height": frame.shape[0],
                                "timestamp": i / 10})
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"models": str(models), "options": options, "repeats": repeats,
                                    "runs": entries}))
    return manifest


# the JavaScript options' Python names
PYTHON_OPTIONS = {"detectEvery": "detect_every", "grace": "grace", "maxFaces": "max_faces",
                  "maxQuality": "max_quality", "minSize": "min_size"}


def run_python(manifest_path: Path) -> dict:
    import mojofer

    manifest = json.loads(Path(manifest_path).read_text())
    options = {PYTHON_OPTIONS[k]: v for k, v in manifest.get("options", {}).items()}
    anon = mojofer.Anonymizer(**options)
    frames = [[(np.fromfile(f["path"], np.uint8).reshape(f["height"], f["width"], 4), f["timestamp"])
               for f in run] for run in manifest["runs"]]
    ms, runs = [], []
    for _ in range(manifest.get("repeats", 1)):
        times, runs = [], []
        for run in frames:
            anon.reset()
            times.append([])
            runs.append([])
            for frame, t in run:
                start = time.perf_counter()
                kf = anon.process(frame, t)
                times[-1].append((time.perf_counter() - start) * 1e3)
                runs[-1].append({"timestamp": kf.timestamp, "lost": anon.lost(), "faces": [
                    {"id": f.id, "box": {"x": f.box.x, "y": f.box.y, "w": f.box.w, "h": f.box.h,
                                         "score": f.box.score},
                     "landmarks": f.landmarks.ravel().tolist(), "quality": f.quality} for f in kf.faces]})
        ms.append(times)
    return {"runs": runs, "ms": ms}


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(json.dumps(run_python(Path(sys.argv[1]))))
