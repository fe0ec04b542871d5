// A platform team's first hour, on an empty cluster (its own `wharf sim`, not the demo's): the
// console prints the first admin's one-time password; the admin logs in with it, must choose
// their own, creates tenants alpha and gamma (gamma with a quota of 2 CPU / 4 GiB / 10 pods and
// restricted pod security) and user carol, and adds her to gamma as a developer; carol logs
// in, chooses her password, deploys an app, meets the API server's quota message when she asks
// for more than gamma may use, and cannot see alpha; the audit page lists it all.
import { test, expect } from './fixtures';
import { spawn, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';

const WHARF = path.resolve(__dirname, '../../target/debug/wharf');
const SITE = process.env.WHARF_E2E_SITE ?? path.resolve(__dirname, '../../dist');

let dir = '';
let sim: ChildProcess | undefined;
let console_: ChildProcess | undefined;
let base = '';
let bootstrap = '';

/** Resolves once `path` exists. */
async function appears(file: string, within = 60_000) {
  const until = Date.now() + within;
  while (!fs.existsSync(file)) {
    if (Date.now() > until) throw new Error(`${file} did not appear within ${within} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test.beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-first-install-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  sim = spawn(WHARF, ['sim', '--ephemeral', '--listen', '127.0.0.1:0', '--kubeconfig-out', kubeconfig], { stdio: 'ignore' });
  await appears(kubeconfig);
  console_ = spawn(
    WHARF,
    ['serve', '--kubeconfig', kubeconfig, '--listen', '127.0.0.1:0', '--logs', path.join(dir, 'logs'), '--site-dir', SITE],
    { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, NO_COLOR: '1' } },
  );
  const lines = readline.createInterface({ input: console_.stdout! });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('wharf serve did not listen within 90 s')), 90_000);
    lines.on('line', (raw) => {
      const line = raw.replace(/\x1b\[[0-9;]*m/g, '');
      const pw = line.match(/password `([^`]+)`/);
      if (pw) bootstrap = pw[1];
      const addr = line.match(/console listening addr=(\S+)/);
      if (addr) {
        base = `http://${addr[1]}`;
        clearTimeout(timer);
        resolve();
      }
    });
    console_!.on('exit', (code) => reject(new Error(`wharf serve exited (${code}) before listening`)));
  });
  expect(bootstrap, 'the first start prints the one-time password').not.toBe('');
});

test.afterAll(async () => {
  console_?.kill('SIGKILL');
  sim?.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function logIn(page: import('@playwright/test').Page, user: string, password: string) {
  await page.goto(`${base}/login`);
  await page.getByTestId('login-user').fill(user);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
}

async function chooseOwnPassword(page: import('@playwright/test').Page, current: string, next: string) {
  await expect(page).toHaveURL(/\/password$/);
  await expect(page.getByTestId('password-required')).toBeVisible();
  await page.getByTestId('password-current').fill(current);
  await page.getByTestId('password-new').fill(next);
  await page.getByTestId('password-again').fill(next);
  await page.getByTestId('password-submit').click();
}

async function createTenant(page: import('@playwright/test').Page, name: string, quota?: { cpu: string; memory: string; pods: string }) {
  await page.goto(`${base}/admin/tenants`);
  await page.getByTestId('tenant-name').fill(name);
  await page.getByTestId('tenant-namespaces').fill(name);
  if (quota) {
    await page.getByTestId('tenant-cpu').fill(quota.cpu);
    await page.getByTestId('tenant-memory').fill(quota.memory);
    await page.getByTestId('tenant-pods').fill(quota.pods);
  }
  await page.getByTestId('tenant-hosts').fill(`*.${name}.example.com`);
  await page.getByTestId('tenant-save').click();
  await expect(page.getByTestId('tenants-ok')).toBeVisible();
  await expect(page.locator(`[data-testid=tenant-card][data-name=${name}]`)).toBeVisible();
}

test('a platform team installs, makes a tenant and a user, and the user works within the quota', async ({ browser }) => {
  test.setTimeout(240_000);
  // the first admin, made to choose a password
  const adminCtx = await browser.newContext();
  const admin = await adminCtx.newPage();
  await logIn(admin, 'admin', bootstrap);
  await chooseOwnPassword(admin, bootstrap, 'platform-team-secret');
  await expect(admin).toHaveURL(/\/admin\/tenants$/);
  await expect(admin.getByTestId('no-tenants')).toBeVisible();

  // tenants: alpha, and gamma with a quota and restricted pod security (the default)
  await createTenant(admin, 'alpha');
  await createTenant(admin, 'gamma', { cpu: '2', memory: '4Gi', pods: '10' });
  const gamma = admin.locator('[data-testid=tenant-card][data-name=gamma]');
  await expect(gamma.getByTestId('tenant-quota')).toContainText('CPU 2');
  await expect(gamma).toContainText('restricted');

  // carol, with a one-time password, a developer in gamma
  await admin.goto(`${base}/admin/users`);
  await admin.getByTestId('user-name-input').fill('carol');
  await admin.getByTestId('user-display-name').fill('Carol Chen');
  await admin.getByTestId('user-password').fill('carol-one-time');
  await admin.getByTestId('user-create').click();
  await expect(admin.getByTestId('users-ok')).toBeVisible();
  await expect(admin.locator('[data-testid=user-row][data-name=carol] [data-testid=user-must-change]')).toBeVisible();
  await admin.goto(`${base}/t/gamma/tenant`);
  await admin.getByTestId('member-user').fill('carol');
  await admin.getByTestId('member-new-role').selectOption('developer');
  await admin.getByTestId('member-add').click();
  await expect(admin.getByTestId('members-ok')).toBeVisible();
  await expect(admin.locator('[data-testid=member-row][data-user=carol]')).toBeVisible();

  // carol: her own password, then gamma; alpha is not hers
  const carolCtx = await browser.newContext();
  const carol = await carolCtx.newPage();
  await logIn(carol, 'carol', 'carol-one-time');
  await chooseOwnPassword(carol, 'carol-one-time', 'carols-own-secret');
  await expect(carol).toHaveURL(/\/t\/gamma$/);
  await expect(carol.getByTestId('tenant-picker').locator('option[value=alpha]')).toHaveCount(0);
  await carol.goto(`${base}/t/alpha`);
  await expect(carol.getByTestId('error')).toContainText('Not allowed');
  const sneaky = await carol.request.post(`${base}/api/scale_app`, {
    data: { tenant: 'alpha', namespace: 'alpha', name: 'anything', replicas: 1 },
    headers: { 'content-type': 'application/json' },
  });
  expect(sneaky.status()).toBe(403);

  // a deploy within the quota runs; one beyond it shows the API server's quota message
  await carol.goto(`${base}/t/gamma/deploy`);
  await carol.getByTestId('deploy-name').fill('web');
  await carol.getByTestId('deploy-image').fill('nginx:1.25');
  await carol.getByTestId('deploy-replicas').fill('3');
  await carol.getByTestId('deploy-port').fill('80');
  await carol.getByTestId('deploy-cpu-request').fill('1');
  await carol.getByTestId('deploy-cpu-limit').fill('1');
  await carol.getByTestId('deploy-memory-request').fill('256Mi');
  await carol.getByTestId('deploy-submit').click();
  await expect(carol).not.toHaveURL(/\/deploy$/);
  await carol.goto(`${base}/t/gamma`);
  const web = carol.locator('[data-testid=app-row][data-name=web]');
  await expect(web.getByTestId('app-ready')).toHaveText('2/3', { timeout: 60_000 });
  await expect(web.getByTestId('app-problem')).toContainText('exceeded quota: wharf-quota');
  await expect(web.getByTestId('app-problem')).toContainText('requests.cpu');

  // the tenant's page shows the quota used, with the warning (2 of 2 CPUs)
  await carol.goto(`${base}/t/gamma/tenant`);
  const cpu = carol.locator('[data-testid=quota-row][data-resource="requests.cpu"]');
  await expect(cpu.getByTestId('quota-used')).toHaveText('2 / 2');
  await expect(cpu.getByTestId('quota-warning')).toBeVisible();
  await expect(carol.getByTestId('members')).toHaveCount(0);

  // the audit page: the spec's changes in order, carol's refusal as refused
  await admin.goto(`${base}/audit`);
  const rows = admin.getByTestId('audit-row');
  await expect(rows.first()).toBeVisible();
  const seen = await rows.evaluateAll((trs) =>
    trs.map((tr) => `${tr.getAttribute('data-action')} ${tr.getAttribute('data-user')} ${tr.querySelector('[data-testid=audit-outcome]')?.getAttribute('data-outcome')}`),
  );
  const want = [
    'deploy_app carol ok',
    'scale_app carol refused',
    'change_password carol ok',
    'login carol ok',
    'add_member admin ok',
    'create_user admin ok',
    'create_tenant admin ok',
    'create_tenant admin ok',
    'change_password admin ok',
    'login admin ok',
  ];
  expect(seen.filter((s) => !s.startsWith('logout'))).toEqual(want);
  await adminCtx.close();
  await carolCtx.close();
});
