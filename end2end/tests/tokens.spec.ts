import { test, expect } from './fixtures';
import { loginAs, uniqueName } from './pages';
import { execFileSync } from 'child_process';

/** `curl` calling a server function with only the token (no browser, no cookie): the status
 * and the body. */
function curl(baseURL: string, token: string, fn: string, args: object): { status: number; body: string } {
  const out = execFileSync('curl', ['-sS', '-X', 'POST', `${baseURL}/api/${fn}`,
    '-H', `Authorization: Bearer ${token}`, '-H', 'Content-Type: application/json',
    '--data', JSON.stringify(args), '-w', '\n%{http_code}'], { encoding: 'utf8' });
  const cut = out.lastIndexOf('\n');
  return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
}

const listPods = {
  tenant: 'alpha',
  query: { app: null, namespace: 'alpha', filter: '', offset: 0, limit: 50 },
};

test('a token made in the page serves a script until it is revoked', async ({ page, playwright, baseURL }) => {
  await loginAs(page, 'alice');
  await page.getByTestId('nav-tokens').click();
  await expect(page).toHaveURL(/\/tokens$/);
  const name = uniqueName('e2e-script');
  await page.getByTestId('token-name').fill(name);
  await expect(page.getByTestId('token-read-only')).toBeChecked();
  await page.getByTestId('token-create').click();
  const token = (await page.getByTestId('token-value').textContent())?.trim() ?? '';
  expect(token).toMatch(/^wharf_[0-9a-f]{16}_[0-9a-f]{64}$/);
  const row = page.locator(`[data-testid=token-row][data-name="${name}"]`);
  await expect(row.getByTestId('token-scope')).toHaveText('read-only');
  await expect(row.getByTestId('token-last-used')).toHaveText('—');

  // curl, with only the token, lists alpha's pods
  const listed = curl(baseURL!, token, 'list_pods', listPods);
  expect(listed.status, listed.body).toBe(200);
  expect(JSON.parse(listed.body).total).toBeGreaterThan(0);

  // a script: no browser, no cookie, only the token
  const script = await playwright.request.newContext({
    baseURL,
    extraHTTPHeaders: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  });
  const pods = await script.post('/api/list_pods', { data: listPods });
  expect(pods.status(), await pods.text()).toBe(200);
  expect((await pods.json()).total).toBeGreaterThan(0);
  // read-only: a change is refused, and says why
  const scale = await script.post('/api/scale_app', {
    data: { tenant: 'alpha', namespace: 'alpha', name: 'orders', replicas: 1 },
  });
  expect(scale.status()).toBe(403);
  expect(await scale.text()).toContain('read-only API token');

  // its use shows in the list
  await expect(async () => {
    await page.reload();
    await expect(row.getByTestId('token-last-used')).not.toHaveText('—', { timeout: 1000 });
  }).toPass();

  // revoked in the page: refused at once
  page.once('dialog', (d) => d.accept());
  await row.getByTestId('token-revoke').click();
  await expect(row).toHaveCount(0);
  const after = await script.post('/api/whoami', { data: {} });
  expect(after.status()).toBe(401);
  expect(curl(baseURL!, token, 'list_pods', listPods).status).toBe(401);
  await script.dispose();
});
