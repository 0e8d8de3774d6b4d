"""The anonymizer in WebAssembly (Node) against the native Python
Anonymizer, one core each, on the same 640x480 frames (the sample's head
gliding over a grey canvas, scripts/wasm_frames.py): milliseconds per frame
for a detection (a fresh Anonymizer: detect + fit) and for a tracked frame
(detect_every=0: the fit from the previous frame's points alone), medians
over the repeats, and the ratios WebAssembly / native.

    python3 benchmarks/wasm.py [--rounds 5] [--repeats 10] [--tracked 10]

Needs node and the built web/mojofer-anonymize.{js,wasm} (committed; make wasm).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import wasm_frames  # noqa: E402

ONE_CORE = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def run(command: list, manifest: Path, out: Path) -> np.ndarray:
    """The ms of each repeat's frames, shaped (repeats, frames)."""
    env = {**os.environ, **ONE_CORE, "PYTHONPATH": str(REPO)}
    subprocess.run([*command, str(manifest), str(out)], check=True, env=env, cwd=REPO)
    return np.array([repeat[0] for repeat in json.loads(out.read_text())["ms"]])


def medians(ms: list) -> tuple:
    """(detection ms, tracked ms): medians of frame 0 and of frames 1.. over every repeat."""
    every = np.concatenate(ms)
    return float(np.median(every[:, 0])), float(np.median(every[:, 1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds, each side's runs in turn, so that a busy spell hits both (default 5)")
    parser.add_argument("--repeats", type=int, default=10, help="runs of each side per round (default 10)")
    parser.add_argument("--tracked", type=int, default=10, help="tracked frames per run (default 10)")
    parser.add_argument("--results-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as folder:
        manifest = wasm_frames.write_manifest(Path(folder), [wasm_frames.glide(args.tracked + 1)],
                                              REPO / "models", {"detectEvery": 0}, args.repeats)
        wasm_ms, native_ms = [], []
        for _ in range(args.rounds):
            wasm_ms.append(run(["node", "--no-experimental-fetch", "scripts/wasm_anonymize.js"], manifest,
                               Path(folder) / "wasm.json"))
            native_ms.append(run([sys.executable, "scripts/wasm_frames.py"], manifest, Path(folder) / "native.json"))
        wasm, native = medians(wasm_ms), medians(native_ms)
    lines = [f"# {platform.processor() or platform.machine()}, node {node}, Python {platform.python_version()}, "
             f"one core, 640x480, medians of {args.rounds} x {args.repeats} runs",
             "| frame | WebAssembly (Node) ms | native ms | ratio |", "| --- | ---: | ---: | ---: |"]
    rows = (("detection (detect + fit)", wasm[0], native[0]), ("tracked", wasm[1], native[1]))
    lines += [f"| {name} | {w:.2f} | {n:.2f} | {w / n:.2f}x |" for name, w, n in rows]
    print("\n".join(lines))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "wasm.md").write_text("\n".join(lines) + "\n")
    (args.results_dir / "wasm.json").write_text(json.dumps(
        {name: {"wasm_ms": w, "native_ms": n} for name, w, n in rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
