/*
 * Runs web/anonymizer.js (the anonymizer in WebAssembly) over raw RGBA
 * frames, for tests/test_wasm.py and benchmarks/wasm.py:
 *
 *   node --no-experimental-fetch scripts/wasm_anonymize.js MANIFEST.json OUT.json
 *
 * MANIFEST: {"models": folder of face_detector.mfm and landmarks.mfm,
 *            "options": Anonymizer options, "repeats": n (default 1),
 *            "runs": [[{"path", "width", "height", "timestamp"}, ...], ...]}
 * Each run is a video: its frames go to one Anonymizer in turn, reset
 * before each run and each repeat. OUT: {"runs": the keypoint frames of
 * each run (the last repeat's) with the ids lost() gives after each,
 * "ms": [run][frame] milliseconds of each
 * process() call, one list per repeat}.
 */
"use strict";
const fs = require("fs");
const path = require("path");
const { Anonymizer } = require("../web/anonymizer.js");

async function main() {
  const [manifestPath, outPath] = process.argv.slice(2);
  const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
  const anon = await Anonymizer.create(Object.assign({}, manifest.options, {
    detector: fs.readFileSync(path.join(manifest.models, "face_detector.mfm")),
    landmarks: fs.readFileSync(path.join(manifest.models, "landmarks.mfm")),
  }));
  const frames = manifest.runs.map((run) => run.map((f) => ({
    image: { data: new Uint8Array(fs.readFileSync(f.path)), width: f.width, height: f.height },
    timestamp: f.timestamp,
  })));
  const ms = [];
  let runs = [];
  for (let r = 0; r < (manifest.repeats || 1); r++) {
    const times = [];
    runs = frames.map((run) => {
      anon.reset();
      const runTimes = [];
      times.push(runTimes);
      return run.map(({ image, timestamp }) => {
        const start = process.hrtime.bigint();
        const kf = anon.process(image, timestamp);
        runTimes.push(Number(process.hrtime.bigint() - start) / 1e6);
        return Object.assign(kf, { lost: anon.lost() });
      });
    });
    ms.push(times);
  }
  anon.free();
  const json = runs.map((run) => run.map((kf) => ({
    timestamp: kf.timestamp,
    lost: kf.lost,
    faces: kf.faces.map((f) => ({ id: f.id, box: f.box, landmarks: Array.from(f.landmarks), quality: f.quality })),
  })));
  fs.writeFileSync(outPath, JSON.stringify({ runs: json, ms }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
