// The specs of everything that reads the shared log bucket — the log viewer, pipelines' run
// logs, terminal recordings — run again against `wharf demo --shared-logs`: a SeaweedFS
// holds the log bucket, a log agent per demo node ships its pods' CRI files into it, the
// console reads the bucket instead of collecting, and finished recordings are replayed from
// it. Its own port and data directory (WHARF_E2E_SHARED_PORT, WHARF_E2E_SHARED_DATA), so it
// can run beside the main suite.
import { defineConfig } from '@playwright/test';
import * as path from 'path';
import base from './playwright.config';

const port = Number(process.env.WHARF_E2E_SHARED_PORT ?? 3101);
const data = process.env.WHARF_E2E_SHARED_DATA ?? path.resolve(__dirname, '../target/e2e-demo-shared');
const site = process.env.WHARF_E2E_SITE ?? path.resolve(__dirname, '../dist');
const baseURL = `http://127.0.0.1:${port}`;
// the specs find the demo's files here (pages.ts); workers inherit it
process.env.WHARF_E2E_DATA = data;

export default defineConfig({
  ...base,
  testMatch: ['logs.spec.ts', 'pipelines.spec.ts', 'terminal.spec.ts'],
  use: { ...base.use, baseURL },
  webServer: {
    command: `../target/debug/wharf demo --fresh --shared-logs --listen 127.0.0.1:${port} --data ${data} --site-dir ${site}`,
    url: `${baseURL}/readyz`,
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
