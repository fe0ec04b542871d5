// Apps that keep data and configuration (issue 17): Redis from its ready-made form with a
// 1 GiB claim keeps a file written through the web terminal when its pod is deleted; a
// ConfigMap edited on the config page and applied rolls the app that mounts it, the file in
// the container has the new content, and the history shows the diff and the user; a
// readiness check that fails keeps the pod out of nginx's upstreams until it passes (and is
// fixed on the app page). The claim's files are browsed, uploaded and downloaded on the
// storage page.
import { Page } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { test, expect } from './fixtures';
import { kubectl, loginAs, uniqueName } from './pages';

const screen = (page: Page) => page.getByTestId('terminal-pane').locator('.xterm-rows');

async function shell(page: Page, pod: string) {
  await page.goto(`/t/alpha/terminal?ns=alpha&pod=${pod}`);
  await expect(page.getByTestId('terminal-pane')).toHaveAttribute('data-state', 'live', { timeout: 30_000 });
}

async function typeInTerminal(page: Page, text: string) {
  await page.getByTestId('terminal-screen').click();
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

/** The status of a GET through the demo's nginx node-1 with this Host. */
function curl(host: string): string {
  const args = ['-s', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Host: ${host}`, 'http://127.0.0.1:8081/'];
  try {
    return execFileSync('curl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e: any) {
    return String(e.stdout ?? 'failed');
  }
}

/** The app's pods that are running and not being deleted. */
function podsOf(app: string): string[] {
  const out = kubectl('get', 'pods', '-n', 'alpha', '-l', `app=${app}`, '-o',
    'jsonpath={range .items[*]}{.metadata.name}|{.status.phase}|{.metadata.deletionTimestamp}{"\\n"}{end}');
  return out.split('\n').map((l) => l.split('|')).filter((f) => f[1] === 'Running' && !f[2]).map((f) => f[0]);
}

test('redis from its form keeps a file on its claim when its pod is deleted', async ({ page }) => {
  test.setTimeout(180_000);
  const name = uniqueName('redis');
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/deploy');
  await page.getByTestId('preset-redis').click();
  await expect(page.getByTestId('preset-note')).toContainText('StatefulSet');
  await expect(page.getByTestId('deploy-kind')).toHaveValue('StatefulSet');
  const mount = page.getByTestId('deploy-mount');
  await expect(mount.getByTestId('mount-size')).toHaveValue('1Gi');
  await expect(mount.getByTestId('mount-path')).toHaveValue('/bitnami/redis/data');
  await page.getByTestId('deploy-name').fill(name);
  await page.getByTestId('deploy-submit').click();
  await expect(page).toHaveURL(new RegExp(`/apps/alpha/${name}$`));
  // a StatefulSet is an app like the others: its page, in the list with its kind
  await expect(page.getByTestId('app-name')).toHaveText(name);
  await expect(page.getByTestId('app-pods').getByTestId('pod-row').first()).toBeVisible({ timeout: 60_000 });
  // each replica shows its own claim
  await expect(page.getByTestId('app-pods').getByTestId('pod-claims').first()).toHaveText(`data-${name}-0`);
  await expect(page.locator('.banner.error')).toHaveCount(0);
  await page.goto('/t/alpha');
  await expect(page.locator(`[data-testid=app-row][data-name="${name}"]`)).toHaveAttribute('data-kind', 'StatefulSet');

  // one claim per replica, bound; the password in a Secret made with it
  await expect.poll(() => kubectl('get', 'pvc', '-n', 'alpha', `data-${name}-0`, '-o', 'jsonpath={.status.phase}'), { timeout: 60_000 }).toBe('Bound');
  expect(kubectl('get', 'secret', '-n', 'alpha', `${name}-env`, '-o', 'jsonpath={.data.REDIS_PASSWORD}').length).toBeGreaterThan(20);
  await expect.poll(() => podsOf(name), { timeout: 60_000 }).toEqual([`${name}-0`]);

  await shell(page, `${name}-0`);
  const marker = `kept-${Date.now()}`;
  await typeInTerminal(page, `echo ${marker} > /bitnami/redis/data/marker.txt && echo written`);
  await expect(screen(page)).toContainText('written');
  // the storage page shows what the kubelet reports written on the claim
  await page.goto('/t/alpha/storage');
  const claimRow = page.locator(`[data-testid=claim-row][data-claim="data-${name}-0"]`);
  await expect(claimRow.getByTestId('claim-users')).toHaveText(`${name}-0`);
  await expect(claimRow.getByTestId('claim-used')).toContainText(' B used', { timeout: 60_000 });
  // its files, through the pod that mounts it: the one written, and one uploaded here
  await claimRow.getByTestId('claim-files-open').click();
  const files = page.getByTestId('claim-files');
  await expect(files.getByTestId('claim-files-through')).toContainText(`${name}-0`);
  await expect(files.locator('[data-testid=file-row][data-name="marker.txt"]')).toBeVisible();
  await files.getByTestId('claim-upload-file').setInputFiles({ name: 'dump.rdb', mimeType: 'application/octet-stream', buffer: Buffer.from('REDIS0011') });
  await files.getByTestId('claim-upload').click();
  await expect(files.getByTestId('claim-upload-done')).toContainText('/bitnami/redis/data/dump.rdb');
  const uploaded = files.locator('[data-testid=file-row][data-name="dump.rdb"]');
  await expect(uploaded).toContainText('9 B');
  const [download] = await Promise.all([page.waitForEvent('download'), uploaded.getByTestId('file-download').click()]);
  expect(fs.readFileSync(await download.path(), 'utf8')).toBe('REDIS0011');

  const uid = kubectl('get', 'pod', '-n', 'alpha', `${name}-0`, '-o', 'jsonpath={.metadata.uid}');
  kubectl('delete', 'pod', '-n', 'alpha', `${name}-0`, '--wait=false');
  // the StatefulSet makes a new pod of the same name, with the same claim
  await expect.poll(() => {
    try {
      const now = kubectl('get', 'pod', '-n', 'alpha', `${name}-0`, '-o', 'jsonpath={.metadata.uid} {.status.phase}');
      return now.startsWith(uid) ? 'old' : now.split(' ')[1];
    } catch {
      return 'none';
    }
  }, { timeout: 60_000 }).toBe('Running');
  await shell(page, `${name}-0`);
  await typeInTerminal(page, 'cat /bitnami/redis/data/marker.txt');
  await expect(screen(page)).toContainText(marker);
});

test('a ConfigMap edited and applied rolls the app; its history shows the diff and who', async ({ page }) => {
  test.setTimeout(180_000);
  const app = uniqueName('orders');
  const config = `${app}-config`;
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/config');
  await page.getByTestId('config-new-configmap').click();
  await page.getByTestId('config-name').fill(config);
  const entry = page.getByTestId('config-entry').first();
  await entry.getByTestId('entry-key').fill('app.properties');
  await entry.getByTestId('entry-value').fill('level=info\n');
  await page.getByTestId('config-save').click();
  await expect(page.getByTestId('notice')).toContainText('Saved');

  // an app that mounts it at /etc/orders
  await page.goto('/t/alpha/deploy');
  await page.getByTestId('deploy-name').fill(app);
  await page.getByTestId('deploy-image').fill('nginx:1.25');
  await page.getByTestId('mount-add').click();
  const mount = page.getByTestId('deploy-mount');
  await mount.getByTestId('mount-source').selectOption('configmap');
  await mount.getByTestId('mount-name').fill(config);
  await mount.getByTestId('mount-path').fill('/etc/orders');
  await page.getByTestId('deploy-submit').click();
  await expect(page.getByTestId('app-name')).toHaveText(app);
  await expect(page.locator(`[data-testid=app-config-row][data-name="${config}"]`)).toContainText('files at /etc/orders');
  await expect.poll(() => podsOf(app), { timeout: 60_000 }).toHaveLength(1);
  const before = podsOf(app)[0];

  // edited on the config page: saved with the version opened, recorded with a diff
  await page.goto('/t/alpha/config');
  await page.locator(`[data-testid=config-row][data-name="${config}"]`).getByTestId('config-open').click();
  const editor = page.getByTestId('config-editor');
  await expect(editor.getByTestId('entry-value')).toHaveValue('level=info\n');
  await editor.getByTestId('entry-value').fill('level=debug\n');
  await editor.getByTestId('config-save').click();
  await expect(page.getByTestId('notice')).toContainText('Saved');
  const newest = editor.getByTestId('history-entry').first();
  await expect(newest).toHaveAttribute('data-action', 'changed');
  await expect(newest.getByTestId('history-by')).toHaveText('alice');
  await expect(newest.getByTestId('history-diff')).toContainText('-level=info');
  await expect(newest.getByTestId('history-diff')).toContainText('+level=debug');

  // the app page warns that its pods started before the change
  await page.goto(`/t/alpha/apps/alpha/${app}`);
  await expect(page.locator(`[data-testid=app-config-row][data-name="${config}"]`)).toHaveAttribute('data-stale', 'true');

  // apply: the app rolls, the new pod's file has the new content
  await page.goto('/t/alpha/config');
  await page.locator(`[data-testid=config-row][data-name="${config}"]`).getByTestId('config-open').click();
  await page.getByTestId('config-apply').click();
  await expect(page.getByTestId('notice')).toContainText('Applied');
  await expect(page.getByTestId('history-entry').first()).toHaveAttribute('data-action', 'applied');
  await expect.poll(() => podsOf(app).filter((p) => p !== before), { timeout: 90_000 }).toHaveLength(1);
  const after = podsOf(app).filter((p) => p !== before)[0];
  await shell(page, after);
  await typeInTerminal(page, 'cat /etc/orders/app.properties');
  await expect(screen(page)).toContainText('level=debug');
});

test('a failing readiness check keeps the pod out of nginx until it passes', async ({ page }) => {
  test.setTimeout(180_000);
  const app = uniqueName('ready');
  const host = `${app}.alpha.demo`;
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/deploy');
  await page.getByTestId('deploy-name').fill(app);
  await page.getByTestId('deploy-image').fill('nginx:1.25');
  const readiness = page.getByTestId('probe-readiness');
  await readiness.getByTestId('probe-how').selectOption('http');
  await readiness.getByTestId('probe-path').fill('/status/503');
  await readiness.getByTestId('probe-period').fill('1');
  await page.getByTestId('deploy-expose').check();
  await page.getByTestId('deploy-expose-host').fill(host);
  await page.getByTestId('deploy-submit').click();
  await expect(page.getByTestId('app-name')).toHaveText(app);

  // running, never ready: nginx has no upstream for it
  await expect.poll(() => podsOf(app), { timeout: 60_000 }).toHaveLength(1);
  await expect.poll(() => kubectl('get', 'events', '-n', 'alpha', '--field-selector', `involvedObject.name=${podsOf(app)[0]}`, '-o', 'jsonpath={.items[*].message}'), { timeout: 30_000 })
    .toContain('Readiness probe failed: HTTP probe failed with statuscode: 503');
  expect(kubectl('get', 'pod', '-n', 'alpha', podsOf(app)[0], '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')).toBe('False');
  expect(curl(host)).not.toBe('200');

  // on the app page the check shows as deployed; pointed at a path that answers, the new pod
  // is ready and nginx sends to it
  const checks = page.getByTestId('app-probes');
  const shown = checks.getByTestId('probe-readiness');
  await expect(shown.getByTestId('probe-how')).toHaveValue('http');
  await expect(shown.getByTestId('probe-path')).toHaveValue('/status/503');
  await expect(shown.getByTestId('probe-period')).toHaveValue('1');
  await expect(checks.getByTestId('probe-liveness').getByTestId('probe-how')).toHaveValue('off');
  await shown.getByTestId('probe-path').fill('/healthz');
  await checks.getByTestId('probes-save').click();
  await expect(page.getByTestId('probes-saved')).toBeVisible();
  expect(kubectl('get', 'deployment', '-n', 'alpha', app, '-o',
    'jsonpath={.spec.template.spec.containers[0].readinessProbe.httpGet.path}')).toBe('/healthz');
  await expect.poll(() => curl(host), { timeout: 60_000 }).toBe('200');
});
