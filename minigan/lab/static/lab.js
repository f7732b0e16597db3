// minigan lab: the page. It asks the server (minigan/lab/server.py) for snapshots of the views
// and sends settings and actions; it draws, and never computes the maths itself.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const LOSSES = { gmn: ["mmd2", "mmd"], gan: ["non-saturating", "minimax"], mmdgan: [] };
const SERIES_COLOURS = ["#d9600b", "#117a72", "#2d5fc4", "#b8325a"];
const VIEW_NAMES = { samples: "samples", heat: "critic's view", arrows: "arrows",
  map: "generator's map", curves: "curves", mmd2: "MMD²", modes: "modes" };

let session = null;      // this page's session id
let ready = null;        // settles when the session exists: a control used before waits for it
let shown = 0;           // version of the snapshot on screen (older ones are ignored)
let snap = null;         // that snapshot
let pending = [];        // points drawn and not yet sent
let renders = 0;

async function api(path, body) {
  const init = { headers: { "X-Minigan-Token": TOKEN } };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const answer = await r.json();
  if (!r.ok) throw new Error(answer.error || `HTTP ${r.status}`);
  return answer;
}

function showMessage(text, kind) {
  const m = $("message");
  m.hidden = !text;
  m.textContent = text || "";
  m.className = kind || "";
}

// A request that changes something: its answer is a fresh snapshot (or the library's refusal).
async function act(path, body) {
  try {
    await ready;
    show(await api(path, { session, ...body }));
    if (!snap.error) showMessage("");
  } catch (e) {
    showMessage("Refused: " + e.message, "refused");
    if (snap) syncControls(snap, true);
  }
}

// ------------------------------------------------------------------ drawing
function mapper(s, canvas) {
  const [x0, x1, y0, y1] = s.box, W = canvas.width, H = canvas.height;
  return {
    x: (x) => (x - x0) / (x1 - x0) * W,
    y: (y) => H - (y - y0) / (y1 - y0) * H,
    inv: (px, py) => [x0 + px / W * (x1 - x0), y0 + (H - py) / H * (y1 - y0)],
    scale: W / (x1 - x0),
  };
}

function heatColour(v, lo, hi, mid) {
  // teal where the critic says "real" (v above mid), orange where it says "generated"
  const t = v >= mid ? Math.min(1, (v - mid) / Math.max(hi - mid, 1e-12))
                     : -Math.min(1, (mid - v) / Math.max(mid - lo, 1e-12));
  const base = t >= 0 ? [17, 122, 114] : [217, 96, 11], a = Math.abs(t) * 0.7;
  return base.map((c) => Math.round(255 * (1 - a) + c * a));
}

function heatRange(s) {
  const vals = s.heat.values;
  if (s.kind === "GAN") return [0, 1, 0.5];
  const m = Math.max(...vals.map(Math.abs), 1e-12);
  return [-m, m, 0];
}

const heatCanvas = document.createElement("canvas");   // the n x n map, scaled up on drawing

function drawHeat2d(ctx, s) {
  const n = s.heat.n, [lo, hi, mid] = heatRange(s);
  if (heatCanvas.width !== n) heatCanvas.width = heatCanvas.height = n;
  const hc = heatCanvas.getContext("2d"), img = hc.createImageData(n, n), px = img.data;
  s.heat.values.forEach((v, i) => {
    const [r, g, b] = heatColour(v, lo, hi, mid);
    px[4 * i] = r; px[4 * i + 1] = g; px[4 * i + 2] = b; px[4 * i + 3] = 255;
  });
  hc.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(heatCanvas, 0, 0, ctx.canvas.width, ctx.canvas.height);
}

function dots(ctx, m, pts, colour, r) {
  // one path for all the dots: one fill instead of one per point
  ctx.fillStyle = colour;
  ctx.beginPath();
  for (const [x, y] of pts) { ctx.moveTo(m.x(x) + r, m.y(y)); ctx.arc(m.x(x), m.y(y), r, 0, 2 * Math.PI); }
  ctx.fill();
}

function arrow(shafts, heads, x, y, dx, dy) {
  // adds one arrow from (x, y) by (dx, dy) to two paths: its shaft and its head
  const len = Math.hypot(dx, dy);
  if (len < 0.5) return;
  const ux = dx / len, uy = dy / len, h = Math.min(5, len * 0.4);
  shafts.moveTo(x, y); shafts.lineTo(x + dx, y + dy);
  heads.moveTo(x + dx, y + dy);
  heads.lineTo(x + dx - h * (ux - uy * 0.5), y + dy - h * (uy + ux * 0.5));
  heads.lineTo(x + dx - h * (ux + uy * 0.5), y + dy - h * (uy - ux * 0.5));
  heads.closePath();
}

function drawArrows(ctx, m, s, yOf) {
  // minus the gradient: where the generator moves each point; one scale for all three kinds,
  // so that step = repulsion + attraction can be seen
  const a = s.arrows, kinds = [["total", "#222"], ["repulsion", "#b8325a"], ["attraction", "#2d5fc4"]];
  const norms = a.total.map((g) => Math.hypot(...g));
  const parts = a.repulsion ? a.repulsion.concat(a.attraction).map((g) => Math.hypot(...g)) : [];
  const top = Math.max(...norms, ...parts, 1e-300), L = 0.065 * ctx.canvas.width;
  ctx.lineWidth = 1.2;
  for (const [kind, colour] of kinds) {   // one stroke and one fill per kind
    if (!a[kind]) continue;
    const shafts = new Path2D(), heads = new Path2D();
    a[kind].forEach((g, i) => {
      const p = s.fake[i], x = m.x(p[0]), y = yOf(p, i);
      const dy = s.dim === 1 ? 0 : g[1] / top * L;
      arrow(shafts, heads, x, y, -g[0] / top * L, dy);   // canvas y points down: -(-g_y)
    });
    ctx.strokeStyle = ctx.fillStyle = colour;
    ctx.stroke(shafts); ctx.fill(heads);
  }
}

function histogram(ctx, m, pts, colour, y0, height, x0, x1) {
  const bins = 60, counts = new Array(bins).fill(0), w = (x1 - x0) / bins;
  for (const [x] of pts) { const b = Math.floor((x - x0) / w); if (b >= 0 && b < bins) counts[b]++; }
  const top = Math.max(...counts, 1);
  ctx.fillStyle = colour;
  counts.forEach((c, b) => {
    const h = c / top * height;
    ctx.fillRect(m.x(x0 + b * w) + 1, y0 - h, m.scale * w - 2, h);
  });
}

function drawPlane(s) {
  const canvas = $("plane"), ctx = canvas.getContext("2d"), m = mapper(s, canvas);
  const on = new Set(s.params.views), W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  ctx.globalAlpha = 1;
  if (s.dim === 1) return drawLine(ctx, m, s, on);
  if (on.has("heat") && s.heat) drawHeat2d(ctx, s);
  if (on.has("map") && s.map && s.map.lines) {
    ctx.strokeStyle = "rgba(90, 90, 90, 0.45)"; ctx.lineWidth = 0.8;
    const lines = new Path2D();    // all the lines, one stroke
    for (const line of s.map.lines)
      line.forEach(([x, y], i) => (i ? lines.lineTo(m.x(x), m.y(y)) : lines.moveTo(m.x(x), m.y(y))));
    ctx.stroke(lines);
  }
  if (on.has("samples") && s.fake) dots(ctx, m, s.fake, "rgba(217, 96, 11, 0.7)", 2.2);
  if (on.has("arrows") && s.arrows && s.fake) drawArrows(ctx, m, s, (p) => m.y(p[1]));
  if (on.has("samples")) {   // real on top: ring-8's modes are narrower than a dot
    dots(ctx, m, s.real || [], "rgba(10, 95, 88, 0.85)", 2.4);
    dots(ctx, m, pending, "rgba(10, 95, 88, 0.85)", 2.4);
  }
}

function drawLine(ctx, m, s, on) {
  // 1-D, top to bottom: the critic's curve; the real histogram; the generated one, with the
  // arrows under it; the generator's map G(z) beside F^-1((z+1)/2) (its own axes: z across)
  const W = ctx.canvas.width, H = ctx.canvas.height, [x0, x1] = s.box;
  ctx.font = "12px system-ui, sans-serif";
  if (on.has("samples")) {
    histogram(ctx, m, s.real || [], "rgba(17, 122, 114, 0.6)", H * 0.44, H * 0.16, x0, x1);
    if (s.fake) histogram(ctx, m, s.fake, "rgba(217, 96, 11, 0.6)", H * 0.62, H * 0.16, x0, x1);
    ctx.strokeStyle = "#bbb";
    for (const y of [0.44, 0.62]) { ctx.beginPath(); ctx.moveTo(0, H * y); ctx.lineTo(W, H * y); ctx.stroke(); }
  }
  if (on.has("heat") && s.heat) {
    const t = Math.max(...s.heat.values.map(Math.abs), 1e-12), [lo, hi] = s.kind === "GAN" ? [0, 1] : [-t, t];
    const yOf = (v) => H * 0.04 + (1 - (v - lo) / (hi - lo)) * H * 0.2;
    ctx.strokeStyle = "#888"; ctx.setLineDash([4, 4]); ctx.beginPath();
    ctx.moveTo(0, yOf((lo + hi) / 2)); ctx.lineTo(W, yOf((lo + hi) / 2)); ctx.stroke(); ctx.setLineDash([]);
    ctx.strokeStyle = "#111"; ctx.lineWidth = 2; ctx.beginPath();
    s.heat.values.forEach((v, i) => { const x = i / (s.heat.n - 1) * W; i ? ctx.lineTo(x, yOf(v)) : ctx.moveTo(x, yOf(v)); });
    ctx.stroke(); ctx.lineWidth = 1;
    ctx.fillStyle = "#333"; ctx.fillText(s.kind === "GAN" ? "D(x)  (dashed: 1/2)" : "witness h(x)  (dashed: 0)", 8, 14);
  }
  if (on.has("arrows") && s.arrows && s.fake) drawArrows(ctx, m, s, (p, i) => H * 0.64 + (i % 16) * 2.5);
  if (on.has("map") && s.map && s.map.g) {
    const bx = 40, by = H * 0.73, bw = W - 60, bh = H * 0.24;
    ctx.strokeStyle = "#ccc"; ctx.strokeRect(bx, by, bw, bh);
    const px = (z) => bx + (z + 1) / 2 * bw, py = (x) => by + bh - (x - x0) / (x1 - x0) * bh;
    const curve = (ys, colour, dash) => { ctx.strokeStyle = colour; ctx.setLineDash(dash); ctx.lineWidth = 2; ctx.beginPath();
      ys.forEach((y, i) => { const X = px(s.map.z[i]), Y = Math.max(by, Math.min(by + bh, py(y))); i ? ctx.lineTo(X, Y) : ctx.moveTo(X, Y); });
      ctx.stroke(); ctx.setLineDash([]); ctx.lineWidth = 1; };
    if (s.map.ideal) curve(s.map.ideal, "#117a72", [5, 4]);
    curve(s.map.g, "#d9600b", []);
    ctx.fillStyle = "#333";
    ctx.fillText("generator's map: G(z) (orange), F⁻¹((z+1)/2) (dashed), z from −1 to 1", bx + 6, by + 14);
    ctx.fillText("x", bx - 14, by + bh / 2);
  }
}

function drawCurves(s) {
  const canvas = $("curves"), ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "12px system-ui, sans-serif";
  const on = new Set(s.params.views);
  const panel = (y0, h, title, series, xs) => {
    ctx.fillStyle = "#333"; ctx.fillText(title, 6, y0 + 12);
    const all = series.flatMap(([, v]) => v).filter(Number.isFinite);
    if (!all.length) return;
    let lo = Math.min(...all), hi = Math.max(...all);
    if (hi - lo < 1e-12) { hi += 1e-6; lo -= 1e-6; }
    const top = y0 + 20, bottom = y0 + h - 14, xmax = Math.max(...xs.flat(), 1);
    ctx.fillStyle = "#777"; ctx.fillText(hi.toPrecision(3), W - 60, top + 10); ctx.fillText(lo.toPrecision(3), W - 60, bottom);
    ctx.fillText(`step ${Math.round(xmax)}`, W - 60, y0 + 12);
    series.forEach(([name, v, colour], k) => {
      ctx.strokeStyle = colour; ctx.beginPath();
      v.forEach((y, i) => { const X = 6 + xs[k][i] / xmax * (W - 70), Y = bottom - (y - lo) / (hi - lo) * (bottom - top);
        i ? ctx.lineTo(X, Y) : ctx.moveTo(X, Y); });
      ctx.stroke();
      ctx.fillStyle = colour; ctx.fillText(name, 8 + k * (W - 70) / series.length, y0 + h - 1);
    });
  };
  if (on.has("curves") && s.curves) {
    const entries = Object.entries(s.curves.series);
    panel(0, 160, s.curves.stride > 1 ? `losses by step (every ${s.curves.stride}th shown)` : "losses by step",
      entries.map(([k, v], i) => [k, v, SERIES_COLOURS[i % 4]]),
      entries.map(([, v]) => v.map((_, i) => i * s.curves.stride)));
  }
  if (on.has("mmd2") && s.mmd2 && s.mmd2.length) {
    panel(165, 135, "MMD² to 1,000 held-out real points", [["MMD²", s.mmd2.map((p) => p[1]), "#2d5fc4"]],
      [s.mmd2.map((p) => p[0])]);
  }
}

function drawFigures(s) {
  const rows = [["backend", s.backend], ["steps/s", s.steps_per_second.toFixed(1)]];
  if (s.mmd2 && s.mmd2.length) rows.push(["MMD² (held out)", s.mmd2[s.mmd2.length - 1][1].toPrecision(3)]);
  if (s.modes) {
    rows.push(["modes covered", `${s.modes.modes} / ${s.modes.of}`]);
    rows.push(["high quality (within 3 std)", `${s.modes.high_quality_pct.toFixed(1)} %`]);
    rows.push(["reverse KL of the modes", s.modes.reverse_kl === null ? "∞ (no sample near a mode)" : String(s.modes.reverse_kl)]);
  }
  for (const [k, v] of Object.entries(s.curves ? s.curves.series : {})) if (v.length) rows.push([k, v[v.length - 1].toPrecision(4)]);
  if (!changed("figures", rows)) return;
  const t = document.createElement("table");
  for (const [k, v] of rows) { const r = t.insertRow(); r.insertCell().textContent = k; r.insertCell().textContent = v; }
  $("figures").replaceChildren(t);
}

const lastDrawn = {};   // what each part of the page last showed: unchanged parts are left alone

function setText(id, text) {
  // a text node replaced by the same text still costs the browser a layout and a paint
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}

function changed(part, value) {
  const key = JSON.stringify(value);
  if (lastDrawn[part] === key) return false;
  lastDrawn[part] = key;
  return true;
}

function drawLegend(s) {
  const on = new Set(s.params.views), items = [];
  if (!changed("legend", [s.params.views, s.kind, s.dim, !!(s.arrows && s.arrows.repulsion),
                          !!s.modes, s.sources])) return;
  const dot = (c, text) => `<span><i class="${c}"></i>${text}</span>`;   // colours in lab.css
  if (on.has("samples")) items.push(dot("real", "real"), dot("fake", "generated"));
  if (on.has("arrows")) {
    items.push(dot("step", "step −∂L/∂x"));
    if (s.arrows && s.arrows.repulsion) items.push(dot("rep", "X–X repulsion"), dot("att", "X–Y attraction"));
  }
  if (on.has("heat") && s.dim === 2) items.push(s.kind === "GAN" ? "<span>shade: D(x), teal &gt; ½ &gt; orange</span>"
    : "<span>shade: witness, teal = more data, orange = more generated</span>");
  if (on.has("map") && s.dim === 2) items.push("<span>grey lines: G(noise grid)</span>");
  $("legend").innerHTML = items.join(" ");   // fixed strings only
  const list = $("sources");
  list.replaceChildren();
  for (const [view, [where, anchor]] of Object.entries(s.sources)) {
    if (!on.has(view) || (view === "modes" && !s.modes)) continue;
    const li = document.createElement("li"), code = document.createElement("code"), a = document.createElement("a");
    code.textContent = where; a.href = "/guide#" + anchor; a.target = "_blank"; a.textContent = "guide";
    li.append(VIEW_NAMES[view] + ": ", code, " · ", a);
    list.append(li);
  }
}

// ------------------------------------------------------------------ controls
function setIfIdle(el, value) {
  if (document.activeElement !== el) el.value = value;
}

function syncControls(s, force) {
  const p = s.params;
  for (const [id, value] of [["dataset", p.dataset], ["method", p.method], ["speed", String(p.speed)]])
    if (force || document.activeElement !== $(id)) $(id).value = value;
  const loss = document.querySelector('[data-param="loss"]');
  const options = ["", ...LOSSES[p.method]];
  if (loss.dataset.method !== p.method) {
    loss.replaceChildren(...options.map((o) => new Option(o || "default", o)));
    loss.dataset.method = p.method;
  }
  for (const el of document.querySelectorAll("[data-param]")) {
    const v = p[el.dataset.param];
    const text = v === null || v === undefined ? "" : Array.isArray(v) ? v.join(", ") : String(v);
    if (force) el.value = text; else setIfIdle(el, text);
  }
  const twoPlayer = p.method !== "gmn";
  document.querySelectorAll(".two-player input").forEach((el) => (el.disabled = !twoPlayer));
  document.querySelector(".has-kernel input").disabled = p.method === "gan";
  loss.disabled = p.method === "mmdgan";
  $("critic-step").disabled = $("generator-step").disabled = !twoPlayer;
  document.querySelectorAll("#views input").forEach((el) => (el.checked = p.views.includes(el.value)));
}

function show(s) {
  if (s.version <= shown) return;  // nothing new, or an older snapshot arriving late
  shown = s.version; snap = s;
  setText("step-count", String(s.step));
  setText("steps-per-second", s.steps_per_second.toFixed(1));
  setText("run-state", s.playing ? "training" : "paused");
  setText("views-per-second", s.views_per_second.toFixed(1));
  setText("backend-used", s.backend);
  setText("batch-used", String(s.batch));
  setText("play", s.playing ? "❚❚ Pause" : "▶ Play");
  setText("half-steps", s.kind === "GMN" ? "" :
    `half steps: critic ${s.half_steps.critic}, generator ${s.half_steps.generator}`);
  setText("n-drawn", String(s.n_drawn));
  if (changed("drawing", s.dataset === "draw")) {
    $("draw-hint").hidden = s.dataset !== "draw";
    $("plane").classList.toggle("drawing", s.dataset === "draw");
  }
  if (changed("params", s.params)) syncControls(s, false);
  if (s.error) showMessage((s.error.kind === "diverged" ? "Training diverged. " : "Stopped: ") + s.error.message, s.error.kind);
  else if (s.view_error) showMessage("A view could not be computed: " + s.view_error, "refused");
  drawPlane(s); drawCurves(s); drawFigures(s); drawLegend(s);
  const q = `session=${session}&token=${encodeURIComponent(TOKEN)}`;
  $("export-checkpoint").href = "/api/export/checkpoint?" + q;
  $("export-python").href = "/api/export/python?" + q;
  document.body.dataset.renders = String(++renders);
}

function parseValue(el) {
  const text = el.value.trim();
  if (el.dataset.kind === "choice") return text === "" ? null : text;
  if (text === "") return null;
  if (el.dataset.kind === "sigmas") {
    if (/^[a-z-]+$/.test(text)) return text;
    const parts = text.split(/[\s,]+/).filter(Boolean);
    return parts.every((t) => t !== "" && !isNaN(Number(t))) ? parts.map(Number) : text;
  }
  const number = Number(text);   // the library says what is wrong with anything else
  return text !== "" && !isNaN(number) ? number : text;
}

async function poll() {
  // the server answers as soon as a snapshot newer than the one shown is out (or after 1 s):
  // each view is drawn once, as it comes
  let wait = 0;
  try {
    if (session) show(await api(`/api/state?session=${session}&after=${shown}`));
    else wait = 250;
  } catch (e) {
    showMessage(e.message, "refused");
    wait = 250;
  }
  setTimeout(poll, wait);
}

function exportPng() {
  const plane = $("plane"), curves = $("curves"), out = document.createElement("canvas");
  out.width = plane.width + curves.width + 10; out.height = Math.max(plane.height, curves.height);
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(plane, 0, 0); ctx.drawImage(curves, plane.width + 10, 0);
  out.toBlob((blob) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = `minigan-lab-${snap.method}-${snap.dataset}-${snap.step}.png`;
    a.click(); setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
}

function setupDrawing() {
  const canvas = $("plane");
  let down = false, last = null;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return mapper(snap, canvas).inv((e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height);
  };
  const add = (e) => {
    const p = at(e);
    if (last && Math.hypot(p[0] - last[0], p[1] - last[1]) < 0.03) return;
    pending.push(p); last = p; drawPlane(snap);
  };
  canvas.addEventListener("pointerdown", (e) => {
    if (!snap || snap.dataset !== "draw") return;
    down = true; last = null; canvas.setPointerCapture(e.pointerId); add(e);
  });
  canvas.addEventListener("pointermove", (e) => { if (down) add(e); });
  canvas.addEventListener("pointerup", async () => {
    if (!down) return;
    down = false;
    const points = pending.splice(0).map(([x, y]) => [Math.round(x * 1e4) / 1e4, Math.round(y * 1e4) / 1e4]);
    if (points.length) await act("/api/draw", { points, mode: "add" });
  });
}

function setup() {
  $("play").onclick = () => act("/api/control", { action: snap && snap.playing ? "pause" : "play" });
  $("step-once").onclick = () => act("/api/control", { action: "step" });
  $("reset").onclick = () => act("/api/control", { action: "reset" });
  $("critic-step").onclick = () => act("/api/control", { action: "critic" });
  $("generator-step").onclick = () => act("/api/control", { action: "generator" });
  $("clear-drawing").onclick = () => act("/api/draw", { points: [], mode: "replace" });
  for (const id of ["dataset", "method", "speed"])
    $(id).onchange = () => act("/api/params", { params: { [id]: id === "speed" ? Number($(id).value) : $(id).value } });
  for (const el of document.querySelectorAll("[data-param]"))
    el.onchange = () => act("/api/params", { params: { [el.dataset.param]: parseValue(el) } });
  document.querySelectorAll("#views input").forEach((el) => (el.onchange = () => act("/api/params",
    { params: { views: [...document.querySelectorAll("#views input:checked")].map((c) => c.value) } })));
  $("export-png").onclick = (e) => { e.preventDefault(); exportPng(); };
  setupDrawing();
}

async function start() {
  ready = api("/api/session", {}).then((s) => { session = s.session; show(s); });
  setup();
  try {
    await ready;
  } catch (e) {
    showMessage("Could not start: " + e.message, "refused");
  }
  poll();
}

start();
