// A page of another origin cannot act with a signed-in user's session. The attacker here is
// the strongest there is: a page on a sibling host of the same site (a tenant's app served by
// the nginx cluster at shop.wharf.test beside the console at console.wharf.test), so the
// SameSite=Strict session cookie *is* sent with its requests; only the console's own origin
// check stands in the way. Chromium resolves *.wharf.test to 127.0.0.1 (playwright.config.ts).
import { test, expect } from './fixtures';
import { kubectl, PASSWORD } from './pages';
import * as http from 'http';
import { AddressInfo } from 'net';

const port = Number(process.env.WHARF_E2E_PORT ?? 3100);
const CONSOLE = `http://console.wharf.test:${port}`;

/** The attacker's page: tries a server function (a simple request, no preflight), a CORS
 * one, a live socket and an upload, and reports what it could see. */
function attackerPage(): string {
  return `<!doctype html><title>shop</title><script>
  (async () => {
    const out = {};
    const scale = JSON.stringify({ tenant: 'alpha', namespace: 'alpha', name: 'orders', replicas: 5 });
    try {
      await fetch('${CONSOLE}/api/scale_app', { method: 'POST', mode: 'no-cors', credentials: 'include',
        headers: { 'content-type': 'text/plain' }, body: scale });
      out.simple = 'sent';
    } catch (e) { out.simple = 'error ' + e; }
    try {
      const r = await fetch('${CONSOLE}/api/scale_app', { method: 'POST', credentials: 'include',
        headers: { 'content-type': 'application/json' }, body: scale });
      out.cors = 'read ' + r.status;
    } catch (e) { out.cors = 'blocked'; }
    try {
      await fetch('${CONSOLE}/upload/terminal/alpha?namespace=alpha&pod=x&container=x&path=/tmp/x', {
        method: 'POST', mode: 'no-cors', credentials: 'include', body: 'planted' });
      out.upload = 'sent';
    } catch (e) { out.upload = 'error ' + e; }
    out.socket = await new Promise((resolve) => {
      const ws = new WebSocket('ws://console.wharf.test:${port}/ws/workloads/alpha');
      ws.onmessage = (m) => { resolve('message: ' + String(m.data).slice(0, 40)); ws.close(); };
      ws.onclose = (e) => resolve('closed ' + e.code);
    });
    window.attack = out;
  })();
  </script>`;
}

test('a page of a sibling host cannot call, stream or upload with the session', async ({ page }) => {
  const server = http.createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(attackerPage());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const evilPort = (server.address() as AddressInfo).port;
  try {
    const before = kubectl('-n', 'alpha', 'get', 'deployment', 'orders', '-o', 'jsonpath={.spec.replicas}');
    // alice signs in on the console's own host name
    await page.goto(`${CONSOLE}/login`);
    await page.getByTestId('login-user').fill('alice');
    await page.getByTestId('login-password').fill(PASSWORD);
    await page.getByTestId('login-submit').click();
    await expect(page.getByTestId('user-name')).toHaveText('alice');
    // ...then opens a tenant's app in another tab of the same browser
    const shop = await page.context().newPage();
    await shop.goto(`http://shop.wharf.test:${evilPort}/`);
    await shop.waitForFunction(() => (window as any).attack !== undefined, undefined, { timeout: 30_000 });
    const attack = await shop.evaluate(() => (window as any).attack);
    expect(attack.cors, 'no CORS grant: the page cannot read an answer').toBe('blocked');
    expect(attack.socket, 'the socket is refused before it opens').toMatch(/^closed/);
    expect(kubectl('-n', 'alpha', 'get', 'deployment', 'orders', '-o', 'jsonpath={.spec.replicas}')).toBe(before);
    // the console's own page still works with the same session
    await page.goto(`${CONSOLE}/t/alpha`);
    await expect(page.getByTestId('apps-table').getByTestId('app-row').first()).toBeVisible();
  } finally {
    server.close();
  }
});
