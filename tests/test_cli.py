"""The `mojofer` command: the README's main job on the bundled sample."""
import re

import numpy as np
from PIL import Image

from mojofer.cli import main


def test_analyze_bundled_sample_prints_and_draws(tmp_path, capsys):
    out = tmp_path / "faces.png"
    assert main(["analyze", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "astronaut.png: 1 face(s)" in printed
    box = re.search(r"box x=([\d.]+) y=([\d.]+) w=([\d.]+) h=([\d.]+)", printed)
    x, y, w, h = map(float, box.groups())
    assert abs(x - 183) < 10 and abs(y - 88) < 10 and 60 < w < 100 and 60 < h < 100
    assert "68 landmarks" in printed
    yaw, pitch, roll = map(float, re.search(
        r"yaw ([-+\d.]+)°, pitch ([-+\d.]+)°, roll ([-+\d.]+)°", printed).groups())
    assert max(abs(yaw), abs(pitch), abs(roll)) < 15  # a frontal portrait
    # she smiles broadly: happiness first, and so amusement
    top, probability = re.search(r"emotions: (\w+) ([\d.]+)", printed).groups()
    assert top == "happiness" and float(probability) > 0.5
    assert float(re.search(r"amusement ([\d.]+)", printed).group(1)) > 0.5
    assert float(re.search(r"lip_corner_pull ([-+\d.]+)", printed).group(1)) > 0.05
    drawn = np.asarray(Image.open(out))
    assert drawn.shape == (512, 512, 3)
    assert (drawn == (255, 40, 40)).all(axis=-1).sum() > 200  # the box outline
    assert (drawn == (40, 255, 40)).all(axis=-1).sum() > 68  # the points


def test_detect_prints_boxes_only(capsys):
    assert main(["detect"]) == 0
    printed = capsys.readouterr().out
    assert "1 face(s)" in printed and "landmarks" not in printed and "emotions" not in printed


def test_unreadable_image_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"nope")
    assert main(["analyze", str(bad)]) == 2
    assert "mojofer:" in capsys.readouterr().err


def test_version_names_the_system_libraries(capsys):
    assert main(["version"]) == 0
    printed = capsys.readouterr().out
    assert "openblas: OpenBLAS" in printed and "libwebsockets:" in printed and "msgpack:" in printed


def test_analyze_video_prints_events(data_root, capsys):
    assert main(["analyze", str(data_root / "video" / "hamilton_short.mp4")]) == 0
    printed = capsys.readouterr().out
    assert "275 frames" in printed
    assert re.search(r"face \d+: face absent -> visible", printed)
    assert re.search(r"face \d+: status possible -> ready", printed)
    assert re.search(r"face \d+: status ready -> in_short_interruption", printed)
