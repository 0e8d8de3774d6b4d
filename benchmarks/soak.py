"""Soak: the streaming server under many sessions for a long run, with
connection churn; its memory and open files at the start and the end.

    python benchmarks/soak.py [--sessions 500] [--messages 1000000] [--per-connection 200]
                              [--workers 2]

The server runs in its own process (benchmarks/server.py's, the C server
with one Estimator per session); load-generator processes (--workers) keep
--sessions sessions, each a closed loop (send a frame, wait for its reply)
of one face's keypoint frames, until --messages replies in all. Churn: a
session's connection ends after --per-connection messages and the session
reconnects; every fifth connection is dropped without a close handshake
(the TCP connection aborted), and before every tenth the session first
tries a wrong key (refused, 4001).

"start" is measured when every session is open and has sent its first 20
frames, "end" when every session has sent its share and is still open (no
connection opening or closing at either moment); "idle" before the first
connection and after the last one closed. Goal: the server's resident
memory and open files at the end within 5% of the start. A benchmark, not
a test: it prints its figures and writes nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time

from server import frame_messages, is_error, open_session, process_usage, start_server

WARMUP = 20  # frames each session sends before "start" is measured


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def usage(pid: int) -> dict:
    return {"rss_mb": process_usage(pid)[1] / 2**20, "fds": open_files(pid)}


def load_main(url: str, sessions: int, quota: int, per_connection: int, shared: dict, queue) -> None:
    """One load-generator process: `sessions` sessions of `quota` messages
    each; signals shared["ready"] / ["done"] per session and waits for the
    go / release events there; puts its counts on queue."""
    from websockets.asyncio.client import connect

    messages = frame_messages(per_connection, 30.0, pose_on_device=True)
    counts = {"replies": 0, "errors": 0, "connections": 0, "aborted": 0, "refused": 0, "failed": 0}

    def bump(name: str) -> None:
        with shared[name].get_lock():
            shared[name].value += 1

    async def event(mp_event) -> None:
        await asyncio.get_running_loop().run_in_executor(None, mp_event.wait)

    async def wrong_key() -> None:
        try:
            async with connect(url, subprotocols=["mojofer.v1"], open_timeout=60,
                               additional_headers={"X-Api-Key": "wrong", "X-Socket-Key": "wrong"}) as ws:
                await ws.recv()
        except Exception:
            counts["refused"] += 1

    async def session(go: asyncio.Task, release: asyncio.Task) -> None:
        answered, ready, connection = 0, False, 0
        while answered < quota:
            if connection % 10 == 9:
                await wrong_key()
            try:
                ws = await open_session(url)
            except Exception:
                counts["failed"] += 1
                await asyncio.sleep(0.2)
                continue
            counts["connections"] += 1
            try:
                for message in messages:
                    await ws.send(message)
                    reply = await ws.recv()
                    answered += 1
                    counts["replies"] += 1
                    counts["errors"] += is_error(reply)
                    if not ready and (answered == WARMUP or answered == quota):
                        ready = True
                        bump("ready")
                        await go
                    if answered == quota:
                        break
                if answered == quota:
                    bump("done")
                    await release
                if connection % 5 == 4 and answered < quota:
                    counts["aborted"] += 1
                    ws.transport.abort()
                else:
                    await ws.close()
            except Exception:
                counts["failed"] += 1
                ws.transport.abort()
            connection += 1
        if not ready:
            bump("ready")

    async def main() -> None:
        go = asyncio.ensure_future(event(shared["go"]))
        release = asyncio.ensure_future(event(shared["release"]))
        await asyncio.gather(*(session(go, release) for _ in range(sessions)))
        queue.put(counts)

    asyncio.run(main())


def wait_for(value, target: int, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while value.value < target:
        if time.monotonic() > deadline:
            raise SystemExit(f"soak: {what}: {value.value} of {target} sessions after {timeout:.0f} s")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--messages", type=int, default=1_000_000, help="replies in all")
    parser.add_argument("--per-connection", type=int, default=200,
                        help="messages a connection carries before its session reconnects")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    args = parser.parse_args()
    quota = -(-args.messages // args.sessions)
    # Room in the key's plan for connections whose close the server has not
    # seen yet when their session's next one opens.
    server, url = start_server(args.sessions + 64)
    shared = {name: multiprocessing.Value("q", 0) for name in ("ready", "done")}
    shared.update(go=multiprocessing.Event(), release=multiprocessing.Event())
    queue = multiprocessing.Queue()
    workers = max(1, min(args.workers, args.sessions))
    shares = [args.sessions // workers + (w < args.sessions % workers) for w in range(workers)]
    try:
        time.sleep(0.5)
        idle_before = usage(server.pid)
        procs = [multiprocessing.Process(target=load_main, args=(url, n, quota, args.per_connection,
                                                                  shared, queue)) for n in shares]
        for p in procs:
            p.start()
        wait_for(shared["ready"], args.sessions, "sessions open", 300)
        start = usage(server.pid)
        t0 = time.perf_counter()
        shared["go"].set()
        wait_for(shared["done"], args.sessions, "sessions done", 24 * 3600)
        seconds = time.perf_counter() - t0
        end = usage(server.pid)
        shared["release"].set()
        counts = [queue.get(timeout=600) for _ in procs]
        for p in procs:
            p.join(60)
        time.sleep(1.0)
        idle_after = usage(server.pid)
    finally:
        server.stdin.close()
        server.wait(30)
    total = {k: sum(c[k] for c in counts) for k in counts[0]}
    report = {"sessions": args.sessions, "per_connection": args.per_connection, **total,
              "seconds": seconds, "replies_per_s": total["replies"] / seconds,
              "idle_before": idle_before, "start": start, "end": end, "idle_after": idle_after,
              "rss_change": end["rss_mb"] / start["rss_mb"] - 1, "fds_change": end["fds"] / start["fds"] - 1}
    print(json.dumps(report, indent=1))
    flat = abs(report["rss_change"]) <= 0.05 and abs(report["fds_change"]) <= 0.05
    print(f"{total['replies']:,} replies ({total['errors']} errors) in {seconds:.0f} s over "
          f"{total['connections']:,} connections ({total['aborted']} aborted, {total['refused']} wrong-key "
          f"refusals, {total['failed']} failures); server RSS {start['rss_mb']:.1f} -> {end['rss_mb']:.1f} MB "
          f"({100 * report['rss_change']:+.1f}%), open files {start['fds']} -> {end['fds']} "
          f"({100 * report['fds_change']:+.1f}%); idle {idle_before['rss_mb']:.1f} MB / {idle_before['fds']} "
          f"files before, {idle_after['rss_mb']:.1f} MB / {idle_after['fds']} after. "
          f"Flat within 5%: {'yes' if flat else 'NO'}")


if __name__ == "__main__":
    main()
