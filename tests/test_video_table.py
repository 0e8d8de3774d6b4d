"""mojofer.analyze_video: a video file to (faces, events) DataFrames, read as a stream."""
import subprocess
import sys

import av  # the [video] extra, in the test extra
import numpy as np
import pandas as pd
import pytest

import mojofer
from mojofer.cli import main
from mojofer.dataset import LANDMARK_COLUMNS
from mojofer.video import COLUMNS, EVENT_COLUMNS

# 10 fps with frames 20 and 21 dropped (a variable frame rate: the container's
# times, not index / fps); the head is away at the start and for a second in the middle
TIMESTAMPS = [i / 10 for i in range(40) if i not in (20, 21)]
AWAY = [(0.0, 0.3), (1.5, 2.5)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return mojofer.sample_video(tmp_path_factory.mktemp("video") / "clip.mp4", timestamps=TIMESTAMPS, away=AWAY)


@pytest.fixture(scope="module")
def analysed(clip):
    return mojofer.analyze_video(clip, progress=False)


def decoded(path):
    """(timestamp, RGB frame) of each frame, decoded here without mojofer."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(float(f.pts * stream.time_base), f.to_ndarray(format="rgb24")) for f in container.decode(stream)]


def test_rows_are_what_the_analyzer_gives_on_the_same_frames(clip, analysed):
    faces, events = analysed
    analyzer = mojofer.Analyzer()
    results = [analyzer.process(frame, t) for t, frame in decoded(clip)]
    assert list(faces.columns) == COLUMNS and list(events.columns) == EVENT_COLUMNS
    rows = iter(faces.itertuples(index=False))
    for index, result in enumerate(results):
        for face in result.faces or [None]:
            row = next(rows)._asdict()
            assert (row["frame"], row["timestamp"]) == (index, result.timestamp)
            if face is None:
                assert pd.isna(row["face_id"]) and pd.isna(row["visible"]) and np.isnan(row["box_x"])
                assert pd.isna(row["engagement"]) and pd.isna(row["status"])
                continue
            assert (row["face_id"], row["visible"], row["engagement"], row["status"]) == (
                face.id, face.visible, face.engagement, face.status)
            assert [row[k] for k in ("box_x", "box_y", "box_w", "box_h")] == list(face.box.as_tuple())
            assert np.array_equal([row[c] for c in LANDMARK_COLUMNS], face.landmarks.ravel())
            assert (row["quality"], row["attention"]) == (face.quality, face.attention)
            assert (row["yaw"], row["pitch"], row["roll"]) == face.pose.as_tuple()
            assert {e: row[e] for e in mojofer.EMOTIONS} == face.emotions
            assert {a: row[a] for a in mojofer.ACTION_UNITS} == face.action_units
            assert (row["amusement"], row["confusion"]) == (face.amusement, face.confusion)
    assert next(rows, None) is None
    expected = [(e.timestamp, index, e.face_id, e.kind, e.from_state, e.to_state)
                for index, result in enumerate(results) for e in result.events]
    assert list(events.drop(columns="source").itertuples(index=False, name=None)) == expected


def test_timestamps_are_the_containers(analysed):
    faces, events = analysed
    frames = faces.drop_duplicates("frame")
    assert frames["frame"].tolist() == list(range(len(TIMESTAMPS)))
    assert frames["timestamp"].tolist() == TIMESTAMPS  # written to the millisecond, read back exactly
    assert frames["timestamp"].is_monotonic_increasing and events["timestamp"].is_monotonic_increasing
    # away at the start: one row without a face per frame; away in the middle: lost, then back with its id
    assert faces.loc[faces["face_id"].isna(), "timestamp"].tolist() == [0.0, 0.1, 0.2]
    assert faces["face_id"].dropna().unique().tolist() == [0]
    assert faces.loc[faces["visible"] == False, "timestamp"].min() == 1.5  # noqa: E712 (a boolean column)
    face_events = events[events["kind"] == "face"]
    assert list(zip(face_events["timestamp"], face_events["from_state"], face_events["to_state"])) == [
        (0.3, "absent", "visible"), (1.5, "visible", "lost"), (2.5, "lost", "visible")]
    assert faces.attrs["video"] == dict(frame_count=len(TIMESTAMPS), fps=faces.attrs["video"]["fps"],
                                        width=640, height=360, time_base="1/16000")


def test_every_nth_frame(clip, analysed):
    faces, _ = mojofer.analyze_video(clip, progress=False, every=3)
    assert faces["frame"].unique().tolist() == list(range(0, len(TIMESTAMPS), 3))
    assert faces["timestamp"].unique().tolist() == TIMESTAMPS[::3]
    with pytest.raises(ValueError, match="every"):
        mojofer.analyze_video(clip, progress=False, every=0)


def test_cli_writes_the_faces_and_the_events_beside_them(clip, analysed, tmp_path, capsys):
    out = tmp_path / "table.csv"
    assert main(["analyze", str(clip), "-o", str(out)]) == 0
    faces, events = analysed
    written, written_events = pd.read_csv(out), pd.read_csv(tmp_path / "table.events.csv")
    assert len(written) == len(faces) and len(written_events) == len(events)
    np.testing.assert_allclose(written[LANDMARK_COLUMNS + ["attention"]], faces[LANDMARK_COLUMNS + ["attention"]],
                               rtol=1e-12)
    assert written_events["to_state"].tolist() == events["to_state"].tolist()
    assert f"{len(faces)} row(s)" in capsys.readouterr().out
    # one unreadable video: the other's table is written, the failure summarised, exit status 1
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    assert main(["analyze", str(clip), str(bad), "-o", str(tmp_path / "both.parquet")]) == 1
    both = pd.read_parquet(tmp_path / "both.parquet")
    assert both["source"].unique().tolist() == [str(clip)]
    assert both.attrs["video"] == {str(clip): faces.attrs["video"]}  # each video's facts by its source
    assert "1 of 2 video(s) could not be read" in capsys.readouterr().err


def test_cli_reads_the_videos_of_a_folder_and_a_glob(clip, analysed, tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (folder / name).write_bytes(clip.read_bytes())
    faces, _ = analysed
    for argument in (str(folder), str(folder / "*.mp4")):
        out = tmp_path / "clips.csv"
        assert main(["analyze", argument, "-o", str(out)]) == 0
        written = pd.read_csv(out)
        assert written["source"].unique().tolist() == [str(folder / "a.mp4"), str(folder / "b.mp4")]
        assert len(written) == 2 * len(faces)
    (folder / "c.png").write_bytes(b"")
    capsys.readouterr()
    assert main(["analyze", str(folder), "-o", str(tmp_path / "mixed.csv")]) == 2
    assert "images or videos, not both" in capsys.readouterr().err


def test_a_container_without_a_frame_count(tmp_path):
    """Matroska does not say how many frames it holds: no total, the same rows."""
    clip = mojofer.sample_video(tmp_path / "clip.mkv", timestamps=TIMESTAMPS[:10])
    with mojofer.video.Video(clip) as video:
        assert video.frame_count is None and video.fps == 10
    faces, _ = mojofer.analyze_video(clip, progress=True)
    assert faces["timestamp"].tolist() == TIMESTAMPS[:10] and faces["face_id"].notna().all()


PEAK_RSS = """
import resource, sys
import mojofer
mojofer.analyze_video(sys.argv[1], progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_does_not_grow_with_the_length(tmp_path):
    """4 s and 24 s of 640x360: the 200 frames more would hold 138 MB if kept."""
    peaks = []
    for seconds in (4, 24):
        path = mojofer.sample_video(tmp_path / f"{seconds}s.mp4", seconds=seconds, fps=10)
        run = subprocess.run([sys.executable, "-c", PEAK_RSS, str(path)], capture_output=True, text=True,
                             check=True)
        peaks.append(int(run.stdout) / 1024)  # MB
    assert peaks[1] - peaks[0] < 8, peaks


def test_the_shared_clip(data_root, tmp_path):
    """hamilton_short.mp4: every frame at the time its listing gives."""
    clip = data_root / "video" / "hamilton_short.mp4"
    out = tmp_path / "clip.parquet"
    assert main(["analyze", str(clip), "-o", str(out)]) == 0
    faces = pd.read_parquet(out)
    listing = pd.read_csv(data_root / "video" / "hamilton_short.frames.csv")
    frames = faces.drop_duplicates("frame")
    assert frames["frame"].tolist() == listing["frame"].tolist()
    np.testing.assert_allclose(frames["timestamp"], listing["time_s"], atol=1e-6)
    assert faces["face_id"].notna().all() and len(faces) > len(listing)
    assert len(pd.read_parquet(tmp_path / "clip.events.parquet")) > 0
