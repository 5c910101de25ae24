// neuroart studio: the page. Plain JavaScript, no build step, no outside requests.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  const DEBOUNCE_MS = 170;

  const state = {
    strokes: [],        // [{size, points: [[x, y], ...]}]
    background: null,   // a dropped image, drawn under the strokes
    drawing: null,      // the stroke under the pointer
    pointerId: null,
    timer: null,
    inflight: false,
    dirty: false,
    refine: false,      // when this reading is in, ask for the full attribution map (the pen lifted)
    reading: null,      // the last /api/classify answer
    atlas: null,        // 128 unit dreams (fetched on first hover)
    atlasLoading: false,
    morphA: null,       // data URL of drawing A
    last: null,         // what Save saves: {kind, digit?, image_b?}
    anim: null,
  };
  // the hidden layer's size and shape on the page, as GET /api/info says; what the page makes uses
  // the server's defaults (frames of a morph, number of samples): it never sends its own
  const hidden = { units: 0, cols: 0, rows: 0 };

  // ------------------------------------------------------------------ helpers

  function status(text, error = false) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("error", error);
  }

  async function api(path, body) {
    const res = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data;
    try { data = await res.json(); } catch (e) { data = { error: `${res.status} ${res.statusText}` }; }
    if (!res.ok) throw new Error(data.error || `${res.status}`);
    return data;
  }

  function paint(canvas, px) {
    // 784 bytes (row by row) -> a gray 28x28 canvas
    const c = canvas.getContext("2d");
    const img = c.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const v = px[i];
      img.data[4 * i] = v; img.data[4 * i + 1] = v; img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
    }
    c.putImageData(img, 0, 0);
  }

  function newCanvas(px, caption) {
    const fig = document.createElement("figure");
    const c = document.createElement("canvas");
    c.width = 28; c.height = 28; c.className = "px";
    paint(c, px);
    fig.appendChild(c);
    if (caption !== undefined) {
      const cap = document.createElement("figcaption");
      cap.textContent = caption;
      fig.appendChild(cap);
    }
    return fig;
  }

  function hasInk() { return state.strokes.length > 0 || state.background !== null; }
  // What the server reads: the pad scaled down. The 28x28 digit comes out nearly the same as from
  // the full 280-pixel pad, for a fraction of the preprocessing: 56 px (2x MNIST) for the live
  // reading, 112 px for what is made and saved (Save keeps the very image the result came from).
  const LIVE = 56, MAKE = 112;
  const small = document.createElement("canvas");
  function image(size = MAKE) {
    small.width = size; small.height = size;
    const c = small.getContext("2d");
    c.imageSmoothingEnabled = true;
    c.imageSmoothingQuality = "high";
    c.drawImage(pad, 0, 0, size, size);
    return small.toDataURL("image/png");
  }

  function busy(button, on) {
    button.disabled = on;
    button.classList.toggle("busy", on);
  }

  // ------------------------------------------------------------------ drawing

  function redraw() {
    // an image lies on its own paper colour (no black bars for the reader to mistake for ink),
    // and strokes over it are drawn in a contrasting ink
    const bg = state.background;
    ctx.fillStyle = bg ? bg.paper : "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
    if (bg) {
      const s = Math.min(pad.width / bg.img.width, pad.height / bg.img.height);
      const w = bg.img.width * s, h = bg.img.height * s;
      ctx.drawImage(bg.img, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    }
    ctx.strokeStyle = bg ? bg.ink : "#fff";
    ctx.fillStyle = bg ? bg.ink : "#fff";
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const s of state.strokes) {
      ctx.lineWidth = s.size;
      if (s.points.length === 1) {
        const [x, y] = s.points[0];
        ctx.beginPath(); ctx.arc(x, y, s.size / 2, 0, 2 * Math.PI); ctx.fill();
        continue;
      }
      ctx.beginPath();
      ctx.moveTo(s.points[0][0], s.points[0][1]);
      for (const [x, y] of s.points.slice(1)) ctx.lineTo(x, y);
      ctx.stroke();
    }
    $("hint").classList.toggle("hidden", hasInk());
  }

  function point(e) {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
  }

  pad.addEventListener("pointerdown", (e) => {
    if (state.pointerId !== null) return;
    e.preventDefault();
    state.pointerId = e.pointerId;
    pad.setPointerCapture(e.pointerId);
    const pressure = e.pointerType === "pen" && e.pressure > 0 ? 0.6 + e.pressure : 1;
    state.drawing = { size: Number($("brush").value) * pressure, points: [point(e)] };
    state.strokes.push(state.drawing);
    redraw();
    schedule();
  });
  pad.addEventListener("pointermove", (e) => {
    if (e.pointerId !== state.pointerId || !state.drawing) return;
    e.preventDefault();
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of (events.length ? events : [e])) state.drawing.points.push(point(ev));
    redraw();
    schedule();
  });
  const end = (e) => {
    if (e.pointerId !== state.pointerId) return;
    state.pointerId = null;
    state.drawing = null;
    readNow();
    state.refine = true;
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);

  $("clear").addEventListener("click", () => {
    state.strokes = []; state.background = null; redraw(); resetReading();
  });
  $("undo").addEventListener("click", () => {
    if (state.strokes.length) state.strokes.pop(); else state.background = null;
    redraw();
    if (hasInk()) readNow(); else resetReading();
  });

  // a dropped or chosen image goes under the strokes (the pad's PNG is what the server reads)
  function loadFile(file) {
    if (!file || !file.type.startsWith("image/")) { status("that is not an image file", true); return; }
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => {
      state.background = { img, ...paperOf(img) };
      state.strokes = [];
      redraw();
      readNow();
    };
    img.onerror = () => { status("cannot read that image", true); URL.revokeObjectURL(url); };
    img.src = url;
  }
  function paperOf(img) {
    // the median colour of the image's border: its paper
    const c = document.createElement("canvas");
    c.width = 32; c.height = 32;
    const g = c.getContext("2d");
    g.drawImage(img, 0, 0, 32, 32);
    const d = g.getImageData(0, 0, 32, 32).data;
    const border = [];
    for (let i = 0; i < 32; i++) for (const [x, y] of [[i, 0], [i, 31], [0, i], [31, i]]) border.push(4 * (32 * y + x));
    const median = (k) => border.map((o) => d[o + k]).sort((a, b) => a - b)[border.length >> 1];
    const [r, gr, b] = [median(0), median(1), median(2)];
    const light = 0.299 * r + 0.587 * gr + 0.114 * b > 128;
    return { paper: `rgb(${r}, ${gr}, ${b})`, ink: light ? "#111" : "#fff" };
  }
  $("file").addEventListener("change", (e) => { loadFile(e.target.files[0]); e.target.value = ""; });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("dragging"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("dragging");
    loadFile(e.dataTransfer.files[0]);
  });

  // ------------------------------------------------------------------ reading (debounced)

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(read, DEBOUNCE_MS);
  }
  function readNow() { clearTimeout(state.timer); read(); }

  async function read() {
    if (!hasInk()) return;
    if (state.inflight) { state.dirty = true; return; }   // the newest drawing wins
    state.inflight = true;
    try {
      const sent = image(LIVE);
      const r = await api("/api/classify", { image: sent });
      state.reading = r;
      showReading(r);
      status("");
      if (state.refine && state.pointerId === null && !state.dirty) {
        state.refine = false;
        refine(sent, r);
      }
    } catch (err) {
      status(err.message, true);
    } finally {
      state.inflight = false;
      if (state.dirty) { state.dirty = false; read(); }
    }
  }

  function buildBars() {
    const bars = $("bars");
    for (let d = 0; d < 10; d++) {
      const label = document.createElement("span"); label.className = "d"; label.textContent = d;
      const pair = document.createElement("span"); pair.className = "pair";
      for (const who of ["reader", "mlp"]) {
        const track = document.createElement("span"); track.className = "track";
        const fill = document.createElement("span"); fill.className = `fill ${who}`; fill.id = `bar-${who}-${d}`;
        track.appendChild(fill); pair.appendChild(track);
      }
      const p = document.createElement("span"); p.className = "p"; p.id = `p-${d}`;
      bars.append(label, pair, p);
    }
  }

  function showReading(r) {
    const pr = r.reader.probabilities, pm = r.mlp.probabilities;
    for (let d = 0; d < 10; d++) {
      $(`bar-reader-${d}`).style.width = `${(100 * pr[d]).toFixed(1)}%`;
      $(`bar-mlp-${d}`).style.width = `${(100 * pm[d]).toFixed(1)}%`;
      $(`p-${d}`).textContent = `${Math.round(100 * pr[d])}%`;
      $(`bar-reader-${d}`).closest(".pair").previousSibling.classList.toggle("top", d === r.digit);
    }
    $("answer").textContent = r.digit;
    $("confidence").textContent = `${(100 * pr[r.digit]).toFixed(1)}% sure; the MLP says ${argmax(pm)}`;
    paint($("seen"), r.seen);
    paintWhy(r.seen, r.attribution.map);
    paintHidden(r.hidden.activations);
  }

  async function refine(sent, reading) {
    // the live overlay uses a few path steps; when the pen lifts, the library's full method
    try {
      const ex = await api("/api/explain", { image: sent, target: reading.digit });
      if (state.reading === reading) paintWhy(reading.seen, ex.map);
    } catch (err) { /* the live overlay stays */ }
  }

  function argmax(a) { let k = 0; for (let i = 1; i < a.length; i++) if (a[i] > a[k]) k = i; return k; }

  function paintWhy(seen, map) {
    // the digit dimmed, red where ink speaks for the digit, blue where against
    const c = $("why").getContext("2d");
    const img = c.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const g = seen[i] * 0.35, m = map[i] / 100;
      const pos = Math.max(m, 0), neg = Math.max(-m, 0);
      img.data[4 * i] = Math.min(255, g + 255 * pos);
      img.data[4 * i + 1] = Math.min(255, g + 90 * pos + 141 * neg);
      img.data[4 * i + 2] = Math.min(255, g + 79 * pos + 255 * neg);
      img.data[4 * i + 3] = 255;
    }
    c.putImageData(img, 0, 0);
  }

  function paintHidden(acts) {
    if (!hidden.units) return;
    const c = $("hidden").getContext("2d");
    const img = c.createImageData(hidden.cols, hidden.rows);
    let top = 1e-6;
    for (const a of acts) top = Math.max(top, a);
    for (let i = 0; i < acts.length && i < hidden.units; i++) {
      const t = Math.sqrt(acts[i] / top);  // magma-ish ramp
      img.data[4 * i] = 255 * Math.min(1, 1.6 * t);
      img.data[4 * i + 1] = 255 * Math.max(0, t * t * 0.95);
      img.data[4 * i + 2] = 255 * Math.max(0.08, 0.55 * Math.sin(Math.PI * t) + 0.35 * t * t);
      img.data[4 * i + 3] = 255;
    }
    c.putImageData(img, 0, 0);
  }

  function resetReading() {
    state.reading = null;
    $("answer").textContent = "–";
    $("confidence").textContent = "";
    for (let d = 0; d < 10; d++) {
      $(`bar-reader-${d}`).style.width = "0"; $(`bar-mlp-${d}`).style.width = "0";
      $(`p-${d}`).textContent = "";
    }
    for (const id of ["seen", "why"]) {
      const c = $(id).getContext("2d"); c.fillStyle = "#000"; c.fillRect(0, 0, 28, 28);
    }
    paintHidden(new Array(hidden.units).fill(0));
  }

  // ------------------------------------------------------------------ hidden units and their dreams

  async function showUnit(e) {
    const h = $("hidden"), r = h.getBoundingClientRect();
    const col = Math.floor((e.clientX - r.left) / r.width * hidden.cols);
    const row = Math.floor((e.clientY - r.top) / r.height * hidden.rows);
    if (col < 0 || col >= hidden.cols || row < 0 || row >= hidden.rows) return;
    const unit = row * hidden.cols + col;
    if (unit >= hidden.units) return;
    if (!state.atlas) {
      if (state.atlasLoading) return;
      state.atlasLoading = true;
      $("unit-label").textContent = `dreaming the ${hidden.units} units…`;
      try { state.atlas = (await api("/api/atlas")).images; } catch (err) { status(err.message, true); }
      state.atlasLoading = false;
      if (!state.atlas) return;
    }
    const act = state.reading ? state.reading.hidden.activations[unit] : null;
    $("unit-label").textContent = `unit ${unit}` + (act === null ? "" : ` (${act.toFixed(2)})`);
    paint($("unit"), state.atlas[unit]);
  }
  $("hidden").addEventListener("pointermove", showUnit);
  $("hidden").addEventListener("pointerdown", showUnit);

  // ------------------------------------------------------------------ making

  function needInk() {
    if (hasInk()) return true;
    status("draw a digit first", true);
    return false;
  }

  function play(frames, label) {
    clearInterval(state.anim);
    let i = 0;
    $("stage-label").textContent = label;
    paint($("stage"), frames[0]);
    state.anim = setInterval(() => {
      i += 1;
      if (i >= frames.length) { clearInterval(state.anim); state.anim = null; return; }
      paint($("stage"), frames[i]);
    }, 70);
  }

  function setGif(url, name) {
    const a = $("gif");
    a.href = url; a.download = name; a.hidden = false;
  }

  function strip(images, captions) {
    const s = $("strip");
    s.replaceChildren(...images.map((px, i) => newCanvas(px, captions ? captions[i] : undefined)));
  }

  async function make(button, path, body, show, what) {
    if (!needInk()) return;
    busy(button, true);
    status(`${what}…`);
    try {
      const r = await api(path, { image: image(), ...body });  // a body's own image (morph's A) wins
      show(r);
      status("");
    } catch (err) {
      status(err.message, true);
    } finally {
      busy(button, false);
    }
  }

  function buildTargets() {
    const box = $("targets");
    for (let d = 0; d < 10; d++) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = d; b.id = `dream-${d}`; b.title = `dream the drawing into a ${d}`;
      b.addEventListener("click", () => make(b, "/api/dream", { digit: d }, (r) => {
        play(r.frames.concat([r.image]), `dreamed into ${d}: the reader says ${r.reader.digit} (${Math.round(100 * r.reader.probability)}%)`);
        setGif(r.gif, `dream-${d}.gif`);
        state.last = { kind: "dream", digit: d };
      }, `dreaming into ${d}`));
      box.appendChild(b);
    }
  }

  $("restyle").addEventListener("click", (e) => make(e.currentTarget, "/api/restyle", {}, (r) => {
    strip(r.images, r.digits.map(String));
    state.last = { kind: "restyle" };
  }, "restyling"));
  $("similar").addEventListener("click", (e) => make(e.currentTarget, "/api/similar", {}, (r) => {
    strip(r.images);
  }, "sampling"));
  $("generate").addEventListener("click", (e) => {
    const d = state.reading ? state.reading.digit : 0;
    make(e.currentTarget, "/api/generate", { digit: d, seed: Math.floor(Math.random() * 1e6) },
      (r) => strip(r.images), `generating ${d}s`);
  });

  $("keep").addEventListener("click", () => {
    if (!needInk() || !state.reading) return;
    state.morphA = image();
    paint($("morph-a"), state.reading.seen);
    $("morph").disabled = false;
    status("kept as A: now draw B and morph");
  });
  $("morph").addEventListener("click", (e) => {
    if (!state.morphA) return;
    const a = state.morphA;
    make(e.currentTarget, "/api/morph", { image: a, image_b: image() }, (r) => {
      play(r.frames, `morph ${r.from} → ${r.to}`);
      strip(r.frames);
      setGif(r.gif, "morph.gif");
      state.last = { kind: "morph", image: a };
    }, "morphing");
  });
  $("save").addEventListener("click", async (e) => {
    if (!needInk()) return;
    const last = state.last || { kind: "dream", digit: state.reading ? state.reading.digit : 0 };
    let body;
    if (last.kind === "morph") body = { kind: "morph", image: last.image, image_b: image() };
    else if (last.kind === "dream") body = { kind: "dream", image: image(), digit: last.digit };
    else body = { kind: last.kind, image: image() };
    const b = e.currentTarget;
    busy(b, true); status("saving…");
    try {
      const r = await api("/api/save", body);
      const code = document.createElement("code");
      code.textContent = r.recipe ? r.recipe.command : "";
      $("saved").replaceChildren(`saved ${r.picture} in ${r.folder}`, code);
      status("");
    } catch (err) {
      status(err.message, true);
    } finally {
      busy(b, false);
    }
  });

  // ------------------------------------------------------------------ start

  function useInfo(info) {
    const [cols, rows] = info.hidden.grid;
    Object.assign(hidden, { units: info.hidden.units, cols, rows });
    const h = $("hidden");
    h.width = cols; h.height = rows;
    $("hidden-units").textContent = info.hidden.units;
  }

  async function start() {
    buildBars();
    buildTargets();
    redraw();
    try {
      const info = await api("/api/info");
      useInfo(info);
      $("reader-name").textContent = info.reader === "reader" ? "reader" : `reader (${info.reader})`;
      if (!info.restyle) {
        for (const id of ["restyle", "similar"]) { $(id).disabled = true; $(id).title = "restyle is not available"; }
      }
      status("draw a digit");
    } catch (err) {
      status(`the studio server does not answer: ${err.message}`, true);
    }
    resetReading();
  }
  start();
})();
