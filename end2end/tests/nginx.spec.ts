// NgFront: the demo's nginx cluster `edge` (two nodes, agents in-process): see the nodes'
// states live with their heartbeats (in sync with the seeded TLS route), add a reverse proxy to servers outside Kubernetes, have
// an invalid directive refused with nginx's own message, apply a valid one, download a node's
// files, see a hand edit on a node as a drift diff (pushed to the page, no reload), and repair it.
import { test, expect } from './fixtures';
import * as fs from 'fs';
import * as path from 'path';
import { DEMO_DATA as DEMO, loginAs, uniqueName } from './pages';

test('an admin manages the edge cluster: upstream, validation, apply, download, drift', async ({ page }) => {
  await loginAs(page, 'admin');
  await page.goto('/t/alpha/nginx');
  await expect(page.getByTestId('cluster-edge')).toBeVisible();
  await expect(page.getByTestId('node-state-node-1')).toHaveText('in sync');
  await expect(page.getByTestId('node-state-node-2')).toHaveText('in sync');
  // The seeded TLS route: its secret named, nothing reported against it.
  await expect(page.getByTestId('route-shop-web')).toContainText('shop-web-tls');
  await expect(page.getByTestId('route-error-shop-web')).toHaveCount(0);
  // Live: the socket is up; heartbeats read "5s ago" with the exact time on hover.
  await expect(page.getByTestId('live-state')).toHaveAttribute('data-state', 'live');
  const beat = page.getByTestId('heartbeat-node-1');
  await expect(beat).toHaveText(/^(just now|\d+s ago|\d+m ago)$/);
  await expect(beat).toHaveAttribute('title', /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);

  // A reverse proxy to a service outside Kubernetes (the demo's servers outside Kubernetes are
  // in 127.200.0.0/16; the rest of loopback is the platform's and the pods').
  const name = uniqueName('legacy');
  await page.getByTestId('ext-ns').selectOption('alpha');
  await page.getByTestId('ext-name').fill(name);
  await page.getByTestId('ext-host').fill(`${name}.alpha.demo`);
  await page.getByTestId('ext-servers').fill('127.200.0.1:9, 127.200.0.2:9');
  await page.getByTestId('ext-directives').fill('proxy_read_timeout 5s');
  await page.getByTestId('ext-validate').click();
  await expect(page.getByTestId('ng-external').getByTestId('validation')).toContainText('valid');
  await page.getByTestId('ext-apply').click();
  await expect(page.getByTestId(`route-${name}`)).toContainText(`upstream ${name}`);

  // An invalid directive: nginx's message and line; nothing stored.
  await page.getByTestId('edit-shop-web').click();
  await page.getByTestId('directives').fill('proxy_buffers 8');
  await page.getByTestId('validate').click();
  const result = page.getByTestId('ng-editor').getByTestId('validation');
  await expect(result).toContainText('proxy_buffers');
  await expect(result.getByTestId('validation-place')).toContainText('servers/shop.alpha.demo.conf:');
  await page.getByTestId('apply').click();
  await expect(result).toContainText('proxy_buffers');
  await expect(page.getByTestId('route-shop-web')).not.toContainText('proxy_buffers');

  // A valid one reaches the nodes.
  await page.getByTestId('directives').fill('client_max_body_size 20m');
  await page.getByTestId('validate').click();
  await expect(result).toContainText('valid');
  await page.getByTestId('apply').click();
  await expect(page.getByTestId('route-shop-web')).toContainText('client_max_body_size 20m');
  await expect(page.getByTestId('node-state-node-1')).toHaveText('in sync');

  // The generated config, highlighted, with the seeded TLS route's HTTPS server as the nodes
  // serve it (certificate files named, never their content).
  await page.getByTestId('show-config').click();
  const config = page.getByTestId('ng-config');
  await expect(config).toContainText('client_max_body_size 20m');
  await expect(config.locator('details[open] .ng-dir').first()).toBeVisible();
  await expect(config).toContainText('listen 8443 ssl;');
  await expect(config).toContainText('ssl_certificate /<conf_dir>/tls/alpha_shop-web-tls-');
  await expect(config).not.toContainText('PRIVATE KEY');
  await expect(page.getByTestId('ng-config-route-errors')).toHaveCount(0);

  // A node's files.
  await expect.poll(async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-node-1').click()]);
    return fs.readFileSync(await download.path(), 'utf8');
  }).toContain('client_max_body_size 20m');

  // A hand edit on node-2 shows as drift, pushed to the page.
  const file = path.join(DEMO, 'nginx/node-2/conf/current/servers/shop.alpha.demo.conf');
  fs.appendFileSync(file, '# hand edit from e2e\n');
  await expect(page.getByTestId('node-state-node-2')).toHaveText('drifted');
  await expect(page.getByTestId('repair-node-1')).toHaveCount(0);
  await page.getByTestId('diff-node-2').click();
  await expect(page.getByTestId('drift-side')).toContainText('# hand edit from e2e');
  await page.getByRole('button', { name: 'Unified' }).click();
  await expect(page.getByTestId('drift-unified')).toContainText('+# hand edit from e2e');

  // Repair: the agent writes the rendered config again; the node comes back in sync.
  await page.getByTestId('repair-node-2').click();
  await expect(page.getByTestId('node-state-node-2')).toHaveText('in sync');
  await expect(page.getByTestId('repair-node-2')).toHaveCount(0);
  expect(fs.readFileSync(file, 'utf8')).not.toContain('# hand edit from e2e');

  // Remove the proxy again.
  await page.getByTestId(`remove-${name}`).click();
  await expect(page.getByTestId(`route-${name}`)).toHaveCount(0);
});

test('a tenant sees its routes of a shared cluster, not the others or the whole config', async ({ page }) => {
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/nginx');
  await expect(page.getByTestId('cluster-edge')).toBeVisible();
  await expect(page.getByTestId('route-shop-web')).toBeVisible();
  await expect(page.getByTestId('route-billing')).toHaveCount(0);
  await expect(page.getByTestId('download-node-1')).toHaveCount(0);
  await expect(page.getByTestId('show-config')).toHaveCount(0);
});
