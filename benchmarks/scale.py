"""Scale-out: analyze_images on a dask.distributed LocalCluster of 1 and 2
worker processes (one thread each) against the same call run locally, on
the same images in the same run.

    python benchmarks/scale.py [--data PATH] [--images N] [--chunk K] [--results-dir DIR]

The images are the first N of ../shared/data/expressions/labels.csv. Each
way is timed after a warm-up call on a few images (the workers load the
models there); the tables must be equal to the local one (checked).
Images/s and the speed-up over the local run are printed. A worker per CPU
is the most this machine can show (2 CPUs here, shared with whatever else
runs).
"""
from __future__ import annotations

import argparse
import csv
import time

import pandas as pd

import mojofer

from _common import Run, add_results_dir, default_data, machine_environment, run_lines, table, write_results


def timed(paths, **options) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    result = mojofer.analyze_images(paths, progress=False, **options)
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default_data("expressions"), help="the expressions folder")
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--chunk", type=int, default=32, help="images a task")
    add_results_dir(parser)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    with open(f"{args.data}/labels.csv", newline="") as f:
        paths = [f"{args.data}/{row['image']}" for row in csv.DictReader(f)][:args.images]
    run = Run()
    timed(paths[:8])  # warm-up: the models into the page cache
    local_s, local = timed(paths)
    rows = [["local (this process)", "—", f"{local_s:.1f}", f"{len(paths) / local_s:.1f}", "1.00"]]
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            timed(paths[:8], client=client, chunk=args.chunk)
            seconds, spread = timed(paths, client=client, chunk=args.chunk)
        pd.testing.assert_frame_equal(spread, local)  # the same table, row for row
        rows.append([f"LocalCluster, {workers} worker(s)", str(args.chunk), f"{seconds:.1f}",
                     f"{len(paths) / seconds:.1f}", f"{local_s / seconds:.2f}"])
    timing = run.finish()
    import distributed

    env = machine_environment({"distributed": distributed.__version__})
    text = "\n".join(run_lines("Scale-out: analyze_images on a dask cluster", env, timing["wall_s"],
                               ("distributed",)) + [
        f"- {len(paths)} images of {args.data}/labels.csv; every table equal to the local one", ""]
        + table(["way", "images a task", "seconds", "images/s", "speed-up over local"], rows)) + "\n"
    write_results(args.results_dir, "scale", {"environment": env, **timing, "images": len(paths),
                                             "rows": rows}, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
