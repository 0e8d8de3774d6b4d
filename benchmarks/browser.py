"""The page in a browser beside the native build, on the same clip.

    python benchmarks/browser.py [--seconds 20] [--results-dir DIR]

Headless Chromium (Debian's chromium and chromium-driver, selenium) opens
the page served by a mojofer server on loopback (web=True); its fake camera
plays the bundled sample's face on a 640x480 wall at 30 frames/s
(tests/browser_page.py), the face leaving for the last 4 s of every 10.
The page runs as a user's would: capture, anonymization in its worker
(WebAssembly), the keypoints sent, the estimates drawn. Read from the page:
frames per second end to end (anonymized, sent, answered), the share of
captured frames skipped, and the anonymizer's ms per frame in the worker,
apart for frames where the detector ran and tracked frames. The native
build (the Python Anonymizer, OpenBLAS, one thread) runs on the clip's own
frames in this process, and the ratios browser / native are printed.

Chromium and the server share this machine's cores with this script.
Writes benchmarks/results/browser.md and browser.json, or into --results-dir.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import mojofer  # noqa: E402
from mojofer.server import Key, Server  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from browser_page import FPS, chromium, sample_clip, sample_frames, start_page  # noqa: E402

FACE_SECONDS, EMPTY_SECONDS = 6.0, 4.0


def native(frames: list[np.ndarray]) -> dict[str, list[float]]:
    """ms per frame of the native Anonymizer over the clip, twice through
    (the second pass timed), split by whether the detector ran."""
    anon = mojofer.Anonymizer()
    times: dict[str, list[float]] = {"detection": [], "tracked": []}
    t = 0.0
    for repeat in range(2):
        for frame in frames:
            before = anon.tracker.detections
            start = time.perf_counter()
            kf = anon.process(frame, t)
            ms = 1000 * (time.perf_counter() - start)
            t += 1 / FPS
            if repeat == 1 and kf.faces:
                times["detection" if anon.tracker.detections > before else "tracked"].append(ms)
    return times


def in_browser(clip: Path, seconds: float) -> dict:
    api_key, socket_key = secrets.token_hex(16), secrets.token_hex(16)
    key = Key("bench", api_key, socket_key, max_sessions=1, max_fps=60, max_session_seconds=3600)
    received: list[tuple[int, bool]] = []  # (bytes, binary) of each message the server received
    with Server(port=0, keys=[key], web=True, log=None,
                record=lambda session, data, binary: received.append((len(data), binary))
                ).start() as server, chromium(clip) as driver:
        start_page(driver, f"http://127.0.0.1:{server.port}/", api_key, socket_key)
        deadline = time.monotonic() + 30
        while not driver.execute_script("return window.mojoferStats && window.mojoferStats.estimatesReceived > 0"):
            if time.monotonic() > deadline:
                raise SystemExit("the page sent no frame in 30 s")
            time.sleep(0.2)
        first = driver.execute_script("return window.mojoferStats")
        timings: dict[int, dict] = {}
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:  # the page keeps its last 10 s of timings
            time.sleep(min(2.0, seconds))
            for entry in driver.execute_script("return window.mojoferStats.timings"):
                timings[entry["frame"]] = entry
        last = driver.execute_script("return window.mojoferStats")
        elapsed = time.monotonic() - t0
    frames = [t for index, t in sorted(timings.items()) if index > first["framesAnonymized"] and t["faces"]]
    captured = last["framesCaptured"] - first["framesCaptured"]
    return {
        "seconds": elapsed,
        "captured_per_s": captured / elapsed,
        "sent_per_s": (last["framesSent"] - first["framesSent"]) / elapsed,
        "answered_per_s": (last["estimatesReceived"] - first["estimatesReceived"]) / elapsed,
        "skipped": (last["framesSkipped"] - first["framesSkipped"]) / max(1, captured),
        "errors": last["errorsReceived"],
        "wire": {"messages": len(received), "binary": sum(b for _, b in received),
                 "bytes": sum(n for n, _ in received), "largest": max(n for n, _ in received)},
        "ms": {"detection": [t["ms"] for t in frames if t["detected"]],
               "tracked": [t["ms"] for t in frames if not t["detected"]]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of the page measured")
    parser.add_argument("--results-dir", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clip = sample_clip(Path(folder) / "sample.y4m", FACE_SECONDS, EMPTY_SECONDS)
        frames = list(sample_frames(FACE_SECONDS, EMPTY_SECONDS, FPS))
        page = in_browser(clip, args.seconds)
    here = native(frames)
    rows = []
    for kind in ("tracked", "detection"):
        browser_ms, native_ms = statistics.median(page["ms"][kind]), statistics.median(here[kind])
        rows.append((kind, len(page["ms"][kind]), browser_ms, len(here[kind]), native_ms, browser_ms / native_ms))
    lines = ["# The page in headless Chromium beside the native build", "",
             f"`python benchmarks/browser.py --seconds {args.seconds:g}`: the bundled sample's face on a 640x480 wall, "
             f"{FPS} frames/s fake camera ({FACE_SECONDS:g} s face, {EMPTY_SECONDS:g} s empty, looped).", "",
             "| frames with a face | browser (WebAssembly, worker) frames | ms median | native frames | ms median | browser / native |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {k} | {nb} | {b:.2f} | {nn} | {n:.2f} | {r:.2f}x |" for k, nb, b, nn, n, r in rows]
    lines += ["", f"End to end over {page['seconds']:.1f} s: captured {page['captured_per_s']:.1f} frames/s, "
              f"anonymized and sent {page['sent_per_s']:.1f}/s, answered {page['answered_per_s']:.1f}/s; "
              f"captured frames skipped (two already waiting for the worker) {100 * page['skipped']:.1f}%.", "",
              f"What the server received (recorded as received, the whole session): {page['wire']['messages']} "
              f"messages, {page['wire']['binary']} binary, {page['wire']['bytes'] / max(1, page['wire']['messages']):.0f} "
              f"bytes each on average, the largest {page['wire']['largest']} bytes (a keypoint frame of one face: "
              "544 bytes of landmarks and its keys; a 640x480 frame's pixels would be 921,600)."]
    text = "\n".join(lines) + "\n"
    print(text)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "browser.md").write_text(text)
    (args.results_dir / "browser.json").write_text(json.dumps({"page": page, "native": here}, indent=1) + "\n")


if __name__ == "__main__":
    main()
