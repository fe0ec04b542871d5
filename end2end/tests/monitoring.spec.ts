// Monitoring and alerts, as a user sees them: the dashboards draw, a low threads threshold on
// the seeded `orders` app (which leaks threads) raises an alert on the alerts page, raising
// the threshold resolves it, and bad thresholds in the deploy form are explained.
import { test, expect } from '@playwright/test';
import { loginAs, uniqueName } from './pages';

test('the dashboards draw charts for the tenant and for an app', async ({ page }) => {
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/monitoring?app=alpha/orders');
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

test('a low threads threshold fires an alert, raising it resolves the alert', async ({ page }) => {
  test.setTimeout(240_000);
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/apps/alpha/orders');
  await page.getByTestId('threshold-threads').fill('1');
  await page.getByTestId('threshold-duration').fill('5s');
  await page.getByTestId('thresholds-save').click();
  await expect(page.getByTestId('thresholds-ok')).toBeVisible({ timeout: 30_000 });

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
