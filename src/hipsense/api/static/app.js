// hipsense live dashboard: the WebSocket, message dispatch, connection and source state,
// replay controls, calibration, sensors, sessions and markers; the render loop.
"use strict";

// --- WebSocket -------------------------------------------------------------------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/live${token ? `?token=${encodeURIComponent(token)}` : ""}`);
  ws.onopen = () => {
    state.wsOpen = true; renderConnection();
    // The server holds the state: after a (re)connection the page asks for it again.
    refreshAssessment(); refreshHolds(); refreshResults();
  };
  ws.onclose = () => {
    state.wsOpen = false; renderConnection();
    setTimeout(connect, 1000);
  };
  ws.onmessage = (ev) => handle(JSON.parse(ev.data));
}

const TIMED = new Set(["hello", "calibration", "sensor", "marker", "assessment", "hold", "compensation", "source"]);

function handle(msg) {
  if (TIMED.has(msg.type) && isNum(msg.time_s)) setClock(msg.time_s);
  switch (msg.type) {
    case "hello":
      // A new live session (a replay restarted, another source): start the views afresh.
      if (isNum(msg.time_s) && msg.time_s < state.time - 1) resetSessionView();
      setSource(msg.source);
      if (msg.source_state) state.sourceState = msg.source_state;
      renderConnection();
      state.compensation = { left: null, right: null }; renderCompensation();
      showCalibration(msg.calibration);
      applyLatest(msg.latest);
      renderSensors(msg.devices);
      state.markers = [];
      for (const m of msg.markers || []) upsertMarker(m);
      renderMarkers();
      if (msg.assessment) setAssessment(msg.assessment);
      if (msg.hold) setHold(msg.hold);
      break;
    case "frames": onFrames(msg); break;
    case "calibration": showCalibration(msg); break;
    case "sensor":
      if (msg.source_state) { state.sourceState = msg.source_state; renderConnection(); }
      // Routine reports (connected, battery level) update the sensor table, not a toast.
      if (!["connected", "battery"].includes(msg.kind) && msg.message) toast(msg.message);
      if (msg.kind === "battery" || msg.kind === "connected") refreshSensors();
      break;
    case "marker":
      upsertMarker(msg.marker); renderMarkers();
      assessmentMayHaveChanged();
      break;
    case "analysis": addResult(msg); assessmentMayHaveChanged(); break;
    case "assessment": setAssessment(msg.assessment); break;
    case "hold": onHoldMessage(msg); break;
    case "compensation": onCompensation(msg); break;
    case "source":
      if (msg.source_state || msg.state) { state.sourceState = msg.source_state || msg.state; renderConnection(); }
      break;
    default: break;
  }
}

// --- connection and source state -------------------------------------------------------------
const SOURCE_STATE_WORDS = { running: "live", paused: "paused", ended: "ended", failed: "source failed" };
function setSource(name) {
  if (!name || name === state.source) return;
  state.source = name;
  $("source").textContent = `source: ${name}`;
  $("replay-bar").hidden = name !== "replay";
  if (name === "replay") refreshReplay();
}
function resetSessionView() {
  clearTrace();
  state.roms = []; renderRomList();
  $("results").replaceChildren();
  detectedItems.clear();
  state.compensation = { left: null, right: null }; renderCompensation();
}
function renderConnection() {
  renderAngleHint();
  const pill = $("conn");
  if (!state.wsOpen) {
    pill.textContent = state.frames ? "reconnecting" : "connecting"; pill.className = "pill pill-bad";
    return;
  }
  const s = state.sourceState || "running";
  const replay = state.source === "replay";
  pill.textContent = replay && s !== "failed" ? `replay ${s === "running" ? "playing" : s}` : SOURCE_STATE_WORDS[s] || s;
  pill.className = `pill ${s === "running" ? "pill-ok" : s === "failed" ? "pill-bad" : "pill-warn"}`;
  pill.dataset.state = s;
  $("replay-pause").disabled = s !== "running";
  $("replay-resume").disabled = s !== "paused";
  $("replay-seek").disabled = !["running", "paused"].includes(s);
}

// /api/health tells whether the source still delivers (source_state when the server has it;
// otherwise running / source_error).
async function refreshHealth() {
  try {
    const h = await api("/api/health");
    const s = h.source_state || (h.source_error ? "failed" : h.running ? "running" : "ended");
    if (s !== state.sourceState) { state.sourceState = s; renderConnection(); }
    setSource(h.source);
    if (h.source_error && s === "failed") $("conn").title = h.source_error;
  } catch (err) { /* the WebSocket pill shows the connection */ }
}

// Replay controls (only for the replay source): where it is, pause, resume, seek, restart.
async function refreshReplay() {
  if (state.source !== "replay") return;
  try {
    const r = await api("/api/replay");
    if (isNum(r.duration_s)) {
      $("replay-pos").textContent = `${secs(r.position_s)} of ${secs(r.duration_s)}`;
      $("replay-seek-s").max = String(Math.floor(r.duration_s));
    }
    $("replay-stop").hidden = !r.replaying;
  } catch (err) { /* the connection pill shows it */ }
}
async function replayCall(what, body) {
  const answer = await post(`/api/replay/${what}`, body);
  if (answer && answer.message) toast(answer.message);
  if (what === "restart") { resetSessionView(); setClock(0); toast("replay restarted from 0 s"); }
  if (what === "stop") toast("back to the live source");
  setTimeout(refreshHealth, 300);
  setTimeout(refreshReplay, 300);
}

// --- calibration -----------------------------------------------------------------------------
const STEP_ORDER = ["static", "knee_lifts", "hinges", "done"];
const CALIBRATING = new Set(["static", "knee_lifts", "hinges", "calibrating"]);
function showCalibration(s) {
  if (!s) return;
  state.calibration = s;
  const idx = s.step === "calibrating" ? 3 : STEP_ORDER.indexOf(s.step);
  document.querySelectorAll("#cal-steps li").forEach((li, i) => {
    li.className = "";
    if (s.step === "failed") { if (i === 0) li.className = "failed"; return; }
    if (idx < 0) return;
    if (i < idx || s.step === "done") li.className = "done";
    else if (i === idx) li.className = "active";
  });
  const lifts = Object.entries(s.knee_lifts || {}).map(([k, v]) => `${k} ${v}/${s.knee_lifts_wanted}`).join(", ");
  const detail = s.step === "knee_lifts" && !s.message.includes("/") ? ` (${lifts})` : "";
  $("cal-message").textContent = s.message + detail;
  $("cal-message").className = `message ${s.step === "failed" ? "bad" : s.step === "done" ? "ok" : ""}`;
  const active = CALIBRATING.has(s.step) && s.step !== "calibrating";
  $("still-dot").className = `dot ${active ? (s.still ? "ok" : "bad") : ""}`;
  $("still-text").textContent = active ? (s.still ? `still ${secs(s.still_s)}` : "moving") : (s.calibrated ? "calibrated" : "not calibrated");
  $("still-bar").style.width = `${Math.min(100, (100 * s.still_s) / s.static_required_s)}%`;
  // One quality score: the message already gives it after a calibration.
  const quality = s.quality_score !== null && !/quality/i.test(s.message) ? `Quality ${s.quality_score.toFixed(0)}/100` : "";
  $("cal-quality").textContent = [quality, ...(s.warnings || [])].filter(Boolean).join(" · ");
  const running = CALIBRATING.has(s.step);
  $("cal-start").textContent = s.calibrated ? "Recalibrate" : "Start calibration";
  $("cal-start").disabled = running;
  $("cal-cancel").disabled = !running;
  document.body.classList.toggle("calibrated", Boolean(s.calibrated));
  renderAngleHint();
  renderAssessment();
}

// --- sensors, sessions, markers --------------------------------------------------------------
// What went wrong on a sensor's link, from the server's counts ("ok" when nothing did).
function linkText(d) {
  const parts = [];
  if (d.reconnects) parts.push(`${d.reconnects} reconnect${d.reconnects === 1 ? "" : "s"}`);
  if (d.malformed) parts.push(`${d.malformed} malformed`);
  if (d.samples_filled) parts.push(`${d.samples_filled} filled`);
  return parts.length ? parts.join(" · ") : "ok";
}
function renderSensors(devices) {
  const rows = $("sensor-rows");
  rows.replaceChildren();
  for (const d of devices || []) {
    const status = el("span", d.connected ? "ok" : "bad", d.connected ? "● connected" : "○ offline");
    const tr = row([
      d.role.replace("_", " "), status,
      d.battery_pct === null ? "–" : `${d.battery_pct.toFixed(0)} %`,
      `${d.data_rate_hz.toFixed(0)} Hz`, String(d.gaps), linkText(d),
    ]);
    const drift = d.drift_ppm === null ? "" : `, clock ${d.drift_ppm.toFixed(0)} ppm`;
    tr.title = `${d.protocol} ${d.address}: ${d.samples} samples, ${d.samples_missing} missing${drift}` +
      (d.last_error ? `; last error: ${d.last_error}` : "");
    rows.append(tr);
  }
}
async function refreshSensors() {
  try { renderSensors(await api("/api/devices")); } catch (err) { /* shown by the connection pill */ }
}
// --- the client measured ---------------------------------------------------------------------
const CLIENT_KEY = "hipsense.client";
let clientNames = {};
function selectedClient() { return $("client-select").value || null; }
function showClientLink() {
  const id = selectedClient();
  const link = $("client-progress");
  link.hidden = !id;
  if (id) link.href = `/clients/${encodeURIComponent(id)}${token ? `?token=${encodeURIComponent(token)}` : ""}`;
}
async function loadClients(chosen) {
  const clients = await api("/api/clients");
  clientNames = Object.fromEntries(clients.map((c) => [c.id, c.name]));
  const select = $("client-select");
  const want = chosen !== undefined ? chosen : select.value || localStorage.getItem(CLIENT_KEY) || "";
  const none = el("option", null, "nobody"); none.value = "";
  select.replaceChildren(none, ...clients.map((c) => { const o = el("option", null, c.name); o.value = c.id; return o; }));
  select.value = clientNames[want] ? want : "";
  localStorage.setItem(CLIENT_KEY, select.value);
  showClientLink();
}
// An assessment or hold series for the chosen client lands in their history: when nothing is
// recording, a session is started for them first.
async function recordForClient() {
  const id = selectedClient();
  if (!id) return;
  const sessions = await api("/api/sessions");
  if (sessions.some((s) => s.recording)) return;
  const s = await post("/api/sessions", { client_id: id });
  $("session-msg").textContent = `recording ${s.name} for ${clientNames[id]}`;
  toast(`recording for ${clientNames[id]}: stop the session when done`);
  refreshSessions();
}
$("client-select").addEventListener("change", () => {
  localStorage.setItem(CLIENT_KEY, selectedClient() || ""); showClientLink(); refreshSessions();
});

async function refreshSessions() {
  try {
    const sessions = await api("/api/sessions");
    const list = $("session-list");
    list.replaceChildren();
    let recording = false;
    for (const s of sessions) {
      recording ||= s.recording;
      const li = el("li");
      const owner = s.client_id ? ` · ${clientNames[s.client_id] || "a client"}` : "";
      li.append(el("span", null, `${s.name} · ${s.duration_s.toFixed(0)} s${owner}${s.recording ? " · recording" : ""}`));
      if (!s.recording) {
        const links = el("span", "links");
        const link = (href, text) => { const a = el("a", null, text); a.href = href; a.target = "_blank"; return a; };
        links.append(link(s.report_url, "report"), " ", link(s.download_url, ".hsr"), " ",
          link(`/api/recordings/${encodeURIComponent(s.name)}/export?format=csv-angles`, "CSV"));
        const chosen = selectedClient();
        if (chosen && s.client_id !== chosen) {
          const assign = el("button", "linkish", `assign to ${clientNames[chosen]}`);
          assign.type = "button";
          assign.addEventListener("click", async () => {
            try {
              await api(`/api/sessions/${encodeURIComponent(s.name)}/client`, { method: "PUT", body: JSON.stringify({ client_id: chosen }) });
              refreshSessions();
            } catch (err) { toast(err.message); }
          });
          links.append(" ", assign);
        }
        li.append(links);
      }
      list.append(li);
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
  const list = $("marker-list");
  list.replaceChildren();
  for (const m of state.markers.slice(-12).reverse()) {
    const span = m.end_s === null ? "open" : secs(m.end_s - m.start_s);
    // Protocol markers end with machine-readable "params={...}": shown on hover only.
    const text = (m.text || "").split(" params=")[0];
    const li = el("li", null, `${secs(m.start_s)} · ${exerciseWords(m.exercise)}${m.side ? " " + m.side : ""} (${span})${text ? " · " + text : ""}`);
    if (text !== (m.text || "")) li.title = m.text;
    list.append(li);
  }
}

// --- wiring ----------------------------------------------------------------------------------
function on(id, fn) {
  $(id).addEventListener("click", async () => { try { await fn(); } catch (err) { toast(err.message); } });
}
on("cal-start", async () => showCalibration(await post("/api/calibration/start")));
on("cal-cancel", async () => showCalibration(await post("/api/calibration/cancel")));
on("replay-pause", () => replayCall("pause"));
on("replay-resume", () => replayCall("resume"));
on("replay-seek", () => replayCall("seek", { time_s: Math.max(0, Number($("replay-seek-s").value) || 0) }));
on("replay-restart", () => replayCall("restart"));
on("replay-stop", () => replayCall("stop"));
on("rec-start", async () => {
  const name = $("session-name").value.trim();
  const body = name ? { name } : {};
  if (selectedClient()) body.client_id = selectedClient();
  const s = await post("/api/sessions", body);
  const whose = s.client_id ? ` for ${clientNames[s.client_id]}` : "";
  $("session-msg").textContent = `recording ${s.name}${whose}`; refreshSessions();
});
on("rec-stop", async () => {
  const s = await post("/api/sessions/stop");
  $("session-msg").textContent = `saved ${s.name} (${s.frames} frames)`; refreshSessions();
});
on("client-new", async () => {
  const name = prompt("Name or pseudonym of the new client:");
  if (!name || !name.trim()) return;
  const c = await post("/api/clients", { name });
  await loadClients(c.id);
  toast(`client ${c.name} created: sessions recorded now are theirs`);
});
on("marker-add", async () => {
  const text = $("marker-text").value.trim();
  await post("/api/markers", { exercise: "note", text });
  $("marker-text").value = "";
});

function frame() {
  if (state.frames) { renderNumbers(); renderAssessmentNumber(); drawPlot(); }
  requestAnimationFrame(frame);
}

connect();
requestAnimationFrame(frame);
renderHold();
loadClients(new URLSearchParams(location.search).get("client") || undefined)
  .catch(() => {}).then(refreshSessions);
refreshHealth();
setInterval(refreshSensors, 2000);
setInterval(refreshHealth, 2000);
setInterval(refreshReplay, 1000);
setInterval(refreshSessions, 5000);
