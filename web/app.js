/*
 * The page's main thread: the camera, the worker that turns its frames into
 * keypoints (worker.js), the WebSocket that sends the keypoints to the
 * server and receives its estimates (docs/protocol.md), and what the page
 * shows of them.
 *
 * A host page (or a test) drives it with window.mojofer.start({apiKey,
 * socketKey, url, modelsUrl}) and window.mojofer.stop(), and reads
 * window.mojoferStats; document.body.dataset.state is "idle",
 * "connecting", "running" or "error".
 *
 * The keys travel as the query's api_key and socket_key (a browser cannot
 * set the upgrade's headers), so they go over plain ws:// only to a
 * loopback host; anywhere else the socket is wss://. A session that was
 * open reconnects (backoff) when its connection ends, unless the server
 * refused the keys; frames taken meanwhile are anonymized and drawn, not
 * sent.
 */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  // worker.js and the models are found beside this script, wherever the page is
  const SCRIPT_URL = document.currentScript ? document.currentScript.src : location.href;
  const RECENT_TIMINGS = 300; // timings kept (10 s at 30 frames/s)
  const FPS_WINDOW_MS = 2000;
  const EVENTS_SHOWN = 50;
  // A session that was open is reopened after a lost connection, an idle
  // timeout or its plan's length, waiting from RETRY_MIN_MS doubling to
  // RETRY_MAX_MS; never after these refusals, which another try would meet
  // again: wrong keys, a protocol version the server does not speak.
  const RETRY_MIN_MS = 500;
  const RETRY_MAX_MS = 10000;
  const REFUSED_FOR_GOOD = new Set([4001, 4008]);
  const CLOSE_MEANINGS = {
    1000: "closed",
    1001: "the server is stopping",
    1006: "the connection failed or was lost: is the server running at that address (wss:// if it serves TLS)?",
    1011: "the server failed",
  };

  const video = $("video");
  const overlay = $("overlay");
  const capture = document.createElement("canvas");
  const captureContext = capture.getContext("2d", { willReadFrequently: true });
  const clockStart = performance.now();

  const stats = {};
  function resetStats() {
    Object.assign(stats, {
      framesCaptured: 0, // video frames seen while running
      framesSkipped: 0, // of those, captured while MAX_IN_FLIGHT frames waited for the worker: not anonymized
      framesAnonymized: 0,
      framesSent: 0,
      estimatesReceived: 0,
      errorsReceived: 0,
      timings: [], // per frame anonymized, the latest last: {frame (framesAnonymized), ms in the worker, detected (the detector ran), faces}
      fps: 0, // frames anonymized and sent per second, over the last 2 s
      lastFrame: null, // {timestamp, faces: [{id, box, quality, landmarks}]}
      lastEstimate: null, // as MojoferWire.decode gives it
      lastError: null, // the last error message from the server
      events: [], // every event received, in order
      closed: null, // {code, reason} of the last socket close
    });
  }
  resetStats();
  window.mojoferStats = stats;

  let session = null; // {ws, stream, seq, sentAt: [], runningSince, opened, retryMs, retryTimer, stopping}

  // ---- state and errors -----------------------------------------------------

  function setState(state, connection) {
    document.body.dataset.state = state;
    $("connection").textContent = connection;
    const active = state === "connecting" || state === "running";
    $("start").disabled = active;
    $("stop").disabled = !active;
  }

  function showError(text) {
    $("error").textContent = text;
    $("error").hidden = false;
  }

  function clearError() {
    $("error").textContent = "";
    $("error").hidden = true;
  }

  // ---- the socket's address -------------------------------------------------

  function isLoopback(hostname) {
    const host = hostname.replace(/^\[|\]$/g, "");
    return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
  }

  /* The WebSocket URL with the keys in its query: `typed` (ws://, wss://,
   * http:// or https://), or else this page's own server. */
  function socketUrl(typed, apiKey, socketKey) {
    let url;
    if (typed) {
      try {
        url = new URL(typed, location.href);
      } catch (e) {
        throw new Error(`the server address ${JSON.stringify(typed)} is not a URL`);
      }
      url.protocol = { "http:": "ws:", "https:": "wss:" }[url.protocol] || url.protocol;
      if (url.protocol !== "ws:" && url.protocol !== "wss:")
        throw new Error(`the server address must begin with wss:// (or ws:// on this machine), got ${url.protocol}//`);
      if (url.protocol === "ws:" && !isLoopback(url.hostname))
        throw new Error(`plain ws:// would send the keys unencrypted to ${url.hostname}: use wss://`);
    } else {
      url = new URL("/", location.href);
      url.protocol = location.protocol === "http:" && isLoopback(location.hostname) ? "ws:" : "wss:";
    }
    url.hash = "";
    url.searchParams.set("api_key", apiKey);
    url.searchParams.set("socket_key", socketKey);
    return url;
  }

  /* The address as shown: never its keys. */
  function shown(url) {
    return `${url.protocol}//${url.host}${url.pathname}`;
  }

  // ---- the worker -----------------------------------------------------------

  let worker = null;
  let workerReady = null; // a promise of the worker with its models loaded
  let workerModels = null; // the models URL it loaded
  let pendingInit = null; // {resolve, reject} while the models load
  // Frames given to the worker and not answered yet. Two may wait: a frame
  // where the detector runs takes about one frame's time (20-30 ms), and
  // the tracked frames after it (1 ms) catch up, so none is skipped; more
  // would only add latency on a device that is too slow anyway.
  const MAX_IN_FLIGHT = 2;
  let framesInFlight = 0;

  function startAnonymizer(modelsUrl) {
    if (workerReady && workerModels === modelsUrl) {
      worker.postMessage({ type: "reset" });
      return workerReady;
    }
    if (worker) worker.terminate();
    worker = new Worker(new URL("worker.js", SCRIPT_URL));
    worker.onmessage = onWorkerMessage;
    worker.onerror = (e) => {
      e.preventDefault();
      const message = `the anonymizer failed: ${e.message || "worker.js could not run"}`;
      workerReady = null; // the next start makes another worker
      if (pendingInit) pendingInit.reject(new Error(message));
      else fail(message);
    };
    workerModels = modelsUrl;
    framesInFlight = 0;
    const ready = new Promise((resolve, reject) => { pendingInit = { resolve, reject }; });
    ready.catch(() => {
      if (workerReady === ready) workerReady = null; // the next start makes another
    });
    workerReady = ready;
    worker.postMessage({ type: "init", modelsUrl, options: {} });
    return workerReady;
  }

  function onWorkerMessage(event) {
    const message = event.data;
    if (message.type === "ready") {
      pendingInit.resolve(worker);
      pendingInit = null;
    } else if (message.type === "keypoints") {
      framesInFlight -= 1;
      if (session && !session.stopping) onKeypoints(message.frame, message.ms, message.detected);
    } else if (message.type === "error") {
      framesInFlight = Math.max(0, framesInFlight - 1);
      if (pendingInit) {
        pendingInit.reject(new Error(`the anonymizer could not start: ${message.message}`));
        pendingInit = null;
      } else {
        fail(`the anonymizer failed: ${message.message}`);
      }
    }
  }

  // ---- the camera and the frames --------------------------------------------

  async function openCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia)
      throw new Error("no camera access here: the page must be served over https:// or from this machine");
    try {
      return await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    } catch (e) {
      throw new Error(`the camera could not be opened: ${e.name}${e.message ? ": " + e.message : ""}`);
    }
  }

  function nextVideoFrame() {
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onVideoFrame);
    else requestAnimationFrame(onVideoFrame);
  }

  let lastVideoTime = -1;

  /* Each new video frame: to the worker, or skipped while it is behind.
   * requestVideoFrameCallback calls once per frame (with `metadata`);
   * requestAnimationFrame once per repaint, a frame perhaps seen before. */
  function onVideoFrame(now, metadata) {
    if (!session || session.stopping) return;
    nextVideoFrame();
    if (!video.videoWidth) return;
    if (!metadata) {
      if (video.currentTime === lastVideoTime) return;
      lastVideoTime = video.currentTime;
    }
    stats.framesCaptured++;
    if (framesInFlight >= MAX_IN_FLIGHT) {
      stats.framesSkipped++;
      return;
    }
    const width = video.videoWidth;
    const height = video.videoHeight;
    if (capture.width !== width || capture.height !== height) {
      capture.width = width;
      capture.height = height;
    }
    captureContext.drawImage(video, 0, 0, width, height);
    const image = captureContext.getImageData(0, 0, width, height);
    const timestamp = (performance.now() - clockStart) / 1000;
    framesInFlight += 1;
    worker.postMessage({ type: "frame", pixels: image.data, width, height, timestamp }, [image.data.buffer]);
  }

  function onKeypoints(frame, ms, detected) {
    stats.framesAnonymized++;
    stats.timings.push({ frame: stats.framesAnonymized, ms, detected, faces: frame.faces.length });
    if (stats.timings.length > RECENT_TIMINGS) stats.timings.shift();
    stats.lastFrame = {
      timestamp: frame.timestamp,
      faces: frame.faces.map((f) => ({ id: f.id, box: f.box, quality: f.quality, landmarks: Array.from(f.landmarks) })),
    };
    drawOverlay(frame);
    const ws = session.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(MojoferWire.encodeFrame(++session.seq, frame));
      stats.framesSent++;
      session.sentAt.push(performance.now());
    }
    updateFps();
  }

  function updateFps() {
    const now = performance.now();
    const sentAt = session.sentAt;
    while (sentAt.length && now - sentAt[0] > FPS_WINDOW_MS) sentAt.shift();
    const span = Math.min(FPS_WINDOW_MS, now - session.runningSince) / 1000;
    stats.fps = span > 0 ? sentAt.length / span : 0;
    $("fps").textContent = stats.fps.toFixed(1);
  }

  function drawOverlay(frame) {
    if (overlay.width !== capture.width || overlay.height !== capture.height) {
      overlay.width = capture.width;
      overlay.height = capture.height;
    }
    const g = overlay.getContext("2d");
    g.clearRect(0, 0, overlay.width, overlay.height);
    const unit = Math.max(1, overlay.width / 320);
    g.lineWidth = unit;
    g.font = `${9 * unit}px system-ui, sans-serif`;
    for (const face of frame.faces) {
      const { x, y, w, h } = face.box;
      g.strokeStyle = "rgba(37, 99, 235, 0.9)";
      g.strokeRect(x, y, w, h);
      g.fillStyle = "rgba(37, 99, 235, 0.9)";
      g.fillText(`face ${face.id}`, x, Math.max(9 * unit, y - 3 * unit));
      g.fillStyle = "#facc15";
      const lm = face.landmarks;
      for (let i = 0; i < lm.length; i += 2) g.fillRect(lm[i] - unit, lm[i + 1] - unit, 2 * unit, 2 * unit);
    }
  }

  // ---- the server's answers ---------------------------------------------------

  function onAnswer(data) {
    let message;
    try {
      message = MojoferWire.decode(new Uint8Array(data));
    } catch (e) {
      fail(`the server sent a message the page cannot read: ${e.message}`);
      return;
    }
    if (message.type === "estimate") {
      stats.estimatesReceived++;
      stats.lastEstimate = message;
      stats.events.push(...message.events);
      showEstimate(message);
      showEvents(message.events);
    } else {
      stats.errorsReceived++;
      stats.lastError = message;
      showError(`frame ${message.seq === null ? "(unreadable)" : message.seq} refused: ${message.code} ${message.reason}`);
    }
  }

  /* The face the readout shows: the first one seen in this frame, else the
   * first lost one still in its grace period. */
  function mainFace(faces) {
    return faces.find((f) => f.visible) || faces[0] || null;
  }

  function showEstimate(message) {
    const face = mainFace(message.faces);
    $("status").textContent = face ? face.status : "no face";
    $("status").dataset.status = face ? face.status : "none";
    $("engagement").textContent = face ? face.engagement : "–";
    $("attention").textContent = face ? face.attention.toFixed(2) : "–";
    showBars($("emotions"), face ? face.emotions : null, MojoferWire.EMOTIONS);
    showBars($("social"), face ? face.social : null, MojoferWire.SOCIAL);
    showFaces(message.faces);
  }

  function showBars(list, values, names) {
    if (list.children.length !== names.length) {
      list.replaceChildren(...names.map((name) => {
        const item = document.createElement("li");
        item.dataset.name = name;
        item.innerHTML = '<span class="name"></span><span class="bar"><span class="fill"></span></span><span class="value"></span>';
        item.querySelector(".name").textContent = name;
        return item;
      }));
    }
    names.forEach((name, i) => {
      const value = values ? values[name] : 0;
      const item = list.children[i];
      item.querySelector(".fill").style.width = `${Math.round(100 * value)}%`;
      item.querySelector(".value").textContent = values ? value.toFixed(2) : "–";
    });
  }

  function topEmotion(emotions) {
    return Object.entries(emotions).reduce((best, entry) => (entry[1] > best[1] ? entry : best))[0];
  }

  function showFaces(faces) {
    const rows = faces.map((f) => {
      const row = document.createElement("tr");
      row.dataset.id = f.id;
      if (!f.visible) row.className = "lost";
      for (const text of [f.id, f.status, f.engagement, f.attention.toFixed(2), topEmotion(f.emotions)]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    });
    $("faces").tBodies[0].replaceChildren(...rows);
  }

  function showEvents(events) {
    const list = $("events");
    for (const e of events) {
      const item = document.createElement("li");
      item.textContent = `${e.timestamp.toFixed(1)} s  face ${e.id}: ${e.kind} ${e.from} → ${e.to}`;
      item.dataset.kind = e.kind;
      list.prepend(item);
    }
    while (list.children.length > EVENTS_SHOWN) list.lastElementChild.remove();
  }

  // ---- start and stop -----------------------------------------------------------

  function openSocket(url) {
    const ws = new WebSocket(url.href, MojoferWire.PROTOCOL);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      if (!session || session.ws !== ws) return;
      if (!session.opened) nextVideoFrame(); // the capture runs on through reconnects
      session.opened = true;
      session.retryMs = RETRY_MIN_MS;
      session.runningSince = performance.now();
      session.sentAt = [];
      clearError();
      setState("running", `connected to ${shown(url)}`);
    };
    ws.onmessage = (event) => {
      if (session && session.ws === ws) onAnswer(event.data);
    };
    ws.onclose = (event) => {
      stats.closed = { code: event.code, reason: event.reason };
      if (!session || session.ws !== ws || session.stopping) return;
      const why = event.reason || CLOSE_MEANINGS[event.code] || "";
      const text = `connection to ${shown(url)} closed: ${event.code}${why ? " " + why : ""}`;
      if (!session.opened || REFUSED_FOR_GOOD.has(event.code)) {
        fail(text);
        return;
      }
      const mine = session;
      showError(`${text}; reconnecting in ${(mine.retryMs / 1000).toFixed(1)} s`);
      setState("connecting", `reconnecting to ${shown(url)}`);
      mine.retryTimer = setTimeout(() => {
        if (session === mine) mine.ws = openSocket(url);
      }, mine.retryMs);
      mine.retryMs = Math.min(RETRY_MAX_MS, 2 * mine.retryMs);
    };
    return ws;
  }

  /* Starts the camera, the anonymizer and the session; a second start
   * stops the first. Resolves once connecting has begun. */
  async function start({ apiKey, socketKey, url, modelsUrl } = {}) {
    end("idle", "not connected");
    clearError();
    resetStats();
    const mine = { ws: null, stream: null, seq: 0, sentAt: [], runningSince: 0, opened: false,
      retryMs: RETRY_MIN_MS, retryTimer: null, stopping: false };
    session = mine;
    try {
      if (!apiKey || !socketKey) throw new Error("an API key and a socket key are needed");
      const address = socketUrl(url, apiKey, socketKey);
      setState("connecting", `connecting to ${shown(address)}`);
      const models = String(modelsUrl || new URL("models/", SCRIPT_URL));
      const [camera, anonymizer] = await Promise.allSettled([openCamera(), startAnonymizer(models)]);
      const stream = camera.status === "fulfilled" ? camera.value : null;
      if (stream && (session !== mine || anonymizer.status === "rejected"))
        stream.getTracks().forEach((track) => track.stop());
      if (camera.status === "rejected") throw camera.reason;
      if (anonymizer.status === "rejected") throw anonymizer.reason;
      if (session !== mine) return;
      mine.stream = stream;
      video.srcObject = stream;
      await video.play();
      if (session === mine) mine.ws = openSocket(address);
    } catch (e) {
      if (session === mine) fail(e.message);
    }
  }

  /* Ends the session, if any, and shows `state`. */
  function end(state, connection) {
    if (session) {
      session.stopping = true;
      clearTimeout(session.retryTimer);
      if (session.ws) session.ws.close(1000, "the page stopped");
      if (session.stream) session.stream.getTracks().forEach((track) => track.stop());
      video.srcObject = null;
      session = null;
    }
    setState(state, connection);
  }

  function fail(message) {
    end("error", "not connected");
    showError(message);
  }

  function stop() {
    end("idle", "not connected");
  }

  $("connect").addEventListener("submit", (event) => {
    event.preventDefault();
    start({ apiKey: $("api-key").value, socketKey: $("socket-key").value, url: $("server-url").value.trim() });
  });
  $("stop").addEventListener("click", stop);

  window.mojofer = { start, stop, stats };
})();
