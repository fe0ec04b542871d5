// Browser benchmark of the Pods tab with a busy tenant (not part of the test suite; `make bench`
// runs it).
//
// Starts the server side (`cargo bench -p wharf-tests --bench pods_browser`: the demo cluster,
// 20,000 pods in tenant alpha, 100 of them changing a second, and the console serving the
// built site SITE_DIR), or uses one already running (WHARF_BENCH_URL, and WHARF_BENCH_USER /
// WHARF_BENCH_PASSWORD). Logs in as alice in Debian's Chromium, then WHARF_BENCH_RUNS (5)
// times, each in a fresh tab of that session:
//   first rows   — from opening /t/alpha (the app loading, the Pods tab clicked as soon as it
//                  is there) until the first pod rows are visible; apart, from the click on
//                  the tab until then;
//   scroll       — from setting the table's scroll position to its end until the last pod's
//                  row is visible;
//   filter       — from filling the name filter (big-1999) until exactly the matching rows
//                  are shown.
// Prints p50 / max of each. Exits non-zero on any page error or a console message with
// "panicked", "already been disposed" or "RuntimeError" (the Wasm app broke).
//
//   node end2end/bench/pods.mjs [SITE_DIR]
import { chromium } from '@playwright/test';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const runs = Number(process.env.WHARF_BENCH_RUNS ?? 5);
const FILTER = 'big-1999';
const FATAL = /panicked|already been disposed|RuntimeError/;

// ---- the server side
let server = null;
let base = process.env.WHARF_BENCH_URL;
let user = process.env.WHARF_BENCH_USER ?? 'alice';
let password = process.env.WHARF_BENCH_PASSWORD;
let churn = process.env.WHARF_BENCH_CHURN ?? '100';
if (!base) {
  const site = path.resolve(process.argv[2] ?? 'dist');
  if (!fs.existsSync(path.join(site, 'index.html'))) {
    console.error(`no built site in ${site} (trunk build --offline --release --dist ${site})`);
    process.exit(2);
  }
  console.error(`starting the server side (cargo bench -p wharf-tests --bench pods_browser, site ${site})…`);
  // NB: its own process group, so that everything under cargo goes when we do; and it stops
  // by itself when its standard input closes.
  server = spawn('cargo', ['bench', '-p', 'wharf-tests', '--bench', 'pods_browser'], {
    env: { ...process.env, WHARF_BENCH_SITE: site },
    stdio: ['pipe', 'pipe', 'inherit'],
    detached: true,
  });
  const lines = readline.createInterface({ input: server.stdout });
  const vars = {};
  await new Promise((ok, fail) => {
    server.on('exit', (code) => fail(new Error(`the server side exited (${code}) before it was ready`)));
    lines.on('line', (line) => {
      const m = line.match(/^(WHARF_BENCH_\w+)=(.*)$/);
      if (m) vars[m[1]] = m[2];
      if (line.startsWith('WHARF_BENCH_READY')) {
        console.error(line);
        churn = line.match(/(\d+) changes/)?.[1] ?? churn;
        ok();
      }
    });
  });
  ({ WHARF_BENCH_URL: base, WHARF_BENCH_USER: user, WHARF_BENCH_PASSWORD: password } = vars);
}
const stopServer = () => {
  if (!server || server.exitCode !== null) return;
  server.stdin.end();
  try {
    process.kill(-server.pid, 'SIGTERM');
  } catch {}
};
process.on('exit', stopServer);

// ---- the browser
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const version = browser.version();
const errors = [];
const watch = (page) => {
  page.on('pageerror', (e) => errors.push(`page error in ${page.url()}: ${e.name}: ${e.message}`));
  page.on('console', (msg) => {
    if (FATAL.test(msg.text())) errors.push(`console ${msg.type()} in ${page.url()}: ${msg.text()}`);
  });
};
const check = (step) => {
  if (errors.length) throw new Error(`the browser raised an error or the app panicked (${step}):\n${errors.join('\n')}`);
};

const samples = { first: [], tab: [], scroll: [], filter: [] };
let total = 0;
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const login = await context.newPage();
  watch(login);
  await login.goto(`${base}/login`);
  await login.getByTestId('login-user').fill(user);
  await login.getByTestId('login-password').fill(password);
  await login.getByTestId('login-submit').click();
  await login.getByTestId('user-name').waitFor({ timeout: 60_000 });
  await login.close();
  check('logging in');

  for (let run = 1; run <= runs; run++) {
    const page = await context.newPage();
    watch(page);
    const rows = page.getByTestId('pod-row');

    // (a) first rows
    const t0 = performance.now();
    await page.goto(`${base}/t/alpha`, { waitUntil: 'commit' });
    await page.getByTestId('tab-pods').click({ timeout: 60_000 });
    const clicked = performance.now();
    await rows.first().waitFor({ timeout: 60_000 });
    const t1 = performance.now();
    samples.first.push(t1 - t0);
    samples.tab.push(t1 - clicked);
    check('opening the Pods tab');
    total = Number(await page.getByTestId('pods-table').getAttribute('data-total'));
    const last = `big-${String(total - 1).padStart(5, '0')}`;

    // (b) scroll to the end
    const scroller = page.getByTestId('pods-scroll');
    const t2 = performance.now();
    await scroller.evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await page.locator(`[data-testid="pod-row"][data-name="${last}"]`).waitFor({ timeout: 60_000 });
    samples.scroll.push(performance.now() - t2);
    check('scrolling to the end');

    // (c) filter (from where the scroll left the table)
    let expected = 0;
    for (let i = 0; i < total; i++) if (`big-${String(i).padStart(5, '0')}`.includes(FILTER)) expected++;
    const t3 = performance.now();
    await page.getByTestId('filter').fill(FILTER);
    await page.waitForFunction(
      ({ filter, expected }) => {
        const table = document.querySelector('[data-testid="pods-table"]');
        const shown = [...document.querySelectorAll('[data-testid="pod-row"]')];
        return (
          table?.getAttribute('data-total') === String(expected) &&
          shown.length === expected &&
          shown.every((r) => r.getAttribute('data-name').includes(filter))
        );
      },
      { filter: FILTER, expected },
      { timeout: 60_000, polling: 'raf' },
    );
    samples.filter.push(performance.now() - t3);
    check('filtering');
    console.error(
      `run ${run}: first rows ${samples.first.at(-1).toFixed(0)} ms (after the tab click ${samples.tab.at(-1).toFixed(0)}), ` +
        `scroll to end ${samples.scroll.at(-1).toFixed(0)} ms, filter ${samples.filter.at(-1).toFixed(0)} ms`,
    );
    await page.close();
  }
  // a last look for errors that came after the measurements
  await new Promise((ok) => setTimeout(ok, 500));
  check('closing');
} catch (e) {
  failed = true;
  console.error(String(e?.stack ?? e));
} finally {
  await browser.close();
  stopServer();
}
if (failed) process.exit(1);

const p50 = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.ceil(s.length / 2) - 1];
};
const max = (xs) => Math.max(...xs);
const fmt = (xs) => `${p50(xs).toFixed(0)} | ${max(xs).toFixed(0)}`;
console.log(`\nPods tab in the browser (${version}, ${total} pods in the tenant, ${churn} changing a second; ${runs} runs)\n`);
console.log('| step | p50 ms | max ms |');
console.log('|---|---:|---:|');
console.log(`| first rows: open /t/alpha, click Pods, first rows visible (aim < 300 ms) | ${fmt(samples.first)} |`);
console.log(`| … of which from the click on the Pods tab | ${fmt(samples.tab)} |`);
console.log(`| scroll to the end: last pod's row visible | ${fmt(samples.scroll)} |`);
console.log(`| filter by name (\`${FILTER}\`, from the end of the list): only the matching rows | ${fmt(samples.filter)} |`);
