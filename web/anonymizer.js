/*
 * The anonymize side of mojofer in WebAssembly: RGBA frames in, keypoint
 * frames out, as Python's mojofer.Anonymizer().process(frame, t).
 *
 *   const anon = await MojoferAnonymizer.Anonymizer.fromUrl("models");
 *   const kf = anon.process(imageData, t);  // {timestamp, faces: [{id, box, landmarks, quality}]}
 *
 * A classic script: load it after mojofer-anonymize.js with importScripts()
 * in a worker or a <script> tag (global MojoferAnonymizer), or require() it
 * in Node. Detection and landmarks run in the C core compiled by `make wasm`;
 * the tracking and the face ids here are a port of mojofer/landmarks.py
 * (FaceTracker) and mojofer/anonymizer.py (Anonymizer), kept line for line
 * so that both give the same faces, ids and points (docs/wasm.md).
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    const path = require("path");
    const createModule = require("./mojofer-anonymize.js");
    // Node reads the .wasm itself: Node's fetch does not open file paths
    const wasmBinary = () => require("fs").readFileSync(path.join(__dirname, "mojofer-anonymize.wasm"));
    module.exports = factory(() => createModule, wasmBinary);
  } else {
    root.MojoferAnonymizer = factory(() => root.createMojoferAnonymize, null);
  }
})(typeof self !== "undefined" ? self : this, function (moduleFactory, nodeWasmBinary) {
  "use strict";

  const LANDMARKS = 68;
  const POINT_VALUES = 2 * LANDMARKS;
  const MF_OK = 0;
  const MF_E_INVALID_ARGUMENT = -1;
  const MF_E_IMAGE_TOO_LARGE = -3;
  const MF_RGBA = 4;
  // wasm32 layouts of the C structs (csrc/include/mojofer.h)
  const IMAGE_BYTES = 32; // data, width, height, channels, row/pixel/channel stride, order
  const BOX_BYTES = 20; // x, y, w, h, score
  const LIMITS_BYTES = 32; // max_faces at byte 24
  const PARAMS_BYTES = 20; // min_size, max_size, scale_factor, min_neighbors, exhaustive

  // ---- the C core ----------------------------------------------------------

  function cString(m, pointer) {
    let end = pointer;
    while (m.HEAPU8[end] !== 0) end++;
    return String.fromCharCode.apply(null, m.HEAPU8.subarray(pointer, end));
  }

  function toBytes(value, what) {
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    if (value instanceof Uint8Array) return value;
    throw new TypeError(`${what} must be an ArrayBuffer or a Uint8Array of the .mfm file, got ${describe(value)}`);
  }

  function describe(value) {
    if (value === null) return "null";
    if (typeof value !== "object") return typeof value;
    return value.constructor ? value.constructor.name : "object";
  }

  /* The C detector and landmarker with their scratch in the wasm heap: a
   * frame is copied in once (its buffer kept for the next frame) and viewed
   * as MF_RGBA. */
  class Core {
    constructor(m, detectorBytes, landmarksBytes, minSize) {
      this.m = m;
      this.scratch = m._malloc(IMAGE_BYTES + LIMITS_BYTES + PARAMS_BYTES + 16 + 2 * 4 * POINT_VALUES);
      this.image = this.scratch;
      this.limits = this.image + IMAGE_BYTES;
      this.params = this.limits + LIMITS_BYTES;
      this.status = this.params + PARAMS_BYTES; // int32
      this.count = this.status + 4; // size_t
      this.quality = this.count + 4; // float
      this.points = this.scratch + IMAGE_BYTES + LIMITS_BYTES + PARAMS_BYTES + 16;
      this.initial = this.points + 4 * POINT_VALUES;
      m._mf_limits_default(this.limits);
      m._mf_detect_params_default(this.params);
      this.maxBoxes = m.HEAP32[(this.limits + 24) >> 2];
      m.HEAP32[this.params >> 2] = minSize;
      this.boxes = m._malloc(BOX_BYTES * this.maxBoxes);
      this.frame = 0;
      this.frameBytes = 0;
      this.models = [];
      try {
        const detectorModel = this.model(detectorBytes, "face detector model");
        this.detector = this.engine(m._mf_detector_new, detectorModel, "face detector model");
        const landmarksModel = this.model(landmarksBytes, "landmarks model");
        this.landmarker = this.engine(m._mf_landmarker_new, landmarksModel, "landmarks model");
      } catch (error) {
        this.free();
        throw error;
      }
    }

    statusError(st, what) {
      return new Error(`${what}: ${cString(this.m, this.m._mf_status_str(st))}`);
    }

    model(bytes, what) {
      const m = this.m;
      const copy = m._malloc(Math.max(bytes.length, 1));
      if (!copy) throw new Error(`${what}: out of memory for ${bytes.length} bytes`);
      m.HEAPU8.set(bytes, copy);
      const model = m._mf_model_from_memory(copy, bytes.length, this.limits, this.status);
      m._free(copy); // the model keeps a copy of its own
      const st = m.HEAP32[this.status >> 2];
      if (!model) throw this.statusError(st, what);
      this.models.push(model);
      return model;
    }

    engine(make, model, what) {
      const engine = make(model, this.limits, this.status);
      if (!engine) throw this.statusError(this.m.HEAP32[this.status >> 2], what);
      return engine;
    }

    free() {
      const m = this.m;
      if (this.landmarker) m._mf_landmarker_free(this.landmarker);
      if (this.detector) m._mf_detector_free(this.detector);
      this.models.forEach((model) => m._mf_model_free(model));
      if (this.frame) m._free(this.frame);
      m._free(this.boxes);
      m._free(this.scratch);
      this.landmarker = this.detector = 0;
      this.models = [];
    }

    /* Copies the RGBA pixels into the heap and sets the MF_RGBA view. */
    setFrame(imageData) {
      const m = this.m, bytes = imageData.data.length;
      if (bytes > this.frameBytes) {
        if (this.frame) m._free(this.frame);
        this.frame = m._malloc(bytes);
        if (!this.frame) {
          this.frameBytes = 0;
          throw new RangeError(`imageData is too large: ${imageData.width} x ${imageData.height} pixels`);
        }
        this.frameBytes = bytes;
      }
      m.HEAPU8.set(imageData.data, this.frame);
      const view = this.image >> 2, h32 = m.HEAP32;
      h32[view] = this.frame;
      h32[view + 1] = imageData.width;
      h32[view + 2] = imageData.height;
      h32[view + 3] = 4;
      h32[view + 4] = 4 * imageData.width;
      h32[view + 5] = 4;
      h32[view + 6] = 1;
      h32[view + 7] = MF_RGBA;
    }

    check(st, what) {
      if (st === MF_OK) return;
      if (st === MF_E_IMAGE_TOO_LARGE) throw new RangeError(`imageData: ${cString(this.m, this.m._mf_status_str(st))}`);
      throw this.statusError(st, what);
    }

    /* The detector's boxes on the current frame, best first (FaceDetector.detect). */
    detect() {
      const m = this.m;
      this.check(m._mf_detect(this.detector, this.image, this.params, this.boxes, this.maxBoxes, this.count), "detect");
      const n = m.HEAPU32[this.count >> 2], f32 = m.HEAPF32, boxes = [];
      for (let i = 0; i < n; i++) {
        const b = (this.boxes + BOX_BYTES * i) >> 2;
        boxes.push({ x: f32[b], y: f32[b + 1], w: f32[b + 2], h: f32[b + 3], score: f32[b + 4] });
      }
      return boxes;
    }

    /* [points, quality] fitted in `box` (Landmarker.fit). */
    fit(box) {
      const m = this.m, b = this.boxes >> 2;
      m.HEAPF32.set([box.x, box.y, box.w, box.h, 0], b);
      const st = m._mf_landmarks_from_box(this.landmarker, this.image, this.boxes, this.points, POINT_VALUES, this.quality);
      if (st === MF_E_INVALID_ARGUMENT)
        throw new RangeError("box must have a finite position, a width and height of at least 1 pixel, and overlap the frame");
      return this.fitted(st);
    }

    /* [points, quality] fitted from earlier points (Landmarker.track). */
    track(points) {
      const m = this.m;
      m.HEAPF32.set(points, this.initial >> 2);
      const st = m._mf_landmarks_from_points(this.landmarker, this.image, this.initial, this.points, POINT_VALUES, this.quality);
      if (st === MF_E_INVALID_ARGUMENT) throw new RangeError("points must span at least 1 pixel and overlap the frame");
      return this.fitted(st);
    }

    fitted(st) {
      this.check(st, "landmarks");
      const f32 = this.m.HEAPF32;
      return [f32.slice(this.points >> 2, (this.points >> 2) + POINT_VALUES), f32[this.quality >> 2]];
    }
  }

  // ---- FaceTracker (mojofer/landmarks.py) -----------------------------------

  /* Intersection over union of two {x, y, w, h} boxes (mojofer/detect.py iou). */
  function iou(a, b) {
    const x1 = Math.max(a.x, b.x), y1 = Math.max(a.y, b.y);
    const x2 = Math.min(a.x + a.w, b.x + b.w), y2 = Math.min(a.y + a.h, b.y + b.h);
    const inter = Math.max(0.0, x2 - x1) * Math.max(0.0, y2 - y1);
    const union = a.w * a.h + b.w * b.h - inter;
    return union > 0 ? inter / union : 0.0;
  }

  /* The tight box around a face's points; its width and height are float32
   * differences, as numpy's of the float32 points. */
  function pointsBox(points) {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let i = 0; i < POINT_VALUES; i += 2) {
      x0 = Math.min(x0, points[i]);
      x1 = Math.max(x1, points[i]);
      y0 = Math.min(y0, points[i + 1]);
      y1 = Math.max(y1, points[i + 1]);
    }
    return { x: x0, y: y0, w: Math.fround(x1 - x0), h: Math.fround(y1 - y0), score: 0.0 };
  }

  /* Faces whose boxes overlap by more than `overlap` are one face two tracks
   * converged on: the better fit (lower quality value) stays. */
  function mergeDuplicates(faces, overlap = 0.5) {
    const kept = [];
    for (const face of faces.slice().sort((a, b) => a.quality - b.quality))
      if (kept.every((k) => iou(face.box, k.box) <= overlap)) kept.push(face);
    return kept.sort((a, b) => a.id - b.id);
  }

  class FaceTracker {
    constructor(core, maxQuality, detectEvery) {
      this.core = core;
      this.maxQuality = maxQuality;
      this.detectEvery = detectEvery;
      this.reset();
    }

    reset() {
      this.points = [];
      this.ids = [];
      this.nextId = 0;
      this.framesSinceDetection = 0;
      this.detections = 0;
    }

    /* The faces of the frame already in the core (FaceTracker._process). */
    process() {
      let faces = [];
      for (let i = 0; i < this.points.length; i++) {
        const [fitted, quality] = this.core.track(this.points[i]);
        if (quality <= this.maxQuality)
          faces.push({ box: pointsBox(fitted), landmarks: fitted, quality, tracked: true, id: this.ids[i] });
      }
      faces = mergeDuplicates(faces);
      this.framesSinceDetection += 1;
      const scheduled = this.detectEvery && this.framesSinceDetection >= this.detectEvery;
      if (faces.length < this.points.length || !faces.length || scheduled)
        faces = faces.concat(this.detect(faces.map((f) => f.box)));
      this.points = faces.map((f) => f.landmarks);
      this.ids = faces.map((f) => f.id);
      return faces;
    }

    detect(known) {
      this.detections += 1;
      this.framesSinceDetection = 0;
      const found = [];
      for (const box of this.core.detect()) {
        if (known.some((k) => iou(box, k) > 0.3)) continue;
        const [points, quality] = this.core.fit(box);
        if (quality <= this.maxQuality) {
          found.push({ box, landmarks: points, quality, tracked: false, id: this.nextId });
          this.nextId += 1;
          known = known.concat([box]);
        }
      }
      return found;
    }
  }

  // ---- Anonymizer (mojofer/anonymizer.py) ----------------------------------

  function checkImageData(imageData) {
    if (imageData === null || typeof imageData !== "object")
      throw new TypeError(`imageData must be an ImageData or {data, width, height}, got ${describe(imageData)}`);
    const { data, width, height } = imageData;
    if (!(data instanceof Uint8ClampedArray || data instanceof Uint8Array))
      throw new TypeError(`imageData.data must be a Uint8ClampedArray or Uint8Array of RGBA pixels, got ${describe(data)}`);
    for (const [name, side] of [["width", width], ["height", height]])
      if (!Number.isInteger(side) || side < 1)
        throw new RangeError(`imageData.${name} must be an integer >= 1, got ${side}`);
    if (data.length !== 4 * width * height)
      throw new RangeError(`imageData.data holds ${data.length} bytes, not 4 x ${width} x ${height} = ${4 * width * height} (RGBA)`);
  }

  function checkOption(name, value, valid, rule) {
    if (typeof value !== "number") throw new TypeError(`${name} must be a number, got ${describe(value)}`);
    if (!valid(value)) throw new RangeError(`${name} must be ${rule}, got ${value}`);
    return value;
  }

  class Anonymizer {
    /* Use Anonymizer.create or Anonymizer.fromUrl. */
    constructor(m, options) {
      const opts = options || {};
      const detectEvery = checkOption("detectEvery", opts.detectEvery ?? 10, (v) => Number.isInteger(v) && v >= 0, "an integer >= 0 frames");
      this.grace = checkOption("grace", opts.grace ?? 8, (v) => Number.isFinite(v) && v >= 0, "a finite number of seconds >= 0");
      this.maxFaces = checkOption("maxFaces", opts.maxFaces ?? 16, (v) => Number.isInteger(v) && v >= 1, "an integer >= 1");
      const maxQuality = checkOption("maxQuality", opts.maxQuality ?? 0.25, (v) => v > 0, "> 0");
      const minSize = checkOption("minSize", opts.minSize ?? 24, (v) => Number.isInteger(v) && v >= 1 && v < 2 ** 31, "an integer >= 1 pixel");
      const detector = toBytes(opts.detector, "detector");
      const landmarks = toBytes(opts.landmarks, "landmarks");
      this.core = new Core(m, detector, landmarks, minSize);
      this.tracker = new FaceTracker(this.core, maxQuality, detectEvery);
      this.reset();
    }

    /* An Anonymizer over the two models' bytes (options as the class's). */
    static async create(options) {
      const opts = options || {};
      toBytes(opts.detector, "detector"); // before the module loads
      toBytes(opts.landmarks, "landmarks");
      const createModule = moduleFactory();
      if (typeof createModule !== "function")
        throw new Error("createMojoferAnonymize is not defined: load mojofer-anonymize.js before anonymizer.js");
      const settings = {};
      if (opts.locateFile) settings.locateFile = opts.locateFile;
      if (nodeWasmBinary) settings.wasmBinary = nodeWasmBinary();
      return new Anonymizer(await createModule(settings), opts);
    }

    /* An Anonymizer over ${base}/face_detector.mfm and ${base}/landmarks.mfm. */
    static async fromUrl(base, options) {
      const root = String(base).replace(/\/+$/, "");
      const load = async (name) => {
        const url = `${root}/${name}`;
        const response = await fetch(url);
        if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
        return response.arrayBuffer();
      };
      const [detector, landmarks] = await Promise.all([load("face_detector.mfm"), load("landmarks.mfm")]);
      return Anonymizer.create(Object.assign({}, options, { detector, landmarks }));
    }

    /* Forgets every face and the last timestamp; ids start again at 0. */
    reset() {
      this.tracker.reset();
      this.tracks = new Map(); // id -> {box, trackerId, lostAt}
      this.nextId = 0;
      this.lastTimestamp = null;
    }

    /* Frees the C core's memory; the Anonymizer is unusable afterwards. */
    free() {
      if (this.core) this.core.free();
      this.core = null;
    }

    /* Ids of the faces lost and still within their grace period. */
    lost() {
      const ids = [];
      for (const [fid, track] of this.tracks) if (track.lostAt !== null) ids.push(fid);
      return ids.sort((a, b) => a - b);
    }

    /* The keypoint frame of one RGBA frame taken at `timestamp` seconds. */
    process(imageData, timestamp) {
      if (!this.core) throw new Error("this Anonymizer was freed");
      const t = this.checkTimestamp(timestamp);
      checkImageData(imageData);
      this.core.setFrame(imageData);
      const seen = this.tracker.process().slice(0, this.maxFaces);
      for (const [fid, track] of Array.from(this.tracks))
        if (track.lostAt !== null && t - track.lostAt >= this.grace) this.tracks.delete(fid);
      const byTracker = new Map();
      for (const [fid, track] of this.tracks) if (track.trackerId !== null) byTracker.set(track.trackerId, fid);
      const seenTrackerIds = new Set(seen.map((face) => face.id));
      // faces the tracker dropped, this frame or before: a new detection may be one of them
      let unmatched = new Set();
      for (const [fid, track] of this.tracks) if (!seenTrackerIds.has(track.trackerId)) unmatched.add(fid);
      const given = [];
      for (const face of seen) {
        let fid = byTracker.get(face.id);
        if (fid === undefined) {
          fid = this.claim(face, unmatched);
          unmatched.delete(fid);
        }
        given.push([fid, face]);
      }
      for (const fid of unmatched) {
        const track = this.tracks.get(fid);
        track.trackerId = null;
        if (track.lostAt === null) track.lostAt = t;
      }
      const fresh = given.filter(([fid]) => !this.tracks.has(fid)).length;
      while (this.tracks.size + fresh > this.maxFaces) {
        // every unmatched track is lost: the one lost longest ago goes (lowest id on a tie)
        let oldest = null;
        for (const fid of Array.from(unmatched).sort((a, b) => a - b))
          if (oldest === null || this.tracks.get(fid).lostAt < this.tracks.get(oldest).lostAt) oldest = fid;
        this.tracks.delete(oldest);
        unmatched = new Set(Array.from(unmatched).filter((fid) => this.tracks.has(fid)));
      }
      const faces = [];
      for (const [fid, face] of given) {
        this.tracks.set(fid, { box: face.box, trackerId: face.id, lostAt: null });
        const { x, y, w, h, score } = face.box;
        faces.push({ id: fid, box: { x, y, w, h, score }, landmarks: face.landmarks, quality: face.quality });
      }
      return { timestamp: t, faces };
    }

    checkTimestamp(timestamp) {
      if (typeof timestamp !== "number")
        throw new TypeError(`timestamp must be a number of seconds, got ${describe(timestamp)}`);
      if (!Number.isFinite(timestamp)) throw new RangeError(`timestamp must be finite, got ${timestamp}`);
      if (this.lastTimestamp !== null && timestamp < this.lastTimestamp)
        throw new RangeError(`timestamp ${timestamp} is before the previous ${this.lastTimestamp}: timestamps must not decrease`);
      this.lastTimestamp = timestamp;
      return timestamp;
    }

    /* The id of an unmatched face this new detection is (near where it was
     * last seen, of a similar size), or a new id. */
    claim(face, unmatched) {
      let best = null, bestDistance = Infinity;
      const cx = face.box.x + face.box.w / 2, cy = face.box.y + face.box.h / 2;
      for (const fid of Array.from(unmatched).sort((a, b) => a - b)) {
        const b = this.tracks.get(fid).box;
        const distance = Math.hypot(b.x + b.w / 2 - cx, b.y + b.h / 2 - cy) / Math.max(b.w, 1.0);
        const ratio = face.box.w / Math.max(b.w, 1.0);
        if (distance < 1.0 && ratio > 0.5 && ratio < 2.0 && distance < bestDistance) {
          best = fid;
          bestDistance = distance;
        }
      }
      if (best !== null) return best;
      const fid = this.nextId;
      this.nextId += 1;
      return fid;
    }
  }

  return { Anonymizer };
});
