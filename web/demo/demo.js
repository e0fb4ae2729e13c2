/* The demo page: a photo or the camera -> the square -> SignlangPreprocess (signlang predict's steps,
 * to the bit) -> the ONNX model in onnxruntime-web (wasm, one thread, inlined) -> the top 3 letters.
 * Everything is read from the page itself: file:// cannot fetch, and the page must not use the network. */
(function () {
  "use strict";
  const P = window.SignlangPreprocess;
  const config = JSON.parse(document.getElementById("demo-config").textContent);
  const SIZE = config.imageSize;
  const TOP = 3;
  const $ = (id) => document.getElementById(id);
  const view = $("view"), viewContext = view.getContext("2d");
  const modelInput = $("model-input"), modelInputContext = modelInput.getContext("2d");
  const frameCanvas = document.createElement("canvas");
  const frameContext = frameCanvas.getContext("2d", { willReadFrequently: true });
  const video = $("video");

  // What the tests and the curious can read: window.signlangDemo.last is the latest answer.
  const demo = (window.signlangDemo = { config, predictions: 0, last: null, fps: 0, frameMs: 0, ready: null });

  let ort = null, session = null;
  // the current source: {kind: "photo"|"camera", name, width, height, gray (photo), bitmap (photo)}
  let source = null;
  let square = null; // [x0, y0, x1, y1] in the source's pixels, as the user placed it
  let centred = true; // the square is the source's centre square (signlang predict --no-frame)
  let stream = null, cameraLoop = 0;
  let busy = false, pending = false;
  Object.defineProperty(demo, "busy", { get: () => busy || pending }); // a photo's answer is still coming

  /* ---------- messages ---------- */
  function showMessage(text) {
    const message = $("message");
    message.textContent = text;
    message.hidden = !text;
  }
  function setStatus(text) { $("status").textContent = text; }

  /* ---------- runtime and model, from the page's own bytes ---------- */
  function base64Bytes(id) {
    const text = document.getElementById(id).textContent.trim();
    if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(text);
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  async function gunzip(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  async function loadModel() {
    const code = new TextDecoder().decode(base64Bytes("ort-source"));
    const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
    ort = await import(url);
    ort.env.wasm.wasmBinary = await gunzip(base64Bytes("ort-wasm-gzip"));
    ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which file:// pages lack
    ort.env.wasm.proxy = false; // no worker: it would load a script by URL
    ort.env.logLevel = "error";
    session = await ort.InferenceSession.create(base64Bytes("model-onnx"), {
      executionProviders: ["wasm"],
      graphOptimizationLevel: "all",
    });
  }

  /* ---------- the model ---------- */
  function softmax(logits) {
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v);
    const exps = Array.from(logits, (v) => Math.exp(v - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return exps.map((v) => v / sum);
  }

  async function classify(pixels) {
    const input = P.toModelInput(pixels, config.normalization);
    const feeds = { [config.inputName]: new ort.Tensor("float32", input, [1, 1, SIZE, SIZE]) };
    const outputs = await session.run(feeds);
    return softmax(outputs[config.outputName].data);
  }

  /* ---------- squares: what the model sees and the command that frames the same ---------- */
  function centreSquare() { return P.centerSquare(source.width, source.height); }

  /* The square the model sees: the centre square (--no-frame), else square_around of the hand box the
   * command shows, which gives the user's square back to a thousandth of a pixel. */
  function effectiveSquare() {
    if (!source) return null;
    if (centred) return { square: centreSquare(), hand: null };
    const hand = P.handBox(square, config.handMargin);
    return { square: P.squareAround(hand, source.width, source.height, config.handMargin), hand };
  }

  function clampSquare(candidate) {
    const maxSide = Math.min(source.width, source.height);
    const minSide = Math.min(maxSide, Math.max(4, maxSide / 50));
    const side = Math.min(Math.max(candidate[2] - candidate[0], minSide), maxSide);
    const x0 = Math.min(Math.max(candidate[0], 0), source.width - side);
    const y0 = Math.min(Math.max(candidate[1], 0), source.height - side);
    return [x0, y0, x0 + side, y0 + side];
  }

  function moveSquare(dx, dy) {
    if (!source) return;
    square = clampSquare([square[0] + dx, square[1] + dy, square[2] + dx, square[3] + dy]);
    centred = false;
    update();
  }

  function zoomSquare(factor) {
    if (!source) return;
    const side = (square[2] - square[0]) * factor;
    const cx = (square[0] + square[2]) / 2, cy = (square[1] + square[3]) / 2;
    square = clampSquare([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]);
    centred = false;
    update();
  }

  function resetSquare() {
    if (!source) return;
    square = centreSquare();
    centred = true;
    update();
  }

  function shellQuote(text) {
    return /^[\w@%+=:,./-]+$/.test(text) ? text : "'" + text.replace(/'/g, "'\\''") + "'";
  }

  function showCommand(framing) {
    const line = $("command-line");
    if (!source || source.kind !== "photo") { line.hidden = true; return; }
    const how = framing.hand ? `--box ${P.formatBox(framing.hand)}` : "--no-frame";
    $("command").textContent = `signlang predict ${shellQuote(source.name)} ${how} --top ${TOP}`;
    line.hidden = false;
  }

  /* ---------- drawing ---------- */
  function drawView(image, framing) {
    const fit = Math.min(640 / source.width, 480 / source.height);
    const scale = fit >= 2 ? Math.floor(fit) : Math.min(1, fit); // small images: whole pixels, unsmoothed
    const width = Math.max(1, Math.round(source.width * scale)), height = Math.max(1, Math.round(source.height * scale));
    if (view.width !== width || view.height !== height) { view.width = width; view.height = height; }
    viewContext.imageSmoothingEnabled = scale < 1;
    viewContext.drawImage(image, 0, 0, width, height);
    const s = framing.square.map((v) => v * scale);
    viewContext.save();
    viewContext.fillStyle = "rgba(0, 0, 0, 0.5)";
    viewContext.beginPath();
    viewContext.rect(0, 0, width, height);
    viewContext.rect(s[0], s[1], s[2] - s[0], s[3] - s[1]);
    viewContext.fill("evenodd");
    viewContext.lineWidth = 2;
    viewContext.strokeStyle = "#ffd400";
    viewContext.strokeRect(s[0], s[1], s[2] - s[0], s[3] - s[1]);
    viewContext.restore();
    $("drop-hint").hidden = true;
  }

  function drawModelInput(pixels) {
    const image = modelInputContext.createImageData(SIZE, SIZE);
    for (let i = 0; i < pixels.length; i++) {
      image.data[i * 4] = image.data[i * 4 + 1] = image.data[i * 4 + 2] = pixels[i];
      image.data[i * 4 + 3] = 255;
    }
    modelInputContext.putImageData(image, 0, 0);
  }

  function showAnswer(probabilities, framing, pixels) {
    const ranked = probabilities.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, TOP);
    const letters = ranked.map(([, i]) => config.classes[i]);
    $("top-letter").textContent = letters[0];
    $("top-probability").textContent = ranked[0][0].toFixed(4);
    $("top-probability").dataset.value = String(ranked[0][0]);
    const list = $("top-3");
    list.replaceChildren(...ranked.map(([p], k) => {
      const item = document.createElement("li");
      item.dataset.letter = letters[k];
      item.dataset.probability = String(p);
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${Math.round(p * 120)}px`;
      item.append(`${letters[k]} ${p.toFixed(4)}`, bar);
      return item;
    }));
    demo.predictions += 1;
    demo.last = {
      source: source.kind === "photo" ? source.name : "camera",
      width: source.width, height: source.height,
      square: framing.square, hand: framing.hand,
      letters, probabilities: ranked.map(([p]) => p), all: probabilities, pixels: Array.from(pixels),
    };
    const result = $("result");
    result.dataset.source = demo.last.source;
    result.dataset.seq = String(demo.predictions);
  }

  /* ---------- one answer for the current source and square ---------- */
  async function analyse(rgbaOrGray, image) {
    const framing = effectiveSquare();
    const gray = rgbaOrGray.gray || P.grayscale(rgbaOrGray.data, source.width, source.height);
    const pixels = P.framePixels(gray, source.width, source.height, framing.square, SIZE, config.pillowVerticalFirst);
    drawView(image, framing);
    drawModelInput(pixels);
    showCommand(framing);
    const probabilities = await classify(pixels);
    showAnswer(probabilities, framing, pixels);
  }

  /* Photos: re-answer when the square moves, at most one run at a time, the latest square last. */
  async function update() {
    if (!source || !session) return;
    if (source.kind === "camera") return; // the camera loop answers each frame with the square as it is then
    if (busy) { pending = true; return; }
    busy = true;
    try {
      do {
        pending = false;
        await analyse(source, source.bitmap);
      } while (pending);
    } catch (error) {
      showMessage(`Could not answer: ${error.message || error}`);
    } finally {
      busy = false;
    }
  }

  /* ---------- photos ---------- */
  async function decodePhoto(file) {
    // EXIF orientation applied as Pillow's exif_transpose does; no colour management, as Pillow has none
    const options = { imageOrientation: "from-image", premultiplyAlpha: "default", colorSpaceConversion: "none" };
    const bitmap = await createImageBitmap(file, options);
    if (!bitmap.width || !bitmap.height) throw new Error("it has no pixels");
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    const rgba = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
    return { bitmap, gray: P.grayscale(rgba, bitmap.width, bitmap.height) };
  }

  async function openPhoto(file) {
    if (!file) return;
    let decoded;
    try {
      decoded = await decodePhoto(file);
    } catch (error) {
      showMessage(`“${file.name}” is not an image this browser can read, so it was not used. Try a PNG or JPEG photo.`);
      return;
    }
    stopCamera();
    showMessage("");
    source = { kind: "photo", name: file.name, width: decoded.bitmap.width, height: decoded.bitmap.height,
      gray: decoded.gray, bitmap: decoded.bitmap };
    $("fps").textContent = "";
    resetSquare();
  }

  /* ---------- camera ---------- */
  function cameraMessage(error) {
    const name = error && error.name;
    if (name === "NotAllowedError" || name === "SecurityError")
      return "The camera was not allowed (the browser or you refused it). Photos still work: choose or drop one.";
    if (name === "NotFoundError" || name === "OverconstrainedError")
      return "No camera was found. Photos still work: choose or drop one.";
    if (name === "NotReadableError")
      return "The camera is busy or could not be started (is another program using it?). Photos still work.";
    return `The camera could not be started (${(error && error.message) || error}). Photos still work.`;
  }

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showMessage("This browser offers no camera to this page (some browsers allow cameras only on https:// "
        + "or http://localhost pages): run `signlang demo` and open the address it prints. Photos still work.");
      return;
    }
    let newStream;
    try {
      newStream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: false,
      });
    } catch (error) {
      showMessage(cameraMessage(error));
      return;
    }
    stopCamera();
    stream = newStream;
    video.srcObject = stream;
    try {
      await video.play();
    } catch (error) {
      stopCamera();
      showMessage(cameraMessage(error));
      return;
    }
    showMessage("");
    $("camera-start").hidden = true;
    $("camera-stop").hidden = false;
    source = { kind: "camera", name: "camera", width: video.videoWidth, height: video.videoHeight };
    square = centreSquare();
    centred = true;
    runCamera(++cameraLoop);
  }

  function stopCamera() {
    cameraLoop += 1;
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    $("camera-start").hidden = false;
    $("camera-stop").hidden = true;
    if (source && source.kind === "camera") source = null;
  }

  function nextFrame() {
    return new Promise((resolve) => {
      if (typeof video.requestVideoFrameCallback === "function") {
        let done = false;
        const finish = () => { if (!done) { done = true; resolve(); } };
        video.requestVideoFrameCallback(finish);
        setTimeout(finish, 100); // a camera that sends no new frame: answer again anyway
      } else {
        requestAnimationFrame(() => resolve());
      }
    });
  }

  async function runCamera(loop) {
    const times = [];
    while (loop === cameraLoop && stream) {
      await nextFrame();
      if (loop !== cameraLoop || !stream || !video.videoWidth || !session) continue;
      const width = video.videoWidth, height = video.videoHeight;
      if (width !== source.width || height !== source.height) {
        source.width = width; source.height = height;
        square = centreSquare(); centred = true;
      }
      if (frameCanvas.width !== width || frameCanvas.height !== height) {
        frameCanvas.width = width; frameCanvas.height = height;
      }
      frameContext.setTransform($("mirror").checked ? -1 : 1, 0, 0, 1, $("mirror").checked ? width : 0, 0);
      frameContext.drawImage(video, 0, 0, width, height);
      frameContext.setTransform(1, 0, 0, 1, 0, 0);
      const started = performance.now();
      try {
        await analyse(frameContext.getImageData(0, 0, width, height), frameCanvas);
      } catch (error) {
        showMessage(`Could not answer: ${error.message || error}`);
        stopCamera();
        return;
      }
      const now = performance.now();
      demo.frameMs = demo.frameMs ? 0.9 * demo.frameMs + 0.1 * (now - started) : now - started;
      times.push(now);
      while (times.length && times[0] < now - 1000) times.shift();
      demo.fps = times.length;
      $("fps").textContent = `camera: ${times.length} answers a second (${demo.frameMs.toFixed(1)} ms each)`;
    }
  }

  /* ---------- wiring ---------- */
  $("photo-input").addEventListener("change", (event) => {
    const file = event.target.files && event.target.files[0];
    openPhoto(file).finally(() => { event.target.value = ""; });
  });
  $("camera-start").addEventListener("click", () => startCamera());
  $("camera-stop").addEventListener("click", () => stopCamera());
  $("square-reset").addEventListener("click", () => resetSquare());
  for (const button of document.querySelectorAll("[data-move]")) {
    button.addEventListener("click", () => {
      if (!square) return;
      const [dx, dy] = button.dataset.move.split(",").map(Number);
      const step = (square[2] - square[0]) * 0.05;
      moveSquare(dx * step, dy * step);
    });
  }
  for (const button of document.querySelectorAll("[data-zoom]")) {
    button.addEventListener("click", () => zoomSquare(Number(button.dataset.zoom)));
  }

  const drop = $("drop");
  document.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  document.addEventListener("dragleave", (event) => { if (!event.relatedTarget) drop.classList.remove("over"); });
  document.addEventListener("drop", (event) => {
    event.preventDefault(); // never let the browser open the file instead
    drop.classList.remove("over");
    const file = event.dataTransfer && event.dataTransfer.files && event.dataTransfer.files[0];
    if (file) openPhoto(file);
    else showMessage("Only files can be dropped here: a PNG or JPEG photo.");
  });

  // drag the square; the wheel resizes it; arrow keys and +/- on the focused view do both
  let drag = null;
  function sourcePoint(event) {
    const rect = view.getBoundingClientRect();
    return [(event.clientX - rect.left) * (source.width / rect.width), (event.clientY - rect.top) * (source.height / rect.height)];
  }
  view.addEventListener("pointerdown", (event) => {
    if (!source || !square) return;
    const [x, y] = sourcePoint(event);
    const inside = x >= square[0] && x <= square[2] && y >= square[1] && y <= square[3];
    if (!inside) { // jump: centre the square on the point
      const half = (square[2] - square[0]) / 2;
      moveSquare(x - half - square[0], y - half - square[1]);
    }
    drag = { start: [x, y], square: square.slice() };
    view.setPointerCapture(event.pointerId);
  });
  view.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const [x, y] = sourcePoint(event);
    const dx = x - drag.start[0], dy = y - drag.start[1];
    square = clampSquare([drag.square[0] + dx, drag.square[1] + dy, drag.square[2] + dx, drag.square[3] + dy]);
    centred = false;
    update();
  });
  const endDrag = () => { drag = null; };
  view.addEventListener("pointerup", endDrag);
  view.addEventListener("pointercancel", endDrag);
  view.addEventListener("wheel", (event) => {
    if (!source) return;
    event.preventDefault();
    zoomSquare(event.deltaY > 0 ? 1.1 : 1 / 1.1);
  }, { passive: false });
  view.addEventListener("keydown", (event) => {
    if (!square) return;
    const step = (square[2] - square[0]) * 0.05;
    const keys = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (keys[event.key]) { moveSquare(...keys[event.key]); event.preventDefault(); }
    else if (event.key === "+" || event.key === "=") { zoomSquare(1.1); event.preventDefault(); }
    else if (event.key === "-") { zoomSquare(1 / 1.1); event.preventDefault(); }
    else if (event.key === "0" || event.key === "Home") { resetSquare(); event.preventDefault(); }
  });

  demo.ready = loadModel().then(
    () => {
      document.body.dataset.state = "ready";
      setStatus(`Model ready (onnxruntime-web ${ort.env.versions ? ort.env.versions.web || "" : ""}, wasm, one thread).`);
      if (source) update();
    },
    (error) => {
      document.body.dataset.state = "error";
      setStatus("");
      showMessage(`The model could not be loaded in this browser: ${error.message || error}`);
    },
  );
})();
