// Browser benchmark of the dashboards' chart (not part of the test suite; `make bench` runs it).
//
// Serves a built site (Trunk's output; `make bench` builds a release one into
// target/bench-site) on a free loopback port, opens `/_bench/chart` in Debian's Chromium, and
// has the page draw generated series with the same chart component the dashboards use — the
// SVG rendered by plotters in Wasm, put in the DOM, laid out — timing each draw with
// performance.now(), and how long until that frame was painted (see `ChartBench` in
// app/src/pages/monitoring.rs). The first draw of a page is reported apart (cold: Wasm not
// yet tiered up); then WHARF_BENCH_RUNS (20) draws of fresh data, of which p50 / p95 / max
// are printed.
//
//   node end2end/bench/chart.mjs [SITE_DIR]
import { chromium } from '@playwright/test';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const site = path.resolve(process.argv[2] ?? 'dist');
const runs = Number(process.env.WHARF_BENCH_RUNS ?? 20);
const cases = [
  { label: '10,000 points, one series', points: 10_000, series: 1 },
  { label: '10,000 points, 20 series of 500', points: 10_000, series: 20 },
  { label: '4,820 points, 20 series (a 24-h panel)', points: 4_820, series: 20 },
];
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.svg': 'image/svg+xml' };

if (!fs.existsSync(path.join(site, 'index.html'))) {
  console.error(`no built site in ${site} (trunk build --offline --release --dist ${site})`);
  process.exit(2);
}

// the built files, and index.html for every other path (the app routes in the browser)
const server = http.createServer((req, res) => {
  const wanted = path.normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
  let file = path.join(site, wanted);
  if (!file.startsWith(site) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(site, 'index.html');
  res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const fmt = (v) => v.toFixed(1);
const rows = [];
const version = browser.version();
try {
  for (const c of cases) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/_bench/chart?points=${c.points}&series=${c.series}`);
    const result = page.getByTestId('bench-result');
    const read = async (run) => {
      await result.and(page.locator(`[data-run="${run}"]`)).waitFor({ timeout: 60_000 });
      return { draw: Number(await result.getAttribute('data-render-ms')), frame: Number(await result.getAttribute('data-frame-ms')) };
    };
    const cold = await read(0);
    const draws = [];
    const frames = [];
    for (let i = 1; i <= runs; i++) {
      await page.getByTestId('bench-again').click();
      const r = await read(i);
      draws.push(r.draw);
      frames.push(r.frame);
    }
    const svgKb = (await page.getByTestId('bench-chart').locator('.chart-plot').innerHTML()).length / 1024;
    draws.sort((a, b) => a - b);
    frames.sort((a, b) => a - b);
    rows.push({ ...c, cold, draws, frames, svgKb });
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}


console.log(`\nChart render in the browser (${version}, ${runs} draws after the first; site ${site})\n`);
console.log('| chart (560×240 SVG, the dashboards\' component) | SVG KB | first draw ms | draw p50 / p95 / max ms | until painted p50 / p95 ms |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.label} | ${Math.round(r.svgKb)} | ${fmt(r.cold.draw)} | ${fmt(pct(r.draws, 50))} / ${fmt(pct(r.draws, 95))} / ${fmt(r.draws[r.draws.length - 1])} | ${fmt(pct(r.frames, 50))} / ${fmt(pct(r.frames, 95))} |`,
  );
}
