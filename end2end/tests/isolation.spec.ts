import { test, expect } from './fixtures';
import { callServerFn, loginAs } from './pages';

test("a beta user neither sees nor reaches alpha's apps", async ({ page }) => {
  await loginAs(page, 'bob');
  await expect(page).toHaveURL(/\/t\/beta$/);
  await expect(page.getByTestId('tenant-picker').locator('option[value=alpha]')).toHaveCount(0);
  await expect(page.locator('[data-testid=app-row][data-name=billing]')).toBeVisible();
  await expect(page.locator('[data-testid=app-row][data-name=shop-web]')).toHaveCount(0);

  await page.goto('/t/alpha');
  await expect(page.getByTestId('error')).toContainText('Not allowed');
  await expect(page.getByTestId('app-row')).toHaveCount(0);

  // the server functions themselves refuse, whatever the page shows
  const list = await callServerFn(page.request, 'workloads', { tenant: 'alpha' });
  expect(list.status()).toBe(403);
  const scale = await callServerFn(page.request, 'scale_app', { tenant: 'alpha', namespace: 'alpha', name: 'shop-web', replicas: 0 });
  expect(scale.status()).toBe(403);
  // and so does asking for alpha's namespace through beta's tenant
  const sneaky = await callServerFn(page.request, 'get_yaml', { tenant: 'beta', namespace: 'alpha', kind: 'Deployment', name: 'shop-web' });
  expect(sneaky.status()).toBe(403);
});

test('a viewer sees apps but cannot deploy or change them', async ({ page }) => {
  await loginAs(page, 'vera');
  await expect(page.locator('[data-testid=app-row][data-name=shop-web]')).toBeVisible();
  await expect(page.getByTestId('deploy-button')).toHaveCount(0);
  await page.locator('[data-testid=app-row][data-name=shop-web] a').click();
  await expect(page.getByTestId('app-name')).toHaveText('shop-web');
  await expect(page.getByTestId('scale-button')).toHaveCount(0);
  const res = await callServerFn(page.request, 'deploy_app', {
    tenant: 'alpha',
    form: { namespace: 'alpha', name: 'sneaky', image: 'nginx', replicas: 1, port: 80, env: [], cpu_request: '', cpu_limit: '', memory_request: '', memory_limit: '' },
  });
  expect(res.status()).toBe(403);
});

test('without a session every server function answers 401', async ({ request }) => {
  const res = await callServerFn(request, 'workloads', { tenant: 'alpha' });
  expect(res.status()).toBe(401);
});
