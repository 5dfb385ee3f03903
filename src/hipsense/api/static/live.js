// Live angles: frames from the WebSocket, the big numbers, the 10 s plot, compensation.
"use strict";

const WINDOW_S = 10;
const COLORS = { left: "#2563eb", right: "#db2777", tilt: "#d97706" };
const negate = (v) => (v === null || v === undefined ? null : -v);
const lastOf = (values) => (values && values.length ? values[values.length - 1] : null);

function clearTrace() {
  for (const key of ["t", "extL", "extR", "tilt"]) state[key] = [];
}

function onFrames(msg) {
  const c = msg.c, n = msg.t.length;
  if (!n) return;
  // A replay that restarted or jumped back: start the trace again.
  if (state.t.length && msg.t[0] < state.t[state.t.length - 1] - 0.5) clearTrace();
  const fl = c.hip_flexion_left_deg, fr = c.hip_flexion_right_deg, tilt = c.pelvic_tilt_deg;
  for (let i = 0; i < n; i++) {
    state.t.push(msg.t[i]);
    state.extL.push(fl ? negate(fl[i]) : null);
    state.extR.push(fr ? negate(fr[i]) : null);
    state.tilt.push(tilt ? tilt[i] : null);
  }
  setClock(msg.t[n - 1]);
  state.latest = {
    extL: fl ? negate(lastOf(fl)) : null, extR: fr ? negate(lastOf(fr)) : null,
    tilt: tilt ? lastOf(tilt) : null, obliq: lastOf(c.pelvic_obliquity_deg),
    inclL: lastOf(c.thigh_inclination_left_deg), inclR: lastOf(c.thigh_inclination_right_deg),
  };
  state.frames += n;
  const cut = state.time - WINDOW_S;
  let k = 0;
  while (k < state.t.length && state.t[k] < cut) k++;
  if (k > 0) for (const key of ["t", "extL", "extR", "tilt"]) state[key].splice(0, k);
  if (!state.calibrated) { state.calibrated = true; renderAngleHint(); }
}

// A new client's hello carries the latest value of every column: shown until frames flow
// (e.g. a replay that has ended still shows where it ended).
function applyLatest(latest) {
  if (state.frames || !latest || !Object.keys(latest).length) return;
  const v = (name) => (isNum(latest[name]) ? latest[name] : null);
  state.latest = {
    extL: negate(v("hip_flexion_left_deg")), extR: negate(v("hip_flexion_right_deg")),
    tilt: v("pelvic_tilt_deg"), obliq: v("pelvic_obliquity_deg"),
    inclL: v("thigh_inclination_left_deg"), inclR: v("thigh_inclination_right_deg"),
  };
  renderNumbers();
}

const latestExtension = (side) => (side === "left" ? state.latest.extL : side === "right" ? state.latest.extR : null);

// Under the live angles: why there are none yet (or no more).
function renderAngleHint() {
  const hint = $("uncalibrated");
  const calibrated = state.calibrated || Boolean(state.calibration && state.calibration.calibrated);
  const over = state.sourceState === "ended" || state.sourceState === "failed";
  hint.hidden = state.frames > 0 ? !over : calibrated && !over;
  hint.textContent = over ? `The ${state.source || "data"} source has ${state.sourceState}: the angles are the last received.`
    : "Angles appear once the calibration is done.";
}

// Apparent extension: minus the thigh inclination in the pelvis's sagittal plane (hip
// flexion - pelvic tilt), i.e. hip extension plus the anterior pelvic tilt.
function apparentText(incl) {
  if (!isNum(incl)) return "apparent (thigh) –";
  if (incl > 0 && fmt(incl) !== "0.0") return `apparent (thigh) flexion ${deg(incl)}`;
  return `apparent (thigh) ${deg(-incl)}`;
}

function renderNumbers() {
  const l = state.latest;
  for (const side of SIDES) {
    const shown = hipAngle(latestExtension(side));
    $(`ext-${side}-label`).textContent = `${shown.label} ${SIDE_LETTER[side]}`;
    $(`ext-${side}`).textContent = shown.value;
    $(`ext-${side}`).classList.toggle("flexed", shown.flexed);
    $(`incl-${side}`).textContent = apparentText(side === "left" ? l.inclL : l.inclR);
  }
  $("tilt").textContent = deg(l.tilt);
  $("obliq").textContent = `obliquity ${deg(l.obliq)}`;
}

// --- compensation ----------------------------------------------------------------------------
function compensationText(c) {
  return `Pelvis tilting ${signedDeg(c.tilt_change_deg)}: true hip extension ${deg(c.true_extension_deg)}, `
    + `apparent ${deg(c.apparent_extension_deg)}`;
}
function onCompensation(msg) {
  if (!SIDES.includes(msg.side)) return;
  state.compensation[msg.side] = msg.active ? msg : null;
  renderCompensation();
}
function renderCompensation() {
  for (const side of SIDES) {
    const c = state.compensation[side], node = $(`comp-${side}`);
    node.hidden = !c;
    node.textContent = c ? compensationText(c) : "";
    node.closest(".num").classList.toggle("compensating", Boolean(c));
  }
  renderAssessmentCompensation();
}

// --- plot ------------------------------------------------------------------------------------
function drawPlot() {
  const canvas = $("plot");
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (!w || !h) return;
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
  const pad = 34, t1 = state.t.length ? state.t[state.t.length - 1] : state.time, t0 = t1 - WINDOW_S;
  const x = (t) => pad + ((t - t0) / WINDOW_S) * (w - pad - 6);
  const y = (v) => 6 + (1 - (v - lo) / (hi - lo)) * (h - 24);
  ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#6b7785"; ctx.strokeStyle = "#e3e8ee"; ctx.lineWidth = 1;
  const step = hi - lo > 80 ? 20 : 10;
  for (let v = lo; v <= hi; v += step) {
    ctx.beginPath(); ctx.moveTo(pad, y(v)); ctx.lineTo(w - 6, y(v)); ctx.stroke();
    ctx.fillText(`${v}°`, 2, y(v) + 4);
  }
  ctx.strokeStyle = "#9aa5b1"; ctx.beginPath(); ctx.moveTo(pad, y(0)); ctx.lineTo(w - 6, y(0)); ctx.stroke();
  const hb = state.hold;
  if (hb && holdRunning(hb) && isNum(hb.band_low_deg) && isNum(hb.band_high_deg)) {
    ctx.fillStyle = "rgba(34,197,94,.14)";
    ctx.fillRect(pad, y(hb.band_high_deg), w - pad - 6, y(hb.band_low_deg) - y(hb.band_high_deg));
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
