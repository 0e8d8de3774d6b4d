"""Peak memory of mojofer.analyze_video against the video's length: the
decoding is a stream, so only the table grows (about 1.4 KB per face row).

    python benchmarks/video_memory.py [--seconds 30,120] [--fps 30] [--results-dir DIR]

Each length is a synthetic 640x360 H.264 clip (mojofer.sample_video: the
bundled portrait's head moving over a grey canvas, one face in every frame)
written to a temporary folder. Each measurement runs in a fresh Python
process, which prints its peak resident set size (ru_maxrss) and time:
  analyze_video   the whole table, every frame analysed
  stream only     the frames decoded one at a time by mojofer.video.Video, not analysed
  clip held       every decoded frame kept in a list, as the CLI did before
                  analyze_video (264 MB for the 9 s shared clip): the peer
The ratio is (peak of the longer clip) / (peak of the shorter one): 1 is
memory independent of the length; analyze_video's table is its output and
grows (about 1.4 KB a face row), so the goal is the longer clip's peak
within 16 MB of the shorter one's (the 2,700 rows more of the defaults'
30 s -> 120 s are about 4 MB of table).

Writes benchmarks/results/video_memory.md and video_memory.json, or into --results-dir.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import mojofer

from _common import RESULTS, Run, load_text, machine_environment, run_lines, table, verdict, write_results

GOAL_MB = 16
MEASURE = {
    "analyze_video": "faces, events = mojofer.analyze_video(path, progress=False); rows = len(faces); "
                     "table_mb = faces.memory_usage().sum() / 2**20",
    "stream only": "rows, table_mb = sum(1 for _ in mojofer.video.Video(path)), None",
    "clip held": "frames = list(mojofer.video.Video(path)); rows, table_mb = len(frames), None",
}
CHILD = """
import json, resource, sys, time
import mojofer, mojofer.video
path, start = sys.argv[1], time.perf_counter()
{code}
print(json.dumps(dict(rows=rows, table_mb=table_mb, wall_s=time.perf_counter() - start,
                      peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def measure(code: str, path: Path) -> dict:
    run = subprocess.run([sys.executable, "-c", CHILD.format(code=code), str(path)], capture_output=True,
                         text=True, check=True)
    return json.loads(run.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", default="30,120", help="the clip lengths, comma-separated")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--results-dir", type=Path, default=RESULTS, metavar="DIR")
    args = parser.parse_args()
    lengths = [float(s) for s in args.seconds.split(",")]
    run = Run()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for seconds in lengths:
            clip = mojofer.sample_video(Path(folder) / f"{seconds:g}s.mp4", seconds=seconds, fps=args.fps)
            size_mb = clip.stat().st_size / 1e6
            results[f"{seconds:g}"] = dict(file_mb=size_mb, **{way: measure(code, clip)
                                                               for way, code in MEASURE.items()})
            print(f"{seconds:g} s: {json.dumps(results[f'{seconds:g}'])}", flush=True)
    finished = run.finish()
    import av

    env = machine_environment({"av": av.__version__})
    short, long = (results[f"{s:g}"] for s in (lengths[0], lengths[-1]))
    growth = {way: long[way]["peak_mb"] - short[way]["peak_mb"] for way in MEASURE}
    met = growth["analyze_video"] <= GOAL_MB
    rows = [[way] + [f"{results[f'{s:g}'][way]['peak_mb']:.1f}" for s in lengths]
            + [f"{growth[way]:+.1f}", f"{long[way]['peak_mb'] / short[way]['peak_mb']:.2f}",
               " / ".join(f"{results[f'{s:g}'][way]['wall_s']:.1f}" for s in lengths)] for way in MEASURE]
    text = "\n".join(run_lines("Peak memory of analyze_video against the video's length", env,
                               finished["wall_s"], ("av", "numpy")) + [
        f"- {load_text(finished['load_average'])}",
        f"- clips: 640x360 H.264, {args.fps:g} fps, " + ", ".join(
            f"{s:g} s = {round(s * args.fps)} frames "
            f"({results[f'{s:g}']['file_mb']:.1f} MB)" for s in lengths),
        "- analyze_video rows: " + ", ".join(
            f"{results[f'{s:g}']['analyze_video']['rows']} at {s:g} s (the face table "
            f"{results[f'{s:g}']['analyze_video']['table_mb']:.1f} MB)" for s in lengths),
        "",
        *table(["way"] + [f"peak RSS (MB), {s:g} s" for s in lengths]
               + ["growth (MB)", "ratio", "wall (s)"], rows),
        f"analyze_video's peak grows {growth['analyze_video']:+.1f} MB from {lengths[0]:g} s to "
        f"{lengths[-1]:g} s (goal ≤ {GOAL_MB} MB: {verdict(met)}); the clip held grows "
        f"{growth['clip held']:+.1f} MB.",
        "",
    ])
    write_results(args.results_dir, "video_memory",
                  dict(environment=env, run=finished, fps=args.fps, goal_mb=GOAL_MB, results=results,
                       growth_mb=growth, met=met), text)


if __name__ == "__main__":
    main()
