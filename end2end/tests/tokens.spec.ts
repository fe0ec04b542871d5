import { test, expect } from './fixtures';
import { loginAs, uniqueName } from './pages';

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
  await script.dispose();
});
