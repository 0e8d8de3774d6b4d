"""The benchmarks' statistics (benchmarks/_stats.py, and the bootstrap of mojofer.metrics)
on inputs whose answers are known."""
import sys
from pathlib import Path

import numpy as np
import pytest

from mojofer.metrics import bootstrap_interval

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _stats import (expected_calibration_error, fit_temperature,  # noqa: E402
                    with_temperature)


def test_bootstrap_draws_whole_groups():
    groups = np.array(["a", "a", "b", "c", "c", "c"])
    sizes = []
    low, high = bootstrap_interval(lambda rows: sizes.append(len(rows)) or np.array([len(rows)]),
                                   groups, resamples=300)
    # three groups of 2, 1 and 3 drawn three times: 3 (b b b) to 9 (c c c) items
    assert set(sizes) <= set(range(3, 10)) and min(sizes) < 6 < max(sizes)
    assert 3 <= low[0] < 6 < high[0] <= 9


def test_bootstrap_interval_of_a_mean_is_seeded_and_covers_it():
    values = np.arange(100.0)
    mean = lambda rows: np.array([values[rows].mean()])  # noqa: E731
    low, high = bootstrap_interval(mean, np.arange(100))
    # the standard error of the mean is 29 / 10: the 95 % interval is about ± 5.7
    assert low[0] == pytest.approx(49.5 - 5.7, abs=1.0)
    assert high[0] == pytest.approx(49.5 + 5.7, abs=1.0)
    assert np.array_equal(np.concatenate([low, high]),
                          np.concatenate(bootstrap_interval(mean, np.arange(100))))


def test_bootstrap_ignores_resamples_where_a_value_is_undefined():
    values = np.array([1.0, np.nan])
    low, high = bootstrap_interval(lambda rows: values[rows[:1]], np.arange(2), resamples=200)
    assert low[0] == high[0] == 1.0


def test_calibration_error_of_known_bins():
    # 0.9-confident and half right: 0.4 off; 0.6-confident and all right: 0.4 off
    assert expected_calibration_error(np.array([0.9, 0.9, 0.6, 0.6]),
                                      np.array([1, 0, 1, 1])) == pytest.approx(0.4)
    assert expected_calibration_error(np.array([0.7, 0.7]), np.array([1, 1])) == pytest.approx(0.3)
    # a bin's upper edge belongs to it: 1/15 and 2/15 are different bins
    assert expected_calibration_error(np.array([1 / 15, 2 / 15]), np.array([0, 0])) == pytest.approx(0.1)


def test_temperature_keeps_the_top_class_and_undoes_a_sharpening():
    rng = np.random.default_rng(1)
    truth = with_temperature(np.exp(rng.normal(0, 1, (4000, 7))), 1.0)
    labels = np.array([rng.choice(7, p=row) for row in truth])
    sharpened = with_temperature(truth, 0.5)
    assert (sharpened.argmax(axis=1) == truth.argmax(axis=1)).all()
    assert with_temperature(sharpened, 2.0) == pytest.approx(truth, abs=1e-9)
    assert fit_temperature(sharpened, labels) == pytest.approx(2.0, rel=0.1)
