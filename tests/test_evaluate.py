"""mojofer.metrics and mojofer.evaluate: scores on hand-made labels whose
answers are computed here by hand, the CLI's files, and (data) a slice of
the shared expression and landmark sets."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import mojofer
from mojofer.cli import main
from mojofer.evaluation import evaluate, read_pts
from mojofer.metrics import Classification, bootstrap_interval, ced, choose_face, landmark_summary, nme

from conftest import ASTRONAUT


def test_classification_scores_by_hand():
    # classes 0, 1, 2; 3 = no face found
    truth = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 3, 2, 0])
    s = Classification.of(truth, predicted, 3)
    assert s.confusion.tolist() == [[1, 1, 0, 0], [0, 1, 0, 1], [1, 0, 1, 0]]
    assert s.accuracy == 0.5 and s.missed == 1
    assert s.recall.tolist() == [0.5, 0.5, 0.5]
    # F1 = 2TP / (2TP + FP + FN): class 0 2/4, class 1 2/4 (the miss is its FN), class 2 2/3
    assert s.macro_f1 == pytest.approx((0.5 + 0.5 + 2 / 3) / 3)


def test_macro_f1_counts_only_the_classes_seen():
    s = Classification.of(np.array([0, 0, 1]), np.array([0, 0, 0]), 4)
    # class 0: TP 2, FP 1 -> 4/5; class 1: FN 1 -> 0; classes 2 and 3 neither true nor predicted
    assert s.macro_f1 == pytest.approx((0.8 + 0.0) / 2)
    assert s.recall[:2].tolist() == [1.0, 0.0] and np.isnan(s.recall[2:]).all()


def test_bootstrap_interval_contains_the_accuracy():
    correct = np.arange(200) % 4 != 0  # accuracy 0.75
    low, high = bootstrap_interval(lambda rows: np.array([correct[rows].mean()]), np.arange(200))
    assert low[0] < 0.75 < high[0]
    assert high[0] - low[0] == pytest.approx(2 * 1.96 * np.sqrt(0.75 * 0.25 / 200), rel=0.2)


def face_points(eye_distance: float = 10.0) -> np.ndarray:
    points = np.random.default_rng(0).uniform(0, 20, (68, 2))
    points[36], points[45] = (0.0, 0.0), (eye_distance, 0.0)
    return points


def test_nme_of_a_known_shift():
    truth = face_points(10.0)
    assert nme(truth + [3.0, 4.0], truth) == pytest.approx(0.5)  # 5 px on every point over 10 px
    moved = truth.copy()
    moved[:34] += [0.0, 1.0]  # half the points 1 px off
    assert nme(moved, truth) == pytest.approx(0.05)


def test_landmark_summary_counts_a_miss_as_inf():
    errors = np.array([0.01, 0.05, 0.1, np.inf])
    s = landmark_summary(errors)
    assert (s["faces"], s["found"], s["misses"]) == (4, 3, 1)
    assert s["mean_nme"] == pytest.approx(0.16 / 3)
    assert s["median_nme"] == pytest.approx(0.075)
    assert s["failure_rate"] == 0.5  # 0.1 and the miss
    assert ced(errors, np.array([0.0, 0.05, 1.0])).tolist() == [0.0, 0.5, 0.75]
    # CED up to 8 %: 1/4 from 0.01, 2/4 from 0.05 -> area (0.25·0.04 + 0.5·0.03) / 0.08
    assert s["auc"] == pytest.approx((0.25 * 0.04 + 0.5 * 0.03) / 0.08, abs=2e-3)


def test_choose_face_takes_the_nearest_overlapping_box():
    truth = face_points(10.0) + 100  # tight box about (100, 100, 20, 20)
    far, near = [0, 0, 20, 20], [102, 101, 20, 20]
    assert choose_face([far, near], truth) == 1
    assert choose_face([far], truth) is None
    assert choose_face([], truth) is None


def test_read_pts_is_zero_based(tmp_path):
    points = face_points()
    (tmp_path / "a.pts").write_text("version: 1\nn_points: 68\n{\n"
                                    + "".join(f"{x + 1:.4f} {y + 1:.4f}\n" for x, y in points) + "}\n")
    np.testing.assert_allclose(read_pts(tmp_path / "a.pts"), points, atol=1e-4)
    (tmp_path / "b.pts").write_text("{\n1 2\n}\n")
    with pytest.raises(ValueError, match="1 points, expected 68"):
        read_pts(tmp_path / "b.pts")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """The astronaut (read as happiness, 0.94) labelled happiness and
    neutral, and a blank picture (no face) labelled sadness."""
    folder = tmp_path_factory.mktemp("labelled")
    shutil.copy(ASTRONAUT, folder / "astronaut.png")
    Image.new("RGB", (200, 200), (128, 128, 128)).save(folder / "blank.png")
    pd.DataFrame({"image": ["astronaut.png", "astronaut.png", "blank.png"],
                  "label": ["happiness", "neutral", "sadness"],
                  "source": ["a", "b", "a"]}).to_csv(folder / "labels.csv", index=False)
    return folder / "labels.csv"


def test_evaluate_expressions_by_hand(labelled):
    result = evaluate(labelled, by=["source"], progress=False)
    m = result.metrics
    assert result.rows["predicted"].tolist() == ["happiness", "happiness", "no face"]
    assert (m["images"], m["missed"]) == (3, 1)
    assert m["accuracy"]["value"] == pytest.approx(1 / 3)  # the miss is an error
    # happiness TP 1 FP 1 -> 2/3; neutral FN 1 -> 0; sadness FN 1 (the miss) -> 0
    assert m["macro_f1"]["value"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert m["recall"] == {"neutral": 0.0, "happiness": 1.0, "sadness": 0.0, "surprise": None, "fear": None,
                           "disgust": None, "anger": None}
    counts = np.array(m["confusion"]["counts"])
    assert counts.sum() == 3 and counts[2, 7] == 1 and counts[0, 1] == 1 and counts[1, 1] == 1
    groups = result.groups["source"].set_index("source")
    assert groups.loc["a", "accuracy"] == 0.5 and groups.loc["b", "accuracy"] == 0.0
    assert groups.loc["a", "no_face"] == 1 and groups.loc["a", "images"] == 2
    for name in ("accuracy", "macro_f1"):
        assert m[name]["low"] <= m[name]["value"] <= m[name]["high"]


def test_evaluate_refuses_unknown_labels_and_columns(tmp_path, labelled):
    pd.DataFrame({"image": ["x.png"], "label": ["contempt"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="contempt"):
        evaluate(tmp_path / "bad.csv", progress=False)
    with pytest.raises(ValueError, match="gender"):
        evaluate(labelled, by=["gender"], progress=False)
    with pytest.raises(ValueError, match="subject column"):
        evaluate(labelled, baseline=True, progress=False)


def test_cli_writes_the_files(labelled, tmp_path, capsys):
    out = tmp_path / "scores"
    assert main(["evaluate", str(labelled), "--by", "source", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "groups_source.csv", "metrics.json",
                                                     "rows.csv"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"]["value"] == pytest.approx(1 / 3) and metrics["no_face_counts_as_error"]
    assert pd.read_csv(out / "groups_source.csv")["images"].tolist() == [2, 1]
    assert Image.open(out / "confusion.png").size[0] > 300
    printed = capsys.readouterr().out
    assert "accuracy 0.333" in printed and "1 without a face found (counted as errors)" in printed


def test_evaluate_pts_folder_with_a_known_shift(tmp_path, astronaut):
    """Truth = mojofer's own points of the astronaut moved by (1.5, 2) px: its
    NME is 2.5 px over the eye distance (about 59 px); the blank picture is a miss."""
    table = mojofer.analyze_images(astronaut, progress=False)
    points = mojofer.dataset.landmarks(table)[0].astype(float)
    truth = points + [1.5, 2.0]
    Image.fromarray(astronaut).save(tmp_path / "face.png")
    Image.new("RGB", (200, 200), (128, 128, 128)).save(tmp_path / "blank.png")
    for name in ("face", "blank"):
        (tmp_path / f"{name}.pts").write_text("version: 1\nn_points: 68\n{\n"
                                              + "".join(f"{x + 1:.6f} {y + 1:.6f}\n" for x, y in truth) + "}\n")
    out = tmp_path / "scores"
    result = evaluate(tmp_path, progress=False, out=out)
    expected = 2.5 / np.linalg.norm(truth[36] - truth[45])
    errors = dict(zip(result.rows["image"], result.rows["nme"]))
    assert errors["face.png"] == pytest.approx(expected, rel=1e-5)
    assert errors["blank.png"] == np.inf
    m = result.metrics
    assert (m["images"], m["missed"]) == (2, 1)
    assert m["mean_nme"]["value"] == pytest.approx(expected, rel=1e-5)
    assert m["failure_rate"]["value"] == 0.5
    assert (out / "ced.png").is_file() and (out / "metrics.json").is_file()


def test_evaluate_expressions_on_the_shared_set(data_root, tmp_path):
    """40 images, 14 or 13 of each source, read with their subjects' baselines."""
    labels = pd.read_csv(data_root / "expressions" / "labels.csv", dtype=str, keep_default_na=False)
    rows = pd.concat([labels[labels["source"] == s].iloc[::40][:14] for s in ("ckplus", "taiwanese", "muxspace")])
    rows = rows.iloc[:40].assign(image=[str(data_root / "expressions" / p) for p in rows["image"][:40]])
    rows.to_csv(tmp_path / "labels.csv", index=False)
    result = evaluate(tmp_path / "labels.csv", by=["source"], baseline=True, progress=False)
    m = result.metrics
    assert m["images"] == 40 and np.array(m["confusion"]["counts"]).sum() == 40
    assert m["accuracy"]["value"] == pytest.approx(result.rows["correct"].mean())
    assert m["accuracy"]["value"] > 0.4  # all 5,981: 0.58 (README)
    groups = result.groups["source"]
    assert groups["images"].sum() == 40
    assert ((groups["accuracy_low"] <= groups["accuracy"]) & (groups["accuracy"] <= groups["accuracy_high"])).all()


def test_evaluate_landmarks_on_the_shared_val_set(data_root):
    result = evaluate(data_root / "landmarks" / "val.csv", by=["source"], limit=20, progress=False)
    m = result.metrics
    assert m["images"] == 20 and m["missed"] == 0
    assert 0.02 < m["mean_nme"]["value"] < 0.05  # all 224: 4.02 % (benchmarks/results/landmarks.md)
    assert m["mean_nme"]["low"] <= m["mean_nme"]["value"] <= m["mean_nme"]["high"]


def test_bootstrap_by_resamples_whole_values(labelled):
    result = evaluate(labelled, by=["source"], bootstrap_by="source", progress=False)
    # source "a" is one unit: every resample holds both its images, accuracy 1/2
    a = result.groups["source"].set_index("source").loc["a"]
    assert a["accuracy_low"] == a["accuracy_high"] == 0.5
    assert "whole source values" in result.metrics["bootstrap"]
    with pytest.raises(ValueError, match="subject"):
        evaluate(labelled, bootstrap_by="subject", progress=False)
