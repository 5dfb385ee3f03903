// The hip extension assessment (docs/assessment.md): the current trial with its big number and
// the clinician's buttons, and the results per side. The server decides everything; this file
// shows GET /api/assessment and the {"type": "assessment"} messages.
"use strict";

const TRIAL_STATE_WORDS = {
  pending: "pending", instructions: "ready: press Start", waiting_still: "waiting for still",
  capturing: "capturing", accepted: "accepted", rejected: "rejected", skipped: "skipped",
};
const TRIAL_STATE_CLASS = {
  instructions: "info", waiting_still: "warn", capturing: "live", accepted: "ok", rejected: "bad", skipped: "muted",
};
const CLASSIFICATION_WORDS = {
  within_norms: "Within norms",
  motor_control_deficit: "Motor-control deficit",
  passive_restricted: "Passive restriction",
  incomplete: "Incomplete",
};
const ASSESSMENT_STATE_WORDS = { idle: "none yet", running: "running", finished: "finished", aborted: "aborted", recorded: "from the recording" };
const METHOD_WORDS = { half_kneeling: "half-kneeling lunge", thomas: "Thomas test", partner: "partner-assisted" };

const currentTrial = (a) => (a && a.trials ? a.trials[a.current] || null : null);

// Which buttons the server's state allows (the table "Clinician actions" in docs/assessment.md).
// The server sends them ("allowed"); the table is the fallback for a state without them.
function allowedActions(a) {
  const allowed = new Set();
  if (!a || a.state !== "running") return allowed;
  if (Array.isArray(a.allowed)) return new Set(a.allowed);
  allowed.add("abort");
  const trial = currentTrial(a);
  if (!trial) return allowed;
  const s = trial.state;
  if (s === "instructions") allowed.add("start");
  if (s === "capturing" && (trial.reps || []).some((r) => r.counted)) allowed.add("accept");
  if (s !== "pending") allowed.add("redo");
  if (["instructions", "waiting_still", "capturing", "rejected"].includes(s)) allowed.add("skip");
  if (["accepted", "rejected", "skipped"].includes(s)) allowed.add("next");
  return allowed;
}

// A newer state replaces an older one; a late answer to a POST never undoes a newer message.
function setAssessment(a) {
  if (!a || typeof a !== "object") return;
  const old = state.assessment;
  if (old && old.id === a.id && isNum(old.time_s) && isNum(a.time_s) && a.time_s < old.time_s) return;
  state.assessment = a;
  if (a.state === "running" && isNum(a.time_s)) setClock(a.time_s);
  renderAssessment();
  renderResults();
  renderRomList();
}

async function refreshAssessment() {
  try { setAssessment(await api("/api/assessment")); } catch (err) { /* not available yet */ }
}
// A replayed recording's assessment ("recorded") is built by the server from the session's
// markers and results as they arrive, without a message of its own: while none runs, a new
// marker or result asks for it again (once per half second at most).
function assessmentMayHaveChanged() {
  if (state.assessment && state.assessment.state === "running") return;
  clearTimeout(assessmentMayHaveChanged.timer);
  assessmentMayHaveChanged.timer = setTimeout(refreshAssessment, 500);
}

async function assessmentAction(action) {
  setAssessment(await post(`/api/assessment/${action}`));
}

async function newAssessment(event) {
  event.preventDefault();
  const method = document.querySelector("input[name=as-method]:checked").value;
  const body = { passive_method: method, include_prone: $("as-prone").checked, sides: $("as-sides").value.split(",") };
  try {
    await recordForClient();
    setAssessment(await post("/api/assessment", body));
  } catch (err) { toast(err.message); }
}

// --- the current trial -----------------------------------------------------------------------
function renderAssessment() {
  const a = state.assessment;
  const running = Boolean(a && a.state === "running");
  const trial = running ? currentTrial(a) : null;
  document.body.classList.toggle("assessing", running);
  const status = $("as-status");
  status.textContent = a ? ASSESSMENT_STATE_WORDS[a.state] || words(a.state) : "none yet";
  status.className = `chip ${running ? "live" : a && a.state === "finished" ? "ok" : ""}`;
  $("as-new-details").hidden = running;
  // After an assessment its results matter; the form for the next one folds away.
  const shownId = a && a.state !== "running" ? `${a.id}:${a.state}` : null;
  if (shownId !== renderAssessment.folded) {
    renderAssessment.folded = shownId;
    $("as-new-details").open = !a || a.state === "idle";
  }
  $("as-actions").hidden = !running;
  $("as-live").hidden = !trial;
  $("as-needs-cal").hidden = running || state.calibrated || Boolean(state.calibration && state.calibration.calibrated);

  const allowed = allowedActions(a);
  for (const button of document.querySelectorAll("#as-actions button")) {
    button.disabled = !allowed.has(button.dataset.action) || button.dataset.busy === "1";
  }
  if (trial) {
    $("as-count").textContent = `Trial ${trial.index + 1} of ${a.trials.length} · ${trial.side} · ${trial.mode}`
      + (trial.mode === "passive" && a.options ? ` (${METHOD_WORDS[a.options.passive_method] || words(a.options.passive_method)})` : "");
    $("as-title").textContent = trial.title;
    $("as-instruction").textContent = trial.instruction;
    const chip = $("as-state");
    chip.textContent = TRIAL_STATE_WORDS[trial.state] || words(trial.state);
    chip.className = `chip ${TRIAL_STATE_CLASS[trial.state] || ""}`;
    chip.dataset.state = trial.state;
    $("as-message").textContent = trial.message || "";
    $("as-big").dataset.side = trial.side;
    renderRepChips(trial);
  }
  renderTrialList(a);
  renderAssessmentNumber();
  renderAssessmentCompensation();
}

function renderRepChips(trial) {
  const list = $("as-reps");
  list.replaceChildren();
  for (const rep of trial.reps || []) {
    const li = el("li", rep.counted ? "counted" : "rejected");
    li.append(el("b", null, `Rep ${rep.n}`), ` ${deg(rep.extension_deg)}`);
    li.append(el("span", "why", rep.counted ? " counted" : ` not counted: ${rep.reason || "rejected"}`));
    list.append(li);
  }
  const wanted = trial.reps_wanted ? `${(trial.reps || []).filter((r) => r.counted).length} of ${trial.reps_wanted} reps counted` : "";
  if (wanted && trial.mode !== "passive") list.append(el("li", "muted", wanted));
}

function renderTrialList(a) {
  const list = $("as-trials");
  list.replaceChildren();
  if (!a || !a.trials || !a.trials.length) return;
  for (const trial of a.trials) {
    const li = el("li", `${TRIAL_STATE_CLASS[trial.state] || ""}${a.state === "running" && trial.index === a.current ? " current" : ""}`);
    li.append(el("span", "t-name", trial.title));
    li.append(el("span", "t-state", TRIAL_STATE_WORDS[trial.state] || words(trial.state)));
    li.title = trial.message || "";
    list.append(li);
  }
}

// The one big number: live hip extension of the current trial's side (every animation frame).
function renderAssessmentNumber() {
  const trial = state.assessment && state.assessment.state === "running" ? currentTrial(state.assessment) : null;
  if (!trial) return;
  const shown = hipAngle(latestExtension(trial.side));
  $("as-big-label").textContent = `${shown.label} ${trial.side}`;
  $("as-big-value").textContent = shown.value;
  $("as-big-value").classList.toggle("flexed", shown.flexed);
  $("as-big-sub").textContent = `pelvic tilt ${deg(state.latest.tilt)} · ${apparentText(trial.side === "left" ? state.latest.inclL : state.latest.inclR)}`;
}

function renderAssessmentCompensation() {
  const trial = state.assessment && state.assessment.state === "running" ? currentTrial(state.assessment) : null;
  const c = trial ? state.compensation[trial.side] : null;
  $("as-comp").hidden = !c;
  $("as-comp").textContent = c ? `${compensationText(c)}: the low back is doing part of the movement.` : "";
  $("as-big").classList.toggle("compensating", Boolean(c));
}

// --- results per side --------------------------------------------------------------------------
function renderResults() {
  const a = state.assessment;
  const sides = (a && a.sides) || {};
  const chosen = (a && a.options && a.options.sides) || [];
  const trials = (a && a.trials) || [];
  let any = false;
  for (const side of SIDES) {
    const box = document.querySelector(`.side-result[data-side="${side}"]`);
    const r = sides[side];
    const show = Boolean(a && a.state !== "idle" && (chosen.includes(side) || r));
    box.hidden = !show;
    if (!show) continue;
    any = true;
    const field = (name) => box.querySelector(`[data-field="${name}"]`);
    for (const name of ["active_deg", "passive_deg", "gap_deg", "active_prone_deg"]) field(name).textContent = deg(r ? r[name] : null);
    box.querySelector(".prone").hidden = !(a.options && a.options.include_prone) && !(r && isNum(r.active_prone_deg));
    const cls = field("classification");
    cls.textContent = r ? CLASSIFICATION_WORDS[r.classification] || words(r.classification) : "";
    cls.className = `classification ${r ? r.classification : ""}`;
    cls.dataset.code = r ? r.classification : "";
    field("interpretation").textContent = r ? r.interpretation || "" : "";
    renderRepTables(box.querySelector(".rep-tables"), trials.filter((t) => t.side === side));
  }
  $("res-empty").hidden = any;
  $("results-card").hidden = !a || a.state === "idle";
  const cmp = a && a.comparison;
  $("res-comparison").hidden = !cmp;
  if (cmp) {
    $("res-comparison-numbers").textContent =
      `Difference left − right: active ${signedDeg(cmp.active_diff_deg)}, passive ${signedDeg(cmp.passive_diff_deg)}`;
    $("res-comparison-text").textContent = cmp.text || "";
  }
  if (a && a.limits) {
    $("res-hold-s").textContent = fmt(a.limits.hold_s, 1);
    $("res-comp-limit").textContent = fmt(a.limits.compensation_limit_deg, 1);
  }
}

function renderRepTables(box, trials) {
  box.replaceChildren();
  for (const trial of trials) {
    if (trial.state === "pending" && !(trial.reps || []).length) continue;
    const wrap = el("div", "rep-table");
    wrap.dataset.trial = trial.id;
    const head = el("p", "rep-head");
    head.append(el("b", null, trial.title), ` · ${TRIAL_STATE_WORDS[trial.state] || words(trial.state)}`);
    if (isNum(trial.best_deg)) head.append(` · best ${deg(trial.best_deg)}`);
    if (trial.refined) head.append(el("span", "muted small refined", " · values refined after the trial"));
    wrap.append(head);
    if ((trial.reps || []).length) {
      const table = el("table", "reps-table");
      const thead = el("thead");
      thead.append(row(["Rep", "Extension", "Pelvis change", "Counted"]));
      const tbody = el("tbody");
      for (const rep of trial.reps) {
        const verdict = el("span", rep.counted ? "ok" : "bad", rep.counted ? "✓ counted" : `✗ ${rep.reason || "not counted"}`);
        const tr = row([String(rep.n), deg(rep.extension_deg), signedDeg(rep.pelvic_tilt_change_deg), verdict], rep.counted ? "counted" : "rejected");
        tr.title = `apparent (thigh) ${deg(rep.apparent_extension_deg)} · ${secs(rep.start_s)} to ${secs(rep.end_s)}`
          + (rep.refined ? ` · ${deg(rep.live_extension_deg)} live` : "");
        tbody.append(tr);
      }
      table.append(thead, tbody);
      const scroll = el("div", "table-scroll");
      scroll.append(table);
      wrap.append(scroll);
    } else if (trial.message) {
      wrap.append(el("p", "muted small", trial.message));
    }
    box.append(wrap);
  }
}

// --- wiring ------------------------------------------------------------------------------------
$("as-form").addEventListener("submit", newAssessment);
for (const button of document.querySelectorAll("#as-actions button")) {
  button.addEventListener("click", async () => {
    const action = button.dataset.action;
    if (action === "abort" && !confirm("Abort the assessment? What was accepted is kept.")) return;
    button.dataset.busy = "1"; button.disabled = true;
    try { await assessmentAction(action); } catch (err) { toast(err.message); refreshAssessment(); }
    finally { button.dataset.busy = ""; renderAssessment(); }
  });
}
