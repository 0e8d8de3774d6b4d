"""The streaming server and client over loopback: real servers, our client
and a third-party one (the `websockets` package, speaking the protocol as
docs/protocol.md writes it down, with `msgpack`). Every network wait has a
timeout, so a hang fails instead of stalling the suite."""
import ipaddress
import os
import resource
import signal
import socket
import ssl
import struct
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import msgpack
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import mojofer
from mojofer import wire
from mojofer.client import CLOSED, QUEUE_FULL, CloudClient
from mojofer.server import Key, Server, load_config, serve

KEY = Key("demo", "api-demo", "sock-demo", max_sessions=2, max_fps=1000, max_session_seconds=60)
TIMEOUT = 10.0
# MOJOFER_SERVER_THREADS=N runs every server of this module on N service threads
SERVER_THREADS = int(os.environ.get("MOJOFER_SERVER_THREADS", "1"))


@pytest.fixture(autouse=True)
def service_threads(monkeypatch):
    if SERVER_THREADS != 1:
        init = Server.__init__

        def init_with_threads(self, *args, threads=SERVER_THREADS, **options):
            init(self, *args, threads=threads, **options)

        monkeypatch.setattr(Server, "__init__", init_with_threads)


@pytest.fixture(scope="module")
def points(astronaut):
    return mojofer.find_landmarks(astronaut)[0].landmarks.astype(np.float32)


def frames(points, n, fps=30.0):
    """n frames of one face nodding a little: (timestamp, faces)."""
    for i in range(n):
        p = points.copy()
        p[:, 1] += 2.0 * np.sin(i / 5.0)
        p[48:, 1] += (i % 10) * 0.3
        yield i / fps, [(1, p, None)]


@pytest.fixture
def logs():
    return []


@pytest.fixture
def server(logs):
    with serve(port=0, keys=[KEY], background=True, log=logs.append, idle_timeout=5.0) as s:
        yield s


def ws(server_or_url, api_key=KEY.api_key, socket_key=KEY.socket_key, *, headers=True, **kw):
    """A third-party connection: keys as headers or in the query."""
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.url
    extra = {}
    if headers:
        extra = {"X-Api-Key": api_key, "X-Socket-Key": socket_key}
    else:
        url += f"?api_key={api_key}&socket_key={socket_key}"
    kw.setdefault("open_timeout", TIMEOUT)
    return connect(url, subprotocols=["mojofer.v1"], additional_headers=extra, close_timeout=2, **kw)


def frame_message(seq, ts, points, pose=None):
    face = {"id": 1, "lm": struct.pack("<136f", *points.ravel())}
    if pose is not None:
        face["pose"] = list(pose)
    return msgpack.packb({"t": "frame", "seq": seq, "ts": ts, "faces": [face]})


def close_code(conn, timeout=TIMEOUT):
    """The close code the server ends the connection with."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            conn.recv(timeout=timeout)
    return closed.value.rcvd.code, closed.value.rcvd.reason


# ---- estimates ----------------------------------------------------------------


def test_server_estimates_equal_local_estimator(server, points, logs):
    local = mojofer.Estimator()
    with CloudClient(server.url, KEY.api_key, KEY.socket_key) as client:
        sent = [client.send(t, faces) for t, faces in frames(points, 60)]
        assert client.flush(TIMEOUT) == 0
        results = list(client.results())
    assert [r.seq for r in results] == sent == list(range(1, 61))
    for r, (t, faces) in zip(results, frames(points, 60)):
        assert r.ok and r.timestamp == t
        estimates, events = local.update(t, faces)
        assert r.faces == estimates
        assert r.events == events
    assert any(r.events for r in results)
    server.stop()
    assert [e["event"] for e in logs] == ["session_start", "session_end"]
    assert logs[1]["frames"] == 60 and logs[1]["errors"] == 0 and logs[1]["key_id"] == "demo"


@pytest.mark.parametrize("baseline", [None, 4.0])
def test_the_server_learns_each_faces_baseline_as_the_estimator_does(points, baseline):
    """Same keypoint frames, same messages: the server's session estimator
    learns the person baseline with the window it is configured with (None:
    none), as a local Estimator with that window does, and its readings then
    differ from one without."""
    frames_ = list(frames(points, 90))  # 3 s
    local, alone = mojofer.Estimator(baseline=baseline), mojofer.Estimator(baseline=None)
    with serve(port=0, keys=[KEY], background=True, log=None, baseline=baseline) as server, \
            CloudClient(server.url, KEY.api_key, KEY.socket_key) as client:
        for t, faces in frames_:
            client.send(t, faces)
        assert client.flush(TIMEOUT) == 0
        results = list(client.results())
    differ = 0.0
    for r, (t, faces) in zip(results, frames_):
        assert r.faces == local.update(t, faces)[0]
        differ = max(differ, abs(r.faces[0].emotions["neutral"] - alone.update(t, faces)[0][0].emotions["neutral"]))
    assert (differ > 1e-3) == (baseline is not None)


def test_third_party_client_speaks_the_documented_protocol(server, points):
    local = mojofer.Estimator()
    with ws(server) as conn:
        assert conn.subprotocol == "mojofer.v1"
        for seq, (t, faces) in enumerate(frames(points, 5), start=1):
            conn.send(frame_message(seq, t, faces[0][1]))
            reply = msgpack.unpackb(conn.recv(timeout=TIMEOUT))
            assert reply["t"] == "estimate" and reply["seq"] == seq and reply["ts"] == t
            (face,) = reply["faces"]
            (expected,), _ = local.update(t, faces)
            assert face["id"] == 1 and face["visible"] is True
            assert np.allclose(face["emotions"], list(expected.emotions.values()), atol=1e-6)
            assert face["status"] == expected.status
    with ws(server, headers=False) as conn:  # keys in the query work too
        conn.send(frame_message(1, 0.0, points, pose=(0.0, 0.0, 0.0)))
        assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"


# ---- credentials and plans ------------------------------------------------------


@pytest.mark.parametrize("api_key, socket_key", [("api-demo", "wrong"), ("wrong", "sock-demo"),
                                                 ("", ""), ("api-demo", "sock-demo-longer")])
def test_wrong_or_missing_keys_are_refused(server, api_key, socket_key, logs):
    with ws(server, api_key, socket_key) as conn:
        assert close_code(conn) == (4001, "api_key and socket_key do not match a key")
    assert logs[-1]["event"] == "refused" and logs[-1]["key_id"] is None


def test_wrong_keys_answer_every_frame_of_our_client(server, points):
    with CloudClient(server.url, KEY.api_key, "wrong") as client:
        for t, faces in frames(points, 3):
            client.send(t, faces)
        results = list(client.results(timeout=TIMEOUT / 5))
    assert [(r.seq, r.error.code) for r in results] == [(1, 4001), (2, 4001), (3, 4001)]


def test_session_limit_first_come_first_served(server, points, logs):
    with ws(server) as first, ws(server) as second:
        with ws(server) as third:
            assert close_code(third) == (4002, "session limit of this key reached")
        for conn in (first, second):  # the first two keep being served
            conn.send(frame_message(1, 0.0, points))
            assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"
        first.close()
        time.sleep(0.2)
        with ws(server) as fourth:  # a slot freed is taken by the next comer
            fourth.send(frame_message(1, 0.0, points))
            assert msgpack.unpackb(fourth.recv(timeout=TIMEOUT))["t"] == "estimate"
    assert [e["code"] for e in logs if e["event"] == "refused"] == [4002]


def test_frame_rate_over_the_plan_is_answered_with_errors(points):
    slow = Key("slow", "a", "s", max_fps=5)
    with serve(port=0, keys=[slow], background=True, log=None) as server, \
            CloudClient(server.url, "a", "s") as client:
        for t, faces in frames(points, 40):
            client.send(t, faces)
        assert client.flush(TIMEOUT) == 0
        results = list(client.results())
    assert [r.seq for r in results] == list(range(1, 41))  # every frame answered, in order
    refused = [r for r in results if not r.ok]
    # A burst of 5 passes at once, then 5 a second more (more if this
    # machine is slow to get the 40 frames out).
    assert all(r.ok for r in results[:5]) and len(refused) >= 20
    assert {(r.error.code, r.error.reason) for r in refused} == {(4003, "frame rate exceeded")}


def test_session_length_is_bounded(points):
    brief = Key("brief", "a", "s", max_session_seconds=0.3)
    with serve(port=0, keys=[brief], background=True, log=None) as server, ws(server, "a", "s") as conn:
        conn.send(frame_message(1, 0.0, points))
        conn.recv(timeout=TIMEOUT)
        assert close_code(conn) == (4004, "session longer than the plan allows")


def test_idle_timeout_closes_a_silent_session(points, logs):
    with serve(port=0, keys=[KEY], background=True, log=logs.append, idle_timeout=0.3) as server, \
            ws(server) as conn:
        conn.send(frame_message(1, 0.0, points))
        conn.recv(timeout=TIMEOUT)
        start = time.monotonic()
        assert close_code(conn) == (4005, "no message within the idle timeout")
        assert 0.2 < time.monotonic() - start < 3
        server.stop()
    assert logs[-1]["event"] == "session_end" and logs[-1]["code"] == 4005


def test_oversize_message_is_closed(points):
    with serve(port=0, keys=[KEY], background=True, log=None, max_message_bytes=2048) as server, \
            ws(server) as conn:
        conn.send(frame_message(1, 0.0, points))  # ~600 bytes: fine
        assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"
        conn.send(b"\x00" * 4096)
        assert close_code(conn) == (4006, "message larger than the server's limit")


def test_malformed_messages_get_errors_and_others_keep_being_served(server, points):
    with ws(server) as bad, ws(server) as good:
        for message, code in ((b"\xc1 not msgpack", 4007),
                              (msgpack.packb({"t": "frame", "seq": 7, "ts": "soon", "faces": []}), 4009),
                              (msgpack.packb({"t": "estimate", "seq": 8}), 4010),
                              (msgpack.packb([1, 2, 3]), None),
                              ("a text message", 4007)):
            bad.send(message)
            reply = msgpack.unpackb(bad.recv(timeout=TIMEOUT))
            assert reply["t"] == "error" and isinstance(reply["reason"], str) and reply["reason"]
            if code is not None:
                assert reply["code"] == code
            good.send(frame_message(1, 0.0, points))
            assert msgpack.unpackb(good.recv(timeout=TIMEOUT))["t"] == "estimate"
        bad.send(frame_message(9, 0.0, points))  # the bad session itself goes on too
        assert msgpack.unpackb(bad.recv(timeout=TIMEOUT))["seq"] == 9


def test_record_gives_every_message_as_received(points):
    """record= sees each complete message of each session, byte for byte as
    the client sent it (fragments joined, text marked), before decoding."""
    recorded = []
    with serve(port=0, keys=[KEY], background=True, log=None,
               record=lambda session, data, binary: recorded.append((session, data, binary))) as server:
        sent = [frame_message(seq, t, faces[0][1]) for seq, (t, faces) in enumerate(frames(points, 4), start=1)]
        with ws(server) as conn:
            for message in sent[:3]:
                conn.send(message)
                assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"
            conn.send([sent[3][:100], sent[3][100:300], sent[3][300:]])  # one message in three fragments
            assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"
            conn.send("a text message")
            assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["code"] == 4007
        with CloudClient(server.url, KEY.api_key, KEY.socket_key) as client:
            client.send(*next(frames(points, 1)))
            assert client.flush(TIMEOUT) == 0
    first, second = recorded[:5], recorded[5:]
    assert [(data, binary) for _, data, binary in first] == [(m, True) for m in sent] + [
        (b"a text message", False)]
    assert len({session for session, _, _ in first}) == 1
    (session, data, binary), = second
    assert session != first[0][0] and binary
    decoded = wire.decode(data)
    assert decoded.seq == 1 and np.array_equal(decoded.keypoints.faces[0].landmarks, points)
    with pytest.raises(TypeError, match="record must be callable"):
        Server(port=0, keys=[KEY], record="not callable")


# ---- failures of the connection -------------------------------------------------

KILLED_CLIENT = textwrap.dedent("""
    import sys, time, msgpack, struct
    from websockets.sync.client import connect
    conn = connect(sys.argv[1], subprotocols=["mojofer.v1"],
                   additional_headers={"X-Api-Key": "a", "X-Socket-Key": "s"}, open_timeout=10)
    lm = struct.pack("<136f", *[float(v) for v in sys.argv[2].split(",")])
    for i in range(10 ** 6):
        conn.send(msgpack.packb({"t": "frame", "seq": i + 1, "ts": i / 30, "faces": [{"id": 1, "lm": lm}]}))
        conn.recv(timeout=10)
        if i == 5:
            print("streaming", flush=True)
        time.sleep(0.005)
""")


def test_client_killed_mid_stream(points, logs):
    one = Key("one", "a", "s", max_sessions=1)
    with serve(port=0, keys=[one], background=True, log=logs.append) as server:
        proc = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, server.url,
                                 ",".join(map(str, points.ravel()))], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "streaming"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while not any(e["event"] == "session_end" for e in logs) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(e["event"] == "session_end" for e in logs)
        with ws(server, "a", "s") as conn:  # its slot is free again
            conn.send(frame_message(1, 0.0, points))
            assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"


def test_server_restart_while_a_client_streams_loses_no_frame(points):
    server = serve(port=0, keys=[KEY], background=True, log=None)
    port = server.port
    client = CloudClient(server.url, KEY.api_key, KEY.socket_key, backoff_min=0.02, backoff_max=0.2)
    try:
        stream = list(frames(points, 90))
        for t, faces in stream[:10]:
            client.send(t, faces)
        assert client.flush(TIMEOUT) == 0 and client.state["connects"] == 1
        for t, faces in stream[10:30]:
            client.send(t, faces)
        server.stop()
        for t, faces in stream[30:60]:  # the server is away: queued
            client.send(t, faces)
            time.sleep(0.002)
        server = serve(port=port, keys=[KEY], background=True, log=None)
        for t, faces in stream[60:]:
            client.send(t, faces)
        assert client.flush(TIMEOUT) == 0
        results = list(client.results())
        assert [r.seq for r in results] == list(range(1, 91)), [r for r in results if r.seq is None][:2]
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        assert client.state["connects"] >= 2
    finally:
        client.close(0)
        server.stop()


def test_closing_answers_what_is_left_and_a_full_queue_answers_at_once(points):
    with serve(port=0, keys=[KEY], background=True, log=None) as server:
        port = server.port
    client = CloudClient(f"ws://127.0.0.1:{port}/", KEY.api_key, KEY.socket_key, max_pending=4)
    for t, faces in frames(points, 6):
        client.send(t, faces)
    client.close(timeout=0.2)
    codes = [r.error.code for r in client.results()]
    assert sorted(codes) == [QUEUE_FULL] * 2 + [CLOSED] * 4


def test_on_result_callback(server, points):
    got, done = [], threading.Event()

    def on_result(r):
        got.append(r.seq)
        if len(got) == 10:
            done.set()

    with CloudClient(server.url, KEY.api_key, KEY.socket_key, on_result=on_result) as client:
        for t, faces in frames(points, 10):
            client.send(t, faces)
        assert done.wait(TIMEOUT)
    assert got == list(range(1, 11))


# ---- TLS ----------------------------------------------------------------------------


def test_tls_with_a_self_signed_certificate(certificate, points):
    cert, key = certificate
    with serve(port=0, keys=[KEY], background=True, log=None, tls_cert=cert, tls_key=key) as server:
        assert server.url.startswith("wss://")
        with CloudClient(server.url, KEY.api_key, KEY.socket_key, allow_self_signed=True) as client:
            client.send(0.0, [(1, points, None)])
            assert client.flush(TIMEOUT) == 0
            (r,) = client.results()
            assert r.ok and r.faces[0].id == 1
        context = ssl.create_default_context(cafile=str(cert))
        with ws(server, ssl=context) as conn:
            conn.send(frame_message(1, 0.0, points))
            assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"
        with CloudClient(server.url, KEY.api_key, KEY.socket_key) as strict:
            # Without allow_self_signed the certificate is not trusted: no
            # session, and the frame is answered when the client gives up.
            strict.send(0.0, [(1, points, None)])
            assert strict.flush(0.5) == 1
            assert strict.state["connects"] == 0


def test_plain_ws_only_on_loopback_unless_allowed():
    with pytest.raises(ValueError, match="allow_remote_plain"):
        Server("0.0.0.0", 0, [KEY])
    with pytest.raises(ValueError, match="allow_remote_plain"):
        CloudClient("ws://example.com:8765/", "a", "s")
    Server("0.0.0.0", 0, [KEY], allow_remote_plain=True).stop()


# ---- what is bound, and who may connect ---------------------------------------------


def listening(port):
    """The addresses listening on a TCP port, from the kernel's tables
    (/proc/net/tcp and tcp6), not from the server: {"127.0.0.1", "::", ...}."""
    found = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, port_hex = local.split(":")
                if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                    raw = bytes.fromhex(address)
                    # the kernel prints each 32-bit word in host (little-endian) order
                    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, size, 4))
                    found.add(str(ipaddress.ip_address(raw)))
    return found


@pytest.fixture(scope="module")
def outside_address():
    """An IPv4 address of this machine that is not loopback: the source of
    its default route, else the first from `ip`, else one added to the
    loopback interface for these tests (root, iproute2). Without one the
    tests fail: they must not pass untested."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # a documentation address: nothing is sent
            address = probe.getsockname()[0]
        except OSError:
            address = "0.0.0.0"
    if not ipaddress.ip_address(address).is_loopback and address != "0.0.0.0":
        yield address
        return
    out = subprocess.run("ip -4 -o addr show scope global", shell=True, capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        yield line.split()[3].split("/")[0]
        return
    # On the loopback interface, but not a loopback address: what the server
    # binds for 127.0.0.1 does not answer there.
    made = subprocess.run("ip addr add 198.51.100.7/32 dev lo", shell=True, capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.fail("no non-loopback IPv4 address on this machine, and none could be made "
                    f"(ip addr add 198.51.100.7/32 dev lo: {made.stderr.strip()})", pytrace=False)
    yield "198.51.100.7"
    subprocess.run("ip addr del 198.51.100.7/32 dev lo", shell=True, capture_output=True)


def reachable(address, port):
    """Whether a TCP connection to (address, port) is accepted."""
    try:
        socket.create_connection((address, port), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("host, bound", [("127.0.0.1", "127.0.0.1"), ("localhost", "127.0.0.1"),
                                         ("::1", "::1")])
def test_loopback_host_binds_loopback_only(host, bound, outside_address, points):
    with serve(host, 0, [KEY], background=True, log=None) as server:
        assert server.address == (bound, server.port)
        assert listening(server.port) == {bound}
        assert not reachable(outside_address, server.port)
        assert not reachable("::1" if bound == "127.0.0.1" else "127.0.0.1", server.port)
        with ws(server) as conn:  # and the loopback address serves
            conn.send(frame_message(1, 0.0, points))
            assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"


def test_config_file_host_binds_that_address(tmp_path, outside_address):
    (tmp_path / "server.toml").write_text(textwrap.dedent("""
        host = "127.0.0.1"
        port = 0
        max_connections = 100
        max_connections_per_address = 10
        handshake_timeout = 2
        [[keys]]
        id = "app"
        api_key = "api-app"
        socket_key = "sock-app"
    """))
    options = load_config(tmp_path / "server.toml")
    assert (options["max_connections"], options["max_connections_per_address"],
            options["handshake_timeout"]) == (100, 10, 2)
    with Server(**options, log=None) as server:
        server.start()
        assert listening(server.port) == {"127.0.0.1"}
        assert not reachable(outside_address, server.port)


def test_every_address_when_asked_is_reachable_from_outside(outside_address, points):
    with serve("0.0.0.0", 0, [KEY], background=True, log=None, allow_remote_plain=True) as server:
        assert server.address == ("0.0.0.0", server.port)
        assert listening(server.port) == {"0.0.0.0"}
        with ws(f"ws://{outside_address}:{server.port}/") as conn:
            conn.send(frame_message(1, 0.0, points))
            assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"


# ---- connection caps ----------------------------------------------------------------


def raw_connect(port, source="127.0.0.1"):
    """A TCP connection from a given loopback source address that sends nothing."""
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT, source_address=(source, 0))


def refused_with_503(sock):
    """Whether the server answered a connection with HTTP 503 and closed it."""
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    return data.startswith(b"HTTP/1.1 503 ")


@pytest.mark.parametrize("options, error, message", [
    ({"max_connections": 0}, ValueError, "max_connections must be at least 1"),
    ({"max_connections_per_address": 2.5}, TypeError, "max_connections_per_address must be a \\(32-bit\\) integer"),
    ({"max_connections": 10, "max_connections_per_address": 11}, ValueError,
     "max_connections_per_address must be within 1..max_connections"),
    ({"handshake_timeout": 0}, ValueError, "handshake_timeout must be a number of seconds in \\(0, 3600\\]"),
    ({"handshake_timeout": float("nan")}, ValueError, "handshake_timeout must be a number of seconds"),
    ({"handshake_timeout": "5"}, TypeError, "handshake_timeout must be a number of seconds, got '5'"),
    ({"idle_timeout": float("inf")}, ValueError, "idle_timeout must be a finite positive number of seconds"),
    ({"max_connections": 2**40}, TypeError, "max_connections must be a \\(32-bit\\) integer"),
])
def test_connection_caps_are_checked(options, error, message):
    """Types are named by the Python layer, every rule on the values by the core."""
    with pytest.raises(error, match="^" + ("invalid server configuration: " if error is ValueError else "")
                       + message):
        Server("127.0.0.1", 0, [KEY], **options)


def test_keys_are_checked_by_the_core():
    with pytest.raises(ValueError, match="^invalid server configuration: the server needs at least one key$"):
        Server("127.0.0.1", 0, [])
    with pytest.raises(ValueError, match="key ids must be unique: they name the keys in the logs$"):
        Server("127.0.0.1", 0, [KEY, Key(KEY.id, "other-api", "other-socket")])


def test_connections_over_the_caps_get_503_and_the_rest_are_served(points):
    with serve(port=0, keys=[KEY], background=True, log=None, max_connections=3,
               max_connections_per_address=2) as server:
        held = [raw_connect(server.port), raw_connect(server.port)]
        time.sleep(0.1)  # both accepted before the next: service threads accept in parallel
        assert refused_with_503(raw_connect(server.port)), "a third from one address"
        with ws(server, source_address=("127.0.0.2", 0)) as conn:  # another address, under both caps
            conn.send(frame_message(1, 0.0, points))
            assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"
            assert refused_with_503(raw_connect(server.port, "127.0.0.3")), "a fourth in all"
        held.pop().close()
        time.sleep(0.2)  # the server sees both closes
        with ws(server) as conn:  # the counts went down with the connections
            conn.send(frame_message(1, 0.0, points))
            assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"


def test_a_connection_that_does_not_upgrade_is_closed_after_the_handshake_timeout(points):
    with serve(port=0, keys=[KEY], background=True, log=None, handshake_timeout=1) as server, \
            ws(server) as session:
        silent, partial = raw_connect(server.port), raw_connect(server.port)
        partial.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # a request never finished
        t0 = time.monotonic()
        for sock in (silent, partial):
            sock.settimeout(TIMEOUT)
            try:
                assert sock.recv(4096) == b""
            except ConnectionResetError:
                pass
        assert time.monotonic() - t0 < 3.0
        session.send(frame_message(1, 0.0, points))  # a session outlives the handshake timeout
        assert msgpack.unpackb(session.recv(timeout=TIMEOUT))["t"] == "estimate"


FLOOD_SERVER = """
import resource, sys
import mojofer
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
server = mojofer.serve(port=0, keys=[mojofer.Key("demo", "api-demo", "sock-demo", max_sessions=20)],
                       background=True, log=None)
print(server.port, flush=True)
sys.stdin.read()
server.stop()
"""


def test_a_flood_of_half_open_connections_does_not_deny_others(points):
    """A server whose process may open 1,024 files; one client holds 1,100
    connections that never send a byte; then 10 clients from another
    address each open a session and get an estimate, with the default caps."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1500:
        assert hard >= 1500, f"the test needs 1,500 open files, the hard limit is {hard}"
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    proc = subprocess.Popen([sys.executable, "-c", FLOOD_SERVER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    flood = []
    try:
        port = int(proc.stdout.readline())
        for _ in range(1100):
            flood.append(raw_connect(port))
        served = 0
        for i in range(10):
            try:
                with ws(f"ws://127.0.0.1:{port}/", open_timeout=3.0,
                        source_address=("127.0.0.2", 0)) as conn:
                    conn.send(frame_message(1, 0.0, points))
                    served += msgpack.unpackb(conn.recv(timeout=3.0))["t"] == "estimate"
            except (OSError, TimeoutError, ConnectionClosed):
                pass
        assert served == 10, f"{served} of 10 served under the flood"
        answered = []
        for sock in flood:
            sock.settimeout(0.05)
            try:
                answered.append(sock.recv(64))
            except (socket.timeout, ConnectionResetError):
                pass
        # all but the per-address cap's 64 were refused at once
        assert sum(a.startswith(b"HTTP/1.1 503 ") for a in answered) == 1100 - 64
    finally:
        for sock in flood:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        proc.stdin.close()
        proc.wait(TIMEOUT)


# ---- privacy ------------------------------------------------------------------------


def test_the_client_sends_keypoint_frames_only(points):
    """A stand-in server captures every message our client sends, and the
    headers of its upgrade: only the keys and keypoint frames leave."""
    from websockets.sync.server import serve as ws_serve

    captured, headers = [], []

    def handler(conn):
        headers.append(dict(conn.request.headers))
        for message in conn:
            captured.append(message)
            seq = msgpack.unpackb(message)["seq"]
            conn.send(msgpack.packb({"t": "error", "seq": seq, "code": 6, "reason": "capture only"}))

    with ws_serve(handler, "127.0.0.1", 0, subprotocols=["mojofer.v1"]) as capture:
        threading.Thread(target=capture.serve_forever, daemon=True).start()
        port = capture.socket.getsockname()[1]
        with CloudClient(f"ws://127.0.0.1:{port}/", "api-x", "sock-x") as client:
            for t, faces in frames(points, 20):
                client.send(t, faces)
            client.send(1.0, [(1, points, (5.0, -3.0, 1.0)), (2, points + 50, None)])
            assert client.flush(TIMEOUT) == 0
        capture.shutdown()
    assert len(captured) == 21
    for message in captured:
        assert isinstance(message, bytes)
        m = msgpack.unpackb(message)
        assert set(m) == {"t", "seq", "ts", "faces"} and m["t"] == "frame"
        for face in m["faces"]:
            assert set(face) <= {"id", "lm", "pose"}
            assert isinstance(face["lm"], bytes) and len(face["lm"]) == 68 * 2 * 4
    last = msgpack.unpackb(captured[-1])["faces"]
    assert np.array_equal(np.frombuffer(last[1]["lm"], "<f4").reshape(68, 2), points + 50)
    assert last[0]["pose"] == [5.0, -3.0, 1.0]
    sent = {k.lower(): v for k, v in headers[0].items()}
    assert sent["x-api-key"] == "api-x" and sent["x-socket-key"] == "sock-x"
    assert set(sent) <= {"host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
                         "sec-websocket-protocol", "sec-websocket-extensions", "origin", "pragma",
                         "cache-control", "x-api-key", "x-socket-key", "user-agent"}


def test_logs_carry_no_keypoints(server, points, logs):
    with CloudClient(server.url, KEY.api_key, KEY.socket_key) as client:
        for t, faces in frames(points, 5):
            client.send(t, faces)
        client.flush(TIMEOUT)
    server.stop()
    fields = {"event", "key_id", "peer", "session", "code", "reason", "frames", "errors", "seconds",
              "thread"}
    assert logs and all(set(e) == fields for e in logs)
    assert not any(KEY.api_key in str(e) or KEY.socket_key in str(e) for e in logs)


# ---- configuration and CLI ----------------------------------------------------------


def test_config_file_and_cli(tmp_path, points):
    (tmp_path / "keys.toml").write_text(textwrap.dedent("""
        [[keys]]
        id = "app"
        api_key = "api-app"
        socket_key = "sock-app"
        max_sessions = 1
        max_fps = 60
        max_session_seconds = 600
    """))
    (tmp_path / "server.toml").write_text('host = "127.0.0.1"\nport = 0\nidle_timeout = 5\n'
                                          'keys_file = "keys.toml"\n')
    options = load_config(tmp_path / "server.toml")
    assert options["keys"] == [Key("app", "api-app", "sock-app", 1, 60, 600)]
    proc = subprocess.Popen([sys.executable, "-m", "mojofer", "serve", "--config",
                             str(tmp_path / "server.toml")], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("mojofer: serving on ws://127.0.0.1:"), line
        url = line.split()[3]
        with ws(url, "api-app", "sock-app") as conn:
            conn.send(frame_message(1, 0.0, points))
            assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(TIMEOUT) == 0
    finally:
        proc.kill()
        proc.wait()
    (tmp_path / "bad.toml").write_text('port = 0\ncolour = "blue"\n')
    with pytest.raises(ValueError, match="colour"):
        load_config(tmp_path / "bad.toml")


def test_plain_http_is_answered_not_left_hanging(server):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.url.replace("ws://", "http://"), timeout=TIMEOUT)
    assert refused.value.code == 400


def test_our_client_waits_for_a_session_slot(points):
    """Over the plan's session limit our client is refused (4002) and tries
    again with backoff; when the slot frees, its frames are answered."""
    one = Key("one", "a", "s", max_sessions=1)
    with serve(port=0, keys=[one], background=True, log=None) as server, ws(server, "a", "s") as holder:
        with CloudClient(server.url, "a", "s", backoff_min=0.02, backoff_max=0.1) as client:
            client.send(0.0, [(1, points, None)])
            assert client.flush(0.5) == 1 and client.state["last_close"] == 4002
            holder.close()
            assert client.flush(TIMEOUT) == 0
            (r,) = client.results()
            assert r.ok and r.seq == 1


# ---- several service threads -------------------------------------------------------


@contextmanager
def open_at_once(server, n, key):
    """n third-party sessions opened at the same time, from as many threads."""
    with ThreadPoolExecutor(n) as pool, ExitStack() as stack:
        conns = list(pool.map(lambda _: ws(server, key.api_key, key.socket_key), range(n)))
        yield [stack.enter_context(c) for c in conns]


def served(conn, points):
    try:
        conn.send(frame_message(1, 0.0, points))
        return msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"
    except ConnectionClosed:
        return False


def test_sessions_are_served_by_every_thread_and_stop_closes_them_all(points):
    key = Key("many", "api-many", "sock-many", max_sessions=64, max_fps=1000)
    logs = []
    with serve(port=0, keys=[key], background=True, log=logs.append, threads=4) as server:
        with open_at_once(server, 24, key) as conns:
            assert all(served(c, points) for c in conns)
            local = mojofer.Estimator()
            local.update(0.0, [(1, points, None)])  # what served() sent
            for seq, (t, faces) in enumerate(frames(points, 5), start=1):  # the same estimates
                conns[-1].send(frame_message(seq + 1, t, faces[0][1]))
                (face,) = msgpack.unpackb(conns[-1].recv(timeout=TIMEOUT))["faces"]
                (expected,), _ = local.update(t, faces)
                assert np.allclose(face["emotions"], list(expected.emotions.values()), atol=1e-6)
            server.stop()
            assert all(close_code(c)[0] == 1001 for c in conns)
    starts = [e["thread"] for e in logs if e["event"] == "session_start"]
    assert len(starts) == 24 and set(starts) <= {0, 1, 2, 3}
    assert len(set(starts)) >= 2, f"sessions on one thread only: {starts}"
    assert sorted(e["session"] for e in logs if e["event"] == "session_start") == list(range(1, 25))
    assert sum(e["event"] == "session_end" for e in logs) == 24


def test_a_keys_session_limit_holds_across_threads_exactly(points):
    key = Key("three", "api-three", "sock-three", max_sessions=3, max_fps=1000)
    logs = []
    with serve(port=0, keys=[key], background=True, log=logs.append, threads=4) as server:
        with open_at_once(server, 12, key) as conns:
            admitted = [c for c in conns if served(c, points)]
            assert len(admitted) == 3
            assert all(close_code(c) == (4002, "session limit of this key reached")
                       for c in conns if c not in admitted)
    assert sum(e["code"] == 4002 for e in logs if e["event"] == "refused") == 9


def test_connection_caps_hold_across_threads(points):
    with serve(port=0, keys=[KEY], background=True, log=None, threads=4, max_connections=6,
               max_connections_per_address=4, handshake_timeout=30) as server:
        with ThreadPoolExecutor(10) as pool:
            socks = list(pool.map(lambda _: raw_connect(server.port), range(10)))
        time.sleep(0.3)
        for s in socks:
            s.settimeout(0.5)
        answers = []
        for s in socks:
            try:
                answers.append(refused_with_503(s))
            except socket.timeout:
                answers.append(False)  # held open: under the caps
        assert answers.count(True) == 6, "4 per address from 127.0.0.1, 6 refused"
        others = [raw_connect(server.port, f"127.0.0.{i}") for i in (2, 3, 4)]
        time.sleep(0.3)
        for s in others:
            s.settimeout(0.5)
        kept = []
        for s in others:
            try:
                kept.append(not refused_with_503(s))
            except socket.timeout:
                kept.append(True)
        assert kept.count(True) == 2, "2 more from other addresses fill max_connections (6)"
        for s in socks + others:
            s.close()
        time.sleep(0.3)
        with ws(server) as conn:  # the counts of every thread went down
            assert served(conn, points)


@pytest.mark.parametrize("threads, message", [
    (0, "threads must be within 1..64"), (1.5, "threads must be a \\(32-bit\\) integer"),
    (65, "threads must be within 1..64")])
def test_threads_are_checked(threads, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Server("127.0.0.1", 0, [KEY], threads=threads)


def test_threads_in_the_config_file(tmp_path):
    (tmp_path / "server.toml").write_text(textwrap.dedent("""
        port = 0
        threads = 2
        baseline = 10
        [[keys]]
        id = "a"
        api_key = "k"
        socket_key = "s"
    """))
    options = load_config(tmp_path / "server.toml")
    assert options["threads"] == 2 and options["baseline"] == 10
    with serve(background=True, log=None, **options) as server:
        assert server.port > 0
