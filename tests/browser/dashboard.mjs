// Drives Debian's Chromium (headless) through the cronmon dashboard of a running server.
//
//   node tests/browser/dashboard.mjs <api-base-url> <secret>
//   e.g. node tests/browser/dashboard.mjs http://127.0.0.1:8080/api/admin s3cret
//
// tests/dashboard.rs starts the real server, records these runs over the HTTP API, then runs
// this script and checks its exit status:
//   - "batch-import": 55 completed runs, each with a JSON output {"rows": i, ...}
//   - "flaky-sync": 3 failed runs in a row whose error message carries HTML/JS payloads
//   - a cron named `<img src=x onerror="window.__xssName=1">` with one failed run
//   - "long-task": 1 run still running
//   - "stuck-job" ("Stuck job", every 10 min, 1 min max runtime): 1 run started 2 h ago, stuck
//   - schedules for "stuck-job" and "batch-import" (so a next run exists)
// Every check compares what the page shows with what the API answers.
// Exit status 0 when every check passes; the last line is "N passed, M failed".
import { chromium } from "playwright-core";

const [baseArg, secret] = process.argv.slice(2);
if (!baseArg || !secret) {
  console.error("usage: node dashboard.mjs <api-base-url> <secret>");
  process.exit(2);
}
const base = baseArg.replace(/\/+$/, "");
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

async function api(path, init = {}) {
  const res = await fetch(`${base}${path}`, {
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

  await check("alerts: 3+ consecutive failures are flagged", async () => {
    await page.waitForSelector('#alerts [data-alert="failures"][data-cron="flaky-sync"]');
    const text = await page.textContent('#alerts [data-alert="failures"][data-cron="flaky-sync"]');
    assert(/failed 3 times in a row/.test(text), `alert text: ${text}`);
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

  await check("batches: empty state, then cards with progress bars", async () => {
    const { batches } = await api("/cron-executions/batches");
    if (Object.keys(batches).length === 0) {
      assert(await page.isVisible("#batches-empty"), "empty state shown while no batch kind exists");
    }
    // The card layout, with batch kinds as the API will give them (answered in the browser here).
    const fake = {
      success: true,
      batches: {
        kbIndexation: { pending: 120, processing: 3, completedToday: 845, failedToday: 12, successRate: 98.6,
          runs: [{ id: "run-1", progress_done: 340, progress_total: 1000 }] },
        "<b>webCrawls</b>": { pending: 0, processing: 1, completedToday: 51, failedToday: 9, successRate: 85, runs: [] },
      },
    };
    await page.route("**/cron-executions/batches", (r) => r.fulfill({ json: fake }));
    const n = await refreshes(page);
    await page.click("#refresh");
    await waitRefreshAfter(page, n);
    eq(await page.$$eval("#batches .batch", (b) => b.map((x) => x.dataset.kind)), Object.keys(fake.batches), "one card per kind");
    assert(await page.isHidden("#batches-empty"), "no empty state");
    eq(await page.$$eval("#batches h3", (h) => h.map((x) => x.textContent)), Object.keys(fake.batches), "kind names as text");
    const widths = await page.$$eval('#batches .batch[data-kind="kbIndexation"] .bar > span', (s) => s.map((x) => x.style.width));
    eq(widths, ["98.6%", "34%"], "success rate and run progress bars");
    assert((await page.textContent('#batches .batch[data-kind="kbIndexation"]')).includes("340 / 1,000"), "progress figures");
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
    const badges = await page.$$eval("#exec-table tbody .badge.failed", (b) => b.length);
    eq(badges, statuses.length, "red badges");
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
    const flags = await page.evaluate(() => [window.__xss, window.__xssName, window.__xssScript]);
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
    await p.goto(`${base}/dashboard`);
    await waitReady(p);
    for (const sel of ["#timeline-empty", "#health-empty", "#exec-empty", "#batches-empty"]) {
      assert(await p.isVisible(sel), `${sel} shown`);
    }
    eq(await p.textContent("#exec-empty-text"), "No run has been recorded yet.", "executions empty text");
    eq(await p.textContent("#kpi-runs [data-kpi=value]"), "0", "runs card");
    eq(await p.textContent("#kpi-next [data-kpi=value]"), "—", "next run card");
    eq(await p.locator("#alerts .alert").count(), 0, "no alert");
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
