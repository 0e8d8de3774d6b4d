"""OpenBLAS threads: one per call by default (the per-face products are too
small to split; parallelism comes from faces and threads), the user's
environment respected, and mojofer.set_num_threads to choose."""
import os
import subprocess
import sys

import pytest

import mojofer

BLAS_ENV = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")
CPUS = len(os.sched_getaffinity(0))


def threads_at_import(**env) -> int:
    """get_num_threads() in a fresh interpreter whose BLAS variables are `env` only."""
    clean = {k: v for k, v in os.environ.items() if k not in BLAS_ENV}
    r = subprocess.run([sys.executable, "-c", "import mojofer; print(mojofer.get_num_threads())"],
                       env={**clean, **env}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    return int(r.stdout)


def test_default_is_one_blas_thread():
    assert threads_at_import() == 1


@pytest.mark.parametrize("variable", BLAS_ENV)
def test_the_environment_is_respected(variable):
    assert threads_at_import(**{variable: "2"}) == min(2, CPUS)


def test_set_num_threads():
    before = mojofer.get_num_threads()
    try:
        assert mojofer.set_num_threads(CPUS) is None
        assert mojofer.get_num_threads() == CPUS
        mojofer.set_num_threads(1)
        assert mojofer.get_num_threads() == 1
    finally:
        mojofer.set_num_threads(before)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (CPUS + 1, ValueError),
                                        (2**40, ValueError), (1.0, TypeError), ("2", TypeError),
                                        (True, TypeError), (None, TypeError)])
def test_set_num_threads_rejects_bad_values(bad, error):
    before = mojofer.get_num_threads()
    with pytest.raises(error, match="n must be"):
        mojofer.set_num_threads(bad)
    assert mojofer.get_num_threads() == before
