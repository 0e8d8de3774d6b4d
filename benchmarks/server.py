"""Streaming server benchmark: N concurrent sessions at 30 frames/s on loopback.

    python benchmarks/server.py [--sessions 10,100,500,1000] [--seconds 10] [--workers 2]
                                [--fps 30] [--threads 1,2] [--results-dir DIR]

The server (mojofer.serve, the C server with one Estimator per session) runs
in its own process, once per --threads count (its service threads); load generators in separate processes (--workers) open
the sessions with the `websockets` package (asyncio) and send one face's
keypoint frames at --fps per session (with the head pose computed on the
device, as the protocol's clients send it; --pose server leaves it to the
server), each frame sent at its time or as soon
as the previous reply came, whichever is later. Per level: round-trip
latency (send to reply, p50/p99), replies per second against the target,
the server process's CPU (all cores: 100% = one core) and its resident
memory above the idle server, per session. The server-side estimate time is
measured apart, with mojofer.Estimator on the same frames (the code the
server runs per message, without the network).

The load generators are Python: on a small machine they, not the server,
may be what limits the rate; the table says what was achieved.

Writes benchmarks/results/server.md and server.json (with --pose server:
server-pose-on-server.md/.json), or into --results-dir.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _common import (RESULTS, Run, load_text, machine_environment, run_lines, table, verdict,
                     write_results)

API_KEY, SOCKET_KEY = "bench-api", "bench-socket"


def sample_points() -> np.ndarray:
    import mojofer

    return mojofer.find_landmarks(mojofer.sample_image())[0].landmarks.astype(np.float32)


def frame_points(points: np.ndarray, i: int) -> np.ndarray:
    p = points.copy()
    p[:, 1] += 2.0 * np.sin(i / 5.0)
    p[48:, 1] += (i % 10) * 0.3
    return p


# ---------------------------------------------------------------- server process

def serve_main(max_sessions: int, threads: int) -> None:
    """The server process: prints its port, serves until stdin closes. The
    load generators connect from one address: the connection caps leave
    room for every session and for closing ones not yet gone."""
    import mojofer

    connections = max_sessions + 64
    server = mojofer.serve(port=0, keys=[mojofer.Key("bench", API_KEY, SOCKET_KEY, max_sessions=max_sessions,
                                                     max_fps=1000, max_session_seconds=86400)],
                           background=True, log=None, idle_timeout=60, max_connections=connections,
                           max_connections_per_address=connections, threads=threads)
    print(server.port, flush=True)
    sys.stdin.read()
    server.stop()


def start_server(max_sessions: int, threads: int) -> tuple[subprocess.Popen, str]:
    """This script's server process (serve_main) and its URL; closing its
    stdin stops it."""
    server = subprocess.Popen([sys.executable, __file__, "--serve-only", str(max_sessions),
                               "--serve-threads", str(threads)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline())
    return server, f"ws://127.0.0.1:{port}/"


def process_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds, resident bytes) of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    return cpu, rss


# ---------------------------------------------------------------- load generator

def device_pose(points: np.ndarray, pose_on_device: bool):
    """The pose a device sends with its keypoints, or None for the server to compute."""
    import mojofer

    return mojofer.head_pose(points).as_tuple() if pose_on_device else None


def frame_messages(n: int, fps: float, pose_on_device: bool) -> list[bytes]:
    """The wire messages of n frames of one face at fps, seq from 1."""
    import mojofer.wire as wire

    points = sample_points()
    messages = []
    for i in range(n):
        p = frame_points(points, i)
        messages.append(wire.encode_frame(i + 1, i / fps, [(1, p, device_pose(p, pose_on_device))]))
    return messages


def open_session(url: str):
    """A session with the benchmark key (websockets, asyncio): `async with`."""
    from websockets.asyncio.client import connect

    return connect(url, subprotocols=["mojofer.v1"], open_timeout=60, max_queue=None,
                   additional_headers={"X-Api-Key": API_KEY, "X-Socket-Key": SOCKET_KEY})


def is_error(reply: bytes) -> bool:
    """Whether a reply is an error message (its type string near the start)."""
    return b"\xa5error" in reply[:12]


def load_main(url: str, sessions: int, fps: float, seconds: float, start_at: float, queue,
              pose_on_device: bool) -> None:
    """One load-generator process: `sessions` sessions from start_at (a
    time.time()) for `seconds`; puts (rtts, replies, errors, failed) on queue."""
    messages = frame_messages(int(seconds * fps) + 1, fps, pose_on_device)

    async def session(k: int, rtts: list, counts: dict) -> None:
        try:
            async with open_session(url) as ws:
                loop = asyncio.get_running_loop()
                begin = loop.time() + max(0.0, start_at - time.time()) + (k % 30) / (30 * fps)
                for i, message in enumerate(messages[:-1]):
                    delay = begin + i / fps - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    t0 = time.perf_counter()
                    await ws.send(message)
                    reply = await ws.recv()
                    rtts.append(time.perf_counter() - t0)
                    counts["replies"] += 1
                    counts["last"] = max(counts["last"], time.time())
                    counts["errors"] += is_error(reply)
        except Exception:
            counts["failed"] += 1

    async def main() -> None:
        rtts, counts = [], {"replies": 0, "errors": 0, "failed": 0, "last": 0.0}
        await asyncio.gather(*(session(k, rtts, counts) for k in range(sessions)))
        queue.put((rtts, counts))

    asyncio.run(main())


def run_level(url: str, pid: int, sessions: int, fps: float, seconds: float, workers: int,
              pose_on_device: bool) -> dict:
    workers = max(1, min(workers, sessions))
    queue = multiprocessing.Queue()
    start_at = time.time() + 2.0 + sessions / 200  # time to open every session first
    shares = [sessions // workers + (w < sessions % workers) for w in range(workers)]
    procs = [multiprocessing.Process(target=load_main, args=(url, n, fps, seconds, start_at, queue,
                                                                       pose_on_device))
             for n in shares]
    for p in procs:
        p.start()
    while time.time() < start_at + 0.5:
        time.sleep(0.05)
    cpu0, _ = process_usage(pid)
    load0 = sum(process_usage(p.pid)[0] for p in procs)
    t0 = time.perf_counter()
    peak_rss = 0
    while time.perf_counter() - t0 < seconds - 1.0:
        peak_rss = max(peak_rss, process_usage(pid)[1])
        time.sleep(0.2)
    cpu1, rss = process_usage(pid)
    load1 = sum(process_usage(p.pid)[0] for p in procs)
    window = time.perf_counter() - t0
    cpu_share = (cpu1 - cpu0) / window
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(60)
    rtts = np.array([r for rs, _ in results for r in rs]) * 1000
    counts = {k: sum(c[k] for _, c in results) for k in ("replies", "errors", "failed")}
    # The last frame is due at start_at + seconds - 1/fps; replies arriving
    # later stretch the time they took.
    elapsed = max(max(c["last"] for _, c in results) - start_at, seconds - 1 / fps)
    return {"sessions": sessions, "target_per_s": sessions * fps,
            "replies_per_s": counts["replies"] / elapsed, "replies": counts["replies"],
            "errors": counts["errors"], "failed_sessions": counts["failed"],
            "rtt_ms_p50": float(np.percentile(rtts, 50)) if len(rtts) else None,
            "rtt_ms_p99": float(np.percentile(rtts, 99)) if len(rtts) else None,
            "server_cpu": cpu_share, "load_generators_cpu": (load1 - load0) / window,
            "server_rss": max(rss, peak_rss)}


def estimate_time(fps: float, pose_on_device: bool, n: int = 3000) -> dict:
    """Seconds per Estimator.update on one face: the server's work per message."""
    import mojofer

    points = sample_points()
    est = mojofer.Estimator()
    frames = []
    for i in range(n):
        p = frame_points(points, i)
        frames.append([(1, p, device_pose(p, pose_on_device))])
    for i in range(100):
        est.update(i / fps, frames[i])
    est.reset()
    times = []
    for i, faces in enumerate(frames):
        t0 = time.perf_counter()
        est.update(i / fps, faces)
        times.append(time.perf_counter() - t0)
    times = np.array(times) * 1000
    return {"ms_p50": float(np.percentile(times, 50)), "ms_p99": float(np.percentile(times, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", default="10,100,500,1000",
                        help="comma-separated session counts, one level each")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each level")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second per session")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--pose", choices=("device", "server"), default="device",
                        help="who computes the head pose: the device sends it with the keypoints "
                             "(the protocol's clients do), or the server estimates it")
    parser.add_argument("--threads", default="1",
                        help="comma-separated service thread counts of the server, a run of every "
                             "level each")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--serve-only", type=int, metavar="MAX_SESSIONS", help=argparse.SUPPRESS)
    parser.add_argument("--serve-threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_only:
        serve_main(args.serve_only, args.serve_threads)
        return
    levels = [int(s) for s in args.sessions.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]
    run = Run()
    rows = []
    for threads in thread_counts:
        server, url = start_server(max(levels), threads)
        try:
            time.sleep(0.5)
            _, idle_rss = process_usage(server.pid)
            for n in levels:
                r = {"threads": threads, **run_level(url, server.pid, n, args.fps, args.seconds,
                                                     args.workers, args.pose == "device")}
                r["kb_per_session"] = (r["server_rss"] - idle_rss) / n / 1024
                rows.append(r)
                print(json.dumps(r), flush=True)
                time.sleep(1.0)
        finally:
            server.stdin.close()
            server.wait(30)
    estimate = estimate_time(args.fps, args.pose == "device")
    import websockets

    import mojofer
    env = machine_environment({"websockets": websockets.__version__,
                               "libwebsockets": mojofer.versions()["libwebsockets"]})
    finished = run.finish()
    lines = run_lines("Streaming server: concurrent sessions on loopback", env, finished["wall_s"],
                      ("websockets", "libwebsockets"))
    lines += [f"- {load_text(finished['load_average'])} (the load generators run on the same machine)",
              f"- {args.fps:g} frames/s per session, {args.seconds:g} s "
              f"per level, {args.workers} load-generator process(es) (websockets, asyncio), one face per "
              "frame; RTT = send to reply, as the generator sees it",
              f"- head pose computed by the {args.pose}" + (" and sent with the keypoints" if args.pose == "device"
                                                            else " (frames carry keypoints only)"), ""]
    lines += table(["threads", "sessions", "target msg/s", "replies/s", "RTT p50 ms", "RTT p99 ms", "server CPU",
                    "load generators' CPU", "server RSS MB", "KB/session", "errors", "failed sessions"],
                   [[r["threads"], r["sessions"], f"{r['target_per_s']:.0f}", f"{r['replies_per_s']:.0f}",
                     f"{r['rtt_ms_p50']:.2f}" if r["rtt_ms_p50"] is not None else "—",
                     f"{r['rtt_ms_p99']:.2f}" if r["rtt_ms_p99"] is not None else "—",
                     f"{100 * r['server_cpu']:.0f}%", f"{100 * r['load_generators_cpu']:.0f}%",
                     f"{r['server_rss'] / 2**20:.1f}",
                     f"{r['kb_per_session']:.1f}", r["errors"], r["failed_sessions"]] for r in rows])
    lines += [f"Server-side estimate (mojofer.Estimator.update, one face, the server's work per message "
              f"without the network): p50 {estimate['ms_p50']:.3f} ms, p99 {estimate['ms_p99']:.3f} ms.", ""]
    if len(thread_counts) > 1:
        lines += ["Replies/s and RTT (p50 / p99 ms) by service threads:", ""]
        lines += table(["sessions"] + [f"{t} thread(s)" for t in thread_counts],
                       [[n] + [next((f"{r['replies_per_s']:.0f}/s, {r['rtt_ms_p50']:.1f} / "
                                     f"{r['rtt_ms_p99']:.1f}" for r in rows
                                     if r["threads"] == t and r["sessions"] == n
                                     and r["rtt_ms_p50"] is not None), "—")
                               for t in thread_counts] for n in levels])
    goal = next((r for r in rows if r["sessions"] == 500), None)
    lines += ["Goals (issue 6): server-side estimate < 1 ms: "
              + verdict(estimate["ms_p99"] < 1.0) + "; 500 sessions at 30 frames/s with p99 RTT < 50 ms: "
              + (verdict(goal["rtt_ms_p99"] is not None and goal["rtt_ms_p99"] < 50
                         and goal["replies_per_s"] >= 0.99 * goal["target_per_s"]) if goal else "not measured")
              + "; memory per session < 64 KB: "
              + verdict(all(r["kb_per_session"] < 64 for r in rows)) + ".", ""]
    for r in rows:
        if r["sessions"] == 1000:
            lines += [f"Goal (issue 11), {r['threads']} thread(s): 1,000 sessions at 30 frames/s with "
                      "p99 RTT < 50 ms: "
                      + verdict(r["rtt_ms_p99"] is not None and r["rtt_ms_p99"] < 50
                                and r["replies_per_s"] >= 0.99 * r["target_per_s"]) + ".", ""]
    lines += ["Each service thread serves its sessions on one core (libwebsockets as Debian builds "
              "it, LWS_MAX_SMP 1, a context per thread sharing the port): a thread's rate is about "
              "1 / (estimate + transport) messages per second. Here the load generators (Python) "
              "share the machine's cores with the server, and their CPU column shows how much of "
              "the machine they take (100% = one core).", ""]
    report = {"environment": env, **finished, "fps": args.fps, "seconds": args.seconds,
              "workers": args.workers, "pose": args.pose, "threads": thread_counts, "levels": rows,
              "estimate": estimate}
    write_results(args.results_dir, "server" if args.pose == "device" else "server-pose-on-server",
                  report, "\n".join(lines))


if __name__ == "__main__":
    main()
