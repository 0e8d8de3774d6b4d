"""mojofer.analyze_images and `mojofer analyze ... -o table`: one row per face,
the same numbers as the single steps, bad files as rows, baselines per subject."""
import hashlib
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import mojofer
from mojofer.cli import main
from mojofer.dataset import COLUMNS, EXPRESSION_COLUMNS, LANDMARK_COLUMNS, NO_FACE, landmarks
from mojofer.sample import SAMPLE_PATH

NUMERIC = [c for c in COLUMNS if c not in ("source", "subject", "face_id", "error")]


def expression_row(points):
    e = mojofer.classify_expression(points)
    return [*e.emotions.values(), e.amusement, e.confusion, *e.action_units.values()]


def test_the_sample_gives_one_row_with_the_single_steps_values():
    table = mojofer.analyze_images(SAMPLE_PATH, progress=False)
    (face,) = mojofer.find_landmarks(mojofer.sample_image())
    assert list(table.columns) == COLUMNS and len(table) == 1
    row = table.iloc[0]
    assert row.source == str(SAMPLE_PATH) and row.face_id == 0 and pd.isna(row.error) and pd.isna(row.subject)
    np.testing.assert_array_equal(landmarks(table)[0], face.landmarks)
    assert [row.box_x, row.box_y, row.box_w, row.box_h] == list(face.box.as_tuple())
    assert row.quality == face.quality
    assert [row.yaw, row.pitch, row.roll] == list(mojofer.head_pose(face.landmarks).as_tuple())
    assert list(row[EXPRESSION_COLUMNS]) == expression_row(face.landmarks)
    assert row.happiness > 0.5 and row.amusement == row.happiness  # she smiles; amusement is P(happiness)
    # how it was made
    models = table.attrs["models"]
    assert set(models) == {"detector", "landmarks", "pose", "expressions"}
    landmarks_file = models["landmarks"]
    data = open(landmarks_file["path"], "rb").read()
    assert landmarks_file["sha256"] == hashlib.sha256(data).hexdigest() and landmarks_file["bytes"] == len(data)
    assert table.attrs["versions"] == mojofer.versions()
    assert table.attrs["face_crop"] is False and table.attrs["subjects"] is None


def test_arrays_and_paths_mix_and_arrays_are_named_by_position(capsys):
    table = mojofer.analyze_images([mojofer.sample_image(), SAMPLE_PATH], progress=True)
    assert list(table.source) == ["array[0]", str(SAMPLE_PATH)]
    np.testing.assert_array_equal(table.iloc[0][NUMERIC].to_numpy(float), table.iloc[1][NUMERIC].to_numpy(float))
    assert "2/2" in capsys.readouterr().err  # the progress bar


@pytest.fixture
def mixed_folder(tmp_path):
    """Sorted so that the bad files come before the good one."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a_corrupt.png").write_bytes(SAMPLE_PATH.read_bytes()[:300])
    (folder / "b_notes.txt").write_text("not an image")
    Image.fromarray(np.zeros((120, 160, 3), np.uint8)).save(folder / "c_blank.png")
    shutil.copy(SAMPLE_PATH, folder / "d_good.png")
    (folder / ".hidden.png").write_bytes(b"skipped")
    return folder


def test_bad_files_are_rows_with_errors_and_the_batch_goes_on(mixed_folder):
    table = mojofer.analyze_images(mixed_folder, progress=False)
    assert [s.split("/")[-1] for s in table.source] == ["a_corrupt.png", "b_notes.txt", "c_blank.png",
                                                         "d_good.png"]
    assert table.face_id.isna().tolist() == [True, True, True, False]
    errors = table.error.tolist()
    assert errors[0].startswith("OSError") and "truncated" in errors[0].lower()
    assert errors[1].startswith("UnidentifiedImageError")
    assert errors[2] == NO_FACE and pd.isna(errors[3])
    assert table.iloc[:3][NUMERIC].isna().all().all()
    good = mojofer.analyze_images(SAMPLE_PATH, progress=False)
    np.testing.assert_array_equal(table.iloc[3][NUMERIC].to_numpy(float), good.iloc[0][NUMERIC].to_numpy(float))


def test_a_glob_and_a_missing_file():
    items = (item for item in [str(SAMPLE_PATH.parent / "*.png"), "no/such/file.png"])  # any iterable
    table = mojofer.analyze_images(items, subjects=["a", "b"], progress=False)
    assert list(table.source) == [str(SAMPLE_PATH), "no/such/file.png"]
    assert table.error.iloc[1].startswith("FileNotFoundError")


def test_subjects_read_faces_against_their_baseline_as_classify_many_does():
    frame = mojofer.sample_image()
    items = [frame, np.roll(frame, 7, axis=1), np.ascontiguousarray(frame[:, ::-1]), frame[40:, 30:]]
    people = ["ann", "ann", "bob", None]
    alone = mojofer.analyze_images(items, progress=False)
    table = mojofer.analyze_images(items, subjects=people, progress=False)
    assert table.subject.tolist()[:3] == people[:3] and pd.isna(table.subject[3])
    assert table.attrs["subjects"] == "per item"
    points = landmarks(table)
    np.testing.assert_array_equal(points, landmarks(alone))
    expected = mojofer.ExpressionClassifier().classify_many(points, subjects=people)
    np.testing.assert_array_equal(table[list(mojofer.EMOTIONS)].to_numpy(np.float32), expected.emotions)
    np.testing.assert_array_equal(table[list(mojofer.ACTION_UNITS)].to_numpy(np.float32), expected.action_units)
    # her baseline is her own smile (trusted 2/8 from two faces, 1/8 for bob):
    # against it she smiles less than against the population
    assert (table.happiness[:3] < alone.happiness[:3]).all()
    assert (table.lip_corner_pull[:2] < alone.lip_corner_pull[:2] - 0.05).all()
    assert (table.lip_corner_pull[2] < alone.lip_corner_pull[2] - 0.02)
    # no subject: the population's reading (within float error of the batch's arithmetic)
    np.testing.assert_allclose(table.iloc[3][EXPRESSION_COLUMNS].to_numpy(float),
                               alone.iloc[3][EXPRESSION_COLUMNS].to_numpy(float), atol=1e-5)
    by_name = mojofer.analyze_images(items, subjects=lambda source: {"array[3]": ""}.get(
        source, "ann" if source in ("array[0]", "array[1]") else "bob"), progress=False)
    np.testing.assert_array_equal(by_name[EXPRESSION_COLUMNS].to_numpy(), table[EXPRESSION_COLUMNS].to_numpy())
    with pytest.raises(ValueError, match="one id per item"):
        mojofer.analyze_images(items, subjects=["ann"], progress=False)


def test_face_crop_fits_a_tight_crop_as_find_landmarks_does():
    crop = np.ascontiguousarray(mojofer.sample_image()[70:190, 170:280])
    table = mojofer.analyze_images([crop], face_crop=True, progress=False)
    (face,) = mojofer.find_landmarks(crop, face_crop=True)
    np.testing.assert_array_equal(landmarks(table)[0], face.landmarks)
    assert table.attrs["face_crop"] is True


def read_table(path):
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    return pd.read_parquet(path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_cli_writes_the_table_and_counts_bad_files(mixed_folder, tmp_path, capsys, suffix):
    out = tmp_path / f"faces{suffix}"
    assert main(["analyze", str(mixed_folder), "-o", str(out)]) == 1
    printed = capsys.readouterr()
    assert f"{out}: 1 face(s) in 4 file(s); 1 without a face; 2 unreadable" in printed.out
    assert "mojofer: 2 of 4 file(s) could not be read" in printed.err and "b_notes.txt: Unidentified" in printed.err
    expected = mojofer.analyze_images(mixed_folder, progress=False)
    written = read_table(out)
    assert list(written.columns) == COLUMNS
    assert written.source.tolist() == expected.source.tolist()
    assert written.error.fillna("").tolist() == expected.error.fillna("").tolist()
    assert written.face_id.isna().tolist() == expected.face_id.isna().tolist()
    np.testing.assert_allclose(written[NUMERIC].to_numpy(float), expected[NUMERIC].to_numpy(float),
                               rtol=0 if suffix == ".parquet" else 1e-12)  # text: pandas' float parsing
    if suffix == ".parquet":
        assert written.attrs == expected.attrs  # parquet keeps how the table was made


def test_cli_exit_status_0_when_every_file_reads_and_subjects_from_folders(tmp_path, capsys):
    for person in ("ann", "bob"):
        (tmp_path / "faces" / person).mkdir(parents=True)
        shutil.copy(SAMPLE_PATH, tmp_path / "faces" / person / "1.png")
    out = tmp_path / "faces.csv"
    assert main(["analyze", str(tmp_path / "faces" / "*" / "*.png"), "-o", str(out), "--subjects-from", "parent"]) == 0
    assert "0 unreadable" in capsys.readouterr().out
    assert pd.read_csv(out).subject.tolist() == ["ann", "bob"]


def test_cli_subjects_without_a_table_is_refused(capsys):
    assert main(["analyze", "--subjects-from", "parent"]) == 2
    assert "--subjects-from is for table output" in capsys.readouterr().err


def test_cli_parquet_without_pyarrow_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    out = tmp_path / "faces.parquet"
    assert main(["analyze", "-o", str(out)]) == 2
    assert "pip install 'mojofer[parquet]'" in capsys.readouterr().err and not out.exists()


def test_cli_without_table_output_prints_as_before(capsys):
    assert main(["analyze", str(SAMPLE_PATH)]) == 0
    assert "1 face(s)" in capsys.readouterr().out


def test_a_labelled_dataset_subset(data_root):
    """16 of the Taiwanese expression images, each named by its subject."""
    labels = pd.read_csv(data_root / "expressions" / "labels.csv", keep_default_na=False)
    subset = labels[labels.source == "taiwanese"].head(16)
    paths = [str(data_root / "expressions" / p) for p in subset.image]
    table = mojofer.analyze_images(paths, subjects=subset.subject.tolist(), progress=False)
    assert set(table.source) == set(paths)
    assert (table.error.isna() | (table.error == NO_FACE)).all()  # every file reads
    faces = table[table.face_id.notna()]
    assert len(faces) >= 12
    expected = mojofer.ExpressionClassifier().classify_many(landmarks(faces), subjects=faces.subject.tolist())
    np.testing.assert_array_equal(faces[list(mojofer.EMOTIONS)].to_numpy(np.float32), expected.emotions)
