// Drives Debian's Chromium (headless) through the cronmon dashboard of a running server.
//
//   node tests/browser/dashboard.mjs <api-base-url> <secret> [<outage-api-base-url>]
//   e.g. node tests/browser/dashboard.mjs http://127.0.0.1:8080/api/admin s3cret
//
// tests/it/dashboard.rs starts the real server, records these runs over the HTTP API, judges
// schedule health with the real sweeper on a clock 3 min ahead, then runs this script and
// checks its exit status:
//   - "batch-import": 55 completed runs, each with a JSON output {"rows": i, ...}
//   - "flaky-sync": 3 failed runs in a row whose error message carries HTML/JS payloads
//   - a cron named `<img src=x onerror="window.__xssName=1">` with one failed run
//   - "long-task": 1 run still running
//   - "stuck-job" ("Stuck job", every 10 min, 1 min max runtime): 1 run started 2 h ago, stuck
//   - schedules for "stuck-job" and "batch-import" (so a next run exists)
//   - "minutely-ping" ("Minutely ping", every minute, no grace, threshold 1): 2 or 3 missed
//     slots (rows dated up to 3 min ahead), so it is late with an open "missed" incident
//   - "nightly-report" (thresholds 1): a failure 30 min ago, a success 10 min ago: one resolved
//     incident; "flaky-sync"'s 3 failures opened a "failed" incident (its error: the payload)
//   - "quick-check" (5 s floor): one 1.1 s run flagged "fast"
//   - a webhook channel "ops-pager" on a closed port, told of each failed run: failing
//   - batch kinds from SQL sources: "kbIndexation" (2 pending, 1 processing, 3 completed, 1
//     failed) and "webCrawl", whose table was dropped: its source fails
//   - recorded batch runs: "qualityAnalysis" (no source) with 2 runs completed and 1 failed a
//     minute ago, one running at 120 done + 6 failed of 200 on a host named like an <img
//     onerror> tag, one running with no total (37 done); "kbIndexation" with one running run
//     silent for 2 h (400 of 1,000)
// The optional outage base is a second cronmon (same server, another mount point) holding one
// cron every minute judged 65 min ahead: 60 missed rows, then one that counts the rest.
// With CRONMON_SCREENSHOTS=<dir>, screenshots of both are saved there.
// Every check compares what the page shows with what the API answers.
// Exit status 0 when every check passes; the last line is "N passed, M failed".
import { chromium } from "playwright-core";

const [baseArg, secret, outageArg] = process.argv.slice(2);
if (!baseArg || !secret) {
  console.error("usage: node dashboard.mjs <api-base-url> <secret>");
  process.exit(2);
}
const base = baseArg.replace(/\/+$/, "");
const outageBase = outageArg ? outageArg.replace(/\/+$/, "") : null;
const SHOTS = process.env.CRONMON_SCREENSHOTS || "";
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const TIMEOUT = 15_000;

let passed = 0;
let failed = 0;
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok - ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(e?.stack || e).split("\n").join("\n  ")}`);
    if (page && !page.isClosed()) {
      const where = await page.evaluate(() => ({
        url: location.href, state: document.body.dataset.state, info: document.getElementById("page-info")?.textContent,
        banner: document.getElementById("error-banner")?.hidden ? "" : document.getElementById("error-text")?.textContent,
        rows: [...document.querySelectorAll("#exec-table tbody tr")].slice(0, 3).map((r) => `${r.dataset.cron}/${r.dataset.status}`),
      })).catch((err) => String(err));
      console.log(`  page: ${JSON.stringify(where)}`);
    }
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}
function eq(actual, expected, msg) {
  const a = JSON.stringify(actual);
  const b = JSON.stringify(expected);
  if (a !== b) throw new Error(`${msg}: expected ${b}, got ${a}`);
}

async function api(path, init = {}, from = base) {
  const res = await fetch(`${from}${path}`, {
    ...init,
    headers: { "X-Cron-Secret": secret, "Content-Type": "application/json", ...(init.headers || {}) },
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${init.method || "GET"} ${path}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body;
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
  ],
});

const pageErrors = [];
const dialogs = [];
const cspViolations = [];
const XSS_NAME = '<img src=x onerror="window.__xssName=1">';

async function newPage(width, height, { withSecret } = {}) {
  const ctx = await browser.newContext({ viewport: { width, height }, locale: "en-US", timezoneId: "UTC" });
  const page = await ctx.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  if (withSecret !== undefined) {
    await page.addInitScript((s) => sessionStorage.setItem("cronmon.secret", s), withSecret);
  }
  return page;
}
const refreshes = (page) => page.evaluate(() => Number(document.body.dataset.refreshes || 0));
async function waitRefreshAfter(page, n) {
  await page.waitForFunction((k) => Number(document.body.dataset.refreshes || 0) > k && document.body.dataset.state !== "loading", n);
}
async function waitReady(page) {
  await page.waitForFunction(() => document.body.dataset.state === "ready");
}
const rowIds = (page) => page.$$eval("#exec-table tbody tr", (rs) => rs.map((r) => r.dataset.id));
const rowAttr = (page, attr) => page.$$eval("#exec-table tbody tr", (rs, a) => rs.map((r) => r.dataset[a]), attr);
const pageInfo = (page) => page.textContent("#page-info");
async function waitPageInfo(page, re) {
  await page.waitForFunction((src) => new RegExp(src).test(document.getElementById("page-info").textContent)
    && document.body.dataset.state !== "loading", re.source);
}

let page;
try {
  page = await newPage(1440, 900);
  // Fake timers: the 30 s auto-refresh can be fast-forwarded.
  await page.clock.install();

  await check("the page asks for the secret and keeps it in sessionStorage only", async () => {
    const res = await page.goto(`${base}/dashboard`);
    eq(res.status(), 200, "status of the page");
    await page.waitForSelector("#auth:not([hidden])");
    assert(await page.isHidden("#app"), "the dashboard stays hidden without a secret");
    await page.fill("#secret-input", secret);
    await page.click("#auth-form button[type=submit]");
    await waitReady(page);
    eq(await page.evaluate(() => sessionStorage.getItem("cronmon.secret")), secret, "sessionStorage");
    eq(await page.evaluate(() => Object.keys(localStorage).length), 0, "localStorage keys");
    assert(await page.isVisible("#app"), "dashboard visible");
    assert(/Updated \d/.test(await page.textContent("#updated-text")), "updated-at time shown");
  });

  await check("KPI cards equal the API's figures", async () => {
    const { stats } = await api("/cron-executions/stats?hours=24");
    const { schedules } = await api("/cron-schedules");
    const sum = (xs, k) => xs.reduce((a, x) => a + Number(x[k] || 0), 0);
    const kpi = (id) => page.getAttribute(`#${id} [data-kpi=value]`, "data-value");
    eq(Number(await kpi("kpi-runs")), sum(stats, "total_executions"), "runs 24 h");
    eq(Number(await kpi("kpi-running")), sum(schedules, "running_count"), "running now");
    eq(Number(await kpi("kpi-failures")), sum(stats, "failed_count"), "failures 24 h");
    assert(sum(stats, "total_executions") >= 60, "the fixture has at least 60 runs");
    eq(Number(await kpi("kpi-running")) >= 1, true, "the running fixture run is counted");
    const scheduled = schedules.filter((s) => s.next_run_at && s.is_enabled !== false)
      .sort((a, b) => Date.parse(a.next_run_at) - Date.parse(b.next_run_at));
    assert(scheduled.length >= 2, "the fixture has two scheduled crons");
    eq(await kpi("kpi-next"), scheduled[0].cron_name, "next run cron");
    assert((await page.textContent("#kpi-next")).includes(scheduled[0].display_name), "next run shows the display name");
    const runsText = (await page.textContent("#kpi-runs [data-kpi=value]")).replace(/,/g, "");
    eq(Number(runsText), sum(stats, "total_executions"), "runs 24 h as displayed");
  });

  await check("timeline chart is drawn with 7 days", async () => {
    const { timeline } = await api("/cron-executions/stats?hours=24");
    eq(timeline.length, 7, "7 days from the API");
    const chart = await page.evaluate(() => {
      const c = window.Chart?.getChart(document.getElementById("timeline-chart"));
      return c ? { labels: c.data.labels.length, sets: c.data.datasets.map((d) => d.data) } : null;
    });
    assert(chart, "a Chart.js chart exists");
    eq(chart.labels, 7, "7 bars");
    eq(chart.sets[0], timeline.map((d) => d.completed), "completed per day");
    eq(chart.sets[1], timeline.map((d) => d.failed), "failed per day");
    eq(chart.sets[2], timeline.map((d) => d.running), "running per day");
  });

  await check("failing channels: a banner names each, with its health from the API", async () => {
    const { channels } = await api("/channels");
    const pager = channels.find((c) => c.name === "ops-pager");
    assert(pager?.failing, "the fixture's channel is failing");
    const banner = page.locator('#channels-banner [data-channel="ops-pager"]');
    assert(await banner.isVisible(), "a banner for it");
    const text = await banner.textContent();
    assert(text.includes("Notifications failing: ops-pager"), `names it: ${text}`);
    assert(text.includes(`${pager.health.consecutiveFailures} failed attempts in a row`), `counts: ${text}`);
    eq(await page.locator("#channels-banner [data-channel]").count(),
      channels.filter((c) => c.failing).length, "one banner per failing channel");
  });

  await check("alerts: stuck runs only; failures in a row are the server's incidents, not banners", async () => {
    const { schedules } = await api("/cron-schedules");
    const flaky = schedules.find((x) => x.cron_name === "flaky-sync");
    eq(Number(flaky.consecutive_failures), 3, "the fixture's 3 failures in a row");
    eq(await page.locator('#alerts [data-alert="failures"]').count(), 0, "no banner derived in the browser");
    eq(flaky.open_incident?.kind, "failed", "the server opened an incident for them");
    eq(await page.textContent('#health-table tr[data-cron="flaky-sync"] .streak'), "3 failures in a row", "the streak, in the health table");
    const { stuckCrons } = await api("/cron-executions/stats?hours=24");
    assert(stuckCrons.some((r) => r.cron_name === "stuck-job"), "the API reports the stuck run");
    eq(await page.locator('#alerts [data-alert="stuck"]').count(), stuckCrons.length, "one alert per stuck run");
    const stuck = page.locator('#alerts [data-alert="stuck"][data-cron="stuck-job"]');
    assert((await stuck.textContent()).includes("Stuck: Stuck job"), "stuck alert names the cron");
    await stuck.locator("button").click();
    await page.waitForSelector("#detail[open] .facts");
    const id = stuckCrons.find((r) => r.cron_name === "stuck-job").execution_id;
    assert((await page.textContent("#detail-body")).includes(id), "View run opens the stuck run");
    assert(await page.isVisible("#detail-badge .badge.running"), "blue running badge");
    await page.click("#detail-close");
  });

  await check("cron health: a state badge per cron as the server derives it, with since", async () => {
    const { schedules } = await api("/cron-schedules");
    const byName = new Map(schedules.map((x) => [x.cron_name, x]));
    eq(byName.get("minutely-ping")?.state, "late", "the API: minutely-ping is late");
    eq(byName.get("stuck-job")?.state, "stuck", "the API: stuck-job is stuck");
    eq(byName.get("nightly-report")?.state, "up", "the API: nightly-report is up again");
    const rows = await page.$$eval("#health-table tbody tr", (rs) => rs.map((r) => {
      const t = r.querySelector(".state time");
      return {
        cron: r.dataset.cron, state: r.dataset.state, badge: r.querySelector(".state .badge")?.textContent,
        since: t?.textContent, title: t?.title, dateTime: t?.dateTime,
      };
    }));
    eq(rows.length, schedules.length, "one row per cron");
    for (const r of rows) {
      const x = byName.get(r.cron);
      assert(x, `${r.cron} is a cron of the API`);
      eq(r.state, x.state, `state of ${r.cron}`);
      eq(r.badge, x.state, `the badge of ${r.cron} says it in text`);
      const exact = new Date(x.state_since).toISOString();
      eq(r.dateTime, exact, `since of ${r.cron}`);
      assert(/^since (just now|\d+ (min|h|d) ago)$/.test(r.since), `relative since of ${r.cron}: ${r.since}`);
      assert(r.title.includes(exact), `exact since in the title of ${r.cron}: ${r.title}`);
    }
    eq(rows.slice(0, 2).map((r) => r.state), ["stuck", "late"], "the most urgent first");
    const late = page.locator('#health-table tbody tr[data-cron="minutely-ping"] .badge[data-state="late"]');
    assert(await late.isVisible(), "late badge shown");
    const colour = (sel) => page.$eval(sel, (b) => getComputedStyle(b).backgroundColor);
    const lateBg = await colour('#health-table .badge[data-state="late"]');
    const upBg = await colour('#health-table .badge[data-state="up"]');
    assert(lateBg !== upBg, `late and up badges differ in colour too (${lateBg})`);
  });

  await check("incidents: open ones first, then the recently resolved, as the API lists them", async () => {
    const open = (await api("/incidents?state=open&limit=50")).incidents;
    const resolved = (await api("/incidents?state=resolved&limit=10")).incidents;
    eq(open.map((i) => i.cron_name).sort(), ["flaky-sync", "minutely-ping"], "the fixture's open incidents");
    eq(resolved.map((i) => i.cron_name), ["nightly-report"], "the fixture's resolved incident");
    const shown = await page.$$eval("#incidents-table tbody tr[data-incident]",
      (rs) => rs.map((r) => ({ id: r.dataset.incident, open: r.dataset.open, kind: r.dataset.kind })));
    eq(shown.map((r) => r.id), [...open, ...resolved].map((i) => i.id), "open first, then resolved, in the API's order");
    eq(shown.map((r) => r.open), [...open.map(() => "true"), ...resolved.map(() => "false")], "open or not");
    eq(shown.map((r) => r.kind), [...open, ...resolved].map((i) => i.kind), "kinds");
    eq(await page.textContent("#incidents-meta"), "2 open", "count of open incidents");
    assert(await page.isHidden("#incidents-clear"), "no all-clear while incidents are open");

    const ping = await page.textContent('#incidents-open tr[data-cron="minutely-ping"]');
    for (const part of ["Minutely ping", "open", "Missed runs", "since "]) assert(ping.includes(part), `"${part}" in: ${ping}`);
    // The failure streak's error, as text: the fixture's payload runs nothing.
    const flaky = open.find((i) => i.cron_name === "flaky-sync");
    assert(flaky.error_message.includes("<script>"), "the payload reached the incident");
    const excerpt = page.locator('#incidents-open tr[data-cron="flaky-sync"] .error-excerpt');
    eq(await excerpt.textContent(), flaky.error_message, "a short error shown whole, literally");
    eq(await page.$$eval("#incidents img, #incidents script", (n) => n.length), 0, "no element injected");
    // A long error: its first line, the whole text in the title.
    const nightly = resolved[0];
    const row = page.locator(`#incidents-resolved tr[data-incident="${nightly.id}"]`);
    eq(await row.locator(".error-excerpt").textContent(), nightly.error_message.split("\n")[0], "first line of the error");
    eq(await row.locator(".error-excerpt").getAttribute("title"), nightly.error_message, "whole error in the title");
    const text = await row.textContent();
    for (const part of ["Nightly report", "resolved", "Failed runs", "lasted "]) assert(text.includes(part), `"${part}" in: ${text}`);
    eq(await page.textContent("#incidents-resolved tr.group"), "Recently resolved", "the resolved ones under their heading");
  });

  await check("an incident links to its cron's runs over the incident's time range", async () => {
    const [inc] = (await api("/incidents?state=resolved&cronName=nightly-report")).incidents;
    await page.click(`#incidents-resolved tr[data-incident="${inc.id}"] a`);
    await page.waitForFunction(() => new URLSearchParams(location.hash.slice(1)).get("cron") === "nightly-report"
      && document.body.dataset.state === "ready");
    const hash = new URLSearchParams(new URL(page.url()).hash.slice(1));
    eq(await page.inputValue("#f-cron"), "nightly-report", "cron filter");
    eq(await page.inputValue("#f-from"), hash.get("from"), "from filter");
    eq(await page.inputValue("#f-to"), hash.get("to"), "to filter");
    // The filters are local times to the minute: the range holds the incident, within a minute.
    const [from, to] = await page.evaluate(([f, t]) => [Date.parse(f), Date.parse(t)], [hash.get("from"), hash.get("to")]);
    const start = Date.parse(inc.opened_from);
    const end = Date.parse(inc.resolved_at);
    assert(from <= start && start - from < 60_000, `from ${new Date(from).toISOString()} for a streak from ${inc.opened_from}`);
    assert(to >= end && to - end <= 60_000, `to ${new Date(to).toISOString()} for a resolution at ${inc.resolved_at}`);
    const qs = new URLSearchParams({ cronName: "nightly-report", from: new Date(from).toISOString(), to: new Date(to).toISOString(), limit: "50" });
    const list = await api(`/cron-executions/list?${qs}`);
    eq(list.pagination.total, 2, "the failure that opened it and the success that resolved it");
    await waitPageInfo(page, /of 2$/);
    eq(await rowIds(page), list.executions.map((e) => e.id), "the incident's runs");
    eq(await rowAttr(page, "status"), ["completed", "failed"], "newest first");

    // An open one: from its streak's start on, with no end.
    const [open] = (await api("/incidents?state=open&cronName=minutely-ping")).incidents;
    await page.click(`#incidents-open tr[data-incident="${open.id}"] a`);
    await page.waitForFunction(() => new URLSearchParams(location.hash.slice(1)).get("cron") === "minutely-ping"
      && document.body.dataset.state === "ready");
    eq(await page.inputValue("#f-to"), "", "no end for an open incident");
    const missed = await api("/cron-executions/list?cronName=minutely-ping&limit=50");
    await waitPageInfo(page, new RegExp(`of ${missed.pagination.total}$`));
    eq(await rowIds(page), missed.executions.map((e) => e.id), "its missed rows");
  });

  await check("runs list: a missed row reads as missed, with no duration", async () => {
    // The filters of the previous check: minutely-ping's missed slots.
    const { executions } = await api("/cron-executions/list?cronName=minutely-ping&limit=50");
    assert(executions.length >= 2 && executions.every((e) => e.reason === "missed" && e.status === "failed" && !e.host),
      "the sweeper wrote missed rows, with no host");
    assert(executions.every((e) => !(e.slots_missed > 1)), "one row per slot here");
    const cells = await page.$$eval("#exec-table tbody tr", (rs) => rs.map((r) => ({
      reason: r.dataset.reason, status: r.cells[1].textContent, duration: r.cells[4].textContent, started: r.cells[3].querySelector("time")?.dateTime,
    })));
    eq(cells.map((c) => c.reason), executions.map(() => "missed"), "reasons");
    eq(cells.map((c) => c.status), executions.map(() => "missed"), "each reads as missed");
    eq(cells.map((c) => c.duration), executions.map(() => "—"), "no duration");
    eq(cells.map((c) => c.started), executions.map((e) => new Date(e.started_at).toISOString()), "started at the slot");
    await page.click(`#exec-table tbody tr[data-id="${executions[0].id}"]`);
    await page.waitForSelector("#detail[open] .facts");
    eq(await page.textContent("#detail-badge"), "missed", "the detail says missed");
    assert((await page.textContent("#detail-body")).includes("never ran"), "and that it never ran");
    await page.click("#detail-close");
  });

  await check("runs list: a run of unusual duration has a small slow/fast tag", async () => {
    const { executions } = await api("/cron-executions/list?cronName=quick-check&limit=50");
    eq(executions.map((e) => e.anomaly), ["fast"], "the sweeper flagged quick-check's run");
    await page.click("#f-clear"); // the previous check's incident range
    await waitPageInfo(page, /^Showing 1–50 /);
    await page.selectOption("#f-cron", "quick-check");
    await page.waitForSelector(`#exec-table tbody tr[data-id="${executions[0].id}"]`);
    const tag = page.locator(`#exec-table tbody tr[data-id="${executions[0].id}"] .tag[data-anomaly]`);
    eq(await tag.textContent(), "fast", "tag text");
    assert(/faster than/i.test(await tag.getAttribute("title")), "tag explained in its title");
    eq(await page.locator("#exec-table .tag[data-anomaly]").count(), 1, "only the flagged run");
    await page.click("#f-clear");
    await waitPageInfo(page, /^Showing 1–50 /);
  });

  await check("batches: a card per kind from its source, a failed source's error in its card", async () => {
    const { batches } = await api("/cron-executions/batches");
    eq(Object.keys(batches).sort(), ["kbIndexation", "qualityAnalysis", "webCrawl"], "the fixture's kinds");
    eq(batches.kbIndexation.pending, 2, "figures from the application's table");
    const kb = await page.textContent('#batches .batch[data-kind="kbIndexation"]');
    for (const [n, label] of [[2, "pending"], [1, "processing"], [3, "completed today"], [1, "failed today"]]) {
      assert(kb.includes(`${n}${label}`), `${label}: ${kb}`);
    }
    const width = await page.$eval('#batches .batch[data-kind="kbIndexation"] .bar > span', (s) => s.style.width);
    eq(width, `${batches.kbIndexation.successRate}%`, "success rate bar");
    const crawl = page.locator('#batches .batch[data-kind="webCrawl"]');
    eq(await crawl.getAttribute("data-error"), "true", "the failed source's card");
    assert((await crawl.textContent()).includes("Source failed"), "says its source failed");
    eq(await crawl.locator(".batch-error").textContent(), batches.webCrawl.error, "its error, as the API says it");
    assert(batches.webCrawl.error.includes("crawl_pages"), `the error names the dropped table: ${batches.webCrawl.error}`);
    eq(await crawl.locator(".figures, .batch-run").count(), 0, "no figures for a kind whose source failed");
    assert(await page.isHidden("#batches-empty"), "no empty state");
  });

  await check("batches: a recorded kind's figures, and a progress bar per running batch run", async () => {
    const { batches } = await api("/cron-executions/batches");
    const q = batches.qualityAnalysis;
    eq(q.figuresFrom, "runs", "qualityAnalysis has no source");
    eq([q.runsCompletedToday, q.runsFailedToday, q.runningCount], [2, 1, 2], "the fixture's runs");
    const card = page.locator('#batches .batch[data-kind="qualityAnalysis"]');
    const figs = await card.locator("[data-fig]").evaluateAll((fs) => fs.map((f) => [f.dataset.fig, Number(f.dataset.value), f.querySelector(".n").textContent]));
    eq(figs, [["pending", q.pending, String(q.pending)], ["processing", q.processing, String(q.processing)],
      ["completed", q.completedToday, String(q.completedToday)], ["failed", q.failedToday, String(q.failedToday)]], "the four figures");
    eq(q.completedToday, 48 + 50 + 10 + 120 + 37, "items done today, progress of running runs included");
    eq(await card.locator(".rate .pct").textContent(), `${q.successRate}%`, "success rate");
    eq(await card.locator('[data-fact="runs"]').textContent(), "3 runs today (1 failed)", "runs today");
    eq(await card.locator('[data-fact="throughput"] strong').textContent(), String(q.throughputPerMin), "items a minute");
    eq(await card.locator(".badge.running").textContent(), "2 running", "running badge");

    // The run with a total: done and failed segments of the total, its % and counts.
    const partial = q.running.find((r) => r.total === 200);
    eq([partial.done, partial.failed], [120, 6], "the partial run as the API has it");
    const line = card.locator(`.batch-run[data-id="${partial.id}"]`);
    eq(await line.locator(".bar.progress > span").evaluateAll((s) => s.map((x) => [x.className, x.style.width])),
      [["done", "60%"], ["failed", "3%"]], "progress segments");
    eq(await line.getAttribute("data-pct"), "63", "% counted");
    eq(await line.locator(".pct").textContent(), "63%", "% shown");
    eq(await line.locator(".count").textContent(), "126 / 200", "counts shown");
    eq(await line.locator(".failed-count").textContent(), "6 failed", "failed items");
    eq(await line.getAttribute("data-stale"), "false", "reported 10 s ago: not stale");
    eq(await line.locator(".host").textContent(), partial.host, "the host, as text");
    assert(partial.host.includes("onerror"), "the fixture's host carries the payload");
    assert(/^started (just now|\d+ min ago)$/.test(await line.locator("time").textContent()), "started ago");

    // No total: an indeterminate bar and its count.
    const open = q.running.find((r) => r.total === null);
    const openLine = card.locator(`.batch-run[data-id="${open.id}"]`);
    assert(await openLine.locator(".bar.progress.indeterminate").isVisible(), "indeterminate bar");
    eq(await openLine.locator(".count").textContent(), "37 items", "its count");
    eq(await openLine.locator(".pct").count(), 0, "no % without a total");
    assert((await openLine.textContent()).includes("total unknown"), "says the total is unknown");

    // A source kind also lists its recorded runs; one silent for 2 h looks stale.
    const kb = batches.kbIndexation;
    eq(kb.figuresFrom, "source", "kbIndexation's figures from its source");
    const quiet = kb.running[0];
    const quietLine = page.locator(`#batches .batch[data-kind="kbIndexation"] .batch-run[data-id="${quiet.id}"]`);
    eq(await quietLine.getAttribute("data-stale"), "true", "stale");
    eq(await quietLine.locator(".pct").textContent(), "40%", "its progress");
    assert(/^no report for 2/.test(await quietLine.locator(".stale-tag").textContent()), "says for how long it went quiet");
    const grey = await quietLine.locator(".bar.progress > span").evaluate((s) => getComputedStyle(s).backgroundColor);
    const blue = await line.locator(".bar.progress > span.done").evaluate((s) => getComputedStyle(s).backgroundColor);
    assert(grey !== blue, `a stale bar is greyed (${grey})`);
    eq(await page.$$eval("#batches img", (n) => n.length), 0, "no element injected by the host");
  });

  await check("batches: empty state, then cards with progress bars", async () => {
    const { batches } = await api("/cron-executions/batches");
    if (Object.keys(batches).length === 0) {
      assert(await page.isVisible("#batches-empty"), "empty state shown while no batch kind exists");
    }
    // Kinds the fixture cannot make (a source kind named as HTML, a run at 100%, more running
    // runs than listed), answered in the browser here.
    const fake = {
      success: true,
      batches: {
        kbIndexation: { pending: 120, processing: 3, completedToday: 845, failedToday: 12, successRate: 98.6,
          throughputPerMin: 14.2, runsCompletedToday: 9, runsFailedToday: 0, runningCount: 23, figuresFrom: "source",
          oldestPendingAt: new Date(Date.now() - 3 * 3600_000).toISOString(),
          running: [{ id: "run-1", kind: "kbIndexation", status: "running", total: 1000, done: 340, failed: 0, host: "w1",
            startedAt: new Date().toISOString(), lastProgressAt: new Date().toISOString() },
          { id: "run-2", kind: "kbIndexation", status: "running", total: 10, done: 9, failed: 1, host: null,
            startedAt: new Date().toISOString(), lastProgressAt: new Date().toISOString() }] },
        "<b>webCrawls</b>": { pending: 0, processing: 1, completedToday: 51, failedToday: 9, successRate: 85,
          throughputPerMin: null, runsCompletedToday: 0, runsFailedToday: 0, runningCount: 0, running: [], figuresFrom: "source" },
      },
    };
    await page.route("**/cron-executions/batches", (r) => r.fulfill({ json: fake }));
    const n = await refreshes(page);
    await page.click("#refresh");
    await waitRefreshAfter(page, n);
    eq(await page.$$eval("#batches .batch", (b) => b.map((x) => x.dataset.kind)), Object.keys(fake.batches), "one card per kind");
    assert(await page.isHidden("#batches-empty"), "no empty state");
    eq(await page.$$eval("#batches h3", (h) => h.map((x) => x.textContent)), Object.keys(fake.batches), "kind names as text");
    const kb = page.locator('#batches .batch[data-kind="kbIndexation"]');
    const widths = await kb.locator(".bar > span").evaluateAll((s) => s.map((x) => x.style.width));
    eq(widths, ["98.6%", "34%", "90%", "10%"], "success rate and run progress bars");
    eq(await kb.locator(".batch-run .pct").allTextContents(), ["34%", "100%"], "% of each run");
    assert((await kb.textContent()).includes("340 / 1,000"), "progress figures");
    eq(await kb.locator(".more").textContent(), "+ 21 more running", "runs not listed, counted");
    eq(await kb.locator('[data-fact="oldest"] strong').textContent(), "3 h", "oldest pending item's age");
    eq(await page.locator('#batches .batch[data-kind="<b>webCrawls</b>"] .runs-none').textContent(), "No batch run running", "no run");
    eq(await page.locator('#batches .batch[data-kind="<b>webCrawls</b>"] [data-fact="throughput"]').count(), 0, "no throughput without runs");
    await page.unroute("**/cron-executions/batches");
    const m = await refreshes(page);
    await page.click("#refresh");
    await waitRefreshAfter(page, m);
    assert(await page.isVisible("#batches-empty") === (Object.keys(batches).length === 0), "back to the API's batches");
  });

  await check("pagination moves through more than 50 runs", async () => {
    const all = await api("/cron-executions/list?page=1&limit=50");
    assert(all.pagination.total > 50, "more than 50 runs");
    const first = await rowIds(page);
    eq(first.length, 50, "rows on page 1");
    eq(first, all.executions.map((e) => e.id), "page 1 rows, in the API's order");
    assert((await pageInfo(page)).includes(`of ${all.pagination.total}`), "total shown");
    assert(await page.isDisabled("#page-prev"), "no previous page on page 1");
    await page.click("#page-next");
    await waitPageInfo(page, /^Showing 51–/);
    const second = await rowIds(page);
    const p2 = await api("/cron-executions/list?page=2&limit=50");
    eq(second, p2.executions.map((e) => e.id), "page 2 rows");
    assert(second.every((id) => !first.includes(id)), "page 2 differs from page 1");
    assert(page.url().includes("page=2"), "page kept in the URL");
    await page.click("#page-prev");
    await waitPageInfo(page, /^Showing 1–50 /);
  });

  await check("filtering by status narrows the table", async () => {
    const failedRuns = await api("/cron-executions/list?status=failed&limit=50");
    await page.selectOption("#f-status", "failed");
    await waitPageInfo(page, new RegExp(`of ${failedRuns.pagination.total}$`));
    const statuses = await rowAttr(page, "status");
    eq(statuses.length, Math.min(50, failedRuns.pagination.total), "failed rows");
    assert(statuses.every((s) => s === "failed"), "only failed runs");
    assert(statuses.length < 50, "the filter narrowed the table");
    // Failed runs are red; the slots nobody started say "missed" instead.
    const badges = await page.$$eval("#exec-table tbody tr", (rs) => rs.map((r) => r.querySelector(".badge").textContent));
    const reasons = await rowAttr(page, "reason");
    eq(badges, reasons.map((r) => (r === "missed" ? "missed" : "failed")), "status badges");
    assert(reasons.includes("missed") && reasons.some((r) => r !== "missed"), "both kinds in the fixture");
  });

  await check("filtering by cron narrows the table (and combines with status)", async () => {
    await page.selectOption("#f-status", "");
    await page.selectOption("#f-cron", "batch-import");
    await waitPageInfo(page, /of 55$/);
    const crons = await rowAttr(page, "cron");
    eq(crons.length, 50, "rows of batch-import on page 1");
    assert(crons.every((c) => c === "batch-import"), "only batch-import");
    await page.selectOption("#f-cron", "flaky-sync");
    await page.selectOption("#f-status", "failed");
    await waitPageInfo(page, /of 3$/);
    eq(await rowAttr(page, "cron"), ["flaky-sync", "flaky-sync", "flaky-sync"], "flaky-sync failures");
    assert(page.url().includes("cron=flaky-sync") && page.url().includes("status=failed"), "filters in the URL");
  });

  await check("Export CSV downloads the filtered runs, with the secret in a header", async () => {
    // The filters of the previous check: flaky-sync, failed.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#f-export")]);
    eq(download.suggestedFilename(), "cron-executions.csv", "file name");
    const path = await download.path();
    const { readFileSync } = await import("node:fs");
    const text = readFileSync(path, "utf8");
    assert(text.startsWith("id,cron_name,status,reason,trigger_type,started_at,"), "header row");
    const rows = text.split("\r\n").filter((l) => /^[0-9a-f]{8}-/.test(l));
    eq(rows.length, 3, "one row per flaky-sync failure");
    assert(rows.every((r) => r.split(",")[1] === "flaky-sync"), "only flaky-sync");
    assert(!(await page.isDisabled("#f-export")), "button enabled again");
  });

  await check("filtering by date range narrows the table", async () => {
    await page.click("#f-clear");
    await waitPageInfo(page, /of \d+$/);
    // A range that ends before every run started: nothing matches.
    await page.fill("#f-to", "2000-01-01T00:00");
    await page.dispatchEvent("#f-to", "change");
    await page.waitForSelector("#exec-empty:not([hidden])");
    eq(await page.textContent("#page-info"), "No results", "empty range");
    await page.fill("#f-to", "");
    await page.dispatchEvent("#f-to", "change");
    await page.fill("#f-from", "2000-01-01T00:00");
    await page.dispatchEvent("#f-from", "change");
    const all = await api("/cron-executions/list?limit=1&from=2000-01-01T00:00:00Z");
    await waitPageInfo(page, new RegExp(`of ${all.pagination.total}$`));
    await page.click("#f-clear");
    await waitPageInfo(page, /^Showing 1–50 /);
  });

  await check("detail view shows the output JSON, pretty-printed", async () => {
    await page.selectOption("#f-cron", "batch-import");
    await waitPageInfo(page, /of 55$/);
    const id = (await rowIds(page))[0];
    await page.click(`#exec-table tbody tr[data-id="${id}"]`);
    await page.waitForSelector("#detail[open] #detail-output");
    const { execution } = await api(`/cron-executions/${id}`);
    assert(execution.output && typeof execution.output === "object", "the fixture run has an object output");
    eq(await page.textContent("#detail-output"), JSON.stringify(execution.output, null, 2), "pretty JSON");
    const body = await page.textContent("#detail-body");
    assert(body.includes(id), "execution id shown");
    assert(await page.isVisible("#detail-badge .badge.completed"), "green badge");
    assert(page.url().includes(`run=${id}`), "open run kept in the URL");
  });

  await check("auto-refresh (30 s) keeps filters, page and the open detail view", async () => {
    await page.click("#detail-close");
    await page.click("#page-next");
    await waitPageInfo(page, /^Showing 51–55 of 55$/);
    const id = (await rowIds(page))[0];
    await page.click(`#exec-table tbody tr[data-id="${id}"]`);
    await page.waitForSelector("#detail[open] #detail-output");
    const n = await refreshes(page);
    await page.clock.fastForward(31_000);
    await waitRefreshAfter(page, n);
    assert(await page.isVisible("#detail[open] #detail-output"), "detail still open");
    assert((await page.textContent("#detail-body")).includes(id), "same run in the detail");
    eq(await page.inputValue("#f-cron"), "batch-import", "cron filter kept");
    eq(await pageInfo(page), "Showing 51–55 of 55", "filtered table and page kept");
    const m = await refreshes(page);
    await page.clock.fastForward(31_000);
    await waitRefreshAfter(page, m); // and again 30 s later
    assert(await page.isVisible("#detail[open]"), "detail still open after a second refresh");
    await page.click("#detail-close");
    assert(await page.isHidden("#detail"), "detail closed");
    assert(!page.url().includes("run="), "run removed from the URL");
  });

  await check("an error message with <script> and <img onerror> is shown literally and runs nothing", async () => {
    await page.selectOption("#f-cron", "flaky-sync");
    await waitPageInfo(page, /of 4$/); // 1 completed, then 3 failures
    const id = (await rowIds(page))[0];
    await page.click(`#exec-table tbody tr[data-id="${id}"]`);
    await page.waitForSelector("#detail[open] #detail-error");
    const { execution } = await api(`/cron-executions/${id}`);
    assert(execution.error_message.includes("<script>") && execution.error_message.includes("onerror="), "payload in the fixture");
    eq(await page.textContent("#detail-error"), execution.error_message, "error shown as text");
    eq(await page.$$eval("#detail-body img, #detail-body script", (n) => n.length), 0, "no element injected in the detail");
    await page.click("#detail-close");
    // The cron whose name is an <img onerror> tag: listed as text in the health table and filter.
    const names = await page.$$eval("#health-table tbody tr", (rs) => rs.map((r) => r.dataset.cron));
    assert(names.includes(XSS_NAME), "cron with an HTML name listed");
    const shown = await page.$$eval("#health-table .linkish", (bs) => bs.map((b) => b.textContent));
    assert(shown.includes(XSS_NAME), "HTML name shown literally");
    await page.selectOption("#f-cron", XSS_NAME);
    await page.waitForFunction((n) => [...document.querySelectorAll("#exec-table tbody tr")].some((r) => r.dataset.cron === n), XSS_NAME);
    eq(await page.$$eval("img[src='x'], main script", (n) => n.length), 0, "no injected element anywhere");
    await page.clock.runFor(500);
    await page.waitForTimeout(300);
    const flags = await page.evaluate(() => [window.__xss, window.__xssName, window.__xssScript, window.__xssHost]);
    assert(flags.every((f) => f === undefined), `window flags set by a payload: ${JSON.stringify(flags)}`);
  });

  await check("a run started after page load appears after a manual refresh", async () => {
    await page.click("#f-clear");
    await waitPageInfo(page, /^Showing 1–50 /);
    const before = Number(await page.getAttribute("#kpi-runs [data-kpi=value]", "data-value"));
    const started = await api("/cron-executions/start", {
      method: "POST",
      body: JSON.stringify({ cronName: "late-arrival", triggerType: "manual" }),
    });
    const id = started.executionId;
    assert(id, "start answered an execution id");
    assert(!(await rowIds(page)).includes(id), "not shown before the refresh");
    const n = await refreshes(page);
    await page.click("#refresh");
    await waitRefreshAfter(page, n);
    await page.waitForSelector(`#exec-table tbody tr[data-id="${id}"][data-status="running"]`);
    eq(Number(await page.getAttribute("#kpi-runs [data-kpi=value]", "data-value")), before + 1, "runs 24 h grew by one");
    assert(await page.isVisible(`#health-table tbody tr[data-cron="late-arrival"]`), "new cron in the health table");
  });

  await check("an unreachable API shows the error banner, and it clears on recovery", async () => {
    await page.route("**/cron-executions/**", (r) => r.abort("connectionrefused"));
    const n = await refreshes(page);
    await page.click("#refresh");
    await waitRefreshAfter(page, n);
    await page.waitForSelector("#error-banner:not([hidden])");
    assert(/unreachable/i.test(await page.textContent("#error-banner")), "says unreachable");
    assert(await page.isVisible("#app"), "last data still shown");
    assert((await page.getAttribute("#updated-at", "class")).includes("stale"), "updated-at marked stale");
    await page.unroute("**/cron-executions/**");
    const m = await refreshes(page);
    await page.click("#error-retry");
    await waitRefreshAfter(page, m);
    assert(await page.isHidden("#error-banner"), "banner gone after recovery");
  });

  await check("empty states when there is no data yet", async () => {
    const p = await newPage(1280, 800, { withSecret: secret });
    const empty = {
      "/cron-executions/stats": { success: true, stats: [], stuckCrons: [], timeline: [] },
      "/cron-schedules": { success: true, schedules: [] },
      "/cron-executions/list": { success: true, executions: [], pagination: { page: 1, limit: 50, total: 0, totalPages: 0 } },
      "/cron-executions/batches": { success: true, batches: {} },
    };
    await p.route(`${base}/cron-**`, (r) => {
      const path = new URL(r.request().url()).pathname.slice(new URL(base).pathname.length);
      return empty[path] ? r.fulfill({ json: empty[path] }) : r.continue();
    });
    await p.route(`${base}/incidents?**`, (r) => r.fulfill({
      json: { success: true, incidents: [], pagination: { page: 1, limit: 50, total: 0, totalPages: 0 } },
    }));
    await p.goto(`${base}/dashboard`);
    await waitReady(p);
    for (const sel of ["#timeline-empty", "#health-empty", "#exec-empty", "#batches-empty", "#incidents-empty"]) {
      assert(await p.isVisible(sel), `${sel} shown`);
    }
    eq(await p.textContent("#exec-empty-text"), "No run has been recorded yet.", "executions empty text");
    eq(await p.textContent("#kpi-runs [data-kpi=value]"), "0", "runs card");
    eq(await p.textContent("#kpi-next [data-kpi=value]"), "—", "next run card");
    eq(await p.locator("#alerts .alert").count(), 0, "no alert");
    assert(await p.isHidden("#incidents-table"), "no incidents table");
    assert(await p.isHidden("#error-banner"), "no error banner");
    await p.context().close();
  });

  await check("a wrong secret shows the error banner and asks again", async () => {
    const p = await newPage(1280, 800, { withSecret: "definitely-not-the-secret" });
    await p.goto(`${base}/dashboard`);
    await p.waitForSelector("#error-banner:not([hidden])");
    const text = await p.textContent("#error-banner");
    assert(/wrong secret/i.test(text) && text.includes("401"), `banner text: ${text}`);
    assert(await p.isVisible("#auth"), "secret form shown");
    assert(await p.isHidden("#app"), "no data shown");
    await p.context().close();
  });

  await check("usable at 390 px: no horizontal scrolling, cards stacked", async () => {
    const p = await newPage(390, 844, { withSecret: secret });
    await p.goto(`${base}/dashboard`);
    await waitReady(p);
    const { scroll, client } = await p.evaluate(() => ({
      scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
    }));
    assert(scroll <= client, `page is ${scroll} px wide in a ${client} px viewport`);
    const kpiBoxes = await p.$$eval(".kpi", (ks) => ks.map((k) => k.getBoundingClientRect().width));
    assert(kpiBoxes.every((w) => w > 120 && w < 390), `KPI widths ${kpiBoxes}`);
    await p.click("#exec-table tbody tr >> nth=0");
    await p.waitForSelector("#detail[open]");
    const w = await p.$eval("#detail", (d) => d.getBoundingClientRect().width);
    assert(w <= 390, `detail is ${w} px wide`);
    await p.context().close();
  });

  if (outageBase) {
    await check("after an hour down: 60 missed rows, then one that counts the rest (×N slots)", async () => {
      const p = await newPage(1440, 900, { withSecret: secret });
      await p.goto(`${outageBase}/dashboard`);
      await waitReady(p);
      const list = await api("/cron-executions/list?limit=50", {}, outageBase);
      eq(list.pagination.total, 61, "60 rows, then one for the rest");
      const rest = list.executions[0];
      assert(rest.reason === "missed" && rest.slots_missed > 1, `the newest row counts the rest: ${JSON.stringify(rest)}`);
      const row = p.locator(`#exec-table tbody tr[data-id="${rest.id}"]`);
      eq(await row.locator("td:nth-child(2)").textContent(), `missed ×${rest.slots_missed} slots`, "status cell");
      eq(await row.locator("td:nth-child(5)").textContent(), "—", "no duration");
      const single = list.executions[1];
      eq(await p.textContent(`#exec-table tbody tr[data-id="${single.id}"] td:nth-child(2)`), "missed", "a row for one slot");
      eq(await p.getAttribute('#health-table tbody tr[data-cron="every-minute"]', "data-state"), "late", "late badge");
      const open = (await api("/incidents?state=open", {}, outageBase)).incidents;
      eq(open.map((i) => [i.cron_name, i.kind]), [["every-minute", "missed"]], "one incident, not 65");
      eq(await p.$$eval("#incidents-open tr[data-incident]", (rs) => rs.map((r) => r.dataset.incident)), open.map((i) => i.id), "shown");
      await p.context().close();
    });
  }

  if (SHOTS) {
    await check(`screenshots saved in ${SHOTS}`, async () => {
      const { mkdirSync } = await import("node:fs");
      mkdirSync(SHOTS, { recursive: true });
      const shoot = async (name, from, { width, height, scheme = "light", fullPage = true }) => {
        const p = await newPage(width, height, { withSecret: secret });
        await p.emulateMedia({ colorScheme: scheme });
        await p.goto(`${from}/dashboard`);
        await waitReady(p);
        await p.screenshot({ path: `${SHOTS}/${name}.png`, fullPage });
        await p.context().close();
      };
      await shoot("health-desktop", base, { width: 1440, height: 1000 });
      // At full size, the parts this page added (a full page is scaled down to be looked at).
      for (const [suffix, width] of [["", 1440], ["-mobile", 390]]) {
        const p = await newPage(width, 1000, { withSecret: secret });
        await p.goto(`${base}/dashboard`);
        await waitReady(p);
        await p.locator("#incidents").screenshot({ path: `${SHOTS}/part-incidents${suffix}.png` });
        await p.locator("#health-table").screenshot({ path: `${SHOTS}/part-health${suffix}.png` });
        await p.evaluate(() => { document.querySelector(".topbar").style.position = "static"; });
        await p.locator("section[aria-labelledby=batches-title]").screenshot({ path: `${SHOTS}/part-batches${suffix}.png` });
        const runs = await p.locator("#exec-table").evaluate((t) => {
          const r = t.getBoundingClientRect();
          return { x: r.x, y: r.y + window.scrollY, width: r.width, height: Math.min(r.height, 560) };
        });
        await p.screenshot({ path: `${SHOTS}/part-runs${suffix}.png`, clip: runs, fullPage: true });
        await p.context().close();
      }
      await shoot("health-dark", base, { width: 1440, height: 1000, scheme: "dark", fullPage: false });
      await shoot("health-mobile", base, { width: 390, height: 844 });
      if (outageBase) await shoot("health-outage", outageBase, { width: 1440, height: 1000 });
      if (outageBase) await shoot("health-outage-mobile", outageBase, { width: 390, height: 844 });
    });
  }

  await check("no script error and no dialog on any page", async () => {
    eq(pageErrors, [], "page errors");
    eq(dialogs, [], "dialogs");
    eq(cspViolations, [], "Content-Security-Policy violations");
  });
} finally {
  await browser.close();
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
