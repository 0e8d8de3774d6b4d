/*
 * The anonymizer, off the page's main thread: RGBA frames in (their pixel
 * buffers transferred, not copied), keypoint frames out, one answer per
 * frame in the order sent (app.js lets at most two wait).
 *
 * Messages in:  {type: "init", modelsUrl, options}   -> {type: "ready"}
 *               {type: "frame", pixels, width, height, timestamp}
 *                 -> {type: "keypoints", frame, ms, detected}  (detected: the detector ran)
 *               {type: "reset"}: forget the faces (a new session)
 * Any failure answers {type: "error", message}.
 */
"use strict";

importScripts("mojofer-anonymize.js", "anonymizer.js");

let anonymizer = null;

async function init(modelsUrl, options) {
  if (anonymizer) anonymizer.free();
  anonymizer = await MojoferAnonymizer.Anonymizer.fromUrl(modelsUrl, options);
  return { type: "ready" };
}

function anonymize({ pixels, width, height, timestamp }) {
  const start = performance.now();
  const detections = anonymizer.tracker.detections;
  const frame = anonymizer.process({ data: pixels, width, height }, timestamp);
  const ms = performance.now() - start;
  return { type: "keypoints", frame, ms, detected: anonymizer.tracker.detections > detections };
}

self.onmessage = async (event) => {
  const message = event.data;
  try {
    if (message.type === "init") {
      self.postMessage(await init(message.modelsUrl, message.options));
    } else if (message.type === "frame") {
      if (!anonymizer) throw new Error("a frame before the anonymizer was made");
      self.postMessage(anonymize(message));
    } else if (message.type === "reset") {
      if (anonymizer) anonymizer.reset();
    } else {
      throw new Error(`unknown message type ${JSON.stringify(message.type)}`);
    }
  } catch (e) {
    self.postMessage({ type: "error", message: `${message.type}: ${e.message}` });
  }
};
