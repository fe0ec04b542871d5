// Nginx clusters for platform admins: the admin creates `edge-beta`, dedicated to beta, with a
// server-level setting checked by nginx -t; a third demo nginx node joins it by running the
// command the page prints (the script downloads the demo's own binary and runs the agent and
// an nginx master in the foreground); the admin sees it in sync with its nginx version; bob's
// route on edge-beta is served there and not by the shared `edge`. Then the node is removed
// (its token stops working), the route removed, the cluster deleted.
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test, expect } from './fixtures';
import { kubectlWith, loginAs, uniqueName } from './pages';

/** Status and headers of a GET with this Host through a node's HTTP port. */
function get(port: number, host: string): { status: string; headers: string } {
  const args = ['-s', '--max-time', '5', '-D', '-', '-o', '/dev/null', '-H', `Host: ${host}`, `http://127.0.0.1:${port}/`];
  try {
    const out = execFileSync('curl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { status: out.split(' ')[1] ?? '', headers: out.toLowerCase() };
  } catch (e: any) {
    return { status: 'no answer', headers: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const HTTP_PORT = 8083;
const CONTROL_PORT = 18093;

test('an admin creates a dedicated nginx cluster, a node joins it with the printed command, and a tenant route lands there only', async ({ page, browser }) => {
  test.setTimeout(240_000);
  const cluster = uniqueName('edge-beta');
  const host = `${uniqueName('pay')}.beta.demo`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-join-'));
  fs.chmodSync(dir, 0o755); // nginx's workers run as nobody when the demo runs as root
  let node: ChildProcess | undefined;
  let nodeLog = '';
  try {
    await loginAs(page, 'admin');
    await page.getByTestId('nav-admin-nginx').click();
    await page.getByTestId('ngc-name').fill(cluster);
    await page.getByTestId('ngc-display-name').fill('Edge for beta');
    await page.getByTestId('ngc-http-port').fill(String(HTTP_PORT));
    await page.getByTestId('ngc-tenants-input').fill('beta');
    // a setting nginx refuses: checked and refused before anything is stored
    await page.getByTestId('ngc-server').fill('add_header X-Edge');
    await page.getByTestId('ngc-check').click();
    await expect(page.getByTestId('validation')).toContainText('add_header');
    await page.getByTestId('ngc-save').click();
    await expect(page.getByTestId('ngc-error')).toContainText('add_header');
    await expect(page.locator(`[data-testid="ngc-card"][data-name="${cluster}"]`)).toHaveCount(0);
    await page.getByTestId('ngc-server').fill('add_header X-Edge beta-only');
    await page.getByTestId('ngc-check').click();
    await expect(page.getByTestId('validation')).toContainText('configuration is valid');
    await page.getByTestId('ngc-save').click();
    await expect(page.getByTestId('ngc-ok')).toBeVisible();
    const card = page.locator(`[data-testid="ngc-card"][data-name="${cluster}"]`);
    await expect(card.getByTestId('ngc-tenants')).toHaveText('beta');
    await expect(card.getByTestId('ngc-server-directives')).toHaveText('add_header X-Edge beta-only');

    // the join command, as printed, run on "the new server" (this machine, in the foreground)
    await card.getByTestId('ngc-join').click();
    await page.getByTestId('join-node').fill('node-3');
    await page.getByTestId('join-foreground').check();
    await page.getByTestId('join-dir').fill(path.join(dir, 'node-3'));
    await page.getByTestId('join-control-port').fill(String(CONTROL_PORT));
    await page.getByTestId('join-make').click();
    const command = (await page.getByTestId('join-command').textContent()) ?? '';
    expect(command).toMatch(/^curl -fsSL 'http:\/\/[^']+\/ng-agent\/join\/[A-Za-z0-9_-]{43}' \| sh -s -- --foreground/);
    node = spawn('sh', ['-c', command], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    node.stdout?.on('data', (d) => (nodeLog += d));
    node.stderr?.on('data', (d) => (nodeLog += d));
    const row = card.getByTestId('admin-node-node-3');
    await expect(row.getByTestId('admin-node-state'), nodeLog).toHaveText('in sync', { timeout: 90_000 });
    await expect(row.getByTestId('admin-node-version')).toHaveText(/^\d+\.\d+\.\d+$/);

    // bob routes billing through edge-beta from the app's page
    const bob = await browser.newPage();
    await loginAs(bob, 'bob');
    await bob.goto('/t/beta/apps/beta/billing');
    await bob.getByTestId('expose-cluster').selectOption(cluster);
    await bob.getByTestId('expose-host').fill(host);
    await bob.getByTestId('expose-save').click();
    await expect(bob.getByTestId('expose-notice')).toContainText(host);
    await expect.poll(() => get(HTTP_PORT, host).status, { timeout: 30_000, message: nodeLog }).toBe('200');
    expect(get(HTTP_PORT, host).headers).toContain('x-edge: beta-only');
    // not on the shared cluster's nodes
    expect(get(8081, host).status).toBe('404');
    expect(get(8082, host).status).toBe('404');

    // cleanup through the pages: the route, the node (its token revoked), the cluster
    await bob.locator(`[data-testid="expose-route"][data-host="${host}"]`).getByTestId('expose-remove').click();
    await expect(bob.locator(`[data-testid="expose-route"][data-host="${host}"]`)).toHaveCount(0);
    await bob.close();
    process.kill(-node.pid!, 'SIGTERM');
    node = undefined;
    await row.getByTestId('admin-node-remove').click();
    await expect(card.getByTestId('admin-node-node-3')).toHaveCount(0);
    const kubeconfig = path.join(dir, 'node-3', 'ng-agent.kubeconfig');
    await expect.poll(() => {
      try {
        kubectlWith(kubeconfig, 'get', 'nginxclusters');
        return 'still works';
      } catch (e: any) {
        return `${e.stderr}`;
      }
    }, { timeout: 30_000 }).toContain('must be logged in'); // kubectl's words for a 401
    await expect(card.getByTestId('ngc-routes')).toHaveText('0', { timeout: 30_000 });
    await card.getByTestId('ngc-delete').click();
    await expect(page.locator(`[data-testid="ngc-card"][data-name="${cluster}"]`)).toHaveCount(0);
  } finally {
    if (node?.pid) {
      try { process.kill(-node.pid, 'SIGTERM'); } catch { /* gone */ }
    }
  }
});
