"""A server process killed (SIGKILL) mid-stream and started again on the
same port: our client replays the frames the outage held back, and the
server's rate limit admits that backlog (docs/protocol.md, "Sessions and
plans": the catch-up allowance), so every frame gets an estimate."""
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import mojofer
from mojofer.client import CloudClient

FPS = 30.0


@pytest.fixture(scope="module")
def points(astronaut):
    return mojofer.find_landmarks(astronaut)[0].landmarks.astype(np.float32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(config) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mojofer", "serve", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def test_server_killed_and_restarted_answers_every_frame_with_an_estimate(tmp_path, points):
    port = free_port()
    config = tmp_path / "server.toml"
    # The plan's rate is the stream's rate: no headroom to catch up in.
    config.write_text(textwrap.dedent(f"""
        host = "127.0.0.1"
        port = {port}
        [[keys]]
        id = "camera"
        api_key = "api-cam"
        socket_key = "sock-cam"
        max_sessions = 1
        max_fps = {FPS}
    """))
    server = start_server(config)
    assert server.stdout.readline().startswith(f"mojofer: serving on ws://127.0.0.1:{port}/")
    client = CloudClient(f"ws://127.0.0.1:{port}/", "api-cam", "sock-cam", backoff_max=1.0)
    results, sent, killed_at, restarted = [], [], None, None
    try:
        start = time.monotonic()
        for i in range(300):
            t = i / FPS
            time.sleep(max(0.0, start + t - time.monotonic()))
            p = points.copy()
            p[48:, 1] += (i % 10) * 0.3
            sent.append(client.send(t, [(1, p, None)]))
            if i == 90:
                server.send_signal(signal.SIGKILL)
                server.wait()
                killed_at = time.monotonic()
            if killed_at and not restarted and time.monotonic() >= killed_at + 2.0:
                server, restarted = start_server(config), time.monotonic()
            results.extend(client.results())  # taken as they come: the queue holds 256
        assert restarted and server.stdout.readline().startswith("mojofer: serving")
        assert client.flush(20.0) == 0
        results.extend(client.results())
    finally:
        client.close(0)
        server.kill()
        server.wait()
    assert client.state["connects"] >= 2
    errors = [(r.seq, r.error.code, r.error.reason) for r in results if not r.ok]
    assert not errors, f"{len(errors)} of {len(results)} frames answered with errors, e.g. {errors[:3]}"
    assert [r.seq for r in results] == sent == list(range(1, 301))
    assert [r.timestamp for r in results] == [i / FPS for i in range(300)]
    assert all(len(r.faces) == 1 and r.faces[0].id == 1 and r.faces[0].visible for r in results)


@pytest.mark.parametrize("catch_up", [0.0, 2.0])
def test_catch_up_allowance_is_bounded(points, catch_up):
    """60 frames 0.1 s apart sent at once to a plan of 10 fps: the first
    second's burst and catch_up seconds of timestamps pass, then the
    timestamps run ahead of the server's clock and the rest is refused."""
    from mojofer.server import Key, serve

    key = Key("k", "a", "s", max_fps=10, catch_up_seconds=catch_up)
    with serve(port=0, keys=[key], background=True, log=None) as server, \
            CloudClient(server.url, "a", "s") as client:
        start = time.monotonic()
        for i in range(60):
            client.send(i / 10, [(1, points, None)])
        assert client.flush(10.0) == 0
        elapsed = time.monotonic() - start
        results = list(client.results())
    assert [r.seq for r in results] == list(range(1, 61))
    admitted = 10 * (1 + catch_up)
    assert all(r.ok for r in results[:int(admitted)])
    assert sum(r.ok for r in results) <= admitted + 10 * elapsed + 1
    assert {(r.error.code, r.error.reason) for r in results if not r.ok} == {(4003, "frame rate exceeded")}

