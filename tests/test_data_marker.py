"""A clone without the research data runs the other tests green and says which were left out."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_pose_tests(tmp_path, **env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "MOJOFER_REQUIRE_DATA")}
    env.update(MOJOFER_DATA=str(tmp_path / "no-data-here"), **env_changes)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_pose.py"], cwd=REPO, env=env, capture_output=True, text=True)


def test_without_data_the_data_tests_are_deselected_with_the_reason(tmp_path):
    result = run_pose_tests(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and " deselected" in result.stdout
    assert "failed" not in result.stdout and "error" not in result.stdout.lower()
    assert "tests marked 'data' not collected: research data not found at" in result.stdout
    assert str(tmp_path / "no-data-here") in result.stdout


def test_under_ci_missing_data_fails(tmp_path):
    result = run_pose_tests(tmp_path, CI="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "research data not found at" in result.stdout
    assert " deselected" not in result.stdout
