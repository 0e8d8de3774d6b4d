"""One object, several threads: every binding type either serialises its
callers and hands each one its own outputs, or refuses the misuse with a
clear error; nothing crashes, hangs or mixes results up.

The stress tests give each thread its own face ids and poses and check that
every answer is the caller's. Misuse that used to crash or hang the process
(a client sent to after close, closed twice at once, a server started after
stop) runs in a subprocess with a timeout, so a crash fails one test instead
of the suite."""
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import mojofer
from mojofer import _core
from mojofer.server import Key, serve

CALLS = 1500  # per thread; the mix-up was seen in about 0.5-2 % of calls
TIMEOUT = 60


@pytest.fixture(scope="module")
def points(astronaut):
    return mojofer.find_landmarks(astronaut)[0].landmarks.astype(np.float32)


def hammer(work, threads=2):
    """Runs work(k) on `threads` threads at once; re-raises the first failure."""
    failures = []
    start = threading.Barrier(threads)

    def run(k):
        try:
            start.wait()
            work(k)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failures.append(exc)

    pool = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in pool), "a thread hung"
    if failures:
        raise failures[0]


def test_one_estimator_two_threads_each_gets_its_own_estimates(points):
    est = mojofer.Estimator()
    wrong = [[], []]

    def work(k):
        face_id, yaw = 10 + k, (20.0, -20.0)[k]
        for i in range(CALLS):
            # one timestamp for all: the threads' order does not matter to the clock
            estimates, _ = est.update(0.0, [(face_id, points + 3 * k, (yaw, 0.0, 0.0))])
            first = estimates[0]
            if first.id != face_id or not first.visible or abs(first.pose.yaw - yaw) > 1e-3:
                wrong[k].append((i, first.id, first.pose.yaw))

    hammer(work)
    assert wrong == [[], []], f"answers for the other thread's face: {len(wrong[0]) + len(wrong[1])}"


def test_one_estimator_many_faces_per_thread(points):
    """Each thread's faces come back first, in its order (the other thread's are lost ones)."""
    est = mojofer.Estimator(max_faces=8)
    wrong = []

    def work(k):
        ids = [100 * (k + 1) + j for j in range(3)]
        faces = [(i, points + 40 * j, (5.0 * j, 0.0, 0.0)) for j, i in enumerate(ids)]
        for _ in range(CALLS // 3):
            estimates, _ = est.update(0.0, faces)
            if [e.id for e in estimates[:3]] != ids or not all(e.visible for e in estimates[:3]):
                wrong.append([e.id for e in estimates])
            if any(e.visible for e in estimates[3:]):
                wrong.append([e.id for e in estimates])

    hammer(work)
    assert wrong == []


def test_one_pose_estimator_expression_classifier_cues_landmarker_two_threads(astronaut, points):
    """The types whose outputs were already the caller's: the audit's regression test."""
    pose = mojofer.HeadPose()
    classifier = mojofer.ExpressionClassifier()
    landmarker = mojofer.Landmarker()
    cues = mojofer.Cues()
    shifted = [points, points + np.float32(25.0)]
    expect_pose = [pose.estimate(p) for p in shifted]
    expect_expr = [classifier.classify_many(p[None])[0] for p in shifted]
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    frames = [astronaut, mirrored]
    fitted = [landmarker.fit(f, mojofer.detect_faces(f)[0])[0] for f in frames]
    wrong = []

    def work(k):
        for _ in range(200):
            if pose.estimate(shifted[k]) != expect_pose[k]:
                wrong.append(("pose", k))
            if not np.array_equal(classifier.classify_many(shifted[k][None])[0], expect_expr[k]):
                wrong.append(("expressions", k))
            state, _ = cues.update(0.0, None if k else (0.0, 0.0, 0.0))
            if state.raw_attention != (0.0 if k else 1.0):  # the face seen looks straight on
                wrong.append(("cues", k, state.raw_attention))
        for _ in range(20):
            got, _ = landmarker.track(frames[k], fitted[k])
            if abs(float(got[:, 0].mean()) - float(fitted[k][:, 0].mean())) > 20:
                wrong.append(("landmarks", k))

    hammer(work)
    assert wrong == []


def test_one_analyzer_two_threads_is_refused_clearly(astronaut):
    """An Analyzer follows one stream: a second thread inside it is refused
    with RuntimeError; every answer it gives is about the caller's frame."""
    an = mojofer.Analyzer()
    blank = np.zeros_like(astronaut)
    frames = [astronaut, blank]
    refused, answered, wrong = [0, 0], [0, 0], []

    def work(k):
        for _ in range(60):
            try:
                r = an.process(frames[k], 0.0)
            except RuntimeError as exc:
                assert "another thread" in str(exc)
                refused[k] += 1
                continue
            answered[k] += 1
            visible = [f for f in r.faces if f.visible]
            if len(visible) != (1 - k):
                wrong.append((k, [(f.id, f.visible) for f in r.faces]))

    hammer(work)
    assert wrong == []
    assert sum(refused) > 0, "two threads hammering one Analyzer were never refused"
    assert sum(answered) > 0


def test_one_face_tracker_two_threads_is_refused_clearly(astronaut):
    tracker = mojofer.FaceTracker()
    refused = []

    def work(k):
        for _ in range(60):
            try:
                faces = tracker.process(astronaut)
            except RuntimeError as exc:
                assert "FaceTracker is in use by another thread" in str(exc)
                refused.append(k)
                continue
            assert len(faces) == 1

    hammer(work)
    assert refused, "two threads hammering one FaceTracker were never refused"


def test_one_anonymizer_two_threads_is_refused_clearly(astronaut):
    anon = mojofer.Anonymizer()
    refused = []

    def work(k):
        for _ in range(60):
            try:
                kf = anon.process(astronaut, 0.0)
            except RuntimeError as exc:
                assert "Anonymizer is in use by another thread" in str(exc)
                refused.append(k)
                continue
            assert [f.id for f in kf.faces] == [0]

    hammer(work)
    assert refused, "two threads hammering one Anonymizer were never refused"


def test_analyzer_in_turns_from_two_threads_is_fine(astronaut):
    """Refusal is only for calls at the same time: handing an Analyzer over is allowed."""
    an = mojofer.Analyzer()
    results = []
    for k in range(2):
        t = threading.Thread(target=lambda: results.append(an.process(astronaut, float(len(results)))))
        t.start()
        t.join(TIMEOUT)
    assert [len(r.faces) for r in results] == [1, 1]
    assert results[0].faces[0].id == results[1].faces[0].id


def run_snippet(code: str) -> subprocess.CompletedProcess:
    """Runs code in a fresh interpreter: a crash or hang fails its test only."""
    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"hung for {TIMEOUT} s; its output: {exc.stderr!r}")


CLIENT_SETUP = """
    import threading
    import numpy as np
    import mojofer
    from mojofer import _core
    server = mojofer.serve(port=0, keys=[mojofer.Key("k", "api", "sock")], background=True, log=None)
    def client():
        return _core.Client(server.url, "api", "sock", 16, 0.05, 1.0, False, False)
    NONE = (np.zeros(0, np.int32), np.zeros((0, 68, 2), np.float32), np.zeros((0, 3), np.float32),
            np.zeros(0, bool))
"""


def test_client_send_after_close_is_refused():
    r = run_snippet(CLIENT_SETUP + """
    c = client()
    c.close()
    try:
        c.send(0.0, *NONE)
    except ValueError as exc:
        print("refused:", exc)
    c.close()
    server.stop()
    """)
    assert r.returncode == 0, f"crashed (rc {r.returncode}): {r.stderr[-2000:]}"
    assert "refused: send on a closed Client" in r.stdout


def test_client_closed_from_threads_at_once_while_sending():
    r = run_snippet(CLIENT_SETUP + """
    errors = []
    for _ in range(10):
        c = client()
        def send():
            for i in range(200):
                try:
                    c.send(float(i), *NONE)
                except ValueError:
                    return  # closed meanwhile: refused, as it should be
        pool = [threading.Thread(target=c.close) for _ in range(3)] + [threading.Thread(target=send)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        c.close()
        while (reply := c.receive(0)) is not None:
            if reply[0] == "error" and reply[2] not in (4100, 4101):  # queue full, closed
                errors.append(reply)
    server.stop()
    print("done", errors)
    """)
    assert r.returncode == 0, f"crashed or hung (rc {r.returncode}): {r.stderr[-2000:]}"
    assert "done []" in r.stdout


def test_server_start_after_stop_is_refused():
    r = run_snippet(CLIENT_SETUP + """
    server.stop()
    never_started = mojofer.Server(port=0, keys=[mojofer.Key("k", "api", "sock")], log=None)
    never_started.stop()
    try:
        never_started.start()
    except RuntimeError as exc:
        print("refused:", exc)
    """)
    assert r.returncode == 0, f"crashed (rc {r.returncode}): {r.stderr[-2000:]}"
    assert "refused: a Server runs once" in r.stdout


def test_server_stopped_from_threads_at_once():
    r = run_snippet(CLIENT_SETUP + """
    for _ in range(10):
        s = mojofer.serve(port=0, keys=[mojofer.Key("k", "api", "sock")], background=True, log=None)
        pool = [threading.Thread(target=s.stop) for _ in range(4)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    server.stop()
    print("done")
    """)
    assert r.returncode == 0, f"crashed or hung (rc {r.returncode}): {r.stderr[-2000:]}"
    assert "done" in r.stdout
