"""mojofer.plot: each figure saved as a PNG of the expected size, with the
expected colours where the data puts them."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import mojofer
from mojofer import plot



def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])


def at(fig, ax, x: float, y: float) -> tuple:
    """The PNG pixel (row, column) of data point (x, y) of `ax` (saved at the figure's DPI)."""
    px, py = ax.transData.transform((x, y))
    return int(round(fig.bbox.height - py)), int(round(px))


def video_table(gap=None) -> pd.DataFrame:
    """Face 0 at 10 fps for 10 s: all happiness, engagement idle then engaged
    from 4 s, status ready from 6 s; no rows inside `gap` (start, end)."""
    t = np.arange(0, 10, 0.1)
    if gap:
        t = t[(t < gap[0]) | (t > gap[1])]
    shares = {e: np.where(e == "happiness", 1.0, 0.0) * np.ones(len(t)) for e in mojofer.EMOTIONS}
    return pd.DataFrame({"timestamp": t, "face_id": 0, **shares,
                         "engagement": np.where(t < 4, "idle", "engaged"),
                         "status": np.where(t < 6, "possible", "ready")})


def test_landmarks_overlay(tmp_path, astronaut):
    table = mojofer.analyze_images(astronaut, progress=False)
    fig = plot.landmarks(astronaut, table.iloc[0], path=tmp_path / "points.png")
    image = pixels(tmp_path / "points.png")
    assert image.shape == (600, 600, 3)  # 6 in at 100 DPI, square as the picture
    x, y = mojofer.dataset.landmarks(table)[0][30] * 600 / 512  # the nose tip
    assert np.abs(image[int(round(y)), int(round(x))] - rgb("#39ff14")).max() < 60
    # the picture is there too: a corner far from the face keeps its own colour
    assert np.abs(image[590, 10] - np.asarray(Image.fromarray(astronaut).resize((600, 600)))[590, 10]).max() < 40
    # a table of faces or an (n, 68, 2) array draws the same points
    assert len(plot.landmarks(astronaut, table).axes[0].collections) == 1
    assert len(fig.axes[0].collections) == 1


def test_emotion_timeline_stacks_and_leaves_gaps(tmp_path):
    fig = plot.emotion_timeline(video_table(gap=(3.0, 5.0)), path=tmp_path / "timeline.png")
    image = pixels(tmp_path / "timeline.png")
    assert image.shape == (240, 1000, 3)  # 10 x (0.6 + 1.8) in for one face
    ax = fig.axes[0]
    assert np.abs(image[at(fig, ax, 1.5, 0.5)] - rgb(plot.EMOTION_COLORS["happiness"])).max() < 10
    assert (image[at(fig, ax, 4.0, 0.5)] == 255).all()  # no rows from 3 to 5 s: left blank


def test_engagement_ribbon_colours_each_state(tmp_path):
    fig = plot.engagement_ribbon(video_table(), path=tmp_path / "ribbon.png")
    image = pixels(tmp_path / "ribbon.png")
    assert image.shape == (240, 1000, 3)  # 10 x (1.7 + 0.7) in for one face
    ax = fig.axes[0]
    expected = [(2.0, 0.5, plot.ENGAGEMENT_COLORS["idle"]), (8.0, 0.5, plot.ENGAGEMENT_COLORS["engaged"]),
                (3.0, 1.5, plot.STATUS_COLORS["possible"]), (8.0, 1.5, plot.STATUS_COLORS["ready"])]
    for t, y, color in expected:
        assert np.abs(image[at(fig, ax, t, y)] - rgb(color)).max() < 10, (t, y)


def test_confusion_and_ced_figures(tmp_path):
    plot.confusion(np.array([[5, 1, 0], [0, 3, 2]]), ["a", "b"], path=tmp_path / "confusion.png")
    image = pixels(tmp_path / "confusion.png")
    # (1.2 + 0.75·3) x (1.2 + 0.7·2) in; matplotlib versions round the edge pixel apart
    assert abs(image.shape[0] - 260) <= 1 and image.shape[1:] == (345, 3), image.shape
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20
    fig = plot.ced({"a": np.array([0.01, 0.02, np.inf])}, path=tmp_path / "ced.png")
    assert pixels(tmp_path / "ced.png").shape == (450, 600, 3)
    x, y = fig.axes[0].lines[0].get_data()
    assert y[-1] == pytest.approx(2 / 3)  # the miss never counts


def test_no_faces_to_plot_is_refused():
    with pytest.raises(ValueError, match="no face rows"):
        plot.emotion_timeline(video_table().iloc[:0])
