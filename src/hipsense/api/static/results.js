// Analysis results ({"type": "analysis"} messages) as readable lines with their numbers, and
// the valid ranges: server "rom" results with valid true and the assessment's counted reps.
"use strict";

const EXERCISE_WORDS = {
  active_extension: "active extension", active_extension_prone: "active extension, prone",
  passive_extension: "passive extension",
  hold_passive: "passive hold", hold_pails: "PAILs", hold_rails: "RAILs", cars: "CARs",
  thomas: "Thomas test", bridge: "bridge", reverse_walk: "reverse walking", walking: "walking", sitting: "sitting",
};
const exerciseWords = (code) => EXERCISE_WORDS[code] || words(code);
const sideWords = (side) => (side ? ` ${side}` : "");
const perSide = (obj, f) => SIDES.filter((s) => obj && obj[s] !== undefined && obj[s] !== null).map((s) => `${SIDE_LETTER[s]} ${f(obj[s])}`).join(", ");
// Live hold-tracker events: the hold card shows holds; the list keeps results.
const TRANSIENT = new Set(["hold_started", "hold_band", "hold_compensation", "hold_complete"]);

function describeResult(m) {
  switch (m.kind) {
    case "rom": {
      const what = `range${sideWords(m.side)} (${exerciseWords(m.exercise)}${String(m.exercise).includes(m.mode) ? "" : `, ${m.mode}`})`;
      return m.valid
        ? `${what}: ${deg(m.extension_deg)}, apparent (thigh) ${deg(m.apparent_extension_deg)}`
          + (m.compensation_s ? `, pelvis compensating ${secs(m.compensation_s)}` : "")
        : `${what}: not valid${m.note ? `: ${m.note}` : ""}`
          + (isNum(m.apparent_extension_deg) ? ` (apparent ${deg(m.apparent_extension_deg)})` : "");
    }
    case "gap":
      return `gap${sideWords(m.side)}: active ${deg(m.active_deg)}, passive ${deg(m.passive_deg)}`
        + (isNum(m.gap_deg) ? `, gap ${deg(m.gap_deg)}` : "")
        + ` → ${(CLASSIFICATION_WORDS[m.classification] || words(m.classification)).toLowerCase()}`;
    case "hold":
      return `${exerciseWords(m.exercise)}${sideWords(m.side)}: ${secs(m.time_in_band_s)} of ${secs(m.target_duration_s, 0)} in band `
        + `(target ${deg(m.target_deg)}), longest ${secs(m.longest_in_band_s)}, drift ${signedDeg(m.drift_deg)}`
        + (m.compensation_s ? `, compensating ${secs(m.compensation_s)}` : "")
        + (isNum(m.gain_deg) ? `, gain ${signedDeg(m.gain_deg)}` : "")
        + (m.complete ? " · complete" : " · not complete");
    case "hold_summary":
      return `holds (${words(m.protocol)}): ${m.complete} of ${m.holds} complete (${m.holds_expected} planned), compliance ${pct(m.compliance)}`
        + (m.rails_gain_deg && perSide(m.rails_gain_deg, signedDeg) ? `, RAILs gain ${perSide(m.rails_gain_deg, signedDeg)}` : "");
    case "cars":
      return `CARs${sideWords(m.side)}: ${(m.reps || []).length} reps`
        + (isNum(m.pace_s_per_rep) ? `, ${secs(m.pace_s_per_rep)} per rep` : "")
        + ((m.reps || []).some((r) => r.compensated) ? ", pelvis moved in some reps" : "");
    case "cars_rep":
      return `CARs rep: flexion range ${deg(m.flexion_range_deg)}, abduction ${deg(m.abduction_range_deg)}, rotation ${deg(m.rotation_range_deg)}, `
        + `pelvic tilt range ${deg(m.pelvic_tilt_range_deg)}${m.compensated ? " · pelvis compensated" : ""}`;
    case "thomas":
      return `Thomas test${sideWords(m.side)}: thigh ${deg(m.thigh_below_horizontal_deg)} below horizontal, hip extension ${deg(m.hip_extension_deg)}, `
        + `pelvic tilt change ${signedDeg(m.pelvic_tilt_change_deg)}${m.valid ? "" : ` · not valid${m.note ? `: ${m.note}` : ""}`}`;
    case "bridge":
      return `bridge: posterior tilt ${deg(m.posterior_tilt_deg)}, held ${secs(m.tilt_held_s)} of ${secs(m.target_hold_s, 0)}, `
        + `hip extension at the top ${deg(m.hip_extension_top_deg)}`;
    case "gait":
      return `walking: ${m.steps} steps${isNum(m.cadence_steps_min) ? `, ${fmt(m.cadence_steps_min, 0)} steps/min` : ""}`
        + (m.mean_peak_extension_deg && perSide(m.mean_peak_extension_deg, deg) ? `, mean peak extension ${perSide(m.mean_peak_extension_deg, deg)}` : "")
        + (isNum(m.asymmetry_index_pct) ? `, asymmetry ${fmt(m.asymmetry_index_pct)} %` : "");
    case "sitting":
      return `sitting: ${secs(m.flexed_s, 0)} with the hips flexed beyond ${deg(m.threshold_deg, 0)}, longest bout ${secs(m.longest_bout_s, 0)}`;
    case "segment_detected":
    case "movement_started":
      return `${exerciseWords(m.exercise)}${sideWords(m.side)} from ${secs(m.start_s)}`
        + (m.kind === "segment_detected" ? ` to ${secs(m.end_s)}` : " (in progress)");
    default:
      return `${words(m.kind || "result")}${m.message ? `: ${m.message}` : ""}`;
  }
}

// The list items of each detected segment (its segment_detected line and the results that
// follow it), so that a segment_withdrawn (a mark now covers it: marks win) removes them.
const detectedItems = new Map();
let lastDetectedKey = null;
const segmentKey = (msg) => `${msg.exercise}|${msg.side}|${msg.start_s}|${msg.end_s}`;
function withdrawSegment(msg) {
  for (const li of detectedItems.get(segmentKey(msg)) || []) li.remove();
  detectedItems.delete(segmentKey(msg));
  const key = segmentKey(msg);
  state.roms = state.roms.filter((r) => r.segment !== key);
  renderRomList();
}

function addResult(msg) {
  if (msg.kind === "segment_withdrawn") { withdrawSegment(msg); return; }
  if (TRANSIENT.has(msg.kind)) return;
  const detected = msg.source === "detected";
  const li = el("li", detected ? "detected" : null);
  li.append(el("span", "when", `${fmt(msg.time_s)} s · `), el("span", "what", describeResult(msg)));
  if (detected) li.append(el("span", "muted", " · detected"));
  li.dataset.kind = msg.kind || "";
  if (msg.kind === "segment_detected") {
    lastDetectedKey = segmentKey(msg);
    detectedItems.set(lastDetectedKey, []);
  }
  if (detected && msg.kind !== "movement_started") detectedItems.get(lastDetectedKey)?.push(li);
  $("results").prepend(li);
  while ($("results").children.length > 200) $("results").lastChild.remove();
  if (msg.kind === "rom" && msg.valid) {
    state.roms.push({ ...msg, segment: detected ? lastDetectedKey : null });
    renderRomList();
  }
}

// Valid ranges: newest first, server numbers only.
state.roms = [];
function renderRomList() {
  const a = state.assessment;
  const reps = [];
  for (const trial of (a && a.trials) || []) for (const rep of trial.reps || []) reps.push({ side: trial.side, rep });
  // An accepted trial's reps are marked, so the analysis reports them too: list them once.
  const sameRep = (r) => reps.some((x) => x.side === r.side && Math.abs(x.rep.start_s - r.start_s) < 0.05 && Math.abs(x.rep.end_s - r.end_s) < 0.05);
  const rows = state.roms.filter((r) => !sameRep(r)).map((r) => ({
    t: r.end_s ?? r.time_s, side: r.side,
    what: `${exerciseWords(r.exercise)}${String(r.exercise).includes(r.mode) ? "" : ` (${r.mode})`}${r.source === "detected" ? " (detected)" : ""}`,
    value: r.extension_deg,
  }));
  for (const trial of (a && a.trials) || []) {
    for (const rep of trial.reps || []) {
      if (rep.counted) rows.push({ t: rep.end_s, side: trial.side, what: `assessment rep ${rep.n}: ${trial.title.replace(/\s+—\s+(left|right)$/, "")}`, value: rep.extension_deg, assessment: true });
    }
  }
  rows.sort((p, q) => (q.t ?? 0) - (p.t ?? 0));
  const body = $("rom-rows");
  body.replaceChildren();
  for (const r of rows.slice(0, 60)) {
    const tr = row([secs(r.t), r.side || "–", r.what, deg(r.value)], r.assessment ? "assessment" : null);
    tr.dataset.side = r.side || "";
    body.append(tr);
  }
  $("rom-empty").hidden = rows.length > 0;
}

// After a (re)connection: the server's results so far.
async function refreshResults() {
  try {
    const results = await api("/api/results");
    state.roms = (results.rom || []).filter((r) => r.kind === "rom" && r.valid);
    renderRomList();
  } catch (err) { /* shown by the connection pill */ }
}
