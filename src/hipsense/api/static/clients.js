// hipsense clients pages: /clients (every client) and /clients/{id} (one client's progress).
// Needs common.js (api, el, row, fmt, toast). Every figure shown comes from
// GET /api/clients/{id}/progress; the page formats the server's numbers (one decimal) only.
"use strict";

const CLASS_WORDS = {
  within_norms: "within norms", motor_control_deficit: "motor control deficit",
  passive_restricted: "passive range restricted", incomplete: "incomplete",
};
const clientId = (location.pathname.match(/^\/clients\/([^/]+)$/) || [])[1] || null;
const withToken = (path) => (token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path);
const checked = (name) => [...document.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
const setChecked = (name, values) => { for (const i of document.querySelectorAll(`input[name=${name}]`)) i.checked = values.includes(i.value); };
const PAGE_SESSIONS = 60; // the report's REPORT_SESSIONS too
const day = (iso) => String(iso || "").slice(0, 10);

function guard(fn) {
  return async (event) => { if (event) event.preventDefault(); try { await fn(); } catch (err) { toast(err.message); } };
}

// --- the list -----------------------------------------------------------------------------------
async function showList() {
  $("list-view").hidden = false;
  const clients = await api("/api/clients");
  const rows = $("client-rows");
  rows.replaceChildren();
  for (const c of clients) {
    const a = el("a", null, c.name); a.href = withToken(`/clients/${c.id}`);
    rows.append(row([a, c.sides.join(", ") || "–", String(c.sessions), day(c.last_session_utc) || "–"]));
  }
  $("no-clients").hidden = clients.length > 0;
}

$("new-client").addEventListener("submit", guard(async () => {
  const c = await post("/api/clients", { name: $("new-name").value, notes: $("new-notes").value, sides: checked("new-side") });
  location.href = withToken(`/clients/${c.id}`);
}));

$("import-go").addEventListener("click", guard(async () => {
  const file = $("import-file").files[0];
  if (!file) throw new Error("choose the archive (zip) first");
  const headers = { "Content-Type": "application/zip" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch("/api/clients/import", { method: "POST", body: file, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status}`);
  location.href = withToken(`/clients/${body.id}`);
}));

// --- one client -------------------------------------------------------------------------------
let client = null;

function changeText(entry) {
  if (!entry) return "";
  const text = signedDeg(entry.change);
  return entry.detectable ? `${text} real` : text;
}

function renderTable(doc) {
  const sides = doc.sides;
  const head = el("tr");
  const heads = ["Session", "Date"];
  for (const side of sides) heads.push(`${side} active`, `${side} passive`, `${side} gap`, `${side} class`);
  heads.push("Holds", "Status");
  for (const h of heads) head.append(el("th", null, h));
  $("progress-head").replaceChildren(head);
  const body = $("progress-rows");
  body.replaceChildren();
  for (const s of [...doc.sessions].reverse()) {
    const cells = [s.name, day(s.created_utc)];
    const figures = s.figures || {};
    for (const side of sides) {
      const f = (figures.sides || {})[side] || {};
      const ch = (s.changes || {})[side] || {};
      for (const key of ["active_deg", "passive_deg", "gap_deg"]) {
        const cell = el("span", "figure");
        cell.dataset.side = side; cell.dataset.metric = key;
        cell.append(el("span", "value", fmt(f[key])));
        const prev = ch[key] && ch[key].since_previous;
        if (prev) {
          const delta = el("span", prev.detectable ? "delta real" : "delta", ` (${changeText(prev)})`);
          delta.title = prev.detectable ? "change since the previous session, larger than the measurement's repeat noise" : "change since the previous session, within the measurement's repeat noise";
          cell.append(delta);
        }
        cells.push(cell);
      }
      cells.push(CLASS_WORDS[f.classification] || "–");
    }
    const session = figures.session || {};
    cells.push(session.hold_compliance_pct === null || session.hold_compliance_pct === undefined ? "–" : `${fmt(session.hold_compliance_pct)} %`);
    const status = el("span", s.status === "ok" ? "ok" : "bad", s.message ? `${s.status}: ${s.message}` : s.status);
    cells.push(status);
    const tr = row(cells);
    tr.dataset.session = s.name; tr.dataset.status = s.status;
    body.append(tr);
  }
}

async function showClient() {
  $("client-view").hidden = false;
  const doc = await api(`/api/clients/${encodeURIComponent(clientId)}/progress?last=${PAGE_SESSIONS}`);
  client = doc.client;
  document.title = `hipsense: ${client.name}`;
  $("client-title").textContent = client.name;
  $("client-count").textContent = `${doc.sessions_total} sessions`;
  $("older").hidden = doc.sessions_total <= doc.sessions.length;
  $("older").textContent = `The latest ${doc.sessions.length} of ${doc.sessions_total} sessions; the progress CSV has all of them.`;
  $("edit-name").value = client.name; $("edit-notes").value = client.notes; setChecked("edit-side", client.sides);
  const base = `/api/clients/${encodeURIComponent(clientId)}`;
  $("btn-report").href = withToken(`${base}/report`);
  $("btn-csv").href = withToken(`${base}/progress.csv`);
  $("btn-archive").href = withToken(`${base}/archive`);
  $("btn-live").href = withToken(`/?client=${encodeURIComponent(clientId)}`);
  const list = $("what-changed");
  list.replaceChildren(...(doc.what_changed.length ? doc.what_changed : ["No analysed session yet."]).map((t) => el("li", null, t)));
  const n = doc.detectable_change_deg;
  $("noise-note").textContent = `"real": larger than hipsense's repeat-measurement noise (active ${fmt(n.active)}°, passive ${fmt(n.passive)}°, gap ${fmt(n.gap)}°).` +
    (doc.clinical_mdc.deg ? ` Clinical studies put a person's day-to-day change at ${fmt(doc.clinical_mdc.deg)}-${fmt(doc.clinical_mdc.range_deg[1])}°.` : "");
  renderTable(doc);
  const chart = await fetch(withToken(`${base}/progress.svg?last=${PAGE_SESSIONS}`));
  $("chart").innerHTML = chart.ok ? await chart.text() : ""; // the server's SVG, names escaped there
  const others = (await api("/api/clients")).filter((c) => c.id !== clientId);
  $("merge-into").replaceChildren(...others.map((c) => { const o = el("option", null, c.name); o.value = c.id; return o; }));
  $("merge-go").disabled = others.length === 0;
  $("merge-into").hidden = others.length === 0;
}

$("edit-client").addEventListener("submit", guard(async () => {
  try {
    client = await api(`/api/clients/${encodeURIComponent(clientId)}`, {
      method: "PATCH",
      body: JSON.stringify({ version: client.version, name: $("edit-name").value, notes: $("edit-notes").value, sides: checked("edit-side") }),
    });
    toast("saved");
  } catch (err) {
    if (err.status === 409) { await showClient(); throw new Error(`${err.message} (the page now shows the current details)`); }
    throw err;
  }
  await showClient();
}));

$("merge-go").addEventListener("click", guard(async () => {
  const into = $("merge-into").value;
  const name = $("merge-into").selectedOptions[0].textContent;
  if (!confirm(`Move all sessions of ${client.name} to ${name} and remove ${client.name}?`)) return;
  const kept = await post(`/api/clients/${encodeURIComponent(clientId)}/merge`, { into });
  location.href = withToken(`/clients/${kept.id}`);
}));

$("delete-go").addEventListener("click", guard(async () => {
  const typed = prompt(`This deletes ${client.name} and all ${client.sessions} sessions with their recordings, for good. Type the name to confirm:`);
  if (typed === null) return;
  // Checked here, sent as the id: the name never goes into a URL (logs, history).
  if (typed.trim().toLowerCase() !== client.name.toLowerCase()) throw new Error("the name did not match: nothing was deleted");
  await api(`/api/clients/${encodeURIComponent(clientId)}?confirm=${encodeURIComponent(clientId)}`, { method: "DELETE" });
  location.href = withToken("/clients");
}));

(clientId ? showClient() : showList()).catch((err) => toast(err.message));
