// cronmon dashboard. Plain modern JS, no build step, no framework.
//
// Safety rule: every string that comes from a job or from the API (cron names, error messages,
// output JSON, hosts...) reaches the DOM through textContent / text nodes only. Nothing here
// assigns innerHTML, outerHTML or insertAdjacentHTML.
(() => {
  "use strict";

  const REFRESH_MS = 30_000;
  const PAGE_SIZE = 50;
  const SECRET_KEY = "cronmon.secret";
  const INCIDENTS_OPEN_MAX = 50;
  const INCIDENTS_RESOLVED_MAX = 10;
  const ERROR_EXCERPT_MAX = 140;

  // A cron's state as the server derives it: the badge's tone, how it sorts (most urgent
  // first) and what it means, for the badge's title.
  const STATES = {
    stuck: { tone: "stuck", rank: 0, help: "a run is past its max runtime or heartbeat timeout" },
    late: { tone: "late", rank: 1, help: "a slot's start deadline passed with no start" },
    failing: { tone: "failed", rank: 2, help: "the last run failed, or an incident is open" },
    running: { tone: "running", rank: 3, help: "a run is in progress, within its limits" },
    up: { tone: "completed", rank: 4, help: "the last run completed and no slot is overdue" },
    paused: { tone: "neutral", rank: 5, help: "paused or disabled: no slot is judged, no incident opens" },
    new: { tone: "neutral", rank: 6, help: "no run recorded yet" },
  };
  const INCIDENT_KINDS = {
    failed: "Failed runs",
    missed: "Missed runs",
    timed_out: "Timed out",
    stuck: "Stuck run",
    anomaly: "Unusual duration",
  };
  const ANOMALIES = {
    slow: "Slower than this cron's usual (its anomaly factor × the p95 of the last 7 days)",
    fast: "Completed faster than this cron's minimum duration",
  };
  // A value from the API looked up in one of the tables above: own keys only, so that a
  // "constructor" never finds Object's.
  const lookup = (table, key) => (Object.hasOwn(table, String(key)) ? table[key] : undefined);

  // The API base comes from the mount point the server saw (injected into the page), never
  // from a guess or a relative URL.
  const API_BASE = (document.querySelector('meta[name="cronmon-api-base"]')?.content ?? "").replace(/\/+$/, "");

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- state
  const state = {
    secret: sessionStorage.getItem(SECRET_KEY) || "",
    filters: { cron: "", status: "", from: "", to: "" },
    page: 1,
    run: null, // id of the execution shown in the detail view
    lastOk: null, // Date of the last fully successful refresh
    inFlight: null,
    queued: false,
    refreshes: 0,
    listSeq: 0,
    detailSeq: 0,
    detailJson: "",
    chart: null,
    data: { stats: null, schedules: null, list: null, batches: null, incidentsOpen: null, incidentsResolved: null },
  };

  // URL hash keeps filters, page and the open run, so a reload or a shared link keeps them.
  function readHash() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ""));
    state.filters.cron = p.get("cron") || "";
    state.filters.status = ["running", "completed", "failed"].includes(p.get("status")) ? p.get("status") : "";
    state.filters.from = p.get("from") || "";
    state.filters.to = p.get("to") || "";
    const page = parseInt(p.get("page") || "1", 10);
    state.page = Number.isFinite(page) && page > 0 ? page : 1;
    state.run = p.get("run") || null;
  }
  function writeHash() {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(state.filters)) if (v) p.set(k, v);
    if (state.page > 1) p.set("page", String(state.page));
    if (state.run) p.set("run", state.run);
    const h = p.toString();
    history.replaceState(null, "", h ? `#${h}` : location.pathname + location.search);
  }

  // ---------------------------------------------------------------- DOM helpers
  // el("td", {className: "x", title: "t", dataset: {label: "L"}}, "text", childNode, ...)
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "dataset") Object.assign(node.dataset, v);
        else if (k === "onclick" || k === "onkeydown") node.addEventListener(k.slice(2), v);
        else if (k === "style") node.style.cssText = v;
        else if (k in node && k !== "list") node[k] = v;
        else node.setAttribute(k, v);
      }
    }
    append(node, children);
    return node;
  }
  function append(node, children) {
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  function setText(node, text) {
    node.textContent = text == null ? "" : String(text);
  }
  function clear(node) {
    node.replaceChildren();
    return node;
  }

  // ---------------------------------------------------------------- formatting
  const num = (v) => {
    const n = Number(v);
    return Number.isFinite(n) ? n : 0;
  };
  const fmtInt = (v) => num(v).toLocaleString("en-US");
  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", timeZone: "UTC" });

  function parseDate(v) {
    if (!v) return null;
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  function fmtDateTime(v) {
    const d = parseDate(v);
    return d ? dateTimeFmt.format(d) : "—";
  }
  function fmtDuration(ms) {
    if (ms === null || ms === undefined || ms === "") return "—";
    ms = num(ms);
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
    const m = Math.floor(s / 60);
    const sec = Math.floor(s % 60);
    if (m < 60) return sec ? `${m}m ${String(sec).padStart(2, "0")}s` : `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 48) return m % 60 ? `${h}h ${String(m % 60).padStart(2, "0")}m` : `${h} h`;
    return h % 24 ? `${Math.floor(h / 24)}d ${h % 24}h` : `${Math.floor(h / 24)} d`;
  }
  function fmtRelative(v, now = Date.now()) {
    const d = parseDate(v);
    if (!d) return "—";
    const diff = d.getTime() - now;
    const abs = Math.abs(diff);
    let text;
    if (abs < 45_000) text = diff >= 0 ? "in a few seconds" : "just now";
    else {
      const mins = Math.round(abs / 60_000);
      const hours = Math.round(abs / 3_600_000);
      const days = Math.round(abs / 86_400_000);
      const span = mins < 60 ? `${mins} min` : hours < 36 ? `${hours} h` : `${days} d`;
      text = diff >= 0 ? `in ${span}` : `${span} ago`;
    }
    return text;
  }
  // A time the server has already passed (a state began, an incident resolved): a browser
  // clock behind the server's must not make it read "in 2 min".
  function fmtPast(v, now = Date.now()) {
    const d = parseDate(v);
    if (!d) return "—";
    return now - d.getTime() < 45_000 ? "just now" : fmtRelative(d, now);
  }
  function fmtSince(v, now = Date.now()) {
    return parseDate(v) ? `since ${fmtPast(v, now)}` : "—";
  }
  function sinceEl(v, label, now) {
    const d = parseDate(v);
    if (!d) return null;
    return el("time", { className: "since", dateTime: d.toISOString(), title: `${label} since ${dateTimeFmt.format(d)} (${d.toISOString()})` },
      fmtSince(v, now));
  }
  // The value a datetime-local filter input holds (local time, to the minute); `up` rounds a
  // time inside a minute to the next one so that a range ending there still includes it.
  function localInputValue(v, up) {
    const d = parseDate(v);
    if (!d) return "";
    const t = new Date(d.getTime());
    if (up && (t.getSeconds() || t.getMilliseconds())) t.setMinutes(t.getMinutes() + 1);
    t.setSeconds(0, 0);
    const p = (n) => String(n).padStart(2, "0");
    return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())}T${p(t.getHours())}:${p(t.getMinutes())}`;
  }
  function excerpt(text, max) {
    const line = String(text).split(/\r?\n/).find((l) => l.trim()) || "";
    const t = line.trim();
    return t.length > max ? `${t.slice(0, max - 1)}…` : t;
  }
  function fmtPct(v) {
    if (v === null || v === undefined || v === "") return "—";
    const n = num(v);
    return `${n >= 99.95 || n === 0 ? n.toFixed(0) : n.toFixed(1)}%`;
  }
  function timeEl(v, relative) {
    const d = parseDate(v);
    if (!d) return el("span", { className: "muted" }, "—");
    return el("time", { dateTime: d.toISOString(), title: d.toISOString() }, relative ? fmtRelative(v) : fmtDateTime(v));
  }
  function badge(status) {
    const s = String(status || "");
    const cls = ["running", "completed", "failed"].includes(s) ? s : "neutral";
    return el("span", { className: `badge ${cls}`, dataset: { status: s } }, s || "none");
  }
  function rateBar(pct, cls) {
    if (pct === null || pct === undefined || pct === "") return el("span", { className: "muted" }, "—");
    const n = Math.max(0, Math.min(100, num(pct)));
    const tone = cls || (n >= 90 ? "" : n >= 75 ? "mid" : "low");
    return el("div", { className: "rate" },
      el("div", { className: `bar ${tone}`, role: "presentation" }, el("span", { style: `width:${n}%` })),
      el("span", { className: "pct" }, fmtPct(n)));
  }
  const cronLabel = (s) => (s && s.display_name ? s.display_name : s?.cron_name) || "";

  // ---------------------------------------------------------------- API
  class ApiError extends Error {
    constructor(message, status, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }
  async function api(path, params) {
    const qs = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null)).toString() : "";
    const url = `${API_BASE}${path}${qs ? `?${qs}` : ""}`;
    let res;
    try {
      res = await fetch(url, {
        headers: { "X-Cron-Secret": state.secret, Accept: "application/json" },
        cache: "no-store",
        credentials: "same-origin",
      });
    } catch (e) {
      throw new ApiError(`cannot reach the cronmon API at ${API_BASE || "/"} (${e.message || e})`, 0, "network");
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (!res.ok) {
      const msg = body?.error?.message || `HTTP ${res.status} ${res.statusText}`;
      throw new ApiError(msg, res.status, body?.error?.code || "http");
    }
    if (!body || typeof body !== "object") throw new ApiError(`unexpected answer from ${path}`, res.status, "format");
    return body;
  }
  function listParams() {
    const f = state.filters;
    const toIso = (v) => {
      const d = parseDate(v);
      return d ? d.toISOString() : "";
    };
    return {
      page: state.page, limit: PAGE_SIZE, status: f.status, cronName: f.cron, from: toIso(f.from), to: toIso(f.to),
    };
  }

  // The CSV export of the runs the filters select. The secret travels in a header, so a plain
  // link cannot fetch it: the file is fetched here and saved through a Blob URL.
  async function exportCsv() {
    const btn = $("f-export");
    const params = listParams();
    delete params.page;
    delete params.limit;
    const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null)).toString();
    btn.disabled = true;
    try {
      let res;
      try {
        res = await fetch(`${API_BASE}/cron-executions/export.csv${qs ? `?${qs}` : ""}`, {
          headers: { "X-Cron-Secret": state.secret },
          cache: "no-store",
          credentials: "same-origin",
        });
      } catch (e) {
        showError("API unreachable.", `cannot reach the cronmon API (${e.message || e}).`);
        return;
      }
      if (res.status === 401) {
        showAuth(true);
        return;
      }
      if (!res.ok) {
        let msg = `HTTP ${res.status} ${res.statusText}`;
        try {
          msg = (await res.json())?.error?.message || msg;
        } catch {
          // not JSON: keep the status line
        }
        showError("Export failed.", `${msg}.`);
        return;
      }
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = el("a", { href: url, download: "cron-executions.csv", hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      if (res.headers.get("X-Cronmon-Truncated") === "true") {
        showError("Export truncated.", "Only the newest 100,000 runs: narrow the filters (From, To) for the rest.");
      }
    } catch (e) {
      showError("Export failed.", `${e.message || e}.`);
    } finally {
      btn.disabled = false;
    }
  }

  // ---------------------------------------------------------------- banner, auth, status line
  function showError(title, text) {
    setText($("error-title"), title);
    setText($("error-text"), text);
    $("error-banner").hidden = false;
  }
  function hideError() {
    $("error-banner").hidden = true;
  }
  function showAuth(rejected) {
    $("auth").hidden = false;
    $("app").hidden = true;
    $("change-secret").hidden = true;
    if (rejected) showError("Wrong secret.", "The API answered 401: enter the server's CRON_SECRET.");
    const input = $("secret-input");
    input.value = "";
    input.focus();
  }
  function showApp() {
    $("auth").hidden = true;
    $("app").hidden = false;
    $("change-secret").hidden = false;
  }
  function setUpdated(ok) {
    const box = $("updated-at");
    if (state.lastOk) {
      setText($("updated-text"), `${ok ? "Updated" : "Stale · last update"} ${timeFmt.format(state.lastOk)}`);
    } else {
      setText($("updated-text"), ok ? "Updated" : "Not loaded");
    }
    box.classList.toggle("stale", !ok);
  }

  // ---------------------------------------------------------------- refresh
  // Refreshes everything; a request made while one runs is queued (one at most), so a manual
  // click during an auto-refresh still gets fresh data.
  function refresh() {
    if (!state.secret) {
      showAuth(false);
      return Promise.resolve();
    }
    if (state.inFlight) {
      state.queued = true;
      return state.inFlight;
    }
    state.inFlight = doRefresh().finally(() => {
      state.inFlight = null;
      if (state.queued) {
        state.queued = false;
        refresh();
      }
    });
    return state.inFlight;
  }

  async function doRefresh() {
    document.body.dataset.state = "loading";
    const listSeq = ++state.listSeq;
    const jobs = {
      stats: api("/cron-executions/stats", { hours: 24 }),
      schedules: api("/cron-schedules"),
      list: api("/cron-executions/list", listParams()),
      batches: api("/cron-executions/batches"),
      incidentsOpen: api("/incidents", { state: "open", limit: INCIDENTS_OPEN_MAX }),
      incidentsResolved: api("/incidents", { state: "resolved", limit: INCIDENTS_RESOLVED_MAX }),
      channels: api("/channels"),
    };
    const names = Object.keys(jobs);
    const results = await Promise.allSettled(Object.values(jobs));
    const errors = [];
    results.forEach((r, i) => {
      if (r.status === "fulfilled") state.data[names[i]] = r.value;
      else errors.push(r.reason);
    });
    if (errors.some((e) => e.status === 401)) {
      state.refreshes++;
      document.body.dataset.state = "error";
      document.body.dataset.refreshes = String(state.refreshes);
      setUpdated(false);
      showAuth(true);
      return;
    }
    showApp();
    const now = Date.now();
    render(now, listSeq);
    if (state.run) await loadDetail(state.run, false);
    state.refreshes++;
    if (errors.length) {
      const e = errors[0];
      const more = errors.length > 1 ? ` (${errors.length} requests failed)` : "";
      showError(e.code === "network" ? "API unreachable." : "API error.", `${e.message}${more}.${state.lastOk ? " Showing the last data received." : ""}`);
      setUpdated(false);
      document.body.dataset.state = "error";
    } else {
      hideError();
      state.lastOk = new Date(now);
      setUpdated(true);
      document.body.dataset.state = "ready";
    }
    document.body.dataset.refreshes = String(state.refreshes);
  }

  // Only the table: used when filters or the page change.
  async function reloadList() {
    const seq = ++state.listSeq;
    document.body.dataset.state = "loading";
    try {
      const list = await api("/cron-executions/list", listParams());
      if (seq !== state.listSeq) return;
      state.data.list = list;
      renderList(Date.now());
      document.body.dataset.state = "ready";
    } catch (e) {
      if (seq !== state.listSeq) return;
      if (e.status === 401) return showAuth(true);
      showError(e.code === "network" ? "API unreachable." : "API error.", `${e.message}.`);
      document.body.dataset.state = "error";
    }
  }

  function render(now, listSeq) {
    renderKpis(now);
    renderAlerts(now);
    renderChannels(now);
    renderIncidents(now);
    renderTimeline();
    renderHealth(now);
    renderCronOptions();
    if (listSeq === state.listSeq) renderList(now);
    renderBatches(now);
  }

  // ---------------------------------------------------------------- KPIs
  function setKpi(id, value, hint, opts = {}) {
    const card = $(id);
    const v = card.querySelector('[data-kpi="value"]');
    setText(v, value);
    if (opts.raw !== undefined) v.dataset.value = String(opts.raw);
    const h = card.querySelector('[data-kpi="hint"]');
    clear(h);
    append(h, [hint || "\u00a0"]);
    if (opts.tone) {
      card.classList.remove("tone-ok", "tone-fail", "tone-run", "tone-accent");
      card.classList.add(`tone-${opts.tone}`);
    }
  }
  function renderKpis(now) {
    const stats = state.data.stats?.stats || [];
    const stuck = state.data.stats?.stuckCrons || [];
    const schedules = state.data.schedules?.schedules || [];
    const total = stats.reduce((a, s) => a + num(s.total_executions), 0);
    const completed = stats.reduce((a, s) => a + num(s.completed_count), 0);
    const failed = stats.reduce((a, s) => a + num(s.failed_count), 0);
    const finished = completed + failed;
    setKpi("kpi-runs", fmtInt(total),
      total ? `${fmtInt(completed)} completed · ${finished ? fmtPct((completed * 100) / finished) : "—"} success` : "No runs in the last 24 h",
      { raw: total });

    // Running now counts every running run (not only those started in the last 24 h).
    const running = state.data.schedules
      ? schedules.reduce((a, s) => a + num(s.running_count), 0)
      : stats.reduce((a, s) => a + num(s.running_count), 0);
    setKpi("kpi-running", fmtInt(running),
      stuck.length ? el("strong", { className: "fail-text" }, `${stuck.length} stuck`) : running ? "none stuck" : "Nothing running",
      { raw: running });

    const failingCrons = stats.filter((s) => num(s.failed_count) > 0).length;
    setKpi("kpi-failures", fmtInt(failed),
      failed ? `in ${failingCrons} cron${failingCrons === 1 ? "" : "s"}` : "All runs succeeded",
      { raw: failed, tone: failed ? "fail" : "ok" });

    let next = null;
    for (const s of schedules) {
      if (s.is_enabled === false) continue;
      const d = parseDate(s.next_run_at);
      if (d && (!next || d < next.at)) next = { at: d, s };
    }
    if (next) {
      setKpi("kpi-next", fmtRelative(next.at, now), `${cronLabel(next.s)} · ${fmtDateTime(next.at)}`, { raw: next.s.cron_name });
    } else {
      setKpi("kpi-next", "—", "No cron has a schedule", { raw: "" });
    }
  }

  // ---------------------------------------------------------------- alerts
  // Runs stuck now, as the API lists them, each with a way to its run. Failures in a row are
  // the server's incidents (below), not judged here.
  function renderAlerts(now) {
    const box = clear($("alerts"));
    const stuck = state.data.stats?.stuckCrons || [];
    const schedules = state.data.schedules?.schedules || [];
    const labels = new Map(schedules.map((s) => [s.cron_name, cronLabel(s)]));
    for (const r of stuck) {
      const where = [r.host, r.pid != null ? `pid ${r.pid}` : null].filter(Boolean).join(" · ");
      box.append(el("div", { className: "alert critical", dataset: { alert: "stuck", cron: r.cron_name } },
        el("span", { className: "icon", "aria-hidden": "true" }, "!"),
        el("div", null,
          el("span", { className: "title" }, "Stuck: ", labels.get(r.cron_name) || r.cron_name),
          ` has been running for ${fmtDuration(r.running_ms)} (max ${fmtDuration(r.timeout_ms)}), started ${fmtDateTime(r.started_at)}`,
          r.last_heartbeat_at ? `, last heartbeat ${fmtRelative(r.last_heartbeat_at, now)}` : ", no heartbeat",
          where ? ` on ${where}` : "",
          ".",
          el("button", { type: "button", className: "linkish", onclick: () => openDetail(r.execution_id) }, "View run"))));
    }
    box.hidden = box.childElementCount === 0;
  }

  // ---------------------------------------------------------------- failing channels
  // Channels whose last three attempts or more failed: notifications are not getting out.
  // Every text comes from the API and goes in as text, never as HTML.
  function renderChannels(now) {
    const box = clear($("channels-banner"));
    const failing = (state.data.channels?.channels || []).filter((c) => c.failing);
    for (const c of failing) {
      const h = c.health || {};
      box.append(el("div", { className: "alert warning", dataset: { alert: "channel", channel: c.name } },
        el("span", { className: "icon", "aria-hidden": "true" }, "!"),
        el("div", null,
          el("span", { className: "title" }, "Notifications failing: ", c.name),
          ` (${c.kind})`,
          h.failingSince ? ` since ${fmtDateTime(h.failingSince)} (${fmtRelative(h.failingSince, now)})` : "",
          `, ${h.consecutiveFailures ?? 0} failed attempts in a row`,
          h.lastError ? `. Last error: ${excerpt(h.lastError, 300)}` : "",
          ".")));
    }
    box.hidden = failing.length === 0;
  }

  // ---------------------------------------------------------------- incidents
  // The runs of an incident: its cron, from the start of the streak that opened it to its
  // resolution (open: to now), through the runs list's own filters.
  function incidentFilters(inc) {
    return {
      cron: String(inc.cron_name || ""),
      status: "",
      from: localInputValue(inc.opened_from || inc.opened_at, false),
      to: inc.resolved_at ? localInputValue(inc.resolved_at, true) : "",
    };
  }
  function incidentRow(inc, labels, now) {
    const open = !inc.resolved_at;
    const kind = String(inc.kind || "");
    const f = incidentFilters(inc);
    const hash = new URLSearchParams(Object.entries(f).filter(([, v]) => v)).toString();
    const error = inc.error_message
      ? el("span", { className: "error-excerpt", title: String(inc.error_message) }, excerpt(inc.error_message, ERROR_EXCERPT_MAX))
      : el("span", { className: "muted" }, "—");
    let when;
    if (open) {
      when = sinceEl(inc.opened_at, "Open", now);
    } else {
      const from = parseDate(inc.opened_from || inc.opened_at);
      const to = parseDate(inc.resolved_at);
      when = el("span", null,
        el("time", { dateTime: to?.toISOString(), title: `Resolved ${to ? `${dateTimeFmt.format(to)} (${to.toISOString()})` : ""}` },
          `resolved ${fmtPast(to, now)}`),
        from && to ? el("span", { className: "muted" }, ` · lasted ${fmtDuration(Math.max(0, to - from))}`) : null);
    }
    const name = labels.get(inc.cron_name) || inc.cron_name;
    return el("tr", { className: open ? "row-alert" : "", dataset: { incident: inc.id, cron: inc.cron_name, kind, open: String(open) } },
      el("td", { className: "primary", dataset: { label: "Cron" } }, el("span", { className: "cron-name" }, name)),
      el("td", { dataset: { label: "Incident" } },
        el("span", { className: "nowrap" },
          el("span", { className: `badge ${open ? "failed" : "completed"}` }, open ? "open" : "resolved"),
          " ",
          el("span", { className: "incident-kind" }, lookup(INCIDENT_KINDS, kind) || kind || "—")),
        inc.after_outage ? el("span", { className: "tag", title: "Opened in the first judgement after cronmon's own downtime" }, "after outage") : null),
      el("td", { className: "nowrap", dataset: { label: "Since" } }, when),
      el("td", { dataset: { label: "Error" } }, error),
      el("td", { className: "num", dataset: { label: "Runs" } },
        el("a", {
          href: `#${hash}`,
          className: "linkish",
          title: `Show the runs of ${name} during this incident`,
          onclick: (e) => {
            e.preventDefault();
            setFilters(f);
          },
        }, "Runs →")));
  }
  function renderIncidents(now) {
    const open = Array.isArray(state.data.incidentsOpen?.incidents) ? state.data.incidentsOpen.incidents : [];
    const resolved = Array.isArray(state.data.incidentsResolved?.incidents) ? state.data.incidentsResolved.incidents : [];
    const labels = new Map((state.data.schedules?.schedules || []).map((s) => [s.cron_name, cronLabel(s)]));
    const openTotal = Math.max(open.length, num(state.data.incidentsOpen?.pagination?.total));
    const openBody = clear($("incidents-open"));
    const resolvedBody = clear($("incidents-resolved"));
    for (const inc of open) openBody.append(incidentRow(inc, labels, now));
    if (openTotal > open.length) {
      openBody.append(el("tr", { className: "group" }, el("td", { colSpan: 5, className: "muted" },
        `and ${fmtInt(openTotal - open.length)} more open incident${openTotal - open.length === 1 ? "" : "s"}`)));
    }
    if (resolved.length) {
      resolvedBody.append(el("tr", { className: "group" }, el("th", { colSpan: 5, scope: "rowgroup" }, "Recently resolved")));
      for (const inc of resolved) resolvedBody.append(incidentRow(inc, labels, now));
    }
    const none = open.length === 0 && resolved.length === 0;
    $("incidents-table").hidden = none;
    $("incidents-empty").hidden = !none;
    $("incidents-clear").hidden = none || open.length > 0;
    $("incidents").classList.toggle("has-open", open.length > 0);
    setText($("incidents-meta"), openTotal ? `${fmtInt(openTotal)} open` : "none open");
  }

  // ---------------------------------------------------------------- timeline chart
  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function renderTimeline() {
    const days = state.data.stats?.timeline || [];
    const labels = days.map((d) => {
      const [y, m, dd] = String(d.date).split("-").map(Number);
      return y ? dayFmt.format(new Date(Date.UTC(y, m - 1, dd))) : String(d.date);
    });
    const series = ["completed", "failed", "running"].map((k) => days.map((d) => num(d[k])));
    const sums = series.map((s) => s.reduce((a, b) => a + b, 0));
    const empty = sums.every((n) => n === 0);
    $("timeline-empty").hidden = !empty;
    const canvas = $("timeline-chart");
    canvas.parentElement.hidden = empty;
    canvas.setAttribute("aria-label", `Runs per day, last 7 days: ${days.map((d, i) => `${labels[i]}: ${num(d.completed)} completed, ${num(d.failed)} failed, ${num(d.running)} running`).join("; ")}`);
    if (empty) return;
    if (typeof window.Chart !== "function") return;
    const names = [`Completed (${fmtInt(sums[0])})`, `Failed (${fmtInt(sums[1])})`, `Running (${fmtInt(sums[2])})`];
    if (state.chart) {
      state.chart.data.labels = labels;
      state.chart.data.datasets.forEach((ds, i) => {
        ds.data = series[i];
        ds.label = names[i];
      });
      state.chart.update("none");
      return;
    }
    const colors = [cssVar("--chart-ok"), cssVar("--chart-fail"), cssVar("--chart-run")];
    const grid = cssVar("--chart-grid");
    const text = cssVar("--muted");
    state.chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels,
        datasets: series.map((data, i) => ({
          label: names[i], data, backgroundColor: colors[i], borderRadius: 3, maxBarThickness: 42, stack: "runs",
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, grid: { display: false }, ticks: { color: text } },
          y: { stacked: true, beginAtZero: true, grid: { color: grid }, border: { display: false }, ticks: { color: text, precision: 0 } },
        },
        plugins: {
          legend: { position: "top", align: "end", labels: { boxWidth: 10, boxHeight: 10, color: text, useBorderRadius: true, borderRadius: 2 } },
          tooltip: {
            callbacks: {
              label: (ctx) => ` ${ctx.dataset.label.replace(/ \(.*\)$/, "")}: ${fmtInt(ctx.parsed.y)}`,
              footer: (items) => `Total: ${fmtInt(items.reduce((a, it) => a + it.parsed.y, 0))}`,
            },
          },
        },
      },
    });
  }

  // ---------------------------------------------------------------- cron health
  function stateCell(s, now) {
    const st = String(s.state || "");
    const def = lookup(STATES, st);
    const label = st || "unknown";
    const untilText = st === "paused" && s.paused_until ? ` until ${fmtDateTime(s.paused_until)}` : "";
    return el("div", { className: "state" },
      el("span", {
        className: `badge ${def ? def.tone : "neutral"}`,
        dataset: { state: st },
        title: def ? `${label}: ${def.help}` : label,
      }, label),
      el("div", { className: "cron-sub" }, sinceEl(s.state_since, label[0].toUpperCase() + label.slice(1), now), untilText));
  }
  function renderHealth(now) {
    const schedules = [...(state.data.schedules?.schedules || [])];
    const tbody = clear($("health-table").tBodies[0]);
    $("health-empty").hidden = schedules.length > 0;
    $("health-table").hidden = schedules.length === 0;
    const rank = (s) => lookup(STATES, s.state)?.rank ?? 7;
    schedules.sort((a, b) => (rank(a) - rank(b)) || String(a.cron_name).localeCompare(String(b.cron_name)));
    const enabled = schedules.filter((s) => s.is_enabled !== false).length;
    setText($("health-meta"), schedules.length ? `${schedules.length} cron${schedules.length === 1 ? "" : "s"}${enabled < schedules.length ? ` · ${schedules.length - enabled} disabled` : ""}` : "");
    for (const s of schedules) {
      const cf = num(s.consecutive_failures);
      const nameCell = el("td", { className: "primary", dataset: { label: "Cron" } },
        el("div", null,
          el("div", { className: "cron-title" },
            el("button", { type: "button", className: "linkish", title: "Show its executions", onclick: () => setFilters({ cron: s.cron_name, status: "", from: "", to: "" }) }, cronLabel(s)),
            s.is_enabled === false ? el("span", { className: "badge neutral" }, "disabled") : null,
            num(s.running_count) > 0 ? el("span", { className: "badge running" }, `${num(s.running_count)} running`) : null),
          s.display_name && s.display_name !== s.cron_name ? el("div", { className: "cron-sub mono" }, s.cron_name) : null,
          el("div", { className: "cron-sub" },
            s.cron_expression ? el("span", { className: "mono nowrap" }, s.cron_expression) : "no schedule",
            s.cron_expression ? ` · ${s.timezone || "UTC"}` : "")));
      const last = s.last_execution_at
        ? el("div", null,
          el("div", { className: "nowrap" }, s.last_status ? badge(s.last_status) : null, " ", timeEl(s.last_execution_at, true)),
          cf > 1 ? el("div", { className: "cron-sub fail-text streak", dataset: { streak: String(cf) } }, `${fmtInt(cf)} failures in a row`) : null)
        : el("span", { className: "muted" }, "never");
      const nextRun = s.state === "paused" && s.next_run_at
        ? el("span", { className: "muted", title: `Due ${fmtDateTime(s.next_run_at)}, not judged while paused` }, "paused")
        : s.next_run_at ? timeEl(s.next_run_at, true) : el("span", { className: "muted" }, "—");
      const alerting = ["stuck", "late", "failing"].includes(s.state);
      tbody.append(el("tr", { className: alerting ? "row-alert" : "", dataset: { cron: s.cron_name, state: String(s.state || "") } },
        nameCell,
        el("td", { dataset: { label: "State" } }, stateCell(s, now)),
        el("td", { dataset: { label: "Last run" } }, last),
        el("td", { dataset: { label: "Next run" } }, nextRun),
        el("td", { dataset: { label: "Success 7 d" } }, rateBar(s.success_rate_7d))));
    }
  }

  // ---------------------------------------------------------------- executions
  function renderCronOptions() {
    const names = new Set();
    for (const s of state.data.schedules?.schedules || []) names.add(s.cron_name);
    for (const s of state.data.stats?.stats || []) names.add(s.cron_name);
    if (state.filters.cron) names.add(state.filters.cron);
    const sel = $("f-cron");
    const sorted = [...names].filter(Boolean).sort((a, b) => a.localeCompare(b));
    const current = [...sel.options].slice(1).map((o) => o.value);
    if (current.join("\n") !== sorted.join("\n")) {
      sel.replaceChildren(el("option", { value: "" }, "All crons"), ...sorted.map((n) => el("option", { value: n }, n)));
    }
    sel.value = state.filters.cron;
  }

  function renderList(now) {
    const body = state.data.list;
    const rows = body?.executions || [];
    const pg = body?.pagination || { page: state.page, limit: PAGE_SIZE, total: 0, totalPages: 0 };
    const totalPages = num(pg.totalPages);
    if (totalPages > 0 && state.page > totalPages) {
      // The data shrank under the user's page: go to the last page that exists.
      state.page = totalPages;
      writeHash();
      reloadList();
      return;
    }
    const tbody = clear($("exec-table").tBodies[0]);
    for (const r of rows) {
      // A missed row is a slot nobody started: no run, so no duration, no exit code.
      const missed = r.reason === "missed";
      const slots = num(r.slots_missed);
      const reason = r.reason && !missed && !(r.status === "failed" && r.reason === "error") ? el("span", { className: "reason" }, r.reason) : null;
      const status = missed
        ? [el("span", { className: "badge missed", dataset: { status: r.status }, title: "No start before the slot's deadline" }, "missed"),
          slots > 1 ? " " : null,
          slots > 1 ? el("span", { className: "reason slots", title: `${fmtInt(slots)} slots in a row, none started` }, `×${fmtInt(slots)} slots`) : null]
        : [badge(r.status), reason];
      const anomalyHelp = lookup(ANOMALIES, r.anomaly);
      const anomaly = anomalyHelp ? el("span", { className: "tag anomaly", dataset: { anomaly: r.anomaly }, title: anomalyHelp }, r.anomaly) : null;
      const duration = missed
        ? el("span", { className: "muted", title: "missed: never ran" }, "—")
        : r.status === "running"
          ? el("span", { className: "muted", title: "running for" }, fmtDuration(now - (parseDate(r.started_at)?.getTime() ?? now)))
          : el("span", null, anomaly, fmtDuration(r.duration_ms));
      const open = () => openDetail(r.id);
      tbody.append(el("tr", {
        className: missed ? "clickable missed" : "clickable", tabIndex: 0,
        dataset: { id: r.id, status: r.status, cron: r.cron_name, reason: r.reason || "" },
        onclick: open,
        onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } },
      },
      el("td", { className: "primary", dataset: { label: "Cron" } }, el("span", { className: "cron-name" }, r.cron_name)),
      el("td", { dataset: { label: "Status" } }, el("span", { className: "nowrap" }, status)),
      el("td", { dataset: { label: "Trigger" } }, r.trigger_type || "—"),
      el("td", { className: "nowrap", dataset: { label: "Started" } }, timeEl(r.started_at, false)),
      el("td", { className: "num", dataset: { label: "Duration" } }, duration),
      el("td", { className: "num", dataset: { label: "Exit code" } },
        r.exit_code === null || r.exit_code === undefined ? el("span", { className: "muted" }, "—")
          : el("span", { className: num(r.exit_code) !== 0 ? "fail-text" : "" }, String(r.exit_code)))));
    }
    const total = num(pg.total);
    const filtered = Object.values(state.filters).some(Boolean);
    $("exec-empty").hidden = rows.length > 0;
    $("exec-table").hidden = rows.length === 0;
    setText($("exec-empty-text"), filtered ? "Nothing matches these filters." : "No run has been recorded yet.");
    const first = rows.length ? (num(pg.page) - 1) * num(pg.limit) + 1 : 0;
    const last = rows.length ? first + rows.length - 1 : 0;
    setText($("page-info"), total ? `Showing ${fmtInt(first)}–${fmtInt(last)} of ${fmtInt(total)}` : "No results");
    setText($("page-num"), totalPages ? `Page ${fmtInt(pg.page)} of ${fmtInt(totalPages)}` : "");
    $("page-prev").disabled = state.page <= 1;
    $("page-next").disabled = state.page >= totalPages;
    setText($("exec-meta"), filtered ? "filtered" : "all runs, newest first");
    $("f-status").value = state.filters.status;
    $("f-from").value = state.filters.from;
    $("f-to").value = state.filters.to;
  }

  function setFilters(patch) {
    Object.assign(state.filters, patch);
    state.page = 1;
    writeHash();
    renderCronOptions();
    $("f-status").value = state.filters.status;
    reloadList();
    if (patch.cron !== undefined || patch.status !== undefined) {
      $("exec-title").scrollIntoView({ behavior: "smooth", block: "start" });
    }
  }

  // ---------------------------------------------------------------- batches
  // A running batch run that has not reported for this long looks stale: its process may be
  // gone (a run advancing reports at least once a second while it counts items).
  const BATCH_STALE_MS = 10 * 60_000;

  // One running batch run: its progress (done and failed of its total, or an indeterminate
  // bar with its counts when no total is known), host, age, and whether it went quiet.
  function batchRunLine(r, now) {
    const done = num(r.done);
    const failedItems = num(r.failed);
    const hasTotal = r.total !== null && r.total !== undefined && num(r.total) > 0;
    const total = num(r.total);
    const counted = done + failedItems;
    const pct = hasTotal ? Math.min(100, (counted * 100) / total) : null;
    const lastAt = parseDate(r.lastProgressAt) || parseDate(r.startedAt);
    const quietMs = lastAt ? now - lastAt.getTime() : 0;
    const stale = quietMs > BATCH_STALE_MS;
    // Widths of the two segments, in % of the total, rounded to 0.1 as the text is.
    const w = (n) => `${Math.round(Math.min(100, (n * 100) / total) * 10) / 10}%`;
    const bar = hasTotal
      ? el("div", { className: "bar progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(total), "aria-valuenow": String(Math.min(counted, total)), "aria-label": "Items counted" },
        el("span", { className: "done", style: `width:${w(done)}` }),
        failedItems > 0 ? el("span", { className: "failed", style: `width:${w(Math.min(failedItems, Math.max(0, total - done)))}` }) : null)
      : el("div", { className: "bar progress indeterminate", role: "progressbar", "aria-label": "Items counted, total unknown" }, el("span"));
    // Rounded down, so 100% means every item counted.
    const shown = pct === null ? null : Math.floor(pct * 10) / 10;
    const pctText = shown === null ? null : `${Number.isInteger(shown) ? shown : shown.toFixed(1)}%`;
    const counts = hasTotal ? `${fmtInt(counted)} / ${fmtInt(total)}` : `${fmtInt(counted)} items`;
    const started = parseDate(r.startedAt);
    const where = [
      r.host ? el("span", { className: "host", title: `host ${r.host}` }, r.host) : null,
      started ? el("time", { dateTime: started.toISOString(), title: `started ${dateTimeFmt.format(started)} (${started.toISOString()})` },
        `started ${fmtPast(started, now)}`) : null,
    ].filter(Boolean);
    const sep = (items) => items.flatMap((x, i) => (i ? [" · ", x] : [x]));
    return el("li", { className: `batch-run${stale ? " stale" : ""}${hasTotal ? "" : " no-total"}`, dataset: { id: String(r.id ?? ""), pct: shown === null ? "" : String(shown), stale: String(stale) } },
      el("div", { className: "run-line" },
        el("span", { className: "run-where" }, sep(where)),
        el("span", { className: "run-counts" },
          el("span", { className: "count" }, counts),
          pctText ? el("span", { className: "pct" }, pctText) : null)),
      bar,
      failedItems > 0 || stale || !hasTotal
        ? el("div", { className: "run-notes" },
          sep([
            !hasTotal ? el("span", { className: "muted" }, "total unknown") : null,
            failedItems > 0 ? el("span", { className: "fail-text failed-count" }, `${fmtInt(failedItems)} failed`) : null,
            stale ? el("span", { className: "tag stale-tag", title: `Last report ${lastAt ? dateTimeFmt.format(lastAt) : "never"}: its process may be gone` },
              `no report for ${fmtDuration(quietMs)}`) : null,
          ].filter(Boolean)))
        : null);
  }

  function renderBatches(now) {
    const box = clear($("batches"));
    const batches = state.data.batches?.batches;
    const kinds = batches && typeof batches === "object" ? Object.entries(batches) : [];
    $("batches-empty").hidden = kinds.length > 0;
    box.hidden = kinds.length === 0;
    let runningAll = 0;
    for (const [kind, b] of kinds) {
      if (typeof b?.error === "string") {
        // The kind's source failed or was too slow: its error, in its place.
        box.append(el("article", { className: "card batch has-error", dataset: { kind, error: "true" } },
          el("div", { className: "batch-head" }, el("h3", null, kind)),
          el("div", { className: "alert warning" },
            el("span", { className: "icon", "aria-hidden": "true" }, "!"),
            el("div", null, el("span", { className: "title" }, "Source failed: "), el("span", { className: "batch-error" }, excerpt(b.error, 300))))));
        continue;
      }
      const fig = (key, n, l, tone) => el("div", { className: `fig${tone ? ` ${tone}` : ""}`, dataset: { fig: key, value: String(num(n)) } },
        el("div", { className: "n" }, fmtInt(n)), el("div", { className: "l" }, l));
      const running = Array.isArray(b?.running) ? b.running : [];
      const runningCount = Math.max(num(b?.runningCount), running.length);
      runningAll += runningCount;
      const oldest = parseDate(b?.oldestPendingAt);
      const runsToday = num(b?.runsCompletedToday) + num(b?.runsFailedToday);
      const fact = (key, value, label, extra) => el("span", { className: "fact", dataset: { fact: key } },
        el("strong", null, value), ` ${label}`, extra || null);
      const facts = [
        b?.throughputPerMin !== null && b?.throughputPerMin !== undefined
          ? fact("throughput", num(b.throughputPerMin).toLocaleString("en-US", { maximumFractionDigits: 1 }), "items/min", null)
          : null,
        fact("runs", fmtInt(runsToday), runsToday === 1 ? "run today" : "runs today",
          num(b?.runsFailedToday) > 0 ? el("span", { className: "fail-text" }, ` (${fmtInt(b.runsFailedToday)} failed)`) : null),
        oldest ? el("span", { className: "fact", dataset: { fact: "oldest" }, title: `Oldest pending item since ${dateTimeFmt.format(oldest)}` },
          "oldest pending ", el("strong", null, fmtDuration(Math.max(0, now - oldest.getTime())))) : null,
      ].filter(Boolean);
      const from = b?.figuresFrom === "source" ? "from its source" : "from its batch runs";
      box.append(el("article", { className: "card batch", dataset: { kind, running: String(runningCount) } },
        el("div", { className: "batch-head" },
          el("h3", null, kind),
          runningCount ? el("span", { className: "badge running" }, `${fmtInt(runningCount)} running`) : null),
        el("div", { className: "figures", title: `Figures ${from}` },
          fig("pending", b?.pending, "pending"), fig("processing", b?.processing, "processing"),
          fig("completed", b?.completedToday, "completed today", "ok"),
          fig("failed", b?.failedToday, "failed today", num(b?.failedToday) > 0 ? "bad" : "")),
        el("div", { className: "rate-row" }, el("span", { className: "l muted" }, "Success rate today"), rateBar(b?.successRate)),
        el("div", { className: "batch-facts" }, facts.flatMap((x, i) => (i ? [el("span", { className: "sep", "aria-hidden": "true" }, "·"), x] : [x]))),
        running.length
          ? el("ul", { className: "runs", "aria-label": `Running batch runs of ${kind}` },
            running.map((r) => batchRunLine(r, now)),
            runningCount > running.length ? el("li", { className: "muted more" }, `+ ${fmtInt(runningCount - running.length)} more running`) : null)
          : el("div", { className: "runs-none muted" }, "No batch run running")));
    }
    setText($("batches-meta"), kinds.length ? `${fmtInt(kinds.length)} kind${kinds.length === 1 ? "" : "s"} · ${fmtInt(runningAll)} running · figures of today (UTC)` : "today");
  }

  // ---------------------------------------------------------------- detail view
  function openDetail(id) {
    if (!id) return;
    state.run = String(id);
    state.detailJson = "";
    writeHash();
    const dlg = $("detail");
    setText($("detail-title"), "Execution");
    clear($("detail-badge"));
    clear($("detail-body")).append(el("div", { className: "empty" }, "Loading…"));
    if (!dlg.open) dlg.showModal();
    loadDetail(state.run, true);
  }
  function closeDetail() {
    state.run = null;
    state.detailJson = "";
    writeHash();
    if ($("detail").open) $("detail").close();
  }
  async function loadDetail(id, fresh) {
    const seq = ++state.detailSeq;
    let body;
    try {
      body = await api(`/cron-executions/${encodeURIComponent(id)}`);
    } catch (e) {
      if (seq !== state.detailSeq || state.run !== id) return;
      if (e.status === 401) return;
      if (fresh || e.status === 404) {
        const dlg = $("detail");
        if (!dlg.open) dlg.showModal();
        clear($("detail-body")).append(el("div", { className: "empty" },
          el("strong", null, e.status === 404 ? "Execution not found" : "Could not load this execution"), e.message));
      }
      return;
    }
    if (seq !== state.detailSeq || state.run !== id) return;
    const x = body.execution || {};
    const json = JSON.stringify(x);
    if (json === state.detailJson) return; // unchanged: leave the view (and its scroll) alone
    state.detailJson = json;
    renderDetail(x);
  }
  function renderDetail(x) {
    const dlg = $("detail");
    const scroll = dlg.scrollTop;
    const missed = x.reason === "missed";
    setText($("detail-title"), x.cron_name || "Execution");
    clear($("detail-badge")).append(missed ? el("span", { className: "badge missed" }, "missed") : badge(x.status));
    const fact = (label, value, mono) => el("div", null, el("dt", null, label),
      el("dd", { className: mono ? "mono" : "" }, value === null || value === undefined || value === "" ? "—" : value));
    const progress = x.progress_total != null ? `${fmtInt(x.progress_done)} / ${fmtInt(x.progress_total)}`
      : x.progress_done != null ? fmtInt(x.progress_done) : null;
    const facts = el("dl", { className: "facts" },
      fact("Execution id", x.id, true),
      fact("Status", x.status),
      fact("Reason", x.reason),
      fact("Trigger", x.trigger_type),
      fact("Started", x.started_at ? `${fmtDateTime(x.started_at)}` : null),
      fact("Completed", x.completed_at ? fmtDateTime(x.completed_at) : null),
      fact("Duration", missed ? "never ran" : x.status === "running" ? `running for ${fmtDuration(Date.now() - (parseDate(x.started_at)?.getTime() ?? Date.now()))}` : fmtDuration(x.duration_ms)),
      fact("Anomaly", lookup(ANOMALIES, x.anomaly) ? `${x.anomaly}: ${lookup(ANOMALIES, x.anomaly).toLowerCase()}` : null),
      num(x.slots_missed) > 1 ? fact("Slots missed", `${fmtInt(x.slots_missed)} in a row`) : null,
      fact("Exit code", x.exit_code != null ? String(x.exit_code) : null),
      fact("Host", x.host),
      fact("PID", x.pid != null ? String(x.pid) : null),
      fact("Version", x.version),
      fact("CPU time", x.cpu_ms != null ? fmtDuration(x.cpu_ms) : null),
      fact("Max RSS", x.max_rss_kb != null ? `${fmtInt(Math.round(num(x.max_rss_kb) / 1024))} MiB` : null),
      fact("Last heartbeat", x.last_heartbeat_at ? fmtDateTime(x.last_heartbeat_at) : null),
      fact("Progress", progress),
      fact("Scheduled for", x.scheduled_for ? fmtDateTime(x.scheduled_for) : null));
    const parts = [facts];
    if (x.error_message) {
      parts.push(el("h3", null, "Error"), el("pre", { className: "error-text", id: "detail-error" }, x.error_message));
    }
    let out = x.output;
    if (typeof out === "string") {
      try {
        out = JSON.parse(out);
      } catch {
        /* a plain string: shown as is */
      }
    }
    parts.push(el("h3", null, "Output", x.output_truncated ? el("span", { className: "badge warn", style: "margin-left:8px" }, "truncated at 64 KiB") : null));
    parts.push(out === null || out === undefined
      ? el("div", { className: "muted", id: "detail-output-empty" }, "No output recorded.")
      : el("pre", { id: "detail-output" }, typeof out === "string" ? out : JSON.stringify(out, null, 2)));
    clear($("detail-body")).append(...parts);
    dlg.scrollTop = scroll;
  }

  // ---------------------------------------------------------------- wiring
  function init() {
    readHash();
    $("refresh").addEventListener("click", () => refresh());
    $("error-retry").addEventListener("click", () => refresh());
    $("change-secret").addEventListener("click", () => showAuth(false));
    $("auth-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const v = $("secret-input").value.trim();
      if (!v) return;
      state.secret = v;
      sessionStorage.setItem(SECRET_KEY, v);
      hideError();
      showApp();
      refresh();
    });
    $("f-cron").addEventListener("change", (e) => setFilters({ cron: e.target.value }));
    $("f-status").addEventListener("change", (e) => setFilters({ status: e.target.value }));
    $("f-from").addEventListener("change", (e) => setFilters({ from: e.target.value }));
    $("f-to").addEventListener("change", (e) => setFilters({ to: e.target.value }));
    $("f-clear").addEventListener("click", () => setFilters({ cron: "", status: "", from: "", to: "" }));
    $("f-export").addEventListener("click", exportCsv);
    $("filters").addEventListener("submit", (e) => e.preventDefault());
    $("page-prev").addEventListener("click", () => {
      if (state.page > 1) {
        state.page--;
        writeHash();
        reloadList();
      }
    });
    $("page-next").addEventListener("click", () => {
      state.page++;
      writeHash();
      reloadList();
    });
    $("detail-close").addEventListener("click", closeDetail);
    $("detail").addEventListener("close", () => {
      if (state.run) closeDetail();
    });
    $("detail").addEventListener("click", (e) => {
      if (e.target === $("detail")) closeDetail(); // click on the backdrop
    });
    window.addEventListener("hashchange", () => {
      readHash();
      reloadList();
      if (state.run) openDetail(state.run);
      else if ($("detail").open) $("detail").close();
    });
    setInterval(() => {
      if (!document.hidden && state.secret) refresh();
    }, REFRESH_MS);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && state.secret && (!state.lastOk || Date.now() - state.lastOk.getTime() > REFRESH_MS)) refresh();
    });
    if (!state.secret) {
      showAuth(false);
      return;
    }
    showApp();
    if (state.run) openDetail(state.run);
    refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
