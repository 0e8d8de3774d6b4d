"""The build names the Debian package to install when a system library is missing."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_missing_system_library_names_the_debian_package(tmp_path):
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(tmp_path), PKG_CONFIG_PATH=str(tmp_path))
    result = subprocess.run([sys.executable, "setup.py", "--name"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == ("mojofer build: openblas not found by pkg-config; "
                    "install the Debian package libopenblas-dev")


def test_versions_report_linked_system_libraries():
    import mojofer

    versions = mojofer.versions()
    assert versions["mojofer"] == mojofer.__version__
    assert versions["openblas"].startswith("OpenBLAS ")
    assert versions["libwebsockets"][0].isdigit()
    assert versions["msgpack"].count(".") == 2


def test_what_older_pythons_need_is_declared():
    """`mojofer serve --config` reads TOML: tomllib from Python 3.11, the
    tomli package before, which must then be a dependency."""
    from packaging.requirements import Requirement

    from mojofer.server import _read_toml

    project = _read_toml(ROOT / "pyproject.toml")["project"]
    assert project["requires-python"] == ">=3.9"
    tomli = [r for r in map(Requirement, project["dependencies"]) if r.name == "tomli"]
    assert len(tomli) == 1 and tomli[0].marker is not None
    for version, needed in (("3.9", True), ("3.10", True), ("3.11", False), ("3.13", False)):
        assert tomli[0].marker.evaluate({"python_version": version}) == needed, version
