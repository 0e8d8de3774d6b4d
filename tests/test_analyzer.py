"""Analyzer: stable face ids, lost faces and their grace period, timestamps,
streaming, and the whole pipeline on a real clip."""
import csv

import numpy as np
import pytest

import mojofer
from scenes import canvas, head  # noqa: F401 (head is a fixture)


@pytest.fixture
def analyzer(detector, landmarker):
    return mojofer.Analyzer(detector=detector, landmarker=landmarker, detect_every=5)


def test_one_face_full_result(analyzer, head):
    r = analyzer.process(canvas(head, (300, 100)), 0.0)
    assert r.timestamp == 0.0 and len(r.faces) == 1
    face = r.faces[0]
    assert face.id == 0 and face.visible
    assert face.landmarks.shape == (68, 2) and face.quality < 0.25
    assert abs(face.pose.yaw) < 15 and abs(face.pose.pitch) < 15
    assert face.top_emotion == "happiness" and face.amusement > 0.5
    assert sum(face.emotions.values()) == pytest.approx(1, abs=1e-5)
    assert set(face.action_units) == set(mojofer.ACTION_UNITS)
    assert 0.9 <= face.attention <= 1  # a frontal face looks at the camera
    assert [(e.kind, e.from_state, e.to_state) for e in r.events][0] == ("face", "absent", "visible")


def test_two_faces_crossing_paths_keep_their_ids(analyzer, head):
    """A moves right along the top, B left along the bottom; they pass each
    other half way, their boxes side by side in x."""
    first = None
    for i in range(31):
        a, b = (20 + 20 * i, 10), (620 - 20 * i, 280)
        r = analyzer.process(canvas(head, a, b, size=(480, 820)), i / 30)
        assert len([f for f in r.faces if f.visible]) == 2, f"frame {i}"
        by_x = {f.id: f.box.y for f in r.faces}
        if first is None:
            first = by_x
        # the face at the top is always the same id
        top = min(by_x, key=by_x.get)
        assert top == min(first, key=first.get), f"ids swapped at frame {i}"
        assert set(by_x) == set(first)


def test_lost_face_keeps_id_within_grace_then_is_retired(detector, landmarker, head):
    an = mojofer.Analyzer(detector=detector, landmarker=landmarker, grace=2.0, smoothing=0)
    blank = canvas(head)
    face_frame = canvas(head, (300, 100))
    t = 0.0
    for _ in range(10):  # engaged after a second of looking at the camera
        r = an.process(face_frame, t)
        t += 0.2
    assert r.faces[0].engagement == "engaged" and r.faces[0].status == "ready"
    r = an.process(blank, t)  # gone
    assert r.faces[0].visible is False and r.faces[0].id == 0
    assert ("face", "visible", "lost") in [(e.kind, e.from_state, e.to_state) for e in r.events]
    t += 1.0
    r = an.process(blank, t)
    assert r.faces[0].status == "in_short_interruption" and r.faces[0].attention < 0.5
    t += 0.5
    r = an.process(face_frame, t)  # back within the 2 s grace: same id
    assert [f.id for f in r.faces] == [0] and r.faces[0].visible
    assert ("face", "lost", "visible") in [(e.kind, e.from_state, e.to_state) for e in r.events]
    t += 0.1
    last = list(an.process(blank, t).events)
    for k in range(1, 100):
        r = an.process(blank, t + 0.1 * k)
        last += r.events
    # its grace ends at t + 2, but it is retired only once its cues have
    # ended the interruption in idle (8 s after disengaging began), at once
    assert [(e.kind, e.from_state, e.to_state) for e in last] == [
        ("face", "visible", "lost"),
        ("engagement", "engaged", "disengaging"), ("status", "ready", "in_short_interruption"),
        ("status", "in_short_interruption", "in_long_interruption"),
        ("engagement", "disengaging", "idle"), ("status", "in_long_interruption", "idle"),
        ("face", "lost", "retired")]
    assert {e.face_id for e in last} == {0}
    lost, disengaged, short, long, idle, idle_status, retired = [e.timestamp for e in last]
    assert lost == t and disengaged == short and long == pytest.approx(disengaged + 3.0)
    assert idle == idle_status == retired == pytest.approx(disengaged + 8.0)
    assert retired > t + 2.0
    assert r.faces == []
    r = an.process(face_frame, t + 12)  # a new id after retirement
    assert [f.id for f in r.faces] == [1]


def test_timestamps_must_not_decrease(analyzer, head):
    frame = canvas(head, (300, 100))
    analyzer.process(frame, 1.0)
    analyzer.process(frame, 1.0)  # equal is fine
    with pytest.raises(ValueError, match="before the previous"):
        analyzer.process(frame, 0.5)
    with pytest.raises(ValueError, match="finite"):
        analyzer.process(frame, float("nan"))
    with pytest.raises(TypeError, match="timestamp"):
        analyzer.process(frame, "soon")
    analyzer.reset()
    assert analyzer.process(frame, 0.0).faces[0].id == 0  # reset forgets faces and time


def test_stream_timestamps_and_fps(analyzer, head):
    frames = [canvas(head, (300 + 2 * i, 100)) for i in range(5)]
    results = list(analyzer.stream(frames, fps=10))
    assert [r.timestamp for r in results] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    analyzer.reset()
    results = list(analyzer.stream(frames, timestamps=[0, 0.5, 0.5, 1.25, 2]))
    assert [r.timestamp for r in results] == [0, 0.5, 0.5, 1.25, 2]
    assert all(len(r.faces) == 1 and r.faces[0].id == 0 for r in results)
    analyzer.reset()
    with pytest.raises(ValueError, match="ran out"):
        list(analyzer.stream(frames, timestamps=[0, 1]))
    with pytest.raises(ValueError, match="not both"):
        list(analyzer.stream(frames, fps=10, timestamps=[0]))
    with pytest.raises(ValueError, match="fps"):
        list(analyzer.stream(frames, fps=0))


def test_bad_parameters():
    with pytest.raises(ValueError, match="grace"):
        mojofer.Analyzer(grace=-1)
    with pytest.raises(ValueError, match="smoothing"):
        mojofer.Analyzer(smoothing=float("nan"))


def test_smoothing_is_timestamp_based(data_root, detector, landmarker):
    """A performer switches from a smile to a calm face: the smoothed
    happiness is the exponential average of the unsmoothed values with
    weights set by the time between frames, however many frames there are
    (no person baseline, which would change the unsmoothed values over time)."""
    from PIL import Image

    folder = data_root / "expressions" / "images"
    smile, calm = (np.asarray(Image.open(folder / name).convert("RGB"))
                   for name in ("taiwanese_0111b01.jpg", "taiwanese_0101a02.jpg"))
    tau, dt = 0.5, 0.4
    for steps in (1, 4, 12):
        frames = [smile] + [calm] * steps
        stamps = [0.0] + [dt * k / steps for k in range(1, steps + 1)]

        def happiness(smoothing):
            an = mojofer.Analyzer(detector=detector, landmarker=landmarker, smoothing=smoothing,
                                  baseline=None)
            return [r.faces[0].emotions["happiness"] for r in an.stream(frames, timestamps=stamps)]

        raw, smoothed = happiness(0), happiness(tau)
        assert raw[0] - raw[-1] > 0.3  # the switch shows unsmoothed
        expected = raw[0]
        for k in range(1, steps + 1):
            expected += (1 - np.exp(-(stamps[k] - stamps[k - 1]) / tau)) * (raw[k] - expected)
        assert smoothed[-1] == pytest.approx(expected, abs=1e-5)
        # the smile still shows, as much as the elapsed time (not the frame count) says
        assert smoothed[-1] - raw[-1] == pytest.approx(
            np.exp(-dt / tau) * (raw[0] - raw[-1]), abs=0.1)


def test_real_clip_end_to_end(data_root, detector, landmarker):
    """The shared clip: the performer, tracked for about 4 s, engages and is
    interrupted when the shot cuts away."""
    import cv2  # opencv-python-headless, in the test extra: decodes the clip
    folder = data_root / "video"
    with open(folder / "hamilton_short.frames.csv", newline="") as f:
        stamps = [float(row["time_s"]) for row in csv.DictReader(f)]
    capture = cv2.VideoCapture(str(folder / "hamilton_short.mp4"))

    def frames():
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame

    an = mojofer.Analyzer(detector=detector, landmarker=landmarker)
    results = list(an.stream(frames(), timestamps=stamps, bgr=True))
    capture.release()
    assert len(results) == len(stamps) == 275
    statuses = {(e.face_id, e.to_state) for r in results for e in r.events if e.kind == "status"}
    engaged = {fid for fid, s in statuses if s == "ready"}
    interrupted = {fid for fid, s in statuses if s == "in_short_interruption"}
    assert engaged & interrupted, f"no face went ready and then into an interruption: {statuses}"
    for r in results:
        for face in r.faces:
            assert 0 <= face.attention <= 1
            assert sum(face.emotions.values()) == pytest.approx(1, abs=1e-4)


def test_cloud_analyzer_gives_the_local_results(detector, landmarker, head):
    """Analyzer(cloud=client): the estimate side runs on a real server over
    loopback; every field equals the local Analyzer's on the same frames."""
    from mojofer.server import Key, serve

    key = Key("test", "api-key", "socket-key", max_fps=1000)
    frames = ([canvas(head, (300 + 3 * i, 100)) for i in range(12)]
              + [canvas(head)] * 4 + [canvas(head, (336, 100))] * 3)
    stamps = [i / 15 for i in range(len(frames))]
    local = list(mojofer.Analyzer(detector=detector, landmarker=landmarker)
                 .stream(frames, timestamps=stamps))
    with serve(port=0, keys=[key], background=True, log=None) as server, \
            mojofer.CloudClient(server.url, key.api_key, key.socket_key) as client:
        remote = list(mojofer.Analyzer(detector=detector, landmarker=landmarker, cloud=client)
                      .stream(frames, timestamps=stamps))
    assert len(remote) == len(local)
    assert any(not f.visible for r in local for f in r.faces)  # the lost-face path is covered
    for a, b in zip(local, remote):
        assert [(f.id, f.visible, f.engagement, f.status) for f in a.faces] == \
               [(f.id, f.visible, f.engagement, f.status) for f in b.faces]
        for fa, fb in zip(a.faces, b.faces):
            np.testing.assert_array_equal(fa.landmarks, fb.landmarks)
            assert fa.pose.as_tuple() == pytest.approx(fb.pose.as_tuple(), abs=1e-4)
            assert list(fa.emotions.values()) == pytest.approx(list(fb.emotions.values()), abs=1e-5)
            assert list(fa.action_units.values()) == pytest.approx(list(fb.action_units.values()), abs=1e-5)
            assert (fa.attention, fa.confusion) == pytest.approx((fb.attention, fb.confusion), abs=1e-5)
        assert [(e.face_id, e.kind, e.from_state, e.to_state) for e in a.events] == \
               [(e.face_id, e.kind, e.from_state, e.to_state) for e in b.events]
        assert [e.timestamp for e in a.events] == pytest.approx([e.timestamp for e in b.events], abs=1e-9)


def test_cloud_refusal_and_timeout_are_clear(detector, landmarker, head):
    from mojofer.server import Key, serve

    key = Key("test", "api-key", "socket-key", max_fps=1000)
    frame = canvas(head, (300, 100))
    with serve(port=0, keys=[key], background=True, log=None) as server, \
            mojofer.CloudClient(server.url, key.api_key, "wrong") as client:
        an = mojofer.Analyzer(detector=detector, landmarker=landmarker, cloud=client)
        with pytest.raises(ConnectionError, match="4001"):
            an.process(frame, 0.0)
    with pytest.raises(ValueError, match="cloud_timeout"):
        mojofer.Analyzer(cloud_timeout=0)


def test_cloud_session_shared_with_other_faces_is_refused_clearly(detector, landmarker, head):
    """A client whose session already carries faces the Analyzer did not send
    (keypoints sent by hand on the same client): a clear error, not a KeyError."""
    from mojofer.server import Key, serve

    key = Key("test", "api-key", "socket-key", max_fps=1000)
    frame = canvas(head, (300, 100))
    points = mojofer.find_landmarks(frame)[0].landmarks
    with serve(port=0, keys=[key], background=True, log=None) as server, \
            mojofer.CloudClient(server.url, key.api_key, key.socket_key) as client:
        client.send(0.0, [(7, points, None)])
        assert client.flush() == 0 and next(client.results()).ok
        an = mojofer.Analyzer(detector=detector, landmarker=landmarker, cloud=client)
        with pytest.raises(ConnectionError, match=r"face ids this Analyzer did not send \(\[7\]\)"):
            an.process(frame, 0.1)
