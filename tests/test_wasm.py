"""The anonymizer in WebAssembly (web/anonymizer.js over web/mojofer-anonymize.wasm,
docs/wasm.md) against Python's mojofer.Anonymizer on the same RGBA frames: the
bundled sample, the sample's head gliding over a canvas (tracking, scheduled
detections), faces lost and found again, max_faces eviction, and 40 of the
landmark validation images.

Two native references:
  - the extension built with the WebAssembly build's portable BLAS loops
    (`make portable`, build/portable): the same float32 arithmetic, so faces,
    ids, boxes and landmarks must agree within 1e-3 px (they agree to the bit
    on x86-64: the C core compiles to the same IEEE operations on both);
  - the normal build on OpenBLAS, whose sgemv sums in another order (and in
    another again on another CPU: native itself moves 0.34 px between OpenBLAS
    core types). The fits start from the same boxes, so a still image agrees
    closely: 0.048 px at most over the 40 validation images, measured on this
    x86-64 (OPENBLAS_STILL_PX = 0.1 leaves room for other OpenBLAS kernels); a
    tracked face starts each frame from the last frame's points, so the
    differences add up over frames: 0.38 px over the 25-frame glide
    (OPENBLAS_TRACKED_PX = 1.0). Faces and ids agree exactly with both.

Not collected (the reason printed) where node or emcc is missing, outside CI (conftest.py).
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mojofer.sample import sample_image

from conftest import wasm_missing_reason

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import wasm_frames  # noqa: E402

pytestmark = pytest.mark.wasm


@pytest.fixture(scope="module", autouse=True)
def tools():
    """Under CI the tests run where node or emcc is missing: they fail with the reason."""
    reason = wasm_missing_reason()
    if reason is not None:
        pytest.fail(reason, pytrace=False)

PORTABLE_PX = 1e-3
OPENBLAS_STILL_PX = 0.1
OPENBLAS_TRACKED_PX = 1.0
VAL_IMAGES = 40
WEB = REPO / "web"


def node(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["node", *args], capture_output=True, text=True, cwd=REPO)


def run_wasm(manifest: Path) -> list:
    out = manifest.with_name("wasm.json")
    done = node("--no-experimental-fetch", "scripts/wasm_anonymize.js", str(manifest), str(out))
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())["runs"]


def run_native(manifest: Path, pythonpath: Path) -> list:
    out = manifest.with_name(f"native_{pythonpath.name}.json")
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "scripts/wasm_frames.py", str(manifest), str(out)],
                          capture_output=True, text=True, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())["runs"]


@pytest.fixture(scope="session")
def portable_build() -> Path:
    """build/portable: the extension on csrc/wasm/portable_blas.c (make portable)."""
    done = subprocess.run(["make", "portable"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    return REPO / "build" / "portable"


def compare(wasm: list, native: list, tolerance_px) -> tuple:
    """Asserts the same faces, ids and lost ids frame by frame, and boxes and
    landmarks within tolerance_px(run, frame) pixels; returns the largest
    differences seen: (pixels, fit quality)."""
    worst = worst_quality = 0.0
    assert len(wasm) == len(native)
    for r, (wasm_run, native_run) in enumerate(zip(wasm, native)):
        assert len(wasm_run) == len(native_run)
        for i, (w, n) in enumerate(zip(wasm_run, native_run)):
            where = f"run {r} frame {i}"
            assert w["timestamp"] == n["timestamp"], where
            assert [f["id"] for f in w["faces"]] == [f["id"] for f in n["faces"]], where
            assert w["lost"] == n["lost"], where
            for wf, nf in zip(w["faces"], n["faces"]):
                box = max(abs(wf["box"][k] - nf["box"][k]) for k in "xywh")
                points = float(np.max(np.abs(np.subtract(wf["landmarks"], nf["landmarks"]))))
                assert len(wf["landmarks"]) == 136
                assert max(box, points) <= tolerance_px(r, i), (where, box, points)
                worst = max(worst, box, points)
                worst_quality = max(worst_quality, abs(wf["quality"] - nf["quality"]))
    return worst, worst_quality


def video_runs() -> list:
    """The sample still; the head gliding for 25 frames (detections at 0, 10
    and 20); lost for two frames and back; two faces, then none, then a
    third elsewhere (max_faces=2 evicts one of the lost, see eviction_run)."""
    glide = wasm_frames.glide(25)
    blank = np.full_like(glide[0], 90)
    blank[..., 3] = 255
    return [[wasm_frames.rgba(sample_image())], glide,
            [glide[0], glide[1], blank, blank, glide[2], glide[3]]]


def eviction_run() -> list:
    head = wasm_frames.glide(1)[0][80:270, 120:290]
    frames = []
    for places in ([(20, 20), (400, 20)], [], [(220, 270)]):
        frame = np.full_like(wasm_frames.glide(1)[0], 90)
        frame[..., 3] = 255
        for x, y in places:
            frame[y:y + head.shape[0], x:x + head.shape[1]] = head
        frames.append(frame)
    return [frames]


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> tuple:
    """(wasm runs, manifest) of video_runs, default options."""
    manifest = wasm_frames.write_manifest(tmp_path_factory.mktemp("video"), video_runs(), REPO / "models", {})
    return run_wasm(manifest), manifest


def test_video_equals_portable_native(video, portable_build):
    wasm, manifest = video
    points, quality = compare(wasm, run_native(manifest, portable_build), lambda r, i: PORTABLE_PX)
    assert points <= PORTABLE_PX and quality <= 1e-6
    # the runs do what they are for: one face in the still, tracked with one id
    # through the glide, and the face lost and found again keeps its id
    assert [len(f["faces"]) for f in wasm[0]] == [1]
    assert all([f["id"] for f in frame["faces"]] == [0] for frame in wasm[1])
    assert [[f["id"] for f in frame["faces"]] for frame in wasm[2]] == [[0], [0], [], [], [0], [0]]
    assert [frame["lost"] for frame in wasm[2]] == [[], [], [0], [0], [], []]


def test_video_near_openblas_native(video):
    wasm, manifest = video
    worst, _ = compare(wasm, run_native(manifest, REPO),
                       lambda r, i: OPENBLAS_STILL_PX if r == 0 or i == 0 else OPENBLAS_TRACKED_PX)
    assert worst > 0  # the two BLAS do sum apart: this is the reference the other test needs


def test_eviction_equals_native(tmp_path, portable_build):
    options = {"maxFaces": 2, "grace": 5}
    manifest = wasm_frames.write_manifest(tmp_path, eviction_run(), REPO / "models", options)
    wasm = run_wasm(manifest)
    compare(wasm, run_native(manifest, portable_build), lambda r, i: PORTABLE_PX)
    assert [[f["id"] for f in frame["faces"]] for frame in wasm[0]] == [[0, 1], [], [2]]
    assert [frame["lost"] for frame in wasm[0]] == [[], [0, 1], [1]]  # 0, lost as long as 1, has the lower id


def val_frames(data_root: Path) -> list:
    """The first VAL_IMAGES landmark validation images, one still run each."""
    lines = (data_root / "landmarks" / "val.csv").read_text().splitlines()[1:VAL_IMAGES + 1]
    return [[np.asarray(Image.open(data_root / "landmarks" / line.split(",")[0]).convert("RGBA"))]
            for line in lines]


def test_val_images(data_root, tmp_path, portable_build):
    manifest = wasm_frames.write_manifest(tmp_path, val_frames(data_root), REPO / "models", {})
    wasm = run_wasm(manifest)
    points, quality = compare(wasm, run_native(manifest, portable_build), lambda r, i: PORTABLE_PX)
    assert points <= PORTABLE_PX and quality <= 1e-6
    compare(wasm, run_native(manifest, REPO), lambda r, i: OPENBLAS_STILL_PX)
    assert sum(len(run[0]["faces"]) >= 1 for run in wasm) >= VAL_IMAGES * 0.9


def afw_group_frames(data_root: Path) -> list:
    """Every AFW photo with several annotated faces, one still run each."""
    faces: dict[str, int] = {}
    for line in (data_root / "detection" / "boxes.csv").read_text().splitlines()[1:]:
        name = line.split(",")[0]
        faces[name] = faces.get(name, 0) + 1
    names = [name for name, n in faces.items() if n >= 2]
    return [[np.asarray(Image.open(data_root / "detection" / name).convert("RGBA"))] for name in names]


def test_photos_of_groups_equal_portable_native(data_root, tmp_path, portable_build):
    """Several faces in a frame: the same faces in the same order, so the
    same ids. Faces whose detections tie in score come in the order found
    in both builds (the C sort breaks ties itself: the C library's qsort,
    glibc's or emscripten's musl's, need not keep ties in order)."""
    manifest = wasm_frames.write_manifest(tmp_path, afw_group_frames(data_root), REPO / "models", {})
    wasm = run_wasm(manifest)
    points, quality = compare(wasm, run_native(manifest, portable_build), lambda r, i: PORTABLE_PX)
    assert points <= PORTABLE_PX and quality <= 1e-6
    assert sum(len(run[0]["faces"]) >= 2 for run in wasm) >= 10


def test_make_wasm_reproduces_committed_build(tmp_path):
    """`make wasm` in a copy of the tree writes the files web/ holds, byte for byte."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, cwd=REPO, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, tmp_path / name)
    for name in ("mojofer-anonymize.js", "mojofer-anonymize.wasm"):
        (tmp_path / "web" / name).unlink()
    done = subprocess.run(["make", "wasm"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("mojofer-anonymize.js", "mojofer-anonymize.wasm"):
        assert (tmp_path / "web" / name).read_bytes() == (WEB / name).read_bytes(), name


# Each bad call, as JavaScript, and the error it must throw: its class and
# words of its message (the argument's name).
BAD_CALLS = {
    "process(null, 0)": ("TypeError", "imageData must be"),
    "process({data: [1, 2, 3, 4], width: 1, height: 1}, 0)": ("TypeError", "imageData.data must be"),
    "process({data: new Uint8Array(12), width: 2, height: 2}, 0)": ("RangeError", "imageData.data holds 12 bytes"),
    "process({data: new Uint8Array(0), width: 0, height: 1}, 0)": ("RangeError", "imageData.width"),
    "process({data: new Uint8ClampedArray(4), width: 1, height: 1.5}, 0)": ("RangeError", "imageData.height"),
    "process(image, '1')": ("TypeError", "timestamp must be a number"),
    "process(image, NaN)": ("RangeError", "timestamp must be finite"),
    "process(image, 5), anon.process(image, 4)": ("RangeError", "timestamp 4 is before the previous 5"),
    "process({data: new Uint8Array(4 * 40000 * 1), width: 40000, height: 1}, 0)":
        ("RangeError", "imageData: image larger than the configured limit"),
}
BAD_CREATES = {
    "{landmarks}": ("TypeError", "detector must be an ArrayBuffer or a Uint8Array"),
    "{detector, landmarks: 'landmarks.mfm'}": ("TypeError", "landmarks must be"),
    "{detector: landmarks, landmarks}": ("Error", "face detector model: model is of the wrong kind"),
    "{detector, landmarks: landmarks.subarray(0, 1000)}": ("Error", "landmarks model: model file is truncated"),
    "{detector, landmarks, maxFaces: 0}": ("RangeError", "maxFaces must be an integer >= 1, got 0"),
    "{detector, landmarks, detectEvery: -1}": ("RangeError", "detectEvery must be"),
    "{detector, landmarks, grace: Infinity}": ("RangeError", "grace must be"),
    "{detector, landmarks, maxQuality: '0.2'}": ("TypeError", "maxQuality must be a number"),
    "{detector, landmarks, minSize: 0}": ("RangeError", "minSize must be"),
}

BAD_INPUT_SCRIPT = """
const fs = require("fs"), http = require("http");
const { Anonymizer } = require("./web/anonymizer.js");
const detector = fs.readFileSync("models/face_detector.mfm"), landmarks = fs.readFileSync("models/landmarks.mfm");
const image = {data: new Uint8ClampedArray(4 * 64 * 48).fill(128), width: 64, height: 48};
const caught = async (f) => { try { await f(); return null; } catch (e) { return [e.constructor.name, e.message]; } };
(async () => {
  const calls = {}, creates = {};
  for (const call of CALLS) {
    const anon = await Anonymizer.create({detector, landmarks});
    calls[call] = await caught(() => eval("anon." + call));
    anon.free();
  }
  for (const options of CREATES) creates[options] = await caught(() => Anonymizer.create(eval("(" + options + ")")));
  // fromUrl over HTTP: the models found, and a folder without them named in the error
  const server = http.createServer((req, res) => {
    const name = req.url.replace("/models/", "");
    if (req.url.startsWith("/models/") && fs.existsSync("models/" + name)) res.end(fs.readFileSync("models/" + name));
    else { res.statusCode = 404; res.end(); }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = "http://127.0.0.1:" + server.address().port;
  const anon = await Anonymizer.fromUrl(base + "/models/");
  const faces = anon.process(image, 0).faces.length;
  anon.free();
  const missing = await caught(() => Anonymizer.fromUrl(base + "/nothing"));
  const freed = await caught(() => anon.process(image, 1));
  server.close();
  console.log(JSON.stringify({calls, creates, faces, missing, freed}));
})();
"""


def test_bad_input_errors():
    script = (BAD_INPUT_SCRIPT.replace("CALLS", json.dumps(list(BAD_CALLS)))
              .replace("CREATES", json.dumps(list(BAD_CREATES))))
    done = node("-e", script)  # fetch on: fromUrl's
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for table, errors in ((BAD_CALLS, result["calls"]), (BAD_CREATES, result["creates"])):
        for call, (kind, words) in table.items():
            assert errors[call] is not None, f"{call} threw nothing"
            assert errors[call][0] == kind and words in errors[call][1], (call, errors[call])
    assert result["faces"] == 0  # a flat grey frame
    assert result["missing"][0] == "Error" and "/nothing/face_detector.mfm: HTTP 404" in result["missing"][1]
    assert result["freed"] == ["Error", "this Anonymizer was freed"]
