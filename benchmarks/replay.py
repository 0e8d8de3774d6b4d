"""A server outage under a live stream: what the reconnect saves.

    python benchmarks/replay.py [--frames 300] [--fps 30] [--kill-at 90] [--outage 2]

`mojofer serve` runs as a process of its own with one key whose plan's
max_fps is the stream's --fps (no spare rate to catch up with); our
CloudClient streams one face at --fps; the server is killed with SIGKILL
after frame --kill-at and started again on the same port --outage seconds
later. Prints how every frame was answered: estimates, and errors by code
(4003: refused by the plan's frame rate), the sessions the client opened,
and how long after the restart the client was live again (its last
backlog frame answered).
"""
from __future__ import annotations

import argparse
import collections
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mojofer
from mojofer.client import CloudClient


def start_server(config: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "mojofer", "serve", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--kill-at", type=int, default=90)
    parser.add_argument("--outage", type=float, default=2.0)
    args = parser.parse_args()

    points = mojofer.find_landmarks(mojofer.sample_image())[0].landmarks
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = Path(tempfile.mkdtemp())
    config = folder / "server.toml"
    config.write_text(f'host = "127.0.0.1"\nport = {port}\n[[keys]]\nid = "camera"\napi_key = "a"\n'
                      f'socket_key = "s"\nmax_sessions = 1\nmax_fps = {args.fps}\n')
    server = start_server(config)
    server.stdout.readline()
    client = CloudClient(f"ws://127.0.0.1:{port}/", "a", "s", backoff_max=1.0)
    results, killed_at, restarted, live_again = [], None, None, None
    try:
        start = time.monotonic()
        for i in range(args.frames):
            time.sleep(max(0.0, start + i / args.fps - time.monotonic()))
            p = points.copy()
            p[48:, 1] += (i % 10) * 0.3
            client.send(i / args.fps, [(1, p, None)])
            if i == args.kill_at:
                server.send_signal(signal.SIGKILL)
                server.wait()
                killed_at = time.monotonic()
            if killed_at and not restarted and time.monotonic() >= killed_at + args.outage:
                server, restarted = start_server(config), time.monotonic()
            results.extend(client.results())
            if restarted and not live_again and client.state["waiting"] <= 2:
                live_again = time.monotonic() - restarted
        client.flush(30.0)
        results.extend(client.results())
    finally:
        client.close(0)
        server.kill()
        server.wait()
    codes = collections.Counter(r.error.code for r in results if not r.ok)
    in_order = [r.seq for r in results] == list(range(1, args.frames + 1))
    print(f"frames {args.frames} at {args.fps:g} fps, plan max_fps {args.fps:g}, server killed after "
          f"frame {args.kill_at}, restarted {args.outage:g} s later")
    print(f"answered {len(results)} (in order: {in_order}), estimates {sum(r.ok for r in results)}, "
          f"errors {sum(codes.values())} {dict(codes)}")
    print(f"sessions {client.state['connects']}, live again "
          f"{'-' if live_again is None else f'{live_again:.2f} s'} after the restart")


if __name__ == "__main__":
    main()
