// hipsense live dashboard: plain JS, one WebSocket, a canvas plot. No external resources.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const $ = (id) => document.getElementById(id);
const WINDOW_S = 10;
const COLORS = { left: "#2563eb", right: "#db2777", tilt: "#d97706" };

const state = {
  t: [], extL: [], extR: [], tilt: [],
  latest: {}, time: 0, calibrated: false, frames: 0,
  rom: null, hold: null, audio: null, markers: [],
};

// --- HTTP ------------------------------------------------------------------------------------
async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}
function toast(text) {
  const el = $("toast");
  el.textContent = text; el.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { el.hidden = true; }, 5000);
}
function fmt(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const text = v.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text; // no "-0.0"
}

// --- WebSocket -------------------------------------------------------------------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/live${token ? `?token=${encodeURIComponent(token)}` : ""}`);
  ws.onopen = () => { $("conn").textContent = "live"; $("conn").className = "pill pill-ok"; };
  ws.onclose = () => {
    $("conn").textContent = "reconnecting"; $("conn").className = "pill pill-bad";
    setTimeout(connect, 1000);
  };
  ws.onmessage = (ev) => handle(JSON.parse(ev.data));
}

function handle(msg) {
  switch (msg.type) {
    case "hello":
      $("source").textContent = `source: ${msg.source}`;
      showCalibration(msg.calibration);
      renderSensors(msg.devices);
      state.markers = [];
      for (const m of msg.markers || []) upsertMarker(m);
      renderMarkers();
      break;
    case "frames": onFrames(msg); break;
    case "calibration": showCalibration(msg); break;
    case "sensor":
      if (msg.kind !== "connected") toast(msg.message);
      break;
    case "marker":
      upsertMarker(msg.marker); renderMarkers();
      break;
    case "analysis": addResult(msg); break;
    default: break;
  }
}

// --- live angles -----------------------------------------------------------------------------
function onFrames(msg) {
  const c = msg.c;
  const n = msg.t.length;
  const fl = c.hip_flexion_left_deg, fr = c.hip_flexion_right_deg, tilt = c.pelvic_tilt_deg;
  for (let i = 0; i < n; i++) {
    const extL = fl ? negate(fl[i]) : null, extR = fr ? negate(fr[i]) : null;
    state.t.push(msg.t[i]); state.extL.push(extL); state.extR.push(extR); state.tilt.push(tilt[i]);
    holdStep(msg.t[i], { left: extL, right: extR }, tilt[i]);
    romStep(extL, extR, tilt[i]);
  }
  const last = n - 1;
  state.time = msg.t[last];
  state.latest = {
    extL: state.extL[state.extL.length - 1], extR: state.extR[state.extR.length - 1],
    tilt: tilt[last], obliq: c.pelvic_obliquity_deg ? c.pelvic_obliquity_deg[last] : null,
    inclL: c.thigh_inclination_left_deg ? c.thigh_inclination_left_deg[last] : null,
    inclR: c.thigh_inclination_right_deg ? c.thigh_inclination_right_deg[last] : null,
  };
  state.frames += n;
  const cut = state.time - WINDOW_S;
  let k = 0;
  while (k < state.t.length && state.t[k] < cut) k++;
  if (k > 0) for (const key of ["t", "extL", "extR", "tilt"]) state[key].splice(0, k);
  if (!state.calibrated) { state.calibrated = true; $("uncalibrated").hidden = true; }
}
const negate = (v) => (v === null ? null : -v);

function renderNumbers() {
  const l = state.latest;
  $("ext-left").textContent = fmt(l.extL);
  $("ext-right").textContent = fmt(l.extR);
  $("tilt").textContent = fmt(l.tilt);
  $("incl-left").textContent = `thigh ${fmt(l.inclL)}°`;
  $("incl-right").textContent = `thigh ${fmt(l.inclR)}°`;
  $("obliq").textContent = `obliquity ${fmt(l.obliq)}°`;
  $("clock").textContent = `t = ${state.time.toFixed(1)} s`;
}

function drawPlot() {
  const canvas = $("plot");
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  let lo = -20, hi = 30;
  for (const key of ["extL", "extR", "tilt"]) for (const v of state[key]) {
    if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  lo = Math.floor(lo / 10) * 10; hi = Math.ceil(hi / 10) * 10;
  const pad = 34, t1 = state.time, t0 = t1 - WINDOW_S;
  const x = (t) => pad + ((t - t0) / WINDOW_S) * (w - pad - 6);
  const y = (v) => 6 + (1 - (v - lo) / (hi - lo)) * (h - 24);
  ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#6b7785"; ctx.strokeStyle = "#e3e8ee"; ctx.lineWidth = 1;
  const step = hi - lo > 80 ? 20 : 10;
  for (let v = lo; v <= hi; v += step) {
    ctx.beginPath(); ctx.moveTo(pad, y(v)); ctx.lineTo(w - 6, y(v)); ctx.stroke();
    ctx.fillText(String(v), 4, y(v) + 4);
  }
  ctx.strokeStyle = "#9aa5b1"; ctx.beginPath(); ctx.moveTo(pad, y(0)); ctx.lineTo(w - 6, y(0)); ctx.stroke();
  if (state.hold) {
    const hb = state.hold;
    ctx.fillStyle = "rgba(34,197,94,.12)";
    ctx.fillRect(pad, y(hb.target + hb.band), w - pad - 6, y(hb.target - hb.band) - y(hb.target + hb.band));
  }
  for (const [key, color] of [["extL", COLORS.left], ["extR", COLORS.right], ["tilt", COLORS.tilt]]) {
    ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.beginPath();
    let pen = false;
    for (let i = 0; i < state.t.length; i++) {
      const v = state[key][i];
      if (v === null) { pen = false; continue; }
      if (pen) ctx.lineTo(x(state.t[i]), y(v)); else ctx.moveTo(x(state.t[i]), y(v));
      pen = true;
    }
    ctx.stroke();
  }
}

function frame() {
  if (state.frames) { renderNumbers(); drawPlot(); renderHold(); renderRom(); }
  requestAnimationFrame(frame);
}

// --- calibration -----------------------------------------------------------------------------
const STEP_ORDER = ["static", "knee_lifts", "hinges", "done"];
function showCalibration(s) {
  if (!s) return;
  const idx = s.step === "calibrating" ? 3 : STEP_ORDER.indexOf(s.step);
  document.querySelectorAll("#cal-steps li").forEach((li, i) => {
    li.className = "";
    if (s.step === "failed") { if (i === 0) li.className = "failed"; return; }
    if (idx < 0) return;
    if (i < idx || s.step === "done") li.className = "done";
    else if (i === idx) li.className = "active";
  });
  const lifts = Object.entries(s.knee_lifts || {}).map(([k, v]) => `${k} ${v}/${s.knee_lifts_wanted}`).join(", ");
  let detail = "";
  if (s.step === "knee_lifts") detail = ` (${lifts})`;
  $("cal-message").textContent = s.message + (s.step === "knee_lifts" && !s.message.includes("/") ? detail : "");
  $("cal-message").className = `message ${s.step === "failed" ? "bad" : s.step === "done" ? "ok" : ""}`;
  const active = ["static", "knee_lifts", "hinges"].includes(s.step);
  $("still-dot").className = `dot ${active ? (s.still ? "ok" : "bad") : ""}`;
  $("still-text").textContent = active ? (s.still ? `still ${s.still_s.toFixed(1)} s` : "moving") : (s.calibrated ? "calibrated" : "not calibrated");
  $("still-bar").style.width = `${Math.min(100, (100 * s.still_s) / s.static_required_s)}%`;
  $("cal-quality").textContent = s.quality_score !== null
    ? `Quality ${s.quality_score.toFixed(0)}/100${s.warnings.length ? " · " + s.warnings.join(" ") : ""}` : "";
  $("cal-start").textContent = s.calibrated ? "Recalibrate" : "Start calibration";
}

// --- hold timer ------------------------------------------------------------------------------
function beep(freq, seconds) {
  if (!$("hold-audio").checked) return;
  if (!state.audio) state.audio = new (window.AudioContext || window.webkitAudioContext)();
  const ctx = state.audio, osc = ctx.createOscillator(), gain = ctx.createGain();
  osc.frequency.value = freq; gain.gain.value = 0.15;
  osc.connect(gain).connect(ctx.destination);
  osc.start(); osc.stop(ctx.currentTime + seconds);
}

async function startHold() {
  const hold = {
    side: $("hold-side").value, target: Number($("hold-target").value),
    band: Math.max(0.5, Number($("hold-band").value)), goal: Math.max(1, Number($("hold-secs").value)),
    elapsed: 0, inBand: false, lastT: null, tiltRef: null, compensating: false, complete: false, id: null,
  };
  state.hold = hold;
  $("hold-goal").textContent = Number.isInteger(hold.goal) ? String(hold.goal) : hold.goal.toFixed(1);
  if ($("hold-audio").checked && !state.audio) state.audio = new (window.AudioContext || window.webkitAudioContext)();
  try {
    const p = await api("/api/protocols", { method: "POST", body: JSON.stringify({
      kind: "pails", side: hold.side, movement: "extension", hold_s: hold.goal, reps: 1,
      target_deg: hold.target, band_deg: hold.band }) });
    hold.id = p.id;
  } catch (err) { toast(err.message); }
}
async function stopHold() {
  const hold = state.hold;
  if (!hold) return;
  hold.stopped = true;
  if (hold.id !== null) {
    const id = hold.id; hold.id = null;
    try { await api(`/api/protocols/${id}/stop`, { method: "POST" }); } catch (err) { toast(err.message); }
  }
}

function holdStep(t, ext, tilt) {
  const hold = state.hold;
  if (!hold || hold.stopped || hold.complete) return;
  const value = ext[hold.side];
  if (value === null) return;
  const inBand = Math.abs(value - hold.target) <= hold.band;
  const dt = hold.lastT === null ? 0 : Math.max(0, Math.min(0.2, t - hold.lastT));
  hold.lastT = t; hold.value = value;
  if (inBand !== hold.inBand) beep(inBand ? 880 : 330, 0.12);
  if (inBand) {
    if (hold.tiltRef === null) hold.tiltRef = hold.tiltAtStart ?? tilt;
    hold.elapsed += dt;
    hold.compensating = Math.abs(tilt - hold.tiltRef) > 5;
  }
  if (!inBand && hold.tiltRef === null) hold.tiltAtStart = tilt;
  hold.inBand = inBand;
  if (hold.elapsed >= hold.goal) { hold.complete = true; beep(1320, 0.4); stopHold(); }
}

function renderHold() {
  const hold = state.hold, ind = $("hold-indicator");
  if (!hold) return;
  $("hold-time").textContent = hold.elapsed.toFixed(1);
  if (hold.complete) { ind.textContent = "complete"; ind.className = "indicator complete"; }
  else if (hold.stopped) { ind.textContent = "stopped"; ind.className = "indicator idle"; }
  else { ind.textContent = hold.inBand ? "in band" : "out of band"; ind.className = `indicator ${hold.inBand ? "in" : "out"}`; }
  ind.dataset.state = ind.textContent;
  $("hold-warning").hidden = !(hold.compensating && !hold.stopped && !hold.complete);
  const lo = hold.target - 3 * hold.band, span = 6 * hold.band;
  const pct = (v) => Math.max(0, Math.min(100, ((v - lo) / span) * 100));
  $("band-zone").style.left = `${pct(hold.target - hold.band)}%`;
  $("band-zone").style.width = `${pct(hold.target + hold.band) - pct(hold.target - hold.band)}%`;
  if (hold.value !== undefined) $("band-needle").style.left = `calc(${pct(hold.value)}% - 2px)`;
}

// --- range of motion -------------------------------------------------------------------------
function romStep(extL, extR, tilt) {
  if (!state.rom) state.rom = { extL: -Infinity, extR: -Infinity, flexL: -Infinity, flexR: -Infinity, tiltLo: Infinity, tiltHi: -Infinity, since: state.time };
  const r = state.rom;
  if (extL !== null) { r.extL = Math.max(r.extL, extL); r.flexL = Math.max(r.flexL, -extL); }
  if (extR !== null) { r.extR = Math.max(r.extR, extR); r.flexR = Math.max(r.flexR, -extR); }
  if (tilt !== null) { r.tiltLo = Math.min(r.tiltLo, tilt); r.tiltHi = Math.max(r.tiltHi, tilt); }
}
function renderRom() {
  const r = state.rom;
  if (!r) return;
  const f = (v) => (Number.isFinite(v) ? `${v.toFixed(1)}°` : "–");
  $("rom-ext-left").textContent = f(r.extL); $("rom-ext-right").textContent = f(r.extR);
  $("rom-flex-left").textContent = f(r.flexL); $("rom-flex-right").textContent = f(r.flexR);
  $("rom-tilt").textContent = Number.isFinite(r.tiltLo) ? `${r.tiltLo.toFixed(1)}° to ${r.tiltHi.toFixed(1)}°` : "–";
  $("rom-since").textContent = `t = ${r.since.toFixed(0)} s`;
}
// The list items of each detected segment (its segment_detected line and the results that
// follow it), so that a segment_withdrawn (a mark now covers it: marks win) removes them.
const detectedItems = new Map();
let lastDetectedKey = null;
const segmentKey = (msg) => `${msg.exercise}|${msg.side}|${msg.start_s}|${msg.end_s}`;
function withdrawSegment(msg) {
  for (const li of detectedItems.get(segmentKey(msg)) || []) li.remove();
  detectedItems.delete(segmentKey(msg));
}
function addResult(msg) {
  if (msg.kind === "segment_withdrawn") { withdrawSegment(msg); return; }
  const li = document.createElement("li");
  // Detected segments (sitting, CARs, walking found without a mark) say so, with their span.
  const detected = msg.source === "detected" ? " · detected" : "";
  const span = msg.kind === "segment_detected" || msg.kind === "movement_started"
    ? `${msg.exercise}${msg.side ? " " + msg.side : ""} from ${msg.start_s.toFixed(1)} s`
      + (msg.kind === "segment_detected" ? ` to ${msg.end_s.toFixed(1)} s` : " (in progress)")
    : "";
  li.textContent = `${msg.time_s.toFixed(1)} s · ${msg.kind || "result"}${detected} ${span || msg.message || ""}`;
  if (detected) li.className = "detected";
  if (msg.kind === "segment_detected") {
    lastDetectedKey = segmentKey(msg);
    detectedItems.set(lastDetectedKey, []);
  }
  if (detected && msg.kind !== "movement_started") detectedItems.get(lastDetectedKey)?.push(li);
  $("results").prepend(li);
}

// --- sensors, sessions, markers --------------------------------------------------------------
function renderSensors(devices) {
  $("sensor-rows").innerHTML = "";
  for (const d of devices) {
    const tr = document.createElement("tr");
    const cells = [
      d.role.replace("_", " "),
      d.connected ? "● connected" : "○ offline",
      d.battery_pct === null ? "–" : `${d.battery_pct.toFixed(0)} %`,
      `${d.data_rate_hz.toFixed(0)} Hz`,
      String(d.gaps),
    ];
    cells.forEach((text, i) => {
      const td = document.createElement("td"); td.textContent = text;
      if (i === 1) td.className = d.connected ? "ok" : "bad";
      tr.appendChild(td);
    });
    tr.title = `${d.protocol} ${d.address}`;
    $("sensor-rows").appendChild(tr);
  }
}
async function refreshSensors() {
  try { renderSensors(await api("/api/devices")); } catch (err) { /* shown by the connection pill */ }
}
async function refreshSessions() {
  try {
    const sessions = await api("/api/sessions");
    const list = $("session-list"); list.innerHTML = "";
    let recording = false;
    for (const s of sessions) {
      recording ||= s.recording;
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = `${s.name} · ${s.duration_s.toFixed(0)} s${s.recording ? " · recording" : ""}`;
      const a = document.createElement("a"); a.href = s.report_url; a.textContent = "report"; a.target = "_blank";
      li.append(name);
      if (!s.recording) {
        const dl = document.createElement("a"); dl.href = s.download_url; dl.textContent = "download .hsr";
        const csv = document.createElement("a"); csv.href = `/api/recordings/${encodeURIComponent(s.name)}/export?format=csv-angles`; csv.textContent = "angles CSV";
        li.append(" ", a, " ", dl, " ", csv);
      }
      list.appendChild(li);
    }
    $("rec-pill").hidden = !recording;
  } catch (err) { /* ignore */ }
}
function upsertMarker(m) {
  // A protocol's marker is announced when it opens and again when it closes.
  const same = state.markers.findIndex((o) => o.start_s === m.start_s && o.exercise === m.exercise && o.side === m.side);
  if (same >= 0) state.markers[same] = m; else state.markers.push(m);
  state.markers = state.markers.slice(-50);
}

function renderMarkers() {
  const list = $("marker-list"); list.innerHTML = "";
  for (const m of state.markers.slice(-12).reverse()) {
    const li = document.createElement("li");
    const span = m.end_s === null ? "open" : `${(m.end_s - m.start_s).toFixed(1)} s`;
    li.textContent = `${m.start_s.toFixed(1)} s · ${m.exercise}${m.side ? " " + m.side : ""} (${span})${m.text ? " · " + m.text : ""}`;
    list.appendChild(li);
  }
}

// --- wiring ----------------------------------------------------------------------------------
function on(id, fn) {
  $(id).addEventListener("click", async () => { try { await fn(); } catch (err) { toast(err.message); } });
}
on("cal-start", async () => showCalibration(await api("/api/calibration/start", { method: "POST" })));
on("cal-cancel", async () => showCalibration(await api("/api/calibration/cancel", { method: "POST" })));
on("hold-start", startHold);
on("hold-stop", stopHold);
on("rom-reset", async () => { state.rom = null; });
on("rec-start", async () => {
  const name = $("session-name").value.trim();
  const s = await api("/api/sessions", { method: "POST", body: JSON.stringify(name ? { name } : {}) });
  $("session-msg").textContent = `recording ${s.name}`; refreshSessions();
});
on("rec-stop", async () => {
  const s = await api("/api/sessions/stop", { method: "POST" });
  $("session-msg").textContent = `saved ${s.name} (${s.frames} frames)`; refreshSessions();
});
on("marker-add", async () => {
  const text = $("marker-text").value.trim();
  await api("/api/markers", { method: "POST", body: JSON.stringify({ exercise: "note", text }) });
  $("marker-text").value = "";
});

connect();
requestAnimationFrame(frame);
refreshSessions();
setInterval(refreshSensors, 2000);
setInterval(refreshSessions, 5000);
