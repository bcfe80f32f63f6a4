// Screenshots of the dashboard for the docs, from a running server (best with `--demo` data):
//   node tests/browser/screenshots.mjs <api-base-url> <secret> <out-dir>
// scripts/screenshots.sh starts the example server with demo data and calls this.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [baseArg, secret, out = "docs/screenshots"] = process.argv.slice(2);
if (!baseArg || !secret) {
  console.error("usage: node screenshots.mjs <api-base-url> <secret> [out-dir]");
  process.exit(2);
}
const base = baseArg.replace(/\/+$/, "");
mkdirSync(out, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--hide-scrollbars"],
});

async function shoot(name, { width, height, scheme = "light", fullPage = false, detail = false, part = null }) {
  const ctx = await browser.newContext({ viewport: { width, height }, colorScheme: scheme, locale: "en-US" });
  const page = await ctx.newPage();
  await page.addInitScript((s) => sessionStorage.setItem("cronmon.secret", s), secret);
  await page.goto(`${base}/dashboard`);
  await page.waitForFunction(() => document.body.dataset.state === "ready");
  if (detail) {
    const failedRow = page.locator('#exec-table tbody tr[data-status="failed"]').first();
    const row = (await failedRow.count()) ? failedRow : page.locator("#exec-table tbody tr").first();
    await row.click();
    await page.waitForSelector("#detail[open] .facts");
    await page.waitForTimeout(200);
  }
  if (part) {
    // The sticky top bar would cover the part scrolled under it.
    await page.evaluate(() => { document.querySelector(".topbar").style.position = "static"; });
    await page.locator(part).screenshot({ path: `${out}/${name}.png` });
  }
  else await page.screenshot({ path: `${out}/${name}.png`, fullPage });
  console.log(`${out}/${name}.png`);
  await ctx.close();
}

try {
  await shoot("dashboard-desktop", { width: 1440, height: 1024 });
  await shoot("dashboard-detail", { width: 1440, height: 900, detail: true });
  await shoot("dashboard-dark", { width: 1440, height: 1024, scheme: "dark" });
  await shoot("dashboard-mobile", { width: 390, height: 1200 });
  await shoot("dashboard-mobile-detail", { width: 390, height: 844, detail: true });
  // The batch kinds' cards, below the fold of the shots above.
  await shoot("dashboard-batches", { width: 1440, height: 1024, part: "section[aria-labelledby=batches-title]" });
  await shoot("dashboard-batches-dark", { width: 1440, height: 1024, scheme: "dark", part: "section[aria-labelledby=batches-title]" });
  await shoot("dashboard-batches-mobile", { width: 390, height: 844, part: "section[aria-labelledby=batches-title]" });
} finally {
  await browser.close();
}
