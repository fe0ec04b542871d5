// Wharf's end-to-end suite: Debian's Chromium (never a downloaded browser) against a fresh
// `wharf demo` on its own port and data directory. Two runs side by side (two engineers on one
// machine) each set WHARF_E2E_PORT and WHARF_E2E_DATA, and Playwright's --output; and
// WHARF_E2E_SITE for a site built elsewhere (`trunk build --offline --dist DIR`; default dist/).
import { defineConfig } from '@playwright/test';
import * as path from 'path';

const port = Number(process.env.WHARF_E2E_PORT ?? 3100);
const data = process.env.WHARF_E2E_DATA ?? path.resolve(__dirname, '../target/e2e-demo');
const site = process.env.WHARF_E2E_SITE ?? path.resolve(__dirname, '../dist');
const baseURL = `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: './tests',
  timeout: 90_000,
  expect: { timeout: 20_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
        // *.wharf.test are hosts of one site on this machine (cross-site.spec.ts)
        '--host-resolver-rules=MAP *.wharf.test 127.0.0.1'],
    },
  },
  webServer: {
    // NB: directory groups re-read every 10 s (directory.spec.ts waits for a group change to reach
    // an open session)
    command: `../target/debug/wharf demo --fresh --listen 127.0.0.1:${port} --data ${data} --site-dir ${site} --directory-sync-secs 10`,
    url: `${baseURL}/readyz`,
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
