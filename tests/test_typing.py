"""The package is typed: mypy passes on it with the configuration in
pyproject.toml, and mojofer/_core.pyi says what the built extension exports,
as it parses its arguments (mypy's stubtest compares the two)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(args):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_mypy_passes_on_the_package(tmp_path):
    # a cache of its own: one left by an earlier run under another configuration can hide or keep errors
    result = run(["mypy", "--cache-dir", str(tmp_path), "mojofer"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found")


def test_the_stub_matches_the_extension(tmp_path):
    # Cues(**params) refuses positional arguments itself, from a tp_init
    # that Python sees as (*args, **kwargs)
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text("mojofer._core.Cues.__init__\n")
    result = run(["mypy.stubtest", "mojofer._core", "--allowlist", str(allowlist),
                  "--mypy-config-file", str(ROOT / "pyproject.toml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_data_ships_the_types():
    from mojofer.server import _read_toml

    setuptools = _read_toml(ROOT / "pyproject.toml")["tool"]["setuptools"]
    assert {"py.typed", "_core.pyi"} <= set(setuptools["package-data"]["mojofer"])
    for name in ("py.typed", "_core.pyi"):
        assert (ROOT / "mojofer" / name).is_file(), name
