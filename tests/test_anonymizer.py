"""Anonymizer: frames in, keypoint frames out (one id space, no pixels), and
the keypoint frame as the one type between it and an Estimator or a server."""
import dataclasses

import numpy as np
import pytest

import mojofer
from scenes import canvas, head  # noqa: F401 (head is a fixture)
from mojofer import wire


def clip(head):
    """A face that moves, leaves for 4 frames and comes back: the lost-face path."""
    frames = ([canvas(head, (300 + 3 * i, 100)) for i in range(12)]
              + [canvas(head)] * 4 + [canvas(head, (336, 100))] * 3)
    return frames, [i / 15 for i in range(len(frames))]


def ids(keypoint_frame):
    return [f.id for f in keypoint_frame.faces]


def estimate_fields(face):
    """A FaceResult's Estimate part (what the estimate side gives)."""
    return mojofer.Estimate(**{f.name: getattr(face, f.name) for f in dataclasses.fields(mojofer.Estimate)})


def test_keypoint_frame_holds_only_keypoints(detector, landmarker, astronaut):
    anon = mojofer.Anonymizer(detector=detector, landmarker=landmarker)
    kf = anon.process(astronaut, 0.5)
    assert isinstance(kf, mojofer.KeypointFrame) and kf.timestamp == 0.5
    assert [f.name for f in dataclasses.fields(kf)] == ["timestamp", "faces"]
    assert len(kf.faces) == 1
    face = kf.faces[0]
    assert isinstance(face, mojofer.KeypointFace)
    assert face.id == 0 and face.pose is None and 0 < face.quality < 0.25
    assert face.landmarks.dtype == np.float32 and face.landmarks.shape == (68, 2)
    np.testing.assert_array_equal(face.landmarks, mojofer.find_landmarks(astronaut)[0].landmarks)
    assert not np.shares_memory(face.landmarks, astronaut)
    # no pixels anywhere: the one array is the 68 points
    arrays = [getattr(face, f.name) for f in dataclasses.fields(face)
              if isinstance(getattr(face, f.name), np.ndarray)]
    assert len(arrays) == 1 and arrays[0].nbytes == 68 * 2 * 4
    box = face.box
    assert isinstance(box, mojofer.Box) and 100 < box.x + box.w / 2 < 400


def test_ids_stable_lost_face_reclaimed_within_grace_new_face_new_id(detector, landmarker, head):
    anon = mojofer.Anonymizer(detector=detector, landmarker=landmarker, grace=2.0, detect_every=1)
    for i in range(6):
        assert ids(anon.process(canvas(head, (300 + 3 * i, 100)), i / 10)) == [0], f"frame {i}"
    kf = anon.process(canvas(head), 0.6)  # gone: no keypoints, the id kept
    assert kf.faces == () and anon.lost() == [0]
    kf = anon.process(canvas(head, (320, 100)), 2.5)  # back after 1.9 s, within the grace
    assert ids(kf) == [0] and anon.lost() == []
    anon.process(canvas(head), 2.6)
    kf = anon.process(canvas(head, (320, 100)), 4.75)  # back after 2.15 s: the grace is over
    assert ids(kf) == [1] and anon.lost() == []
    kf = anon.process(canvas(head, (320, 100), (700, 250)), 4.8)  # a newcomer: a new id
    assert ids(kf) == [1, 2]
    anon.reset()
    assert ids(anon.process(canvas(head, (320, 100)), 0.0)) == [0]


def test_a_face_back_elsewhere_is_a_new_face(detector, landmarker, head):
    anon = mojofer.Anonymizer(detector=detector, landmarker=landmarker, detect_every=1)
    anon.process(canvas(head, (20, 20)), 0.0)
    anon.process(canvas(head), 0.1)
    assert ids(anon.process(canvas(head, (700, 250)), 0.2)) == [1]
    assert anon.lost() == [0]


def test_max_faces_retires_the_face_lost_longest_ago(detector, landmarker, head):
    anon = mojofer.Anonymizer(detector=detector, landmarker=landmarker, detect_every=1, max_faces=2)
    anon.process(canvas(head, (20, 20)), 0.0)
    anon.process(canvas(head), 0.1)
    anon.process(canvas(head, (700, 250)), 0.2)  # id 1; id 0 lost
    anon.process(canvas(head), 0.3)
    assert anon.lost() == [0, 1]
    assert ids(anon.process(canvas(head, (360, 150)), 0.4)) == [2]  # room made by retiring 0
    assert anon.lost() == [1]
    assert ids(anon.process(canvas(head, (360, 150), (700, 250)), 0.5)) == [2, 1]


def test_pose_option_gives_the_head_pose(detector, landmarker, head):
    kf = mojofer.Anonymizer(detector=detector, landmarker=landmarker, pose=True).process(
        canvas(head, (300, 100)), 0.0)
    assert kf.faces[0].pose == mojofer.head_pose(kf.faces[0].landmarks)


def test_bad_parameters_and_timestamps(detector, landmarker, head):
    with pytest.raises(ValueError, match="grace"):
        mojofer.Anonymizer(grace=-1)
    with pytest.raises(TypeError, match="max_faces"):
        mojofer.Anonymizer(max_faces=2.5)
    with pytest.raises(ValueError, match="max_faces"):
        mojofer.Anonymizer(max_faces=0)
    anon = mojofer.Anonymizer(detector=detector, landmarker=landmarker)
    frame = canvas(head, (300, 100))
    anon.process(frame, 1.0)
    with pytest.raises(ValueError, match="before the previous"):
        anon.process(frame, 0.5)
    with pytest.raises(TypeError, match="timestamp"):
        anon.process(frame, "soon")
    with pytest.raises(ValueError, match="ran out"):
        list(anon.stream([frame] * 2, timestamps=[2.0]))


def test_anonymizer_then_estimator_equals_analyzer(detector, landmarker, head):
    frames, stamps = clip(head)
    local = list(mojofer.Analyzer(detector=detector, landmarker=landmarker)
                 .stream(frames, timestamps=stamps))
    anon = mojofer.Anonymizer(detector=detector, landmarker=landmarker)
    est = mojofer.Estimator()
    lost_seen = False
    for kf, r in zip(anon.stream(frames, timestamps=stamps), local):
        estimates, events = est.update(kf)
        assert estimates == [estimate_fields(f) for f in r.faces]
        assert events == r.events
        visible = [f for f in r.faces if f.visible]
        assert [f.id for f in visible] == ids(kf)
        for face, result in zip(kf.faces, visible):
            np.testing.assert_array_equal(face.landmarks, result.landmarks)
            assert (face.box, face.quality) == (result.box, result.quality)
        lost_seen |= any(not f.visible for f in r.faces)
    assert lost_seen


def test_estimator_and_client_take_a_keypoint_frame_or_the_tuples(astronaut):
    points = mojofer.find_landmarks(astronaut)[0].landmarks
    kf = mojofer.KeypointFrame(0.0, (mojofer.KeypointFace(7, points),))
    a, b = mojofer.Estimator(), mojofer.Estimator()
    assert a.update(kf) == b.update(0.0, [(7, points, None)])
    with pytest.raises(TypeError, match="faces"):
        a.update(kf, [(7, points, None)])
    with pytest.raises(TypeError, match="faces"):
        a.update(1.0)


def test_keypoint_faces_compare_and_print_by_value(astronaut):
    points = mojofer.find_landmarks(astronaut)[0].landmarks
    a = mojofer.KeypointFrame(0.0, (mojofer.KeypointFace(1, points, quality=0.05),))
    assert a == mojofer.KeypointFrame(0.0, (mojofer.KeypointFace(1, points.copy(), quality=0.05),))
    assert a != mojofer.KeypointFrame(0.0, (mojofer.KeypointFace(1, points + 1, quality=0.05),))
    assert a != mojofer.KeypointFrame(0.0, (mojofer.KeypointFace(2, points, quality=0.05),))
    assert a == mojofer.KeypointFrame(0.0, [mojofer.KeypointFace(1, points, quality=0.05)])
    assert repr(a.faces[0]) == ("KeypointFace(id=1, landmarks=<float32 (68, 2)>, box=None, "
                                "quality=0.05, pose=None)")


def test_keypoint_frame_is_the_wire_frame(astronaut):
    points = mojofer.find_landmarks(astronaut)[0].landmarks
    kf = mojofer.KeypointFrame(0.25, (
        mojofer.KeypointFace(3, points, box=mojofer.Box(1, 2, 3, 4, 5), quality=0.05,
                             pose=mojofer.Pose(1.0, 2.0, 3.0)),
        mojofer.KeypointFace(4, points + 100)))
    message = wire.decode(wire.encode_frame(9, kf))
    assert message.seq == 9
    assert message.keypoints == mojofer.KeypointFrame(0.25, (  # box and quality stay home
        mojofer.KeypointFace(3, points, pose=mojofer.Pose(1.0, 2.0, 3.0)),
        mojofer.KeypointFace(4, points + 100)))
    assert wire.encode_frame(9, kf) == wire.encode_frame(9, 0.25, [(3, points, (1.0, 2.0, 3.0)),
                                                                   (4, points + 100, None)])


def test_anonymizer_then_cloud_client_equals_cloud_analyzer(detector, landmarker, head):
    """Only keypoint frames leave: the Anonymizer's output sent as is gives
    what Analyzer(cloud=) gives, over a real loopback server."""
    from mojofer.server import Key, serve

    key = Key("test", "api-key", "socket-key", max_fps=1000)
    frames, stamps = clip(head)
    with serve(port=0, keys=[key], background=True, log=None) as server:
        with mojofer.CloudClient(server.url, key.api_key, key.socket_key) as client:
            remote = list(mojofer.Analyzer(detector=detector, landmarker=landmarker, cloud=client)
                          .stream(frames, timestamps=stamps))
        anon = mojofer.Anonymizer(detector=detector, landmarker=landmarker, pose=True)
        with mojofer.CloudClient(server.url, key.api_key, key.socket_key) as client:
            sent = [(client.send(kf), kf) for kf in anon.stream(frames, timestamps=stamps)]
            assert client.flush() == 0
            answers = list(client.results())
    assert [r.seq for r in answers] == [seq for seq, _ in sent]
    assert all(r.ok for r in answers)
    for (_, kf), answer, r in zip(sent, answers, remote):
        assert answer.timestamp == kf.timestamp == r.timestamp
        assert answer.faces == [estimate_fields(f) for f in r.faces]
        assert answer.events == r.events
    assert any(not f.visible for r in remote for f in r.faces)
