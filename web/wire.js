/*
 * The mojofer protocol's messages (docs/protocol.md) in JavaScript, over
 * msgpack.js: a keypoint frame encoded byte for byte as mojofer.wire
 * encodes it, and the server's answers decoded.
 *
 *   const bytes = MojoferWire.encodeFrame(seq, keypointFrame);  // to send
 *   const message = MojoferWire.decode(data);  // {type: "estimate" | "error", ...}
 *
 * A classic script after msgpack.js (global MojoferWire), or a CommonJS
 * module in Node.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory(require("./msgpack.js"));
  else root.MojoferWire = factory(root.MojoferMsgpack);
})(typeof self !== "undefined" ? self : this, function (msgpack) {
  "use strict";

  const PROTOCOL = "mojofer.v1";
  const LANDMARK_VALUES = 136; // 68 points, x0, y0, x1, y1, ...
  const EMOTIONS = ["neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger"];
  const SOCIAL = ["amusement", "surprise", "confusion"];
  const ACTION_UNITS = ["brow_raise_inner", "brow_raise_outer", "brow_lowerer", "cheek_raise", "lip_corner_pull",
    "lip_corner_depress", "lips_part", "jaw_drop", "eye_closure"];

  class WireError extends Error {
    constructor(message) {
      super(message);
      this.name = "WireError";
    }
  }

  /* The landmarks as the bin of 136 little-endian float32. */
  function landmarkBytes(landmarks, where) {
    if (!landmarks || landmarks.length !== LANDMARK_VALUES)
      throw new TypeError(`${where}: landmarks must be ${LANDMARK_VALUES} numbers (x0, y0, x1, y1, ...), got ${landmarks ? landmarks.length : landmarks}`);
    const bytes = new Uint8Array(4 * LANDMARK_VALUES);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < LANDMARK_VALUES; i++) view.setFloat32(4 * i, landmarks[i], true);
    return bytes;
  }

  /* A `frame` message: the keypoint frame {timestamp, faces: [{id, landmarks,
   * pose?}]} the Anonymizer gives, numbered `seq`. Box and quality stay here. */
  function encodeFrame(seq, frame) {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new TypeError(`seq must be an integer >= 0, got ${seq}`);
    if (typeof frame.timestamp !== "number" || !Number.isFinite(frame.timestamp))
      throw new TypeError(`timestamp must be a finite number of seconds, got ${frame.timestamp}`);
    const faces = frame.faces.map((face, i) => {
      const where = `face ${i}`;
      if (!Number.isInteger(face.id) || face.id < -(2 ** 31) || face.id >= 2 ** 31)
        throw new TypeError(`${where}: id must be a 32-bit integer, got ${face.id}`);
      const message = { id: face.id, lm: landmarkBytes(face.landmarks, where) };
      if (face.pose) message.pose = [face.pose.yaw, face.pose.pitch, face.pose.roll].map(msgpack.float32);
      return message;
    });
    return msgpack.encode({ t: "frame", seq, ts: msgpack.float64(frame.timestamp), faces });
  }

  function named(names, values, what) {
    if (!Array.isArray(values) || values.length !== names.length)
      throw new WireError(`${what} must be ${names.length} numbers`);
    const out = {};
    names.forEach((name, i) => { out[name] = values[i]; });
    return out;
  }

  function estimateFace(f) {
    return {
      id: f.id,
      visible: f.visible,
      pose: named(["yaw", "pitch", "roll"], f.pose, "pose"),
      emotions: named(EMOTIONS, f.emotions, "emotions"),
      social: named(SOCIAL, f.social, "social"),
      actionUnits: named(ACTION_UNITS, f.au, "au"),
      attention: f.attention,
      engagement: f.engagement,
      status: f.status,
    };
  }

  /* The server's answer in `data`: {type: "estimate", seq, timestamp, faces:
   * [{id, visible, pose: {yaw, pitch, roll}, emotions: {neutral, ...}, social:
   * {amusement, surprise, confusion}, actionUnits: {...}, attention,
   * engagement, status}], events: [{timestamp, id, kind, from, to}]} or
   * {type: "error", seq (null if the frame was unreadable), code, reason}. */
  function decode(data) {
    const m = msgpack.decode(data);
    if (m === null || typeof m !== "object" || Array.isArray(m) || m instanceof Uint8Array)
      throw new WireError("a message is one msgpack map");
    if (m.t === "estimate") {
      return {
        type: "estimate",
        seq: m.seq,
        timestamp: m.ts,
        faces: m.faces.map(estimateFace),
        events: m.events.map(([timestamp, id, kind, from, to]) => ({ timestamp, id, kind, from, to })),
      };
    }
    if (m.t === "error") return { type: "error", seq: m.seq, code: m.code, reason: m.reason };
    throw new WireError(`"t" is ${JSON.stringify(m.t)}: a client receives "estimate" and "error"`);
  }

  return { PROTOCOL, EMOTIONS, SOCIAL, ACTION_UNITS, encodeFrame, decode, WireError };
});
