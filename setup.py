"""Builds mojofer._core from the C core in csrc/ and the binding in mojofer/_core/.

The system libraries are found with pkg-config; a missing one stops the build
with one line naming the Debian package that provides it.
"""
import glob
import os
import shutil
import subprocess
import sys

import numpy
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

# pkg-config name -> Debian package
SYSTEM_LIBRARIES = {
    "openblas": "libopenblas-dev",
    "libwebsockets": "libwebsockets-dev",
    "msgpack": "libmsgpack-dev",
    "openssl": "libssl-dev",  # the server names what is wrong with its TLS files
}


def pkg_config(*args):
    return subprocess.run(["pkg-config", *args], capture_output=True, text=True)


def system_flags():
    if shutil.which("pkg-config") is None:
        sys.exit("mojofer build: pkg-config not found; install the Debian package pkg-config")
    cflags, libs = [], []
    for name, package in SYSTEM_LIBRARIES.items():
        found = pkg_config("--cflags", "--libs", name)
        if found.returncode != 0:
            sys.exit(f"mojofer build: {name} not found by pkg-config; install the Debian package {package}")
        for flag in found.stdout.split():
            (libs if flag.startswith(("-l", "-L")) else cflags).append(flag)
    return cflags, libs


cflags, libs = system_flags()

# the C core, by concern (csrc/tests and csrc/fuzz are not part of the extension)
CORE_FOLDERS = ("base", "anonymize", "estimate", "stream")

# MOJOFER_PORTABLE_BLAS=1 (a test build, `make portable`; never a package):
# cblas_sgemv and cblas_sdot from csrc/wasm/portable_blas.c, the WebAssembly
# build's, in place of OpenBLAS's (the extension's own hidden symbols win), so
# that tests/test_wasm.py compares the two builds on the same summation order.
PORTABLE_BLAS = ["csrc/wasm/portable_blas.c"] if os.environ.get("MOJOFER_PORTABLE_BLAS") == "1" else []

core = Extension(
    "mojofer._core",
    sources=[path for folder in CORE_FOLDERS for path in sorted(glob.glob(f"csrc/{folder}/*.c"))]
    + sorted(glob.glob("mojofer/_core/*.c")) + PORTABLE_BLAS,
    include_dirs=["csrc/include", "csrc", numpy.get_include()],
    extra_compile_args=["-std=c11", "-O3", "-fno-math-errno", "-fvisibility=hidden", "-Wall", "-Wextra",
                        # an API the Python being built for lacks fails the build, not the import
                        "-Werror=implicit-function-declaration", *cflags],
    extra_link_args=[*libs, "-lm"],
    define_macros=[("_POSIX_C_SOURCE", "200809L")],
)

class build_py_with_models(build_py):
    """Ships the trained models of models/ and the browser page of web/ inside
    the package (mojofer/models/, mojofer/web/: mojofer/models.py finds them)."""

    def run(self):
        super().run()
        for pattern, folder in (("models/*.mfm", "models"), ("web/*", "web")):
            target = os.path.join(self.build_lib, "mojofer", folder)
            os.makedirs(target, exist_ok=True)
            for path in glob.glob(pattern):
                if os.path.isfile(path):
                    shutil.copy(path, target)


setup(ext_modules=[core], cmdclass={"build_py": build_py_with_models})
