"""Every refusal names its one cause: the server's start (Python API and
`mojofer serve`), the Estimator's update, and the wire's error reason for
a frame the estimator refuses (the core's problem sentence carried
through)."""
import socket
import struct
import subprocess
import sys

import msgpack
import numpy as np
import pytest
from websockets.sync.client import connect

import mojofer
from mojofer.server import Key, Server, serve

KEY = Key("k", "api-k", "sock-k", max_fps=1000)
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def points(astronaut):
    return mojofer.find_landmarks(astronaut)[0].landmarks.astype(np.float32)


@pytest.fixture(scope="module")
def tls_files(certificate, tmp_path_factory):
    """The self-signed certificate and its key, and files that cannot serve."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    cert_path, key_path = certificate
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    other = ec.generate_private_key(ec.SECP256R1())
    folder = tmp_path_factory.mktemp("tls")
    pkcs8 = dict(encoding=serialization.Encoding.PEM, format=serialization.PrivateFormat.PKCS8)
    files = {"cert": cert_path.read_bytes(),
             "key": key_path.read_bytes(),
             "other_key": other.private_bytes(encryption_algorithm=serialization.NoEncryption(), **pkcs8),
             "locked_key": key.private_bytes(
                 encryption_algorithm=serialization.BestAvailableEncryption(b"secret"), **pkcs8),
             "text": b"not a key\n"}
    lines = files["cert"].splitlines(keepends=True)
    files["damaged_cert"] = b"".join(lines[:2] + lines[-1:])
    paths = {}
    for name, data in files.items():
        paths[name] = folder / f"{name}.pem"
        paths[name].write_bytes(data)
    paths["missing"] = folder / "missing.pem"
    paths["folder"] = folder
    return paths


def busy_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


# ---- the server's start: one cause each -------------------------------------------


def start_refusals(tls_files, port_in_use):
    """(settings, exception type, message) per cause."""
    f = tls_files
    return [
        (dict(tls_cert=f["missing"], tls_key=f["key"]), OSError,
         f"cannot serve: tls_cert {f['missing']}: no such file"),
        (dict(tls_cert=f["cert"], tls_key=f["missing"]), OSError,
         f"cannot serve: tls_key {f['missing']}: no such file"),
        (dict(tls_cert=f["cert"], tls_key=f["text"]), OSError,
         f"cannot serve: tls_key {f['text']}: no PEM private key in it (-----BEGIN ... PRIVATE KEY-----), "
         "or a damaged one"),
        (dict(tls_cert=f["cert"], tls_key=f["folder"]), OSError,
         f"cannot serve: tls_key {f['folder']}: a folder, not a file"),
        (dict(tls_cert=f["cert"], tls_key=f["locked_key"]), OSError,
         f"cannot serve: tls_key {f['locked_key']}: encrypted, and the server cannot ask for its passphrase"),
        (dict(tls_cert=f["key"], tls_key=f["cert"]), OSError,
         f"cannot serve: tls_cert {f['key']}: no PEM certificate in it (-----BEGIN CERTIFICATE-----), "
         "or a damaged one"),
        (dict(tls_cert=f["damaged_cert"], tls_key=f["key"]), OSError,
         f"cannot serve: tls_cert {f['damaged_cert']}: no PEM certificate in it (-----BEGIN CERTIFICATE-----), "
         "or a damaged one"),
        (dict(tls_cert=f["cert"], tls_key=f["other_key"]), OSError,
         f"cannot serve: tls_key {f['other_key']}: not the private key of tls_cert"),
        (dict(port=port_in_use), OSError,
         f"cannot serve on 127.0.0.1 port {port_in_use}: the port is in use"),
        (dict(host="0.0.0.0"), ValueError,
         "invalid server configuration: plain ws:// serves loopback only (127.x.x.x, ::1, localhost): "
         "give tls_cert and tls_key, or allow_remote_plain"),
        (dict(tls_cert=f["cert"]), ValueError,
         "invalid server configuration: tls_cert and tls_key go together"),
    ]


def test_each_start_refusal_names_its_cause(tls_files):
    with busy_port() as s:
        for settings, error, message in start_refusals(tls_files, s.getsockname()[1]):
            settings = dict(settings)
            with pytest.raises(error) as refused:
                Server(settings.pop("host", "127.0.0.1"), settings.pop("port", 0), [KEY], **settings)
            assert str(refused.value) == message, settings
    # the same files in their right places serve
    Server("127.0.0.1", 0, [KEY], tls_cert=tls_files["cert"], tls_key=tls_files["key"]).stop()


@pytest.mark.parametrize("field, value, rule", [
    ("max_sessions", 0, "a key's max_sessions must be at least 1"),
    ("max_fps", 0.0, "a key's max_fps must be a positive number of frames per second"),
    ("max_session_seconds", -1.0, "a key's max_session_seconds must be a positive number of seconds"),
    ("catch_up_seconds", -1.0, "a key's catch_up_seconds must be a finite number of seconds >= 0"),
    ("catch_up_seconds", float("inf"), "a key's catch_up_seconds must be a finite number of seconds >= 0"),
    ("catch_up_seconds", float("nan"), "a key's catch_up_seconds must be a finite number of seconds >= 0"),
    ("socket_key", "", "a key's api_key and socket_key must be non-empty and under 256 bytes"),
])
def test_each_key_refusal_names_its_rule(field, value, rule):
    key = Key(**{**KEY.__dict__, field: value})
    with pytest.raises(ValueError) as refused:
        Server("127.0.0.1", 0, [key])
    assert str(refused.value) == f"invalid server configuration: {rule}"


def test_serve_command_names_the_cause_and_exits_2(tmp_path, tls_files):
    with busy_port() as s:
        port = s.getsockname()[1]
        cases = {
            "missing certificate": (dict(tls_cert=tls_files["missing"], tls_key=tls_files["key"]),
                                    f"cannot serve: tls_cert {tls_files['missing']}: no such file"),
            "unreadable key": (dict(tls_cert=tls_files["cert"], tls_key=tls_files["text"]),
                               f"cannot serve: tls_key {tls_files['text']}: no PEM private key in it"),
            "port in use": (dict(port=port), f"cannot serve on 127.0.0.1 port {port}: the port is in use"),
            "non-local plain": (dict(host="0.0.0.0"), "invalid server configuration: plain ws:// serves "
                                                      "loopback only"),
        }
        procs = {}
        for name, (settings, _) in cases.items():
            settings = {"host": "127.0.0.1", "port": 0, **settings}
            config = tmp_path / f"{name.replace(' ', '_')}.toml"
            config.write_text("".join(f"{k} = {v if isinstance(v, int) else repr(str(v))}\n"
                                      for k, v in settings.items())
                              + '[[keys]]\nid = "k"\napi_key = "api-k"\nsocket_key = "sock-k"\n')
            procs[name] = subprocess.Popen([sys.executable, "-m", "mojofer", "serve", "--config", str(config)],
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 2 and not out, (name, out, err)
            assert err.startswith(f"mojofer: {cases[name][1]}"), (name, err)


# ---- the estimator: the API and the wire ------------------------------------------------


def estimator_refusals(points):
    """(frames before, the refused frame's ts and faces, the problem)."""
    nan = points.copy()
    nan[30, 1] = np.nan
    far = points.copy()
    far[3, 0] = 2e6
    line = np.stack([np.linspace(0, 100, 68), np.linspace(0, 50, 68)], axis=1).astype(np.float32)
    eyes = points.copy()
    eyes[45] = eyes[36]
    return [
        ([], 0.0, [(1, points, None), (2, nan, None)], "face 1 (id 2): landmarks not finite"),
        ([], 0.0, [(1, far, None)], "face 0 (id 1): landmarks beyond +-1e6"),
        ([], 0.0, [(1, line, None)], "face 0 (id 1): landmarks on one line, not spread like a face"),
        ([], 0.0, [(1, eyes, None)], "face 0 (id 1): outer eye corners (landmarks 36 and 45) at one point"),
        ([], 0.0, [(1, points, (0.0, 200.0, 0.0))], "face 0 (id 1): pose beyond +-180 degrees or not finite"),
        ([(1.0, [(1, points, None)])], 0.5, [(1, points, None)],
         "timestamp 0.5 is before the previous 1: timestamps must not decrease"),
        ([], 0.0, [(7, points, None), (7, points, None)], "face 1 (id 7): id given twice in one frame"),
    ]


def test_estimator_refusals_name_their_cause(points):
    """The core's sentence, word for word what the server replies (below)."""
    for before, t, faces, problem in estimator_refusals(points):
        est = mojofer.Estimator()
        for frame in before:
            est.update(*frame)
        with pytest.raises(ValueError) as refused:
            est.update(t, faces)
        assert str(refused.value) == problem


def frame_message(seq, ts, faces):
    packed = []
    for face_id, lm, pose in faces:
        face = {"id": face_id, "lm": struct.pack("<136f", *np.asarray(lm, np.float32).ravel())}
        if pose is not None:
            face["pose"] = list(pose)
        packed.append(face)
    return msgpack.packb({"t": "frame", "seq": seq, "ts": ts, "faces": packed})


def test_the_wire_reason_names_the_cause(points):
    cases = estimator_refusals(points)
    with serve(port=0, keys=[KEY], background=True, log=None) as server:
        for before, t, faces, problem in cases:
            with connect(server.url, subprotocols=["mojofer.v1"], open_timeout=TIMEOUT,
                         additional_headers={"X-Api-Key": KEY.api_key, "X-Socket-Key": KEY.socket_key}) as conn:
                seq = 0
                for frame in before:
                    seq += 1
                    conn.send(frame_message(seq, *frame))
                    assert msgpack.unpackb(conn.recv(timeout=TIMEOUT))["t"] == "estimate"
                conn.send(frame_message(seq + 1, t, faces))
                reply = msgpack.unpackb(conn.recv(timeout=TIMEOUT))
                assert (reply["t"], reply["seq"], reply["code"], reply["reason"]) == \
                    ("error", seq + 1, 4012, problem)


# ---- the pose estimator and the expression classifier: the landmark rule broken ----------


def test_pose_and_expression_refusals_name_the_rule(points):
    line = np.stack([np.linspace(0, 100, 68), np.linspace(0, 50, 68)], axis=1).astype(np.float32)
    far = points.copy()
    far[3, 0] = 2e6
    with pytest.raises(ValueError) as refused:
        mojofer.HeadPose().estimate(line)
    assert str(refused.value) == "points refused: landmarks on one line, not spread like a face"
    classifier = mojofer.ExpressionClassifier()
    with pytest.raises(ValueError) as refused:
        classifier.classify(far)
    assert str(refused.value) == "points refused: landmarks beyond +-1e6"
    with pytest.raises(ValueError) as refused:
        classifier.classify(points, neutral=np.zeros((68, 2), np.float32))
    assert str(refused.value) == "neutral refused: outer eye corners (landmarks 36 and 45) at one point"
    batch = np.stack([points] * 4)
    batch[2] = line
    with pytest.raises(ValueError) as refused:
        classifier.classify_many(batch)
    assert str(refused.value) == "points[2] refused: landmarks on one line, not spread like a face"
