// Monitoring and alerts, as a user sees them: the dashboards draw (tenant, app, one pod with
// the app's threshold lines), a low threads threshold on the seeded `orders` app (which leaks
// threads) raises an alert on the alerts page, raising the threshold resolves it, bad
// thresholds in the deploy form are explained, error-ratio and latency thresholds (read from
// traces) go from the deploy form to the app page, a tenant manages its own receivers, and a
// firing alert is silenced from its row and the silence expired.
import { Page } from '@playwright/test';
import { test, expect } from './fixtures';
import { loginAs, uniqueName } from './pages';

async function saveThresholds(page: Page, app: string, fields: { [testid: string]: string }) {
  await page.goto(`/t/alpha/apps/alpha/${app}`);
  for (const [testid, value] of Object.entries(fields)) {
    await page.getByTestId(testid).fill(value);
  }
  await page.getByTestId('thresholds-save').click();
  await expect(page.getByTestId('thresholds-ok')).toBeVisible({ timeout: 30_000 });
}

test('the dashboards draw charts for the tenant and for an app', async ({ page }) => {
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/monitoring?app=alpha/orders');
  await expect(page.getByTestId('monitor-target')).toHaveValue('alpha/orders');
  const threads = page.getByTestId('chart-threads');
  await expect(threads.locator('svg')).toBeVisible({ timeout: 30_000 });
  await expect(async () => {
    await page.getByTestId('refresh').click();
    await expect(page.getByTestId('chart-threads')).not.toHaveAttribute('data-series', '0', { timeout: 2_000 });
  }).toPass({ timeout: 60_000 });
  await page.getByTestId('range-24h').click();
  await expect(page.getByTestId('chart-cpu').locator('svg')).toBeVisible();
  // hover shows values
  await page.getByTestId('chart-threads').locator('.chart-plot').hover();
  await expect(page.getByTestId('chart-hover')).toBeVisible();
  // one pod of the app: its own series only
  await expect(page.getByTestId('monitor-pod').locator('option')).not.toHaveCount(1);
  await page.getByTestId('monitor-pod').selectOption({ index: 1 });
  await expect(page.getByTestId('chart-threads')).toHaveAttribute('data-series', '1', { timeout: 30_000 });
});

test("a pod's charts carry its app's threshold lines", async ({ page }) => {
  await loginAs(page, 'alice');
  await saveThresholds(page, 'shop-web', { 'threshold-sockets': '5000' });
  await page.goto('/t/alpha/monitoring?app=alpha/shop-web');
  await expect(page.getByTestId('chart-sockets')).toHaveAttribute('data-threshold', '5000', { timeout: 30_000 });
  await expect(page.getByTestId('monitor-pod').locator('option')).not.toHaveCount(1);
  const pod = await page.getByTestId('monitor-pod').locator('option').nth(1).getAttribute('value');
  await page.getByTestId('monitor-pod').selectOption({ index: 1 });
  const sockets = page.getByTestId('chart-sockets');
  await expect(sockets).toHaveAttribute('data-series', '1', { timeout: 30_000 });
  await expect(sockets).toHaveAttribute('data-threshold', '5000');
  await expect(sockets.locator('.chart-legend')).toContainText(pod!);
  // the time range and auto-refresh stay
  await page.getByTestId('range-6h').click();
  await expect(page.getByTestId('chart-sockets')).toHaveAttribute('data-threshold', '5000');
  await expect(page.getByTestId('auto-refresh')).toBeChecked();
});

test('a hand-written query that reaches for another tenant is refused', async ({ page }) => {
  await loginAs(page, 'bob');
  await page.goto('/t/beta/monitoring');
  await page.getByTestId('promql-input').fill('container_threads{namespace="alpha"}');
  await page.getByTestId('promql-run').click();
  await expect(page.getByTestId('promql-error')).toContainText('not one of this tenant');
});

test('bad thresholds in the deploy form get a clear message', async ({ page }) => {
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/deploy');
  await page.getByTestId('deploy-name').fill(uniqueName('alerting'));
  await page.getByTestId('deploy-image').fill('nginx:1.25');
  await page.getByTestId('deploy-alert-cpu').fill('150');
  await page.getByTestId('deploy-alert-threads').fill('-3');
  await page.getByTestId('deploy-alert-memory').fill('lots');
  await page.getByTestId('deploy-submit').click();
  const errors = page.getByTestId('deploy-errors');
  await expect(errors).toContainText('over 100 %');
  await expect(errors).toContainText('negative');
  await expect(errors).toContainText("'lots' is not a number");
});

test('error-ratio and latency thresholds are explained, saved from the deploy form and shown on the app page', async ({ page }) => {
  test.setTimeout(120_000);
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/deploy');
  const name = uniqueName('traced');
  await page.getByTestId('deploy-name').fill(name);
  await page.getByTestId('deploy-image').fill('nginx:1.25');
  await expect(page.getByTestId('deploy-alert-apm-hint')).toContainText('APM');
  await page.getByTestId('deploy-alert-errors').fill('-1');
  await page.getByTestId('deploy-alert-p95').fill('fast');
  await page.getByTestId('deploy-submit').click();
  const errors = page.getByTestId('deploy-errors');
  await expect(errors).toContainText('error ratio alert (% of calls): -1 is negative');
  await expect(errors).toContainText("p95 latency alert (ms): 'fast' is not a whole number of milliseconds");

  await page.getByTestId('deploy-alert-errors').fill('2.5');
  await page.getByTestId('deploy-alert-p95').fill('800ms');
  await page.getByTestId('deploy-submit').click();
  await expect(page).toHaveURL(new RegExp(`/t/alpha/apps/alpha/${name}$`), { timeout: 60_000 });
  await expect(page.getByTestId('threshold-errors')).toHaveValue('2.5', { timeout: 30_000 });
  await expect(page.getByTestId('threshold-p95')).toHaveValue('800');
  await expect(page.getByTestId('threshold-apm-hint')).toContainText('APM');

  await page.getByTestId('threshold-p95').fill('0');
  await page.getByTestId('thresholds-save').click();
  await expect(page.getByTestId('thresholds-error')).toContainText('0 ms would always fire');
  await page.getByTestId('threshold-p95').fill('1200');
  await page.getByTestId('thresholds-save').click();
  await expect(page.getByTestId('thresholds-ok')).toBeVisible({ timeout: 30_000 });
  await page.reload();
  await expect(page.getByTestId('threshold-p95')).toHaveValue('1200', { timeout: 30_000 });
  await expect(page.getByTestId('threshold-errors')).toHaveValue('2.5');
});

test('a low threads threshold fires an alert, raising it resolves the alert', async ({ page }) => {
  test.setTimeout(240_000);
  await loginAs(page, 'alice');
  await saveThresholds(page, 'orders', { 'threshold-threads': '1', 'threshold-duration': '5s' });

  await page.getByTestId('nav-alerts').click();
  const firing = page.locator('[data-testid="alert-row"][data-app="orders"][data-status="firing"]');
  await expect(firing.first()).toBeVisible({ timeout: 65_000 });

  await page.goto('/t/alpha/apps/alpha/orders');
  await expect(page.getByTestId('threshold-threads')).toHaveValue('1');
  await page.getByTestId('threshold-threads').fill('100000');
  await page.getByTestId('thresholds-save').click();
  await expect(page.getByTestId('thresholds-ok')).toBeVisible({ timeout: 30_000 });

  await page.getByTestId('nav-alerts').click();
  const resolved = page.locator('[data-testid="alert-row"][data-app="orders"][data-status="resolved"]');
  await expect(resolved.first()).toBeVisible({ timeout: 65_000 });
  await expect(page.locator('[data-testid="alert-row"][data-app="orders"][data-status="firing"]')).toHaveCount(0);
});

test('a tenant adds its own receivers; viewers see them, other tenants do not', async ({ browser }) => {
  const alice = await browser.newPage();
  await loginAs(alice, 'alice');
  await alice.goto('/t/alpha/alerts');
  const name = uniqueName('hook');
  // bad input is explained and nothing is added
  await alice.getByTestId('receiver-name').fill(name);
  await alice.getByTestId('receiver-to').fill('hooks.example.org/alerts');
  await alice.getByTestId('receiver-add').click();
  await expect(alice.getByTestId('receivers-error')).toContainText('is not a URL');
  await expect(alice.locator(`[data-testid="receiver-row"][data-name="${name}"]`)).toHaveCount(0);
  // one leading into the platform (Alertmanager's own API on loopback) is refused, saying why
  await alice.getByTestId('receiver-to').fill('http://127.0.0.1:9093/api/v2/silences');
  await alice.getByTestId('receiver-add').click();
  await expect(alice.getByTestId('receivers-error')).toContainText('is a loopback address');
  await expect(alice.locator(`[data-testid="receiver-row"][data-name="${name}"]`)).toHaveCount(0);
  // a good one (the demo's "outside" range) is loaded by Alertmanager, then shown
  await alice.getByTestId('receiver-to').fill('http://127.200.0.9:9/alpha-alerts');
  await alice.getByTestId('receiver-add').click();
  await expect(alice.getByTestId('receivers-ok')).toContainText('Alertmanager has loaded it', { timeout: 30_000 });
  await expect(alice.locator(`[data-testid="receiver-row"][data-name="${name}"]`)).toBeVisible();
  // the same name again is refused by the server, with the reason
  await alice.getByTestId('receiver-name').fill(name);
  await alice.getByTestId('receiver-to').fill('http://127.200.0.9:9/other');
  await alice.getByTestId('receiver-add').click();
  await expect(alice.getByTestId('receivers-error')).toContainText(`already a receiver named '${name}'`);

  const vera = await browser.newPage();
  await loginAs(vera, 'vera');
  await vera.goto('/t/alpha/alerts');
  await expect(vera.locator(`[data-testid="receiver-row"][data-name="${name}"]`)).toBeVisible();
  await expect(vera.getByTestId('receiver-form')).toHaveCount(0);
  await expect(vera.getByTestId('receiver-remove')).toHaveCount(0);

  const bob = await browser.newPage();
  await loginAs(bob, 'bob');
  await bob.goto('/t/beta/alerts');
  await expect(bob.getByTestId('receivers')).toBeVisible();
  await expect(bob.locator(`[data-testid="receiver-row"][data-name="${name}"]`)).toHaveCount(0);
  await expect(bob.getByTestId('receivers')).not.toContainText('alpha-alerts');

  await alice.locator(`[data-testid="receiver-row"][data-name="${name}"]`).getByTestId('receiver-remove').click();
  await expect(alice.getByTestId('receivers-ok')).toContainText('removed', { timeout: 30_000 });
  await expect(alice.locator(`[data-testid="receiver-row"][data-name="${name}"]`)).toHaveCount(0);
});

test('a firing alert is silenced from the alerts page, then the silence expired', async ({ page }) => {
  test.setTimeout(180_000);
  await loginAs(page, 'alice');
  await saveThresholds(page, 'orders', { 'threshold-threads': '1', 'threshold-duration': '5s' });
  await page.getByTestId('nav-alerts').click();
  const firing = page.locator('[data-testid="alert-row"][data-app="orders"][data-status="firing"]');
  await expect(firing.first()).toBeVisible({ timeout: 65_000 });
  await expect(firing.first()).toHaveAttribute('data-silenced', 'false');

  // the Silence button fills the form from the alert; a comment is still required
  await firing.first().getByTestId('alert-silence').click();
  await expect(page.getByTestId('silence-namespace')).toHaveValue('alpha');
  await expect(page.getByTestId('silence-app')).toHaveValue('orders');
  await expect(page.getByTestId('silence-alertname')).toHaveValue('WharfThreadsHigh');
  await expect(page.getByTestId('silence-comment')).toBeFocused();
  await page.getByTestId('silence-create').click();
  await expect(page.getByTestId('silences-error')).toContainText('comment: say why');
  await expect(page.locator('[data-testid="silence-row"][data-state="active"]')).toHaveCount(0);
  const comment = uniqueName('maintenance');
  await page.getByTestId('silence-comment').fill(comment);
  await page.getByTestId('silence-create').click();
  await expect(page.getByTestId('silences-ok')).toBeVisible({ timeout: 30_000 });
  const silence = page.locator('[data-testid="silence-row"]', { hasText: comment });
  await expect(silence).toHaveAttribute('data-state', 'active');
  await expect(silence.getByTestId('silence-matchers')).toContainText('namespace="alpha"');
  await expect(silence.getByTestId('silence-matchers')).toContainText('wharf_app="orders"');
  await expect(silence.getByTestId('silence-created-by')).toHaveText('alice');
  // Alertmanager mutes it: the alert shows as silenced
  await expect(firing.first()).toHaveAttribute('data-silenced', 'true', { timeout: 30_000 });
  await expect(firing.first().getByTestId('alert-silenced')).toBeVisible();

  await silence.getByTestId('silence-expire').click();
  await expect(page.getByTestId('silences-ok')).toContainText('expired', { timeout: 30_000 });
  await expect(silence).toHaveAttribute('data-state', 'expired');
  await expect(silence.getByTestId('silence-expire')).toHaveCount(0);
  await expect(firing.first()).toHaveAttribute('data-silenced', 'false', { timeout: 30_000 });
});
