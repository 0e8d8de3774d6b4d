"""analyze_images and analyze_video on a dask.distributed cluster (a
LocalCluster of two worker processes): the same tables as the local run,
row for row, with a bad file, an array, a folder and per-subject baselines;
the settings travel, the C contexts are built on the workers."""
import pickle
import shutil

import distributed
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import mojofer
from mojofer.dataset import ImageSettings
from mojofer.sample import SAMPLE_PATH


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture
def items(tmp_path):
    folder = tmp_path / "person"
    folder.mkdir()
    shutil.copy(SAMPLE_PATH, folder / "a.png")
    Image.fromarray(np.ascontiguousarray(mojofer.sample_image()[:, ::-1])).save(folder / "b.png")
    (folder / "c.png").write_bytes(b"not an image")
    blank = np.full((120, 160, 3), 128, np.uint8)
    return [str(folder), str(SAMPLE_PATH), blank]


def test_the_cluster_gives_the_local_table(client, items):
    local = mojofer.analyze_images(items, progress=False)
    spread = mojofer.analyze_images(items, progress=False, client=client, chunk=2)
    pd.testing.assert_frame_equal(spread, local)
    assert spread.attrs == local.attrs
    assert len(spread) == 5 and spread["error"].notna().sum() == 2  # c.png unreadable, the blank: no face


def test_baselines_are_estimated_over_every_workers_faces(client, items):
    subjects = ["ann", "ann", None]
    local = mojofer.analyze_images(items, subjects=subjects, progress=False)
    spread = mojofer.analyze_images(items, subjects=subjects, progress=False, client=client, chunk=1)
    pd.testing.assert_frame_equal(spread, local)
    alone = mojofer.analyze_images(items, progress=False)
    faces = local["face_id"].notna().to_numpy()
    assert not np.allclose(local.loc[faces, "neutral"], alone.loc[faces, "neutral"])


def test_the_settings_pickle_and_build_their_own_models():
    settings = ImageSettings((("detector", mojofer.models.model_path("face_detector.mfm")),
                              ("landmarks", mojofer.models.model_path("landmarks.mfm")),
                              ("pose", mojofer.models.model_path("pose.mfm")),
                              ("expressions", mojofer.models.model_path("expressions.mfm"))), False, 24)
    analyse = pickle.loads(pickle.dumps(settings)).analyser()
    values, points, error = analyse(mojofer.sample_image())
    assert error is None and len(points) == 1 and values.shape[0] == 1


def test_videos_on_the_cluster_give_the_local_tables(client, tmp_path):
    clips = [mojofer.sample_video(tmp_path / f"clip{i}.mp4", seconds=2.0 + i, away=[(1.0, 1.5)])
             for i in range(2)]
    local = [mojofer.analyze_video(clip, progress=False, smoothing=0.1) for clip in clips]
    one = mojofer.analyze_video(clips[0], progress=False, client=client, smoothing=0.1)
    for mine, theirs in zip(one, local[0]):
        pd.testing.assert_frame_equal(mine, theirs)
    assert len(local[0][1]) > 0  # the face left and came back: events
    futures = client.map(mojofer.analyze_video, [str(c) for c in clips], progress=False, smoothing=0.1)
    for future, (faces, events) in zip(futures, local):
        spread_faces, spread_events = future.result()
        pd.testing.assert_frame_equal(spread_faces, faces.assign(source=spread_faces.source))
        pd.testing.assert_frame_equal(spread_events, events.assign(source=spread_events.source))
