// End-range holds run by the server (POST /api/holds): the page sends the protocol and shows
// only the server's series state (GET /api/holds and {"type": "hold"} messages), so every
// screen shows the same verdict.
"use strict";

const PHASES = ["passive", "pails", "rails"];
const PHASE_WORDS = { passive: "Passive", pails: "PAILs", rails: "RAILs" };
const HOLD_STATE_WORDS = { idle: "idle", holding: "holding", resting: "rest", finished: "finished", stopped: "stopped" };
const HOLD_ENDED = new Set(["idle", "finished", "stopped"]);
const holdRunning = (s) => Boolean(s && s.state && !HOLD_ENDED.has(s.state));

function holdProtocolFromForm() {
  const phases = PHASES.filter((p) => $(`hold-ph-${p}`).checked);
  if (!phases.length) throw new Error("choose at least one phase (passive, PAILs or RAILs)");
  const holdS = {};
  for (const p of phases) holdS[p] = Number($(`hold-s-${p}`).value);
  return {
    side: $("hold-side").value,
    phases,
    hold_s: holdS,
    reps: Number($("hold-reps").value),
    rest_s: Number($("hold-rest").value),
    target_deg: $("hold-capture").checked ? null : Number($("hold-target").value),
    tolerance_deg: Number($("hold-tol").value),
  };
}

async function startHolds(event) {
  event.preventDefault();
  try {
    if ($("hold-audio").checked && !state.audio) state.audio = new (window.AudioContext || window.webkitAudioContext)();
    await recordForClient();
    setHold(await post("/api/holds", holdProtocolFromForm()));
  } catch (err) { toast(err.message); }
}
async function stopHolds() {
  try { setHold(await post("/api/holds/stop")); } catch (err) { toast(err.message); refreshHolds(); }
}
async function refreshHolds() {
  try { setHold(await api("/api/holds")); } catch (err) { /* not available yet */ }
}

function onHoldMessage(msg) {
  if (msg.change === "band") beep(msg.series && msg.series.in_band ? 880 : 330, 0.12);
  else if (msg.change === "complete") beep(1320, 0.4);
  else if (msg.change === "hold_end") beep(660, 0.25);
  setHold(msg.series);
}

function setHold(series) {
  if (!series || typeof series !== "object") return;
  state.hold = series;
  renderHold();
}

function renderHold() {
  const s = state.hold;
  const running = holdRunning(s);
  document.body.classList.toggle("holding", running);
  $("hold-form").hidden = running;
  $("hold-stop").disabled = !running;
  const status = $("hold-status");
  status.textContent = s ? HOLD_STATE_WORDS[s.state] || words(s.state) : "idle";
  status.className = `chip ${running ? "live" : s && s.state === "finished" ? "ok" : ""}`;
  status.dataset.state = s ? s.state : "idle";
  $("hold-live").hidden = !running;
  if (s && running) renderHoldLive(s);
  renderHoldTable(s);
  const sum = s && s.summary;
  const planned = s && isNum(s.holds_total) ? ` (${s.holds_total} planned)` : "";
  $("hold-summary").textContent = sum && sum.holds
    ? `${sum.complete} of ${sum.holds} holds complete${planned} · compliance ${pct(sum.compliance)}` : "";
}

// The band as words: two-sided (passive, PAILs) or "at least" (RAILs: deeper is fine).
function bandText(low, high) {
  if (!isNum(low)) return "–";
  return isNum(high) ? `${deg(low)} to ${deg(high)}` : `at least ${deg(low)}`;
}

function renderHoldLive(s) {
  const current = (s.holds || []).find((h) => h.state !== "done") || null;
  const count = isNum(s.hold_n) && isNum(s.holds_total) ? ` · hold ${s.hold_n} of ${s.holds_total}` : "";
  const reps = s.protocol && s.protocol.reps ? ` of ${s.protocol.reps}` : "";
  $("hold-phase").textContent = `${PHASE_WORDS[s.phase] || words(s.phase) || "–"} · ${s.side || ""}`;
  $("hold-rep").textContent = `${isNum(s.rep) ? `rep ${s.rep}${reps}` : ""}${count}`;
  const ind = $("hold-indicator");
  let text, cls;
  if (s.state === "resting") { text = "rest"; cls = "idle"; }
  else if (s.state !== "holding") { text = words(s.state); cls = "idle"; }
  else if (!isNum(s.target_deg)) { text = "capturing target"; cls = "idle"; }
  else if (s.compensating) { text = "compensating"; cls = "out"; }
  else if (current && current.complete) { text = "complete"; cls = "in"; }
  else { text = s.in_band ? "in band" : "out of band"; cls = s.in_band ? "in" : "out"; }
  ind.textContent = text; ind.className = `indicator ${cls}`; ind.dataset.state = text;
  const shown = hipAngle(s.value_deg);
  $("hold-value").textContent = shown.value;
  $("hold-value").title = shown.label;
  let timing = "";
  if (s.state === "resting" && isNum(s.rest_until_s) && isNum(s.time_s)) {
    timing = `next hold in ${secs(Math.max(0, s.rest_until_s - s.time_s), 0)} ·`;
  } else if (current) {
    const elapsed = isNum(current.elapsed_s) ? current.elapsed_s : isNum(s.time_s) ? s.time_s - current.start_s : null;
    timing = `${secs(current.time_in_band_s)} of ${secs(current.target_s, 0)} in band, ${secs(elapsed)} into the hold ·`;
  }
  $("hold-elapsed").textContent = timing;
  $("hold-target-text").textContent = isNum(s.target_deg)
    ? `target ${deg(s.target_deg)}, band ${bandText(s.band_low_deg, s.band_high_deg)}`
    : "target: captured over the first 0.5 s of the first hold";
  $("hold-warning").hidden = !s.compensating;
  if (isNum(s.target_deg) && isNum(s.band_low_deg)) {
    const half = Math.max(0.5, s.target_deg - s.band_low_deg);
    const lo = s.target_deg - 3 * half, span = 6 * half;
    const at = (v) => Math.max(0, Math.min(100, ((v - lo) / span) * 100));
    const high = isNum(s.band_high_deg) ? at(s.band_high_deg) : 100;
    $("band-zone").style.left = `${at(s.band_low_deg)}%`;
    $("band-zone").style.width = `${high - at(s.band_low_deg)}%`;
    if (isNum(s.value_deg)) $("band-needle").style.left = `calc(${at(s.value_deg)}% - 2px)`;
  }
}

function renderHoldTable(s) {
  const holds = (s && s.holds) || [];
  $("hold-table").hidden = !holds.length;
  const body = $("hold-rows");
  body.replaceChildren();
  for (const h of holds) {
    const done = h.state === "done";
    // A mark and a word (the word folds away on a phone; the mark's title keeps it).
    const verdict = el("span", h.complete ? "ok" : done ? "bad" : "muted");
    const word = h.complete ? "complete" : done ? "incomplete" : words(h.state);
    verdict.append(h.complete ? "✓" : done ? "✗" : "…", el("span", "word", ` ${word}`));
    verdict.title = word;
    const tr = row([
      String(h.n),
      `${PHASE_WORDS[h.phase] || words(h.phase)} ${h.rep}`,
      `${fmt(h.time_in_band_s)}/${secs(h.target_s, 0)}`,
      secs(h.longest_in_band_s),
      signedDeg(h.drift_deg),
      secs(h.compensation_s),
      h.phase === "rails" ? signedDeg(h.gain_deg) : "–",
      verdict,
    ], done ? (h.complete ? "complete" : "incomplete") : "current");
    tr.dataset.n = h.n;
    tr.dataset.complete = done ? String(Boolean(h.complete)) : "";
    tr.title = `target ${deg(h.target_deg)}, band ${bandText(h.band_low_deg, h.band_high_deg)}`
      + (isNum(h.end_range_deg) ? `, end range ${deg(h.end_range_deg)}` : "") + (isNum(h.compliance) ? `, compliance ${pct(h.compliance)}` : "");
    body.append(tr);
  }
}

$("hold-form").addEventListener("submit", startHolds);
$("hold-stop").addEventListener("click", stopHolds);
$("hold-capture").addEventListener("change", () => { $("hold-target").disabled = $("hold-capture").checked; });
$("hold-audio").addEventListener("change", () => {
  // Browsers allow audio only after a user gesture: make the context on this click.
  if ($("hold-audio").checked && !state.audio) {
    try { state.audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (err) { /* no audio */ }
  }
});
