"""Thread scaling: N Analyzers in N threads against the same N one after
another, and one Analyzer with one BLAS thread per call against many.

    python benchmarks/threads.py [--frames 60] [--repeats 3] [--threads 1,2,CPUS,4]
                                 [--results-dir DIR]

Every Analyzer processes the same frames: the bundled sample picture with
its face moving 2 px a frame, back and forth (tracked, the detector every 10 frames, as
Analyzer's defaults run it). A run's time is from the moment all threads
are released to the last one's end, the Analyzers made before; the median
of --repeats runs counts, after one warm-up run, the two ways taken in
turns. The CPU time of the process (all threads) is given beside: more CPU
for the same work in threads is overhead (OpenBLAS's threads waiting for
work), the same CPU in more wall time is the machine's other load.

The ratio is (time one after another) / (time in N threads): N would be
perfect scaling; the goal is at least 0.8 N while N is at most the CPUs
(more threads than CPUs cannot run faster than the CPUs). Each table is
measured twice: with mojofer's default of one OpenBLAS thread per call,
and with OpenBLAS's own default, as many threads per call as CPUs (what
mojofer did before it set the count).

Writes benchmarks/results/threads.md and threads.json, or into --results-dir.
"""
from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np

import mojofer

from _common import (RESULTS, Run, load_text, machine_environment, run_lines, table, verdict,
                     write_results)

STEP = 2  # px per frame the face moves
FPS = 30.0


def moving_face(count: int) -> list[np.ndarray]:
    picture = mojofer.sample_image()
    # back and forth over 40 px, so the tracker never loses it
    offsets = [STEP * min(i % 40, 40 - i % 40) for i in range(count)]
    return [np.ascontiguousarray(np.roll(picture, x, axis=1)) for x in offsets]


def analyze(analyzer: mojofer.Analyzer, frames: list[np.ndarray]) -> None:
    for i, frame in enumerate(frames):
        result = analyzer.process(frame, i / FPS)
        if not result.faces:
            raise RuntimeError(f"frame {i}: the sample's face was not found")


def one_run(n: int, frames: list[np.ndarray], threaded: bool) -> tuple[float, float]:
    """Wall and CPU seconds (all threads) for n fresh Analyzers to process
    the frames, in n threads or in turn."""
    analyzers = [mojofer.Analyzer() for _ in range(n)]
    ready = threading.Barrier(n + 1 if threaded else 1)
    failures = []

    def work(todo):
        ready.wait()
        try:
            for a in todo:
                analyze(a, frames)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    pool = [threading.Thread(target=work, args=([a],)) for a in analyzers] if threaded else []
    for t in pool:
        t.start()
    if threaded:
        ready.wait()
    wall, cpu = time.perf_counter(), time.process_time()
    if threaded:
        for t in pool:
            t.join()
    else:
        work(analyzers)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if failures:
        raise failures[0]
    return wall, cpu


def scaling(counts: list[int], frames: list[np.ndarray], repeats: int) -> list[dict]:
    """Per N, the medians of `repeats` runs each way, taken in turns (one way
    first, then the other first) so that a change in the machine's load
    falls on both."""
    rows = []
    for n in counts:
        runs = {False: [], True: []}
        for r in range(repeats):
            for threaded in ((False, True) if r % 2 == 0 else (True, False)):
                runs[threaded].append(one_run(n, frames, threaded))
        (after, after_cpu), (together, together_cpu) = (
            tuple(statistics.median(x[i] for x in runs[t]) for i in (0, 1)) for t in (False, True))
        rows.append({"threads": n, "one_after_another_s": after, "in_threads_s": together,
                     "ratio": after / together, "one_after_another_cpu_s": after_cpu,
                     "in_threads_cpu_s": together_cpu})
        print(f"  N={n}: one after another {after:.3f} s ({after_cpu:.3f} s CPU), in {n} threads "
              f"{together:.3f} s ({together_cpu:.3f} s CPU), ratio {after / together:.2f}", flush=True)
    return rows


def main() -> None:
    cpus = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default=f"1,2,{cpus},4",
                        help="the N to measure, comma-separated (default 1,2,CPUS,4)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, metavar="DIR",
                        help="where to write threads.md and threads.json (default benchmarks/results)")
    args = parser.parse_args()
    counts = sorted({int(n) for n in args.threads.split(",")})
    frames = moving_face(args.frames)
    run = Run()
    default_blas = mojofer.get_num_threads()
    settings = {"mojofer default": default_blas, "OpenBLAS default (CPUs)": cpus}
    report = {"frames": args.frames, "repeats": args.repeats, "cpus": cpus, "blas": {}}
    one_analyzer = {}
    for label, blas in settings.items():
        mojofer.set_num_threads(blas)
        print(f"BLAS threads per call: {blas} ({label})", flush=True)
        analyze(mojofer.Analyzer(), frames)  # warm: first calls fault pages in and fill caches
        one = statistics.median(one_run(1, frames, False)[0] for _ in range(args.repeats))
        one_analyzer[label] = one
        print(f"  one Analyzer: {1000 * one / len(frames):.2f} ms a frame", flush=True)
        report["blas"][label] = {"blas_threads": blas, "one_analyzer_s": one,
                                 "scaling": scaling(counts, frames, args.repeats)}
    mojofer.set_num_threads(default_blas)
    report.update(run.finish())
    env = machine_environment({}, {"openblas": mojofer.versions()["openblas"]})
    report["environment"] = env

    lines = run_lines("Thread scaling: N Analyzers in N threads", env, report["wall_s"], ("openblas",))
    lines += [f"- {load_text(report['load_average'])} (other processes on the machine skew timings)",
              f"- {args.frames} frames of `mojofer/data/astronaut.png` (512x512, one face moving "
              f"{STEP} px a frame, back and forth), median of {args.repeats} runs; {cpus} CPUs available", ""]
    slow = one_analyzer["OpenBLAS default (CPUs)"] / one_analyzer["mojofer default"]
    lines += ["One Analyzer, ms a frame:", ""]
    lines += table(["BLAS threads per call", "ms a frame"],
                   [[f"{settings[k]} ({k})", f"{1000 * v / args.frames:.2f}"] for k, v in one_analyzer.items()])
    lines += [f"With {cpus} BLAS threads per call one Analyzer takes {slow:.2f}x the time of one.", ""]
    for label, result in report["blas"].items():
        lines += [f"N Analyzers in N threads, {result['blas_threads']} BLAS thread(s) per call ({label}):", ""]
        rows = []
        for r in result["scaling"]:
            n = r["threads"]
            goal = 0.8 * min(n, cpus)
            rows.append([n, f"{r['one_after_another_s']:.3f} ({r['one_after_another_cpu_s']:.3f})",
                         f"{r['in_threads_s']:.3f} ({r['in_threads_cpu_s']:.3f})", f"{r['ratio']:.2f}",
                         f"≥ {goal:.1f}: {verdict(r['ratio'] >= goal)}"])
        lines += table(["N", "one after another, s (CPU s)", "in N threads, s (CPU s)", "ratio",
                        "goal 0.8·min(N, CPUs)"], rows)
    write_results(args.results_dir, "threads", report, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
