// The APM switch on an app's page: alice turns the tracing agent on for `orders` (telling the
// console it is a Java app), the pods roll with it and the revision says why; the call graph
// shows shop-web → orders → its slow database and beta's billing as "outside"; bob's graph
// shows nothing of alpha; off rolls back to the very template orders had; a viewer sees the
// switch but cannot flip it.
import { test, expect } from './fixtures';
import { loginAs, kubectl } from './pages';

const template = () => kubectl('get', 'deployment', 'orders', '-n', 'alpha', '-o', 'jsonpath={.spec.template}');

test('alice turns APM on for orders and off again; vera only sees it', async ({ page, browser }) => {
  test.setTimeout(240_000);
  const original = template();
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/apps/alpha/orders');
  const card = page.getByTestId('apm-card');
  await expect(card).toHaveAttribute('data-on', 'false');
  await expect(page.getByTestId('apm-agent')).toHaveText('OpenTelemetry');

  // orders' image does not say it is Java: the console asks first
  await page.getByTestId('apm-toggle').click();
  await expect(page.getByTestId('apm-error')).toContainText('does not look like a Java app');
  await page.getByTestId('apm-java').check();
  await page.getByTestId('apm-toggle').click();
  await expect(page.getByTestId('apm-notice')).toContainText('APM is on');
  await expect(card).toHaveAttribute('data-on', 'true');
  // a rollout like an upgrade: a new revision with its cause, and the pods ready again
  const current = page.locator('[data-testid="revision-row"][data-current="true"]');
  await expect(current).toContainText('APM on (OpenTelemetry) by alice');
  await expect(page.getByTestId('app-health')).toHaveText(/Running|运行中/, { timeout: 60_000 });

  // a viewer sees the state, not the switch
  const vera = await browser.newPage();
  await loginAs(vera, 'vera');
  await vera.goto('/t/alpha/apps/alpha/orders');
  await expect(vera.getByTestId('apm-card')).toHaveAttribute('data-on', 'true');
  await expect(vera.getByTestId('apm-toggle')).toHaveCount(0);
  await vera.close();

  // the call graph: shop-web → orders with a rate, orders → its database slow, billing unnamed
  await page.getByTestId('nav-calls').click();
  await expect(page).toHaveURL(/\/t\/alpha\/calls/);
  const edge = (from: string, to: string) => page.locator(`[data-testid="graph-edge"][data-from="${from}"][data-to="${to}"]`);
  await expect(edge('alpha/shop-web', 'alpha/orders')).toHaveCount(1, { timeout: 90_000 });
  await expect(edge('alpha/shop-web', 'alpha/orders')).toContainText('/s');
  await expect(edge('alpha/orders', 'db:alpha/orders-db')).toHaveAttribute('data-slow', 'true');
  await expect(edge('alpha/orders', 'outside')).toHaveCount(1);
  await expect(page.locator('[data-testid="graph-node"][data-id="outside"]')).toContainText('outside');
  await expect(page.getByTestId('graph')).not.toContainText('billing');
  // a service opens its dashboards, with requests, errors and latency beside threads
  await page.locator('[data-testid="graph-node"][data-id="alpha/orders"]').click();
  await expect(page).toHaveURL(/\/t\/alpha\/monitoring\?app=alpha\/orders/);
  await expect(page.getByTestId('chart-threads')).toBeVisible();
  for (const red of ['chart-requests', 'chart-errors', 'chart-latency']) {
    await expect(page.getByTestId(red)).toHaveAttribute('data-series', '1', { timeout: 60_000 });
  }

  // bob: beta's billing is called from outside; nothing of alpha by name
  const bob = await browser.newPage();
  await loginAs(bob, 'bob');
  await bob.goto('/t/beta/calls');
  await expect(bob.locator('[data-testid="graph-edge"][data-from="outside"][data-to="beta/billing"]')).toHaveCount(1, { timeout: 60_000 });
  const seen = (await bob.locator('.page').innerText()) + (await bob.locator('.page').innerHTML());
  for (const name of ['alpha', 'orders', 'shop-web']) expect(seen).not.toContain(name);
  await bob.close();

  await page.goto('/t/alpha/apps/alpha/orders');
  await page.getByTestId('apm-toggle').click();
  await expect(page.getByTestId('apm-notice')).toContainText('APM is off');
  await expect(card).toHaveAttribute('data-on', 'false');
  await expect(current).toContainText('APM off by alice');
  await expect(page.getByTestId('app-health')).toHaveText(/Running|运行中/, { timeout: 60_000 });
  // off gives back the very template orders had
  expect(template()).toBe(original);
});
