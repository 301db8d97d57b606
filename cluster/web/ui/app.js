// flicker's web UI: a single page over the scheduler's JSON API (/api/v1), with hash routes:
//   #/jobs[?state=&tenant=&offset=]  #/jobs/<id>  #/jobs/<id>/stages/<n>
//   #/executors  #/tenants  #/plugins
//
// Rules this file keeps:
// - Every string that comes from the server (job names, causes, descriptions, records) enters the
//   page as text: `el()` makes elements and text nodes, never HTML. There is no innerHTML here.
// - No inline script or style: the server's Content-Security-Policy is `default-src 'self'`.
//   Widths of bars are set through the CSSOM (`element.style.width`), which the policy allows.
// - A view is a function that renders into `main` and returns what stops its timers and streams;
//   the router stops the old view before it starts the next.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "flicker.token";
const LIST_REFRESH_MS = 3000;
const STAGE_REFRESH_MS = 2000;
const PAGE_SIZE = 50;
const SVG_NS = "http://www.w3.org/2000/svg";

// ---------------------------------------------------------------------------------------------
// Elements

// An element `tag` with attributes `attrs` and `children` (strings become text nodes; null and
// false are skipped; arrays are flattened). Attributes named `on<event>` with a function value
// become listeners; `class` may be an array; everything else is setAttribute'd.
function el(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// An SVG element, like `el`.
function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

// Appends `children` to `node` as `el` does.
function append(node, ...children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, ...child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

// Replaces the children of `node` with `children`.
function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

// ---------------------------------------------------------------------------------------------
// Formatting

const intFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

function fmtInt(n) {
  return n === null || n === undefined ? "–" : intFormat.format(n);
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  const h = Math.floor(min / 60);
  return `${h} h ${String(min % 60).padStart(2, "0")} min`;
}

// CPU time given in microseconds, as seconds.
function fmtCpu(us) {
  if (us === null || us === undefined) return "–";
  const s = us / 1e6;
  return `${s < 10 ? s.toFixed(2) : intFormat.format(Math.round(s))} s`;
}

// CPU time given in seconds.
function fmtSeconds(s) {
  if (s === null || s === undefined) return "–";
  return fmtDuration(s * 1000);
}

function fmtTime(unixMs) {
  if (!unixMs) return "–";
  return dateFormat.format(new Date(unixMs));
}

function fmtAgo(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms < 1000 ? "just now" : `${fmtDuration(ms)} ago`;
}

// ---------------------------------------------------------------------------------------------
// States

// The one word of a job's state: `"running"` or `{"failed": {"cause": …}}` → `running`, `failed`.
function stateName(state) {
  if (typeof state === "string") return state;
  if (state && typeof state === "object") return Object.keys(state)[0] || "unknown";
  return "unknown";
}

function isFinished(job) {
  const name = stateName(job.state);
  return name !== "queued" && name !== "running";
}

function badge(word, testid) {
  return el("span", { class: ["badge", word], "data-testid": testid }, word);
}

// A tagged enum's variant name (`"storage"` or `{"bad_record": …}` → `bad_record`).
function variant(value) {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : Object.keys(value)[0];
}

function kindBadge(kind) {
  const name = variant(kind);
  return name ? el("span", { class: "badge kind" }, name.replace(/_/g, " ")) : null;
}

// What a failure kind adds to its name, in words (the limit, the bad record, the timeout).
function kindDetail(kind) {
  if (!kind || typeof kind !== "object") return null;
  const [name, body] = Object.entries(kind)[0];
  switch (name) {
    case "bad_record": {
      const record = body && body.record;
      if (!record) return null;
      const [where, at] = Object.entries(record)[0];
      if (where === "line") return `${at.object} line ${fmtInt(at.line)} (byte offset ${fmtInt(at.offset)}): ${at.content}`;
      return `row: ${at.content}`;
    }
    case "trap":
      return body.message;
    case "limit_hit": {
      const [limit, value] = Object.entries(body.limit)[0];
      if (limit === "call_timeout") return `call timeout of ${fmtDuration(value.ms)}`;
      return `${limit.replace(/_/g, " ")} limit of ${fmtBytes(value.bytes)}`;
    }
    case "task_timeout":
      return `no report within ${fmtDuration(body.ms)}`;
    case "cpu_budget":
      return `used ${fmtCpu(body.used_us)} of ${fmtCpu(body.budget_us)} CPU`;
    case "fetch_failed":
      return `map output ${body.id ? JSON.stringify(body.id) : ""} on ${body.bts} lost`;
    default:
      return null;
  }
}

// A job's failure (`JobFailure`), in words.
function describeFailure(failure) {
  if (!failure) return null;
  const name = variant(failure);
  const body = typeof failure === "object" ? failure[name] : null;
  switch (name) {
    case "task":
      return `task ${body.task} of stage ${body.stage} failed after ${body.attempts} attempt${body.attempts === 1 ? "" : "s"} (${variant(body.kind).replace(/_/g, " ")})`;
    case "no_executors":
      return "no executor could run the job's tasks: every one is lost or excluded";
    case "map_output_lost":
      return "a map output was lost more times than the job's attempts allow";
    case "commit":
      return `committing the output of sink ${body.sink} failed; nothing of it was published`;
    case "over_budget": {
      const cpu = body.budget !== "tenant_disk";
      const used = cpu ? fmtCpu(body.used) : fmtBytes(body.used);
      const limit = cpu ? fmtCpu(body.limit) : fmtBytes(body.limit);
      return `over budget ${body.budget.replace(/_/g, " ")}: used ${used} of ${limit}`;
    }
    default:
      return name;
  }
}

// Done and total tasks over a job's stages.
function jobProgress(job) {
  let done = 0;
  let total = 0;
  let running = 0;
  for (const stage of job.stages || []) {
    done += stage.done;
    total += stage.total;
    running += stage.running;
  }
  return { done, total, running };
}

// A progress bar with `done/total` beside it; `word` colours it (running, failed, …).
function progressBar(done, total, word, testid) {
  const fill = el("div", { class: ["fill", word] });
  fill.style.width = `${total > 0 ? Math.min(100, (100 * done) / total) : 0}%`;
  return el("div", { class: "progress" },
    el("div", { class: "bar" }, fill),
    el("span", { class: "text", "data-testid": testid }, `${fmtInt(done)}/${fmtInt(total)}`));
}

// A stage's state as the DAG colours it.
function stageState(job, stage) {
  if (stage.total > 0 && stage.done >= stage.total) return "done";
  const failure = job.failure && variant(job.failure) === "task" ? job.failure.task : null;
  if (failure && failure.stage === stage.stage) return "failed";
  if (isFinished(job)) return stateName(job.state) === "succeeded" ? "done" : "stopped";
  if (stage.running > 0 || stage.done > 0) return "running";
  return "pending";
}

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, kind, message) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

function token() {
  return localStorage.getItem(TOKEN_KEY);
}

function authHeaders() {
  return { Authorization: `Bearer ${token()}` };
}

// Reads an error response as `ApiError`; a 401 also signs out, showing the server's message.
async function failure(response) {
  let kind = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && body.error) kind = body.error;
    if (body && body.message) message = body.message;
  } catch (_) {
    // Not JSON: keep the status line.
  }
  if (response.status === 401) signOut(message);
  return new ApiError(response.status, kind, message);
}

async function api(path, options = {}) {
  const response = await fetch(API + path, {
    ...options,
    headers: { ...authHeaders(), Accept: "application/json", ...(options.headers || {}) },
  });
  if (!response.ok) throw await failure(response);
  return response.json();
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// Follows a job's `events` stream (server-sent events, read with fetch because EventSource
// cannot send the token): calls `onStatus` with each status; reconnects after a drop while the
// job runs; stops when the job ended or `signal` aborts. `onTrouble` hears of errors.
async function followJob(job, signal, onStatus, onTrouble) {
  let delay = 1000;
  let finished = false;
  while (!signal.aborted && !finished) {
    try {
      const response = await fetch(`${API}/jobs/${encodeURIComponent(job)}/events`, {
        headers: { ...authHeaders(), Accept: "text/event-stream" },
        signal,
      });
      if (!response.ok) throw await failure(response);
      onTrouble(null);
      delay = 1000;
      for await (const event of serverSentEvents(response.body, signal)) {
        if (event.type !== "status") continue;
        const status = JSON.parse(event.data);
        finished = isFinished(status);
        onStatus(status);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && [401, 403, 404].includes(error.status)) {
        onTrouble(error);
        return;
      }
      onTrouble(error);
    }
    if (finished || signal.aborted) return;
    // The stream dropped while the job runs: catch up with one status, then reconnect.
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 8000);
    try {
      const status = await api(`/jobs/${encodeURIComponent(job)}`, { signal });
      finished = isFinished(status);
      onStatus(status);
    } catch (_) {
      // The next connection attempt reports the trouble.
    }
  }
}

// The events of a `text/event-stream` body: `{type, data}` objects, per the HTML standard's
// parsing rules (fields `event` and `data`, `:` comments, events ended by a blank line).
async function* serverSentEvents(body, signal) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let type = "";
  let data = [];
  try {
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, end);
        const newline = buffer.startsWith("\r\n", end) ? 2 : 1;
        buffer = buffer.slice(end + newline);
        if (line === "") {
          if (data.length > 0) yield { type: type || "message", data: data.join("\n") };
          type = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "event") type = text;
        else if (field === "data") data.push(text);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

// ---------------------------------------------------------------------------------------------
// Sign-in

const main = () => document.getElementById("main");

function showLogin(message) {
  document.getElementById("topbar").hidden = true;
  main().replaceChildren();
  document.getElementById("login").hidden = false;
  const error = document.getElementById("login-error");
  error.hidden = !message;
  error.textContent = message || "";
  const input = document.getElementById("token-input");
  input.value = "";
  input.focus();
}

// Whether the token in local storage was accepted (by `whoami`) since the page loaded.
let signedIn = false;

function signOut(message) {
  signedIn = false;
  localStorage.removeItem(TOKEN_KEY);
  stopView();
  showLogin(message);
}

async function signIn(value) {
  localStorage.setItem(TOKEN_KEY, value.trim());
  let who;
  try {
    who = await api("/whoami");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // Back on the login screen.
    localStorage.removeItem(TOKEN_KEY);
    showLogin(error.message);
    return;
  }
  const whoami = document.getElementById("whoami");
  replace(whoami, el("strong", {}, who.name), ` · ${who.role}`, who.tenant ? ` · ${who.tenant}` : null);
  whoami.dataset.role = who.role;
  signedIn = true;
  document.getElementById("login").hidden = true;
  document.getElementById("topbar").hidden = false;
  route();
}

// ---------------------------------------------------------------------------------------------
// Routing

let stopCurrent = null;

function stopView() {
  if (stopCurrent) stopCurrent();
  stopCurrent = null;
}

// The current route: `{parts: ["jobs", "<id>"], params: URLSearchParams}`.
function location_() {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const [path, search] = hash.split("?", 2);
  return {
    parts: path.split("/").filter(Boolean).map(decodeURIComponent),
    params: new URLSearchParams(search || ""),
  };
}

function route() {
  if (!token()) {
    showLogin();
    return;
  }
  if (!signedIn) {
    signIn(token());
    return;
  }
  stopView();
  const { parts, params } = location_();
  const section = parts[0] || "jobs";
  for (const link of document.querySelectorAll(".sections a")) {
    link.classList.toggle("active", link.dataset.section === section);
  }
  const target = main();
  target.replaceChildren();
  window.scrollTo(0, 0);
  let view;
  if (section === "jobs" && parts.length <= 1) view = jobsView(target, params);
  else if (section === "jobs" && parts.length === 2) view = jobView(target, parts[1]);
  else if (section === "jobs" && parts.length === 4 && parts[2] === "stages") view = stageView(target, parts[1], Number(parts[3]));
  else if (section === "executors") view = executorsView(target);
  else if (section === "tenants") view = tenantsView(target);
  else if (section === "plugins") view = pluginsView(target);
  else view = notFound(target);
  stopCurrent = view;
}

function jobHref(job) {
  return `#/jobs/${encodeURIComponent(job)}`;
}

function stageHref(job, stage) {
  return `#/jobs/${encodeURIComponent(job)}/stages/${stage}`;
}

function notFound(target) {
  append(target, el("div", { class: "card empty" }, "There is no such page. ", el("a", { href: "#/jobs" }, "Back to the jobs")));
  return () => {};
}

// Runs `load` now and every `ms` while the view lives (and, with `whileTrue`, while it says so);
// a failed load shows its error in `errorBox` and keeps trying.
function every(ms, load, errorBox) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    let again = true;
    try {
      again = (await load()) !== false;
      if (errorBox) errorBox.hidden = true;
    } catch (error) {
      if (stopped) return;
      if (errorBox) {
        errorBox.hidden = false;
        errorBox.textContent = error.message;
      }
    }
    if (!stopped && again) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function errorBox(testid) {
  return el("p", { class: "error", "data-testid": testid || "error", hidden: true });
}

function pageHead(title, ...rest) {
  return el("div", { class: "page-head" }, el("h1", {}, title), el("span", { class: "grow" }), rest);
}

function table(testid, headings, rows, emptyText) {
  const head = el("tr", {}, headings.map(([text, cls]) => el("th", { class: cls }, text)));
  const body = el("tbody", {}, rows);
  if (rows.length === 0) body.appendChild(el("tr", {}, el("td", { class: "empty", colspan: headings.length }, emptyText)));
  return el("table", { "data-testid": testid, id: testid }, el("thead", {}, head), body);
}

const num = (value) => el("td", { class: "num" }, value);

// ---------------------------------------------------------------------------------------------
// Jobs

const JOB_STATES = ["queued", "running", "succeeded", "failed", "cancelled"];

function jobsView(target, params) {
  const state = params.get("state") || "";
  const tenant = params.get("tenant") || "";
  const offset = Math.max(0, Number(params.get("offset")) || 0);
  const go = (changes) => {
    const next = { state, tenant, offset, ...changes };
    if (next.offset === 0) delete next.offset;
    window.location.hash = `#/jobs${query(next)}`;
  };

  const stateSelect = el("select", { "data-testid": "filter-state", onchange: () => go({ state: stateSelect.value, offset: 0 }) },
    el("option", { value: "" }, "all states"),
    JOB_STATES.map((s) => el("option", { value: s, selected: s === state }, s)));
  const tenantInput = el("input", { type: "text", list: "tenant-names", value: tenant, placeholder: "any tenant", "data-testid": "filter-tenant" });
  const tenantNames = el("datalist", { id: "tenant-names" });
  const filterForm = el("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); go({ tenant: tenantInput.value.trim(), offset: 0 }); } },
    el("label", {}, "State", stateSelect),
    el("label", {}, "Tenant", tenantInput, tenantNames),
    el("button", { type: "submit", class: "button" }, "Filter"),
    (state || tenant) ? el("a", { href: "#/jobs" }, "clear") : null);
  api("/tenants").then((body) => {
    append(tenantNames, body.tenants.map((t) => el("option", { value: t.tenant })));
  }).catch(() => {});

  const rows = el("tbody", {});
  const info = el("span", { class: "info", "data-testid": "page-info" });
  const prev = el("button", { type: "button", class: "button", "data-testid": "page-prev", disabled: offset === 0, onclick: () => go({ offset: Math.max(0, offset - PAGE_SIZE) }) }, "← Prev");
  const next = el("button", { type: "button", class: "button", "data-testid": "page-next", disabled: true, onclick: () => go({ offset: offset + PAGE_SIZE }) }, "Next →");
  const updated = el("span", { class: "refresh-note", "data-testid": "refreshed" });
  const errors = errorBox();
  append(target,
    pageHead("Jobs", updated),
    el("div", { class: "card" }, filterForm),
    errors,
    el("div", { class: "card flush" },
      el("table", { "data-testid": "job-table", id: "job-table" },
        el("thead", {}, el("tr", {},
          el("th", {}, "State"), el("th", {}, "Job"), el("th", {}, "Tenant"), el("th", {}, "Progress"),
          el("th", {}, "Started"), el("th", { class: "num" }, "Duration"))),
        rows),
      el("div", { class: "pager" }, info, prev, next)));

  return every(LIST_REFRESH_MS, async () => {
    const page = await api(`/jobs${query({ state, tenant, offset, limit: PAGE_SIZE })}`);
    replace(rows, page.jobs.map(jobRow));
    if (page.jobs.length === 0) rows.appendChild(el("tr", {}, el("td", { class: "empty", colspan: 6 }, "No jobs.")));
    const first = page.jobs.length ? page.offset + 1 : 0;
    info.textContent = `${fmtInt(first)}–${fmtInt(page.offset + page.jobs.length)} of ${fmtInt(page.total)} jobs`;
    next.disabled = page.offset + page.jobs.length >= page.total;
    updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
  }, errors);
}

function jobRow(job) {
  const word = stateName(job.state);
  const { done, total } = jobProgress(job);
  const duration = job.ended_unix_ms ? job.ended_unix_ms - job.started_unix_ms : job.elapsed_ms;
  return el("tr", { "data-testid": "job-row", "data-job": job.job, "data-state": word },
    el("td", {}, badge(word, "job-row-state")),
    el("td", {},
      el("a", { href: jobHref(job.job), "data-testid": "job-name" }, job.name),
      el("div", { class: "muted small mono" }, job.job)),
    el("td", {}, job.owner.tenant, el("div", { class: "muted small" }, job.owner.submitter)),
    el("td", {}, progressBar(done, total, word === "succeeded" ? "" : word)),
    el("td", {}, fmtTime(job.started_unix_ms)),
    num(fmtDuration(duration)));
}

// ---------------------------------------------------------------------------------------------
// One job

function jobView(target, id) {
  const controller = new AbortController();
  const stats = el("div", { class: "card" });
  const failureBox = el("div", {});
  const dag = el("div", { class: "dag-wrap" });
  const stages = el("div", {});
  const extra = el("div", {});
  const live = el("span", { class: "refresh-note", "data-testid": "live" });
  const notice = el("p", { class: "notice", "data-testid": "notice", hidden: true });
  const errors = errorBox("job-error");
  let job = null;
  const header = jobHeader(() => confirmCancel(job, notice, errors), live);
  append(target,
    el("div", { class: "crumbs" }, el("a", { href: "#/jobs" }, "Jobs"), " / ", id),
    header.node, notice, errors, stats, failureBox,
    el("div", { class: "card" }, el("h2", {}, "Stages"), dag, dagLegend()),
    stages, extra);

  let receivedAt = 0;
  let lastShape = "";
  const render = () => {
    header.update(job);
    renderJobStats(stats, job, receivedAt);
    renderFailure(failureBox, job);
    // The DAG is drawn again only when something it shows changed, so that it does not flicker.
    const shape = JSON.stringify(job.stages.map((s) => [s.stage, s.done, s.total, s.running, stageState(job, s)]));
    if (shape !== lastShape) {
      renderDag(dag, job);
      lastShape = shape;
    }
    renderStageTable(stages, job);
    renderJobExtra(extra, job);
  };
  const onStatus = (status) => {
    job = status;
    receivedAt = Date.now();
    render();
    live.textContent = isFinished(job) ? "" : "● live";
  };
  const ticker = setInterval(() => {
    if (job && !isFinished(job)) renderJobStats(stats, job, receivedAt);
  }, 1000);

  (async () => {
    try {
      onStatus(await api(`/jobs/${encodeURIComponent(id)}`, { signal: controller.signal }));
    } catch (error) {
      if (controller.signal.aborted) return;
      errors.hidden = false;
      errors.textContent = error.message;
      return;
    }
    if (isFinished(job)) return;
    await followJob(id, controller.signal, onStatus, (trouble) => {
      if (trouble) {
        live.textContent = "reconnecting…";
      } else if (job && !isFinished(job)) {
        live.textContent = "● live";
      }
    });
  })();
  return () => {
    controller.abort();
    clearInterval(ticker);
  };
}

// The job page's title line. Made once, updated in place: the Cancel button stays the same
// element while the job's statuses arrive (a click never lands on a replaced one).
function jobHeader(onCancel, live) {
  const title = el("h1", { "data-testid": "job-title" });
  const state = el("span", {});
  const cancel = el("button", { type: "button", class: "button danger", id: "cancel-job", "data-testid": "cancel-job", hidden: true, onclick: onCancel }, "Cancel job");
  const node = el("div", { class: "page-head" }, title, state, live, el("span", { class: "grow" }), cancel);
  const update = (job) => {
    const word = stateName(job.state);
    title.textContent = job.name;
    if (state.textContent !== word) replace(state, badge(word, "job-state"));
    cancel.hidden = word !== "queued" && word !== "running";
  };
  return { node, update };
}

function renderJobStats(target, job, receivedAt) {
  const running = !isFinished(job);
  const elapsed = job.elapsed_ms + (running ? Date.now() - receivedAt : 0);
  const { done, total } = jobProgress(job);
  const stat = (label, value, testid, small) =>
    el("div", { class: "stat" }, el("div", { class: "label" }, label), el("div", { class: ["value", small && "small-value"], "data-testid": testid }, value));
  replace(target, el("div", { class: "grid" },
    stat("Job", job.job, "job-id", true),
    stat("Tenant", job.owner.tenant, "job-tenant", true),
    stat("Submitter", job.owner.submitter || "–", null, true),
    stat("Started", fmtTime(job.started_unix_ms), null, true),
    stat(running ? "Elapsed" : "Took", fmtDuration(elapsed), "job-elapsed"),
    stat("Tasks", `${fmtInt(done)}/${fmtInt(total)}`, "job-progress"),
    stat("CPU", fmtCpu(job.cost.cpu_us), "job-cpu"),
    stat("Peak memory", fmtBytes(job.cost.peak_memory), "job-memory"),
    stat("Attempts", fmtInt(job.cost.attempts)),
    stat("Rows in", fmtInt(job.metrics.rows_in)),
    stat("Read", fmtBytes(job.cost.bytes_read)),
    stat("Written", fmtBytes(job.cost.bytes_written)),
    stat("Shuffle", fmtBytes(job.cost.shuffle_bytes)),
    job.cost.spill_bytes ? stat("Spilled", fmtBytes(job.cost.spill_bytes)) : null));
}

function renderFailure(target, job) {
  const word = stateName(job.state);
  target.replaceChildren();
  if (word !== "failed" && job.failed_attempts.length === 0) return;
  const card = el("div", { class: ["card", word === "failed" && "failure-box"], "data-testid": "failure" });
  if (word === "failed") {
    append(card,
      el("h2", {}, "Why it failed"),
      el("pre", { class: "cause", "data-testid": "failure-cause" }, job.state.failed.cause),
      job.failure ? el("p", { "data-testid": "failure-kind" }, describeFailure(job.failure)) : null);
  }
  if (job.failed_attempts.length > 0) {
    append(card,
      el("h2", {}, `Failed attempts (${job.failed_attempts.length})`),
      table("failed-attempts",
        [["Stage"], ["Task"], ["Attempt"], ["Executor"], ["Kind"], ["Cause"]],
        job.failed_attempts.map((a) => el("tr", {},
          el("td", {}, el("a", { href: stageHref(job.job, a.stage) }, String(a.stage))),
          el("td", {}, String(a.task)),
          el("td", {}, String(a.attempt)),
          el("td", { class: "mono" }, a.executor),
          el("td", {}, kindBadge(a.kind)),
          el("td", { class: "wrap" }, a.cause, kindDetail(a.kind) ? el("div", { class: "muted small" }, kindDetail(a.kind)) : null))),
        ""));
  }
  target.appendChild(card);
}

function dagLegend() {
  return el("div", { class: "legend" },
    ["pending", "running", "done", "failed", "stopped"].map((s) => el("span", {}, el("span", { class: ["swatch", s] }), s)));
}

// The stages' upstream stages: `upstream` is one stage number or null (an array is read too).
function upstreamsOf(stage) {
  const up = stage.upstream;
  if (up === null || up === undefined) return [];
  return Array.isArray(up) ? up : [up];
}

// Draws the stage DAG: a column per depth along `upstream` edges, a box per stage coloured by its
// state with its done/total and a bar, and an arrow per shuffle edge. A box opens its stage.
function renderDag(target, job) {
  const NODE_W = 220;
  const NODE_H = 74;
  const GAP_X = 70;
  const GAP_Y = 22;
  const PAD = 12;
  const byNumber = new Map(job.stages.map((s) => [s.stage, s]));
  const depth = new Map();
  const depthOf = (stage, seen = new Set()) => {
    if (depth.has(stage.stage)) return depth.get(stage.stage);
    if (seen.has(stage.stage)) return 0; // A cycle would be a bug upstream; draw it flat.
    seen.add(stage.stage);
    const ups = upstreamsOf(stage).map((n) => byNumber.get(n)).filter(Boolean);
    const d = ups.length ? 1 + Math.max(...ups.map((u) => depthOf(u, seen))) : 0;
    depth.set(stage.stage, d);
    return d;
  };
  const columns = [];
  for (const stage of job.stages) {
    const d = depthOf(stage);
    (columns[d] = columns[d] || []).push(stage);
  }
  const rowsMax = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  const width = PAD * 2 + columns.length * NODE_W + Math.max(0, columns.length - 1) * GAP_X;
  const height = PAD * 2 + rowsMax * NODE_H + (rowsMax - 1) * GAP_Y;
  const position = new Map();
  columns.forEach((column, d) => {
    const offset = ((rowsMax - column.length) * (NODE_H + GAP_Y)) / 2;
    column.forEach((stage, row) => {
      position.set(stage.stage, { x: PAD + d * (NODE_W + GAP_X), y: PAD + offset + row * (NODE_H + GAP_Y) });
    });
  });

  const picture = svg("svg", {
    class: "dag", id: "dag", "data-testid": "dag", width, height, viewBox: `0 0 ${width} ${height}`,
    role: "img", "aria-label": "stage graph",
  });
  picture.appendChild(svg("defs", {}, svg("marker", { id: "arrowhead", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow" }))));
  for (const stage of job.stages) {
    for (const up of upstreamsOf(stage)) {
      const from = position.get(up);
      const to = position.get(stage.stage);
      if (!from || !to) continue;
      const x1 = from.x + NODE_W;
      const y1 = from.y + NODE_H / 2;
      const x2 = to.x - 2;
      const y2 = to.y + NODE_H / 2;
      const bend = Math.max(20, (x2 - x1) / 2);
      picture.appendChild(svg("path", {
        class: "edge", "data-testid": "dag-edge", "data-from": up, "data-to": stage.stage,
        d: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`, "marker-end": "url(#arrowhead)",
      }, svg("title", {}, "shuffle")));
    }
  }
  for (const stage of job.stages) {
    const { x, y } = position.get(stage.stage);
    const state = stageState(job, stage);
    const fraction = stage.total > 0 ? Math.min(1, stage.done / stage.total) : 0;
    const node = svg("g", {
      class: ["node", state], "data-testid": "dag-node", "data-stage": stage.stage, "data-state": state,
      transform: `translate(${x} ${y})`, tabindex: 0,
      onclick: () => { window.location.hash = stageHref(job.job, stage.stage); },
      onkeydown: (e) => { if (e.key === "Enter") window.location.hash = stageHref(job.job, stage.stage); },
    },
    svg("title", {}, stage.description),
    svg("rect", { class: "box", width: NODE_W, height: NODE_H, rx: 8 }),
    svg("text", { class: "title", x: 12, y: 21 }, `Stage ${stage.stage}`),
    svg("text", { class: "count", x: NODE_W - 12, y: 21, "text-anchor": "end", "data-testid": "dag-progress" },
      `${fmtInt(stage.done)}/${fmtInt(stage.total)}${stage.running ? ` · ${stage.running} running` : ""}`),
    svg("text", { class: "desc", x: 12, y: 41 }, shorten(stage.description, 34)),
    svg("rect", { class: "track", x: 12, y: 54, width: NODE_W - 24, height: 7, rx: 3.5 }),
    svg("rect", { class: "fill", x: 12, y: 54, width: (NODE_W - 24) * fraction, height: 7, rx: 3.5 }));
    picture.appendChild(node);
  }
  replace(target, picture);
}

function shorten(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function renderStageTable(target, job) {
  const rows = job.stages.map((stage) => {
    const state = stageState(job, stage);
    const d = stage.task_durations;
    return el("tr", { "data-testid": "stage-row", "data-stage": stage.stage },
      el("td", {}, el("a", { href: stageHref(job.job, stage.stage), "data-testid": "stage-link" }, `Stage ${stage.stage}`)),
      el("td", { class: "wrap" }, stage.description),
      el("td", {}, progressBar(stage.done, stage.total, state === "done" ? "" : state, `stage-progress-${stage.stage}`)),
      num(fmtInt(stage.running)),
      num(d ? fmtDuration(d.min_ms) : "–"),
      num(d ? fmtDuration(d.median_ms) : "–"),
      num(d ? fmtDuration(d.max_ms) : "–"),
      num(fmtCpu(stage.cost.cpu_us)),
      num(fmtBytes(stage.cost.peak_memory)),
      num(fmtBytes(stage.cost.shuffle_bytes)));
  });
  replace(target, el("div", { class: "card flush" },
    el("h2", {}, "Stage details"),
    table("stage-table",
      [["Stage"], ["Description"], ["Tasks"], ["Running", "num"], ["Min", "num"], ["Median", "num"], ["Max", "num"], ["CPU", "num"], ["Peak memory", "num"], ["Shuffle", "num"]],
      rows, "No stages.")));
}

function renderJobExtra(target, job) {
  const parts = [];
  if (job.outputs.length) {
    parts.push(el("div", { class: "card" }, el("h2", {}, "Outputs"),
      el("dl", { class: "kv", "data-testid": "outputs" }, job.outputs.map(([sink, url]) => [el("dt", {}, sink), el("dd", { class: "mono" }, url)]))));
  }
  if (job.tasks_by_executor.length) {
    parts.push(el("div", { class: "card" }, el("h2", {}, "Tasks by executor"),
      el("dl", { class: "kv" }, job.tasks_by_executor.map(([executor, n]) => [el("dt", { class: "mono" }, executor), el("dd", {}, fmtInt(n))])),
      job.excluded_executors.length ? el("p", { class: "muted" }, `Excluded: ${job.excluded_executors.join(", ")}`) : null,
      job.recomputed_map_outputs ? el("p", { class: "muted" }, `Map outputs computed again: ${fmtInt(job.recomputed_map_outputs)}`) : null));
  }
  replace(target, parts);
}

// Asks, in a dialog, whether to cancel `job`; then asks the server, showing its refusal.
function confirmCancel(job, notice, errors) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = "Cancel this job?";
  document.getElementById("confirm-text").textContent =
    `“${job.name}” (${job.job}) stops; nothing of its output is published.`;
  document.getElementById("confirm-yes").textContent = "Cancel job";
  dialog.returnValue = "";
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "yes") return;
    errors.hidden = true;
    try {
      await api(`/jobs/${encodeURIComponent(job.job)}/cancel`, { method: "POST" });
      notice.hidden = false;
      notice.textContent = "Cancellation requested.";
    } catch (error) {
      errors.hidden = false;
      errors.textContent = `Not cancelled: ${error.message}`;
    }
  }, { once: true });
  dialog.showModal();
}

// ---------------------------------------------------------------------------------------------
// One stage

const QUANTILES = [["min", "Min"], ["p25", "25th percentile"], ["median", "Median"], ["p75", "75th percentile"], ["max", "Max"]];
const SUMMARY_METRICS = [
  ["duration_ms", "Duration", fmtDuration],
  ["rows_in", "Rows in", fmtInt],
  ["bytes_in", "Bytes in", fmtBytes],
  ["bytes_out", "Bytes out", fmtBytes],
  ["shuffle_bytes", "Shuffle", fmtBytes],
];

function stageView(target, id, number) {
  const head = el("div", {});
  const summary = el("div", {});
  const tasks = el("div", {});
  const errors = errorBox("stage-error");
  append(target,
    el("div", { class: "crumbs" }, el("a", { href: "#/jobs" }, "Jobs"), " / ", el("a", { href: jobHref(id) }, id), " / ", `stage ${number}`),
    head, errors, summary, tasks);
  return every(STAGE_REFRESH_MS, async () => {
    const [job, body] = await Promise.all([
      api(`/jobs/${encodeURIComponent(id)}`),
      api(`/jobs/${encodeURIComponent(id)}/stages/${number}/tasks`),
    ]);
    const stage = job.stages.find((s) => s.stage === number);
    const state = stage ? stageState(job, stage) : "pending";
    replace(head,
      el("div", { class: "page-head" },
        el("h1", {}, `Stage ${number}`), badge(state, "stage-state"),
        el("span", { class: "muted" }, job.name),
        el("span", { class: "grow" }),
        stage ? progressBar(stage.done, stage.total, state === "done" ? "" : state, "stage-progress") : null),
      stage ? el("p", { class: "muted", "data-testid": "stage-description" }, stage.description) : null);
    renderSummary(summary, body.summary);
    renderTasks(tasks, body.tasks);
    return !isFinished(job);
  }, errors);
}

function renderSummary(target, summary) {
  const rows = SUMMARY_METRICS.filter(([key]) => summary[key]).map(([key, label, format]) =>
    el("tr", { class: "quantile", "data-testid": `quantile-${key}` },
      el("td", {}, label),
      QUANTILES.map(([q]) => num(format(summary[key][q])))));
  replace(target, el("div", { class: "card flush" },
    el("h2", {}, `Summary over ${fmtInt(summary.count)} succeeded task${summary.count === 1 ? "" : "s"}`),
    table("task-summary", [["Metric"], ...QUANTILES.map(([, label]) => [label, "num"])], rows, "No task has succeeded yet.")));
}

function renderTasks(target, tasks) {
  const rows = tasks.map((task) => {
    const m = task.metrics;
    const u = task.usage || {};
    // `usage` sums finished attempts: a task's first attempt shows it once it ended.
    const used = m !== null || u.wall_ms > 0;
    return el("tr", { "data-testid": "task-row", "data-task": task.task, "data-state": task.state },
      num(String(task.task)),
      el("td", {}, badge(task.state === "succeeded" ? "succeeded" : task.state)),
      num(fmtInt(task.attempts)),
      el("td", { class: "mono" }, task.executor || "–"),
      num(m ? fmtDuration(m.task_ms) : used ? fmtDuration(u.wall_ms) : "–"),
      num(m ? fmtInt(m.rows_in) : "–"),
      num(m ? fmtInt(m.rows_out) : "–"),
      num(m ? fmtBytes(m.bytes_in) : "–"),
      num(m ? fmtBytes(m.bytes_out) : "–"),
      num(m ? fmtBytes(m.shuffle_bytes) : "–"),
      num(m && m.spill_bytes ? fmtBytes(m.spill_bytes) : "–"),
      num(used ? fmtCpu(u.cpu_us) : "–"),
      num(used ? fmtBytes(u.peak_memory) : "–"),
      el("td", { class: "wrap" }, task.failure_kind ? kindBadge(task.failure_kind) : null, task.error ? ` ${task.error}` : null));
  });
  replace(target, el("div", { class: "card flush" },
    el("h2", {}, `Tasks (${fmtInt(tasks.length)})`),
    table("task-table",
      [["Task", "num"], ["State"], ["Attempts", "num"], ["Executor"], ["Duration", "num"], ["Rows in", "num"], ["Rows out", "num"],
        ["Bytes in", "num"], ["Bytes out", "num"], ["Shuffle", "num"], ["Spill", "num"], ["CPU", "num"], ["Peak memory", "num"], ["Error"]],
      rows, "No tasks.")));
}

// ---------------------------------------------------------------------------------------------
// Executors, tenants, plugins

function executorsView(target) {
  const body = el("div", {});
  const errors = errorBox();
  const updated = el("span", { class: "refresh-note" });
  append(target, pageHead("Executors", updated), errors, body);
  return every(LIST_REFRESH_MS, async () => {
    const { executors } = await api("/executors");
    const alive = executors.filter((e) => e.state === "alive");
    const slots = alive.reduce((sum, e) => sum + e.slots, 0);
    const running = alive.reduce((sum, e) => sum + e.running, 0);
    replace(body,
      el("div", { class: "card grid" },
        el("div", { class: "stat" }, el("div", { class: "label" }, "Alive"), el("div", { class: "value" }, `${alive.length}/${executors.length}`)),
        el("div", { class: "stat" }, el("div", { class: "label" }, "Slots in use"), el("div", { class: "value" }, `${running}/${slots}`)),
        el("div", { class: "stat" }, el("div", { class: "label" }, "Memory offered"), el("div", { class: "value" }, fmtBytes(alive.reduce((sum, e) => sum + e.memory, 0))))),
      el("div", { class: "card flush" }, table("executor-table",
        [["Executor"], ["State"], ["Address"], ["Shuffle server"], ["Slots in use"], ["Memory", "num"], ["Heartbeat", "num"], ["Succeeded", "num"], ["Failed", "num"], ["Shuffle served", "num"]],
        executors.map((e) => el("tr", { "data-testid": "executor-row", "data-executor": e.executor },
          el("td", { class: "mono" }, e.executor),
          el("td", {}, badge(e.state)),
          el("td", { class: "mono" }, e.address),
          el("td", { class: "mono" }, e.bts),
          el("td", {}, progressBar(e.running, e.slots, "running")),
          num(fmtBytes(e.memory)),
          num(fmtAgo(e.last_heartbeat_ms)),
          num(fmtInt(e.tasks_succeeded)),
          num(fmtInt(e.tasks_failed)),
          num(fmtBytes(e.shuffle_served_bytes)))),
        "No executor has joined.")));
    updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
  }, errors);
}

// A tenant's limits next to what it uses: [label, usage key, limit key, format].
const TENANT_LIMITS = [
  ["Running jobs", "running_jobs", "max_running_jobs", fmtInt],
  ["Queued jobs", "queued_jobs", "max_queued_jobs", fmtInt],
  ["Slots", "slots", "max_slots", fmtInt],
  ["Memory", "memory_bytes", "max_memory_bytes", fmtBytes],
  ["Disk", "disk_bytes", "max_disk_bytes", fmtBytes],
  ["CPU today", "cpu_today_seconds", "cpu_per_day_seconds", fmtSeconds],
];

function tenantsView(target) {
  const body = el("div", {});
  const errors = errorBox();
  append(target, pageHead("Tenants"), errors, body);
  return every(LIST_REFRESH_MS * 2, async () => {
    const { tenants } = await api("/tenants");
    replace(body, tenants.length === 0 ? el("div", { class: "card empty" }, "No tenant.") : null,
      tenants.map((t) => el("div", { class: "card", "data-testid": "tenant", "data-tenant": t.tenant },
        el("div", { class: "page-head" }, el("h2", {}, t.tenant), el("span", { class: "muted" }, `weight ${t.weight}`)),
        el("table", { class: "usage" }, el("tbody", {},
          TENANT_LIMITS.map(([label, used, limit, format]) => usageRow(label, t.usage[used], t.limits[limit], format)),
          el("tr", {}, el("td", {}, "CPU per job"), el("td", {}, t.limits.max_cpu_per_job_seconds === null || t.limits.max_cpu_per_job_seconds === undefined
            ? el("span", { class: "muted" }, "no limit")
            : `at most ${fmtSeconds(t.limits.max_cpu_per_job_seconds)}`)))))));
  }, errors);
}

function usageRow(label, used, limit, format) {
  let gauge;
  if (limit === null || limit === undefined) {
    gauge = el("div", { class: "progress" }, el("span", {}, format(used)), el("span", { class: "muted" }, "· no limit"));
  } else {
    const ratio = limit > 0 ? used / limit : 1;
    const fill = el("div", { class: ["fill", ratio >= 1 ? "over" : ratio >= 0.8 ? "warn" : "running"] });
    fill.style.width = `${Math.min(100, 100 * ratio)}%`;
    gauge = el("div", { class: "progress" }, el("div", { class: "bar" }, fill), el("span", { class: "text" }, `${format(used)} / ${format(limit)}`));
  }
  return el("tr", {}, el("td", {}, label), el("td", {}, gauge));
}

function pluginsView(target) {
  const body = el("div", {});
  const errors = errorBox();
  append(target, pageHead("Plugins"), errors, body);
  return every(LIST_REFRESH_MS * 3, async () => {
    const { plugins } = await api("/plugins");
    replace(body, el("div", { class: "card flush" }, table("plugin-table",
      [["Digest"], ["Kind"], ["Size", "num"], ["Stored"], ["Tenants"], ["Jobs"]],
      plugins.map((p) => el("tr", { "data-testid": "plugin-row" },
        el("td", { class: "mono", title: p.digest }, `${p.digest.slice(0, 16)}…`),
        el("td", {}, p.kind ? el("span", { class: "badge kind" }, p.kind) : el("span", { class: "muted" }, "–")),
        num(fmtBytes(p.size_bytes)),
        el("td", {}, fmtTime(p.stored_unix_ms)),
        el("td", {}, p.tenants.join(", ")),
        el("td", {}, p.jobs.map((job, i) => [i ? ", " : null, el("a", { href: jobHref(job), class: "mono" }, job)])))),
      "No plugin is stored.")));
  }, errors);
}

// ---------------------------------------------------------------------------------------------
// Start

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(document.getElementById("token-input").value);
  });
  document.getElementById("sign-out").addEventListener("click", () => signOut());
  // The dialog's buttons close it with their answer (no form: the policy allows no form action).
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-no").addEventListener("click", () => dialog.close("no"));
  document.getElementById("confirm-yes").addEventListener("click", () => dialog.close("yes"));
  window.addEventListener("hashchange", route);
  route();
});
