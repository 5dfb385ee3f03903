// hipsense dashboard, shared helpers and page state. Plain JS, no external resources.
// Scripts (in order): common.js, live.js, assessment.js, holds.js, results.js, app.js.
// Everything the page shows about results comes from the server; the page only formats it.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const $ = (id) => document.getElementById(id);
const SIDES = ["left", "right"];
const SIDE_LETTER = { left: "L", right: "R" };

const state = {
  // live frames (last WINDOW_S seconds) and the latest values
  t: [], extL: [], extR: [], tilt: [], latest: {}, frames: 0, calibrated: false,
  time: 0, // session time of the latest frame or timed message
  source: null, sourceState: null, wsOpen: false,
  calibration: null,
  assessment: null, // GET /api/assessment or the latest {"type": "assessment"} message
  hold: null, // GET /api/holds or the latest {"type": "hold"} message's series
  compensation: { left: null, right: null }, // the latest active {"type": "compensation"}
  audio: null, beeps: 0, markers: [],
};

// --- HTTP ------------------------------------------------------------------------------------
async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}
const post = (path, body) => api(path, { method: "POST", body: body === undefined ? undefined : JSON.stringify(body) });

function toast(text) {
  const el = $("toast");
  el.textContent = text; el.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

// --- formatting ------------------------------------------------------------------------------
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
function fmt(v, digits = 1) {
  if (!isNum(v)) return "–";
  const text = v.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text; // no "-0.0"
}
const deg = (v, digits = 1) => (isNum(v) ? `${fmt(v, digits)}°` : "–");
const signedDeg = (v) => (isNum(v) ? `${v > 0 && fmt(v) !== "0.0" ? "+" : ""}${fmt(v)}°` : "–");
const secs = (v, digits = 1) => (isNum(v) ? `${fmt(v, digits)} s` : "–");
const pct = (v) => (isNum(v) ? `${Math.round(100 * v)} %` : "–");
const words = (code) => String(code || "").replaceAll("_", " ");

// A hip extension as the page shows it: positive extension, or flexion for a flexed hip.
function hipAngle(ext) {
  if (!isNum(ext)) return { label: "Hip extension", value: "–", flexed: false };
  if (fmt(ext) !== "0.0" && ext < 0) return { label: "Hip flexion", value: deg(-ext), flexed: true };
  return { label: "Hip extension", value: deg(ext), flexed: false };
}

// Elements built from server strings: textContent only.
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function row(cells, className) {
  const tr = el("tr", className);
  for (const cell of cells) {
    if (cell instanceof Node) { const td = el("td"); td.append(cell); tr.append(td); } else tr.append(el("td", null, cell));
  }
  return tr;
}

// The session clock: frames and every timed message but analysis results (whose time_s is a
// segment's end, in the past) move it, also backwards after a replay seek or restart.
function setClock(t) {
  if (!isNum(t)) return;
  state.time = t;
  $("clock").textContent = `t = ${t.toFixed(1)} s`;
}

// --- audio cues ------------------------------------------------------------------------------
function beep(freq, seconds) {
  if (!$("hold-audio").checked) return;
  state.beeps += 1;
  try {
    if (!state.audio) state.audio = new (window.AudioContext || window.webkitAudioContext)();
    const ctx = state.audio, osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.frequency.value = freq; gain.gain.value = 0.15;
    osc.connect(gain).connect(ctx.destination);
    osc.start(); osc.stop(ctx.currentTime + seconds);
  } catch (err) { /* no audio device: the visual state is still shown */ }
}
