// parry console: one module, no dependencies. Every value from the API is put on the page with textContent
// (through el()), never as markup: alert titles and data are attacker-controlled.

const TOKEN_KEY = "parry.token";
const ROLES = ["ingest", "viewer", "responder", "author", "admin"];
const POLL_MS = 2000;
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

const state = { me: null, timer: null, view: 0 };

// ---- DOM helpers ---------------------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  append(e, children);
  return e;
}
function append(e, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  append(e, children);
  return e;
}
function status(s) { return el("span", { class: "status st-" + s, "data-status": s }, s); }
function when(t) { return t ? new Date(t).toLocaleString() : ""; }
function ago(t) {
  if (!t) return "";
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.round(s / 60) + "m ago";
  if (s < 86400) return Math.round(s / 3600) + "h ago";
  return Math.round(s / 86400) + "d ago";
}
function ms(n) { return n >= 1000 ? (n / 1000).toFixed(1) + " s" : n + " ms"; }
function json(v) { return JSON.stringify(v, null, 2); }
function link(href, text) { return el("a", { href }, text); }
function main() { return document.getElementById("main"); }
function flash(msg, ok) {
  const f = document.getElementById("flash");
  f.className = ok ? "ok" : "";
  f.textContent = msg || "";
}
function can(role) { return state.me && ROLES.indexOf(state.me.role) >= ROLES.indexOf(role); }
function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
}

// ---- API -----------------------------------------------------------------------------------------------
class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const e = (data && data.error) || {};
    if (resp.status === 401 && !path.startsWith("/v1/console/session")) {
      sessionStorage.removeItem(TOKEN_KEY);
      state.me = null;
      location.hash = "#/signin";
    }
    throw new APIError(resp.status, e.code || "http_" + resp.status, e.message || resp.statusText);
  }
  return data;
}
const get = (p) => api("GET", p);

// The Temporal Web UI decrypts payloads through parry's /codec, which it cannot send a bearer header to: a
// signed-in console asks the server for the HttpOnly cookie that /codec accepts instead (and drops it on sign
// out). A server without payload encryption has no codec (404): nothing to do.
async function codecSession(method) {
  try { await api(method, "/v1/codec/session", method === "POST" ? {} : undefined); } catch (e) {
    if (!(e instanceof APIError && e.status === 404)) flash("The Temporal Web UI cannot decrypt payloads: " + e.message);
  }
}
const post = (p, b) => api("POST", p, b === undefined ? {} : b);
function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== undefined && v !== null) q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

// Downloads go through fetch (the token is a header, never in a URL) and a blob link.
async function download(path, fallbackName) {
  const resp = await fetch(path, { headers: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) } });
  if (!resp.ok) {
    const data = await resp.json().catch(() => null);
    throw new APIError(resp.status, "", (data && data.error && data.error.message) || resp.statusText);
  }
  const blob = await resp.blob();
  let name = fallbackName;
  const m = /filename="?([^";]+)"?/.exec(resp.headers.get("Content-Disposition") || "");
  if (m) name = m[1];
  const a = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---- Routing and polling -------------------------------------------------------------------------------
const routes = [
  [/^#\/signin/, viewSignin],
  [/^#\/incidents$/, viewIncidents],
  [/^#\/incidents\/(\d+)$/, viewIncident],
  [/^#\/runs$/, viewRuns],
  [/^#\/runs\/([^/]+)$/, viewRun],
  [/^#\/approvals$/, viewApprovals],
  [/^#\/alerts$/, viewAlerts],
  [/^#\/alerts\/(\d+)$/, viewAlert],
  [/^#\/playbooks$/, viewPlaybooks],
  [/^#\/playbooks\/([a-z][a-z0-9-]*)$/, viewPlaybook],
  [/^#\/editor(?:\/([a-z][a-z0-9-]*))?$/, viewEditor],
  [/^#\/audit$/, viewAudit],
];

// live runs fn now and every POLL_MS while the view is shown; fn re-renders its own part of the page.
function live(fn) {
  const view = state.view;
  const tick = async () => {
    if (view !== state.view) return;
    try { await fn(); } catch (e) { if (view === state.view) flash(e.message); }
    if (view === state.view) state.timer = setTimeout(tick, POLL_MS);
  };
  return tick();
}

async function route() {
  state.view++;
  clearTimeout(state.timer);
  flash("");
  let hash = location.hash || "#/incidents";
  const [path] = hash.split("?");
  if (!sessionStorage.getItem(TOKEN_KEY) && !path.startsWith("#/signin")) {
    location.hash = "#/signin";
    return;
  }
  if (sessionStorage.getItem(TOKEN_KEY) && !state.me) {
    try { state.me = await get("/v1/whoami"); } catch (e) { if (!(e instanceof APIError && e.status === 401)) flash(e.message); return; }
  }
  renderHeader(path);
  for (const [re, fn] of routes) {
    const m = re.exec(path);
    if (m) {
      main().replaceChildren();
      try { await fn(...m.slice(1).map((x) => (x === undefined ? x : decodeURIComponent(x)))); } catch (e) { flash(e.message); }
      return;
    }
  }
  main().replaceChildren(el("p", {}, "No such page. "), link("#/incidents", "Incidents"));
}

function renderHeader(path) {
  const who = document.getElementById("who");
  const out = document.getElementById("signout");
  document.getElementById("nav").hidden = !state.me;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", path.startsWith(a.getAttribute("href")));
  if (state.me) {
    who.textContent = state.me.name + " (" + state.me.role + ")";
    out.hidden = false;
  } else {
    who.textContent = "";
    out.hidden = true;
  }
}

async function pollApprovalCount() {
  if (!state.me) return;
  try {
    const a = await get("/v1/approvals?limit=1000");
    document.getElementById("approval-count").textContent = a.approvals.length ? String(a.approvals.length) : "";
  } catch (_) { /* the page shows errors */ }
}

// ---- Sign-in -------------------------------------------------------------------------------------------
async function viewSignin() {
  const params = new URLSearchParams((location.hash.split("?")[1]) || "");
  const code = params.get("code");
  if (code) {
    // The code is single-use: take it out of the address bar and history before anything else.
    history.replaceState(null, "", location.pathname + "#/signin");
    try {
      const s = await post("/v1/console/session", { code });
      sessionStorage.setItem(TOKEN_KEY, s.token);
      state.me = null;
      await codecSession("POST");
      location.hash = "#/incidents";
      return;
    } catch (e) {
      flash("Sign-in link refused: " + e.message);
    }
  }
  const input = el("input", { id: "token", type: "password", autocomplete: "off", placeholder: "pry_…" });
  const form = el("form", { class: "card signin", id: "signin-form", on: { submit: async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    state.me = null;
    try {
      state.me = await get("/v1/whoami");
      await codecSession("POST");
      location.hash = "#/incidents";
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      flash(e.message);
    }
  } } },
  el("h1", {}, "Sign in to parry"),
  el("p", { class: "muted" }, "Paste an API token (parry token create --name NAME --role viewer), or open the sign-in link parry dev prints. The token stays in this tab only."),
  el("label", { for: "token" }, "API token"), input, el("button", { type: "submit", id: "signin" }, "Sign in"));
  main().replaceChildren(form);
}

// ---- Incidents -----------------------------------------------------------------------------------------
function filterBar(fields, onChange) {
  const inputs = {};
  const bar = el("form", { class: "filters", on: { submit: (e) => { e.preventDefault(); onChange(); } } });
  for (const f of fields) {
    let input;
    if (f.options) input = el("select", { name: f.name, id: "f-" + f.name }, f.options.map((o) => el("option", { value: o }, o || "any")));
    else input = el("input", { name: f.name, id: "f-" + f.name, placeholder: f.placeholder || "", size: f.size || 12 });
    input.addEventListener("change", onChange);
    inputs[f.name] = input;
    bar.append(el("label", {}, f.label, input));
  }
  return { bar, values: () => Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.value.trim()])) };
}

async function viewIncidents() {
  const list = el("div", { id: "incident-list" });
  const f = filterBar([
    { name: "status", label: "status", options: ["", "open", "closed"] },
    { name: "playbook", label: "playbook", placeholder: "name" },
    { name: "severity", label: "severity", options: ["", "info", "low", "medium", "high", "critical"] },
    { name: "since", label: "since", placeholder: "24h or RFC 3339", size: 14 },
  ], () => refresh());
  main().replaceChildren(el("h1", {}, "Incidents"), f.bar, list);
  const refresh = async () => {
    const v = f.values();
    const data = await get("/v1/incidents" + qs({ ...v, limit: 200 }));
    // The queue: open incidents first, newest first within each.
    const items = data.incidents.slice().sort((a, b) => (a.status === b.status ? b.id - a.id : a.status === "open" ? -1 : 1));
    list.replaceChildren(items.length ? table(["#", "status", "playbook", "dedup key", "alerts", "opened", "last alert", "run"],
      items.map((i) => el("tr", { class: "clickable", dataset: { incident: i.id }, on: { click: () => { location.hash = "#/incidents/" + i.id; } } },
        el("td", {}, link("#/incidents/" + i.id, "#" + i.id)), el("td", {}, status(i.status)), el("td", {}, i.playbook + " v" + i.version),
        el("td", {}, i.dedup_key), el("td", {}, String(i.alert_count)), el("td", { title: when(i.opened_at) }, ago(i.opened_at)),
        el("td", { title: when(i.last_alert_at) }, ago(i.last_alert_at)), el("td", {}, link("#/runs/" + encodeURIComponent(i.run_id), i.run_id)))))
      : el("p", { class: "muted" }, "No incidents match."));
    pollApprovalCount();
  };
  await live(refresh);
}

async function viewIncident(id) {
  const box = el("div");
  main().replaceChildren(el("p", {}, link("#/incidents", "← Incidents")), box);
  await live(async () => {
    const inc = await get("/v1/incidents/" + id);
    const close = inc.status === "open" && can("responder") ? el("button", { id: "close-incident", on: { click: async () => {
      try { await post("/v1/incidents/" + id + "/close"); flash("Incident closed.", true); } catch (e) { flash(e.message); }
    } } }, "Close incident") : null;
    box.replaceChildren(
      el("h1", {}, "Incident #" + inc.id + " ", status(inc.status)),
      el("div", { class: "card" }, el("dl", { class: "kv" },
        el("dt", {}, "playbook"), el("dd", {}, link("#/playbooks/" + inc.playbook, inc.playbook), " v" + inc.version),
        el("dt", {}, "dedup key"), el("dd", {}, inc.dedup_key),
        el("dt", {}, "opened"), el("dd", {}, when(inc.opened_at)),
        el("dt", {}, "window ends"), el("dd", {}, when(inc.window_ends_at)),
        inc.closed_at ? [el("dt", {}, "closed"), el("dd", {}, when(inc.closed_at) + " by " + inc.closed_by)] : null),
      el("div", { class: "actions" }, close)),
      el("h2", {}, "Runs"), runTable(inc.runs),
      el("h2", {}, "Alerts (" + inc.alert_count + ")"), alertTable(inc.alerts),
      inc.alerts_truncated ? el("p", { class: "muted" }, "Only the first alerts are shown.") : null);
  });
}

// ---- Runs ----------------------------------------------------------------------------------------------
function runTable(runs) {
  if (!runs.length) return el("p", { class: "muted" }, "No runs.");
  return table(["run", "status", "playbook", "waiting for / error", "incident", "started", "duration"], runs.map((r) => {
    const end = r.finished_at ? new Date(r.finished_at) : new Date();
    const dur = r.started_at ? ms(end - new Date(r.started_at)) : "";
    return el("tr", { class: "clickable", dataset: { run: r.id, status: r.status }, on: { click: () => { location.hash = "#/runs/" + encodeURIComponent(r.id); } } },
      el("td", {}, link("#/runs/" + encodeURIComponent(r.id), r.id)), el("td", {}, status(r.status)),
      el("td", {}, r.playbook + (r.version ? " v" + r.version : "")),
      el("td", {}, r.waiting_for || (r.error ? (r.failed_step ? r.failed_step + ": " : "") + r.error : "")),
      el("td", {}, r.incident_id ? link("#/incidents/" + r.incident_id, "#" + r.incident_id) : ""),
      el("td", { title: when(r.created_at) }, ago(r.created_at)), el("td", {}, dur));
  }));
}

async function viewRuns() {
  const list = el("div", { id: "run-list" });
  const f = filterBar([
    { name: "status", label: "status", options: ["", "pending", "running", "waiting", "succeeded", "failed", "cancelled"] },
    { name: "playbook", label: "playbook", placeholder: "name" },
    { name: "incident", label: "incident", placeholder: "id", size: 6 },
    { name: "since", label: "since", placeholder: "24h", size: 10 },
  ], () => refresh());
  main().replaceChildren(el("h1", {}, "Runs"), f.bar, list);
  const refresh = async () => {
    const data = await get("/v1/runs" + qs({ ...f.values(), limit: 100 }));
    list.replaceChildren(runTable(data.runs));
    pollApprovalCount();
  };
  await live(refresh);
}

// decision is what an approval step's output says: who decided what, with which comment.
function decision(s) {
  const o = s.output;
  if (s.kind !== "approval" || !o || typeof o !== "object" || !("approved" in o)) return null;
  let text = (o.approved ? "approved" : "rejected") + (o.by ? " by " + o.by : "") + (o.timed_out ? " (timed out)" : "");
  if (o.comment) text += ": " + o.comment;
  return el("div", { class: "decision" }, text);
}

function stepRows(steps, depth, out) {
  for (const s of steps) {
    const waits = "";
    out.push(el("tr", { class: "step-row", dataset: { step: s.id, status: s.status } },
      el("td", { style: undefined }, el("span", { class: "indent" }, "\u00a0\u00a0".repeat(depth + (s.depth || 0))), s.id),
      el("td", {}, s.kind + (s.action ? " " + s.action : "")),
      el("td", {}, status(s.status), s.reused ? el("span", { class: "muted" }, " reused") : null),
      el("td", {}, s.attempts ? String(s.attempts) : ""),
      el("td", {}, s.duration_ms ? ms(s.duration_ms) : ""),
      el("td", {}, s.error ? el("span", { class: "error" }, s.error.type + ": " + s.error.message) : waits, decision(s),
        s.input !== undefined ? el("details", {}, el("summary", {}, "input"), el("pre", {}, json(s.input))) : null,
        s.output !== undefined ? el("details", {}, el("summary", {}, "output"), el("pre", {}, json(s.output))) : null)));
    if (s.items && s.items.length) stepRows(s.items, depth + 1, out);
  }
  return out;
}

function flatSteps(steps, out) {
  for (const s of steps) { out.push(s); if (s.items) flatSteps(s.items, out); }
  return out;
}

// drawGraph draws a laid-out plan; statuses maps step ids to a status that colours their nodes.
function drawGraph(d, statuses) {
  const root = svg("svg", { width: d.width, height: d.height, viewBox: `0 0 ${d.width} ${d.height}`, role: "img", "aria-label": "flow of the playbook" });
  root.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#7a8696" }))));
  for (const c of d.clusters.slice().sort((a, b) => a.depth - b.depth)) {
    root.append(svg("g", {}, svg("rect", { class: "cluster", x: c.x, y: c.y, width: c.w, height: c.h, rx: 6 }),
      svg("text", { x: c.x + 6, y: c.y + 12, class: "muted" }, c.label)));
  }
  for (const e of d.edges) {
    const pts = e.points.map((p) => p.join(",")).join(" ");
    const g = svg("g", {}, svg("polyline", { class: "edge" + (e.dashed ? " dashed" : ""), points: pts, "marker-end": "url(#arrow)" }));
    if (e.label) {
      const a = e.points[0], b = e.points[e.points.length - 1];
      g.append(svg("text", { x: (a[0] + b[0]) / 2 + 4, y: (a[1] + b[1]) / 2 }, e.label));
    }
    root.append(g);
  }
  for (const n of d.nodes) {
    const st = (n.step && statuses[n.step]) || "";
    const g = svg("g", { class: "node" + (st ? " st-" + st : ""), "data-step": n.step || "", "data-status": st });
    const r = n.shape === "round" || n.shape === "stadium" || n.shape === "circle" ? Math.min(n.h / 2, 14) : 3;
    if (n.shape === "hexagon") {
      const { x, y, w, h } = n;
      g.append(svg("polygon", { points: `${x + 10},${y} ${x + w - 10},${y} ${x + w},${y + h / 2} ${x + w - 10},${y + h} ${x + 10},${y + h} ${x},${y + h / 2}` }));
    } else {
      g.append(svg("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: r }));
    }
    n.lines.forEach((line, i) => g.append(svg("text", { x: n.x + 8, y: n.y + 16 + i * 15, "font-weight": i === 0 && n.step ? 600 : 400 }, line)));
    if (st) g.append(svg("title", {}, (n.step || n.id) + ": " + st));
    root.append(g);
  }
  return el("div", { class: "graph" }, root);
}

async function viewRun(id) {
  const head = el("div"), waits = el("div", { id: "waits" }), timeline = el("div", { id: "timeline" }), graph = el("div", { id: "graph" }),
    arts = el("div", { id: "artifacts" }), actions = el("div", { class: "actions", id: "run-actions" });
  main().replaceChildren(el("p", {}, link("#/runs", "← Runs")), head, actions, waits, el("div", { class: "row" },
    el("div", {}, el("h2", {}, "Timeline"), timeline), el("div", {}, el("h2", {}, "Plan"), graph)), el("h2", {}, "Artifacts"), arts);
  const path = "/v1/runs/" + encodeURIComponent(id);
  const drawing = await get(path + "/graph").catch(() => null);
  let last = "";
  let drawnActions = "";
  let ended = null;
  let trigger; // the run's triggering alert, read once (null: it could not be read)
  const refresh = async () => {
    // A run that has ended does not change: read it once (its view asks Temporal), then only look for retries.
    const v = ended || await get(path);
    if (TERMINAL.has(v.run.status)) ended = v;
    const r = v.run;
    if (r.alert_id && trigger === undefined) trigger = await get("/v1/alerts/" + r.alert_id).catch(() => null);
    const inputs = r.inputs && typeof r.inputs === "object" ? Object.keys(r.inputs).sort() : [];
    const retries = TERMINAL.has(r.status) && r.status !== "succeeded" ? (await get("/v1/runs" + qs({ retry_of: r.id, limit: 20 }))).runs : [];
    const sig = JSON.stringify(v) + JSON.stringify(retries);
    if (sig === last) return;
    last = sig;
    head.replaceChildren(el("h1", {}, "Run ", el("span", { id: "run-id" }, r.id), " ", el("span", { id: "run-status" }, status(r.status))),
      el("div", { class: "card" }, el("dl", { class: "kv" },
        el("dt", {}, "playbook"), el("dd", {}, r.version ? link("#/playbooks/" + r.playbook, r.playbook) : r.playbook,
          r.version ? " version " + r.version : " (from a file)", el("span", { class: "muted" }, " sha256 " + r.sha256.slice(0, 12))),
        r.incident_id ? [el("dt", {}, "incident"), el("dd", {}, link("#/incidents/" + r.incident_id, "#" + r.incident_id))] : null,
        r.alert_id ? [el("dt", {}, "alert"), el("dd", { id: "run-alert" }, link("#/alerts/" + r.alert_id, "#" + r.alert_id),
          trigger ? " " + trigger.kind + " “" + trigger.title + "” (severity " + trigger.severity + ", source " + trigger.source + ")" : "")] : null,
        inputs.length ? [el("dt", {}, "inputs"), el("dd", { id: "run-inputs" }, el("details", {}, el("summary", {}, inputs.join(", ")),
          el("pre", {}, json(Object.fromEntries(inputs.map((k) => [k, r.inputs[k]]))))))] : null,
        el("dt", {}, "started"), el("dd", {}, when(r.started_at || r.created_at) + (r.started_by ? " by " + r.started_by : "")),
        r.finished_at ? [el("dt", {}, "finished"), el("dd", {}, when(r.finished_at))] : null,
        retries.length ? [el("dt", {}, "retried by"), el("dd", { id: "retried-by" }, retries.flatMap((x, i) => [i ? ", " : "", link("#/runs/" + encodeURIComponent(x.id), x.id), " (" + x.status + ")"]))] : null,
        r.retry_of ? [el("dt", {}, "retry of"), el("dd", {}, link("#/runs/" + encodeURIComponent(r.retry_of), r.retry_of), r.retry_from_step ? " from step " + r.retry_from_step : "")] : null,
        r.result_status ? [el("dt", {}, "result"), el("dd", {}, r.result_status)] : null,
        r.error ? [el("dt", {}, "error"), el("dd", { class: "error", id: "run-error" }, (r.failed_step ? r.failed_step + ": " : "") + r.error)] : null,
        v.note ? [el("dt", {}, "note"), el("dd", {}, v.note)] : null)));
    waits.replaceChildren(...v.waiting.map((w) => waitBox(r, w)));
    timeline.replaceChildren(v.steps.length ? table(["step", "kind", "status", "attempts", "duration", "error / input / output"], stepRows(v.steps, 0, [])) : el("p", { class: "muted" }, "No steps yet."));
    const statuses = {};
    for (const s of flatSteps(v.steps, [])) if (!statuses[s.id] || s.status === "failed") statuses[s.id] = s.status;
    for (const w of v.waiting) statuses[w.step] = "waiting";
    if (drawing) graph.replaceChildren(drawGraph(drawing, statuses));
    const actSig = r.status + "|" + v.steps.map((s) => s.id).join(",");
    if (actSig !== drawnActions) { drawnActions = actSig; actions.replaceChildren(...runActions(r, v.steps)); }
    const list = await get(path + "/artifacts").catch(() => ({ artifacts: [] }));
    arts.replaceChildren(list.artifacts.length ? table(["name", "kind", "step", "size", "sha256", ""], list.artifacts.map((a) => el("tr", {},
      el("td", {}, a.name || a.id), el("td", {}, a.kind), el("td", {}, a.step), el("td", {}, String(a.size)), el("td", { class: "muted" }, a.sha256.slice(0, 16)),
      el("td", {}, can("responder") ? el("button", { class: "secondary", on: { click: () => download(path + "/artifacts/" + encodeURIComponent(a.id), a.name || a.id).catch((e) => flash(e.message)) } }, "Download") : "")))) : el("p", { class: "muted" }, "No artifacts."));
    pollApprovalCount();
  };
  await live(refresh);
}

function waitBox(run, w) {
  const box = el("div", { class: "wait", dataset: { wait: w.kind, step: w.step } },
    el("strong", {}, "Waiting: " + w.kind), " at step ", el("code", {}, w.step),
    w.until && !w.until.startsWith("0001") ? " until " + when(w.until) : "", w.detail ? " — " + w.detail : "",
    w.prompt ? el("p", { class: "prompt" }, w.prompt) : null,
    w.approvers && w.approvers.length ? el("p", { class: "muted" }, "approvers: " + w.approvers.join(", ")) : null);
  if (w.kind === "approval") box.append(approvalForm(run.id, w.step));
  return box;
}

function approvalForm(runID, step) {
  if (!can("responder")) return el("p", { class: "muted" }, "Your role (" + state.me.role + ") cannot answer approvals.");
  const comment = el("input", { class: "comment", placeholder: "comment", size: 40 });
  const decide = (approved) => async () => {
    try {
      const out = await post("/v1/runs/" + encodeURIComponent(runID) + "/approvals/" + encodeURIComponent(step), { approved, comment: comment.value });
      flash((out.approved ? "Approved" : "Rejected") + " by " + out.by + ".", true);
    } catch (e) { flash(e.message); }
  };
  return el("div", { class: "actions" }, comment,
    el("button", { class: "approve", on: { click: decide(true) } }, "Approve"),
    el("button", { class: "reject danger", on: { click: decide(false) } }, "Reject"));
}

function runActions(r, steps) {
  const out = [];
  const path = "/v1/runs/" + encodeURIComponent(r.id);
  out.push(el("button", { class: "secondary", id: "export", on: { click: () => download(path + "/export", r.id + ".json").catch((e) => flash(e.message)) } }, "Export"));
  if (!can("responder")) return out;
  if (!TERMINAL.has(r.status)) {
    out.push(el("button", { class: "danger", id: "cancel", on: { click: async () => {
      if (!confirm("Cancel run " + r.id + "?")) return;
      try { await post(path + "/cancel"); flash("Cancelling.", true); } catch (e) { flash(e.message); }
    } } }, "Cancel"));
    return out;
  }
  if (r.status === "succeeded") return out;
  const from = el("select", { id: "retry-from" }, el("option", { value: "" }, "the failed step"),
    flatSteps(steps, []).filter((s) => !s.id.includes("#")).map((s) => el("option", { value: s.id }, s.id)));
  const using = el("select", { id: "retry-using" }, el("option", { value: "plan" }, "this run's plan"), el("option", { value: "latest" }, "the latest version"), el("option", { value: "version" }, "version…"));
  const version = el("input", { id: "retry-version", size: 4, placeholder: "N" });
  out.push(el("label", {}, "retry from ", from), el("label", {}, " using ", using), version,
    el("button", { id: "retry", on: { click: async () => {
      const body = { from: from.value || undefined };
      if (using.value === "latest") body.latest = true;
      if (using.value === "version") body.version = parseInt(version.value, 10);
      try {
        const nr = await post(path + "/retry", body);
        location.hash = "#/runs/" + encodeURIComponent(nr.id);
      } catch (e) { flash(e.message); }
    } } }, "Retry"));
  return out;
}

// ---- Approvals -----------------------------------------------------------------------------------------
async function viewApprovals() {
  const list = el("div", { id: "approval-list" });
  main().replaceChildren(el("h1", {}, "Approvals waiting"), list);
  let last = "";
  await live(async () => {
    const data = await get("/v1/approvals");
    pollApprovalCount();
    const sig = JSON.stringify(data);
    if (sig === last) return;
    last = sig;
    list.replaceChildren(data.approvals.length ? table(["run", "step", "prompt", "playbook", "deadline", "answer"], data.approvals.map((a) =>
      el("tr", { dataset: { run: a.run_id, step: a.step } }, el("td", {}, link("#/runs/" + encodeURIComponent(a.run_id), a.run_id)), el("td", {}, a.step),
        el("td", {}, a.prompt || ""), el("td", {}, a.playbook + (a.version ? " v" + a.version : "")),
        el("td", {}, a.deadline && !a.deadline.startsWith("0001") ? when(a.deadline) : ""), el("td", {}, approvalForm(a.run_id, a.step)))))
      : el("p", { class: "muted" }, "No approval is waiting."));
  });
}

// ---- Alerts --------------------------------------------------------------------------------------------
function alertTable(alerts) {
  if (!alerts.length) return el("p", { class: "muted" }, "No alerts.");
  return table(["#", "severity", "title", "source", "status", "what happened", "received"], alerts.map((a) =>
    el("tr", { class: "clickable", dataset: { alert: a.id }, on: { click: () => { location.hash = "#/alerts/" + a.id; } } },
      el("td", {}, link("#/alerts/" + a.id, "#" + a.id)), el("td", {}, a.severity), el("td", { class: "alert-title" }, a.title),
      el("td", {}, a.source + " / " + a.kind), el("td", {}, status(a.status)), el("td", { class: "reason" }, a.reason || ""),
      el("td", { title: when(a.received_at) }, ago(a.received_at)))));
}

async function viewAlerts() {
  const list = el("div", { id: "alert-list" });
  const f = filterBar([
    { name: "status", label: "status", options: ["", "pending", "dispatched"] },
    { name: "source", label: "source", placeholder: "source" },
    { name: "since", label: "since", placeholder: "24h", size: 10 },
  ], () => refresh());
  main().replaceChildren(el("h1", {}, "Alerts"), f.bar, list);
  const refresh = async () => {
    const data = await get("/v1/alerts" + qs({ ...f.values(), limit: 200 }));
    list.replaceChildren(alertTable(data.alerts));
  };
  await live(refresh);
}

async function viewAlert(id) {
  const a = await get("/v1/alerts/" + id);
  main().replaceChildren(el("p", {}, link("#/alerts", "← Alerts")),
    el("h1", {}, "Alert #" + a.id + ": ", el("span", { class: "alert-title" }, a.title)),
    el("div", { class: "card" }, el("dl", { class: "kv" },
      el("dt", {}, "status"), el("dd", {}, status(a.status)),
      el("dt", {}, "what happened"), el("dd", { class: "reason" }, a.reason),
      el("dt", {}, "source"), el("dd", {}, a.source + " / " + a.kind + (a.source_id ? " (" + a.source_id + ")" : "")),
      el("dt", {}, "severity"), el("dd", {}, a.severity),
      el("dt", {}, "observed"), el("dd", {}, when(a.observed_at)),
      el("dt", {}, "received"), el("dd", {}, when(a.received_at) + (a.ingested_by ? " from " + a.ingested_by : "")))),
    el("h2", {}, "Incidents"), a.incidents && a.incidents.length ? table(["#", "playbook", "status", "run"], a.incidents.map((i) => el("tr", {},
      el("td", {}, link("#/incidents/" + i.id, "#" + i.id)), el("td", {}, i.playbook + " v" + i.version), el("td", {}, status(i.status)),
      el("td", {}, link("#/runs/" + encodeURIComponent(i.run_id), i.run_id))))) : el("p", { class: "muted" }, "None."),
    el("h2", {}, "Data"), el("pre", {}, json(a.data)));
}

// ---- Playbooks -----------------------------------------------------------------------------------------
async function viewPlaybooks() {
  const data = await get("/v1/playbooks");
  main().replaceChildren(el("h1", {}, "Playbooks"), can("author") ? el("p", {}, link("#/editor", "New playbook in the editor")) : null,
    data.playbooks.length ? table(["name", "enabled", "latest", "versions", "changed"], data.playbooks.map((p) => el("tr", { class: "clickable", on: { click: () => { location.hash = "#/playbooks/" + p.name; } } },
      el("td", {}, link("#/playbooks/" + p.name, p.name)), el("td", {}, p.enabled ? "v" + p.enabled : "disabled"), el("td", {}, "v" + p.latest),
      el("td", {}, String(p.versions)), el("td", { title: when(p.last_changed_at) }, ago(p.last_changed_at))))) : el("p", { class: "muted" }, "No playbooks."));
}

// lineDiff is a unified-style line diff (longest common subsequence; playbooks are small).
function lineDiff(a, b) {
  const x = a.split("\n"), y = b.split("\n");
  const n = x.length, m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { out.push([" ", x[i]]); i++; j++; }
    else if (i < n && (j === m || L[i + 1][j] >= L[i][j + 1])) { out.push(["-", x[i]]); i++; } // removed lines first, as diff -u
    else { out.push(["+", y[j]]); j++; }
  }
  return out;
}

async function viewPlaybook(name) {
  const box = el("div"), diffBox = el("div", { id: "diff" }), src = el("div");
  main().replaceChildren(el("p", {}, link("#/playbooks", "← Playbooks")), el("h1", {}, name), box, diffBox, src);
  const render = async () => {
    const data = await get("/v1/playbooks/" + name + "/versions");
    const vs = data.versions;
    const pick = (id, sel) => el("select", { id }, vs.map((v) => el("option", { value: v.version, selected: v.version === sel }, "v" + v.version)));
    const a = pick("diff-a", vs.length > 1 ? vs[1].version : vs[0].version), b = pick("diff-b", vs[0].version);
    box.replaceChildren(table(["version", "enabled", "sha256", "created", "by", ""], vs.map((v) => el("tr", { dataset: { version: v.version } },
      el("td", {}, "v" + v.version), el("td", {}, v.enabled ? "enabled" : ""), el("td", { class: "muted" }, v.sha256.slice(0, 16)),
      el("td", {}, when(v.created_at)), el("td", {}, v.created_by),
      el("td", {}, el("button", { class: "secondary", on: { click: () => showSource(v.version) } }, "Source"), " ",
        can("author") && !v.enabled ? el("button", { class: "enable", on: { click: async () => {
          try { await post("/v1/playbooks/" + name + "/enable", { version: v.version }); flash("Enabled v" + v.version + ".", true); render(); } catch (e) { flash(e.message); }
        } } }, "Enable") : null)))),
    el("div", { class: "actions" }, "Diff ", a, " → ", b, el("button", { class: "secondary", on: { click: async () => {
      const [va, vb] = await Promise.all([get(`/v1/playbooks/${name}?version=${a.value}`), get(`/v1/playbooks/${name}?version=${b.value}`)]);
      diffBox.replaceChildren(el("div", { class: "diff" }, lineDiff(va.source, vb.source).map(([op, line]) =>
        el("div", { class: op === "+" ? "add" : op === "-" ? "del" : "" }, op + " " + line))));
    } } }, "Show diff"), can("author") ? link("#/editor/" + name, "Edit in the editor") : null));
  };
  const showSource = async (version) => {
    const v = await get(`/v1/playbooks/${name}?version=${version}`);
    src.replaceChildren(el("h2", {}, "v" + version), el("pre", {}, v.source));
  };
  await render();
}

// ---- Editor --------------------------------------------------------------------------------------------
const TEMPLATE = `name: my-playbook
description: What this playbook does
on:
  alert:
    when: alert.kind == "phishing"
steps:
  - id: notify
    action: notify.webhook
    with:
      connection: soc-chat
      text: "Alert: \${{ alert.title }}"
`;

async function viewEditor(name) {
  let source = TEMPLATE;
  if (name) source = (await get("/v1/playbooks/" + name)).source;
  const gutter = el("pre", { class: "gutter", id: "gutter" });
  const text = el("textarea", { id: "source", spellcheck: "false", autocomplete: "off", wrap: "off" });
  text.value = source;
  // The diagnostics are underlined in a copy of the text laid under the (transparent) textarea.
  const marks = el("pre", { class: "marks", id: "marks", "aria-hidden": "true" });
  const diags = el("ul", { class: "diags", id: "diagnostics" });
  const graph = el("div", { id: "editor-graph" });
  const graphNote = el("p", { class: "muted", id: "graph-note" });
  const summary = el("p", { id: "lint-summary", class: "muted" });
  const file = el("input", { id: "file", value: (name || "my-playbook") + ".yaml", size: 24 });
  const enable = el("input", { type: "checkbox", id: "push-enable" });
  const pushBtn = can("author") ? el("button", { id: "push", on: { click: async () => {
    try {
      const out = await post("/v1/playbooks", { playbooks: [{ file: file.value, source: text.value }], enable: enable.checked });
      const p = out.playbooks[0];
      flash(`${p.name} v${p.version} ${p.created ? "stored" : "unchanged"}${p.enabled ? ", enabled" : ""}.`, true);
    } catch (e) { flash(e.message); }
  } } }, "Push") : null;
  main().replaceChildren(el("h1", {}, name ? "Edit " + name : "Playbook editor"),
    el("div", { class: "actions" }, el("label", {}, "file ", file), pushBtn ? [el("label", {}, enable, " enable"), pushBtn] : el("span", { class: "muted" }, "Pushing needs the author role.")),
    el("div", { class: "row" }, el("div", {}, el("div", { class: "editor" }, gutter, el("div", { class: "code" }, marks, text)), summary, diags), el("div", {}, graphNote, graph)));
  let bad = new Set();
  const numbers = () => {
    const n = text.value.split("\n").length;
    const lines = [];
    for (let i = 1; i <= n; i++) lines.push(el("span", { class: bad.has(i) ? "bad" : "" }, String(i) + "\n"));
    gutter.replaceChildren(...lines);
    gutter.scrollTop = text.scrollTop;
  };
  const sync = () => { gutter.scrollTop = text.scrollTop; marks.scrollTop = text.scrollTop; marks.scrollLeft = text.scrollLeft; };
  text.addEventListener("scroll", sync);
  // underline draws each diagnostic of the text as linted: from its column to the end of the word there (up to a
  // space or YAML punctuation; one character at least). Columns count characters, as the linter does.
  let shown = [];
  const underline = () => {
    const lines = text.value.split("\n");
    const at = new Map();
    for (const d of shown) {
      if (d.line < 1 || d.line > lines.length) continue;
      if (!at.has(d.line)) at.set(d.line, []);
      at.get(d.line).push(d);
    }
    const nodes = [];
    let plain = "";
    lines.forEach((line, i) => {
      const ds = at.get(i + 1);
      if (!ds) { plain += line + "\n"; return; }
      const chars = Array.from(line);
      let pos = 0;
      for (const d of ds.sort((a, b) => a.column - b.column)) {
        const start = Math.min(Math.max(d.column - 1, pos), chars.length);
        let end = start;
        while (end < chars.length && !/[\s:,{}[\]]/.test(chars[end])) end++;
        if (end === start && start < chars.length) end++;
        plain += chars.slice(pos, start).join("");
        nodes.push(plain);
        plain = "";
        nodes.push(el("span", { class: "squiggle " + d.severity, title: d.message, dataset: { line: d.line, column: d.column } },
          end > start ? chars.slice(start, end).join("") : " "));
        pos = Math.max(end, start + (end > start ? 0 : 1));
      }
      plain += chars.slice(Math.min(pos, chars.length)).join("") + "\n";
    });
    nodes.push(plain);
    marks.replaceChildren(...nodes);
    sync();
  };
  // goTo puts the caret at a diagnostic's line and column.
  const goTo = (d) => {
    const lines = text.value.split("\n");
    let off = 0;
    for (let i = 0; i < d.line - 1 && i < lines.length; i++) off += lines[i].length + 1;
    const line = lines[d.line - 1] || "";
    off += Array.from(line).slice(0, Math.max(d.column - 1, 0)).join("").length;
    text.focus();
    text.setSelectionRange(off, off);
  };
  let timer = 0, seq = 0;
  const lint = async () => {
    const mine = ++seq;
    try {
      const out = await post("/v1/lint", { file: file.value, source: text.value });
      if (mine !== seq) return; // a newer edit is being linted
      bad = new Set(out.diagnostics.filter((d) => d.severity === "error").map((d) => d.line));
      diags.replaceChildren(...out.diagnostics.map((d) => el("li", { class: d.severity, dataset: { line: d.line, column: d.column }, on: { click: () => goTo(d) } },
        `${d.line}:${d.column}: ${d.severity}: ${d.message}`)));
      shown = out.diagnostics;
      underline();
      const errs = out.diagnostics.filter((d) => d.severity === "error").length;
      summary.textContent = errs ? errs + " error" + (errs > 1 ? "s" : "") : "no errors";
      summary.dataset.errors = String(errs);
      if (out.graph) graph.replaceChildren(drawGraph(out.graph, {}));
      else if (graph.firstChild) graphNote.textContent = "The flow below is the last one without errors.";
      if (out.graph) graphNote.textContent = "";
      numbers();
    } catch (e) { flash(e.message); }
  };
  // An edit moves the text under the underlines: they go until the edited text is linted.
  text.addEventListener("input", () => { numbers(); shown = []; underline(); clearTimeout(timer); timer = setTimeout(lint, 300); });
  text.addEventListener("keydown", (e) => {
    if (e.key === "Tab") { e.preventDefault(); text.setRangeText("  ", text.selectionStart, text.selectionEnd, "end"); text.dispatchEvent(new Event("input")); }
  });
  numbers();
  await lint();
}

// ---- Audit ---------------------------------------------------------------------------------------------
async function viewAudit() {
  const list = el("div", { id: "audit-list" });
  const f = filterBar([
    { name: "action", label: "action", placeholder: "run or run.approve" },
    { name: "actor", label: "actor", placeholder: "token:NAME" },
    { name: "run", label: "run", placeholder: "run id", size: 24 },
    { name: "since", label: "since", placeholder: "24h", size: 10 },
  ], () => refresh());
  main().replaceChildren(el("h1", {}, "Audit log"), f.bar, list);
  const refresh = async () => {
    const data = await get("/v1/audit" + qs({ ...f.values(), limit: 200 }));
    list.replaceChildren(data.events.length ? table(["#", "at", "actor", "action", "run", "outcome", "details"], data.events.map((e) => el("tr", { dataset: { action: e.action } },
      el("td", {}, String(e.id)), el("td", {}, when(e.at)), el("td", {}, e.actor), el("td", {}, e.action + (e.operation ? " " + e.operation : "")),
      el("td", {}, e.run_id ? link("#/runs/" + encodeURIComponent(e.run_id), e.run_id) : ""), el("td", {}, e.outcome || ""),
      el("td", {}, el("details", {}, el("summary", {}, "details"), el("pre", {}, json(e.details))))))) : el("p", { class: "muted" }, "No audit events match."));
  };
  await live(refresh);
}

// ---- Start ---------------------------------------------------------------------------------------------
document.getElementById("signout").addEventListener("click", async () => {
  if (sessionStorage.getItem(TOKEN_KEY)) await codecSession("DELETE");
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  location.hash = "#/signin";
});
window.addEventListener("hashchange", route);
route();
