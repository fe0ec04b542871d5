// The APM switch on an app's page: alice turns the tracing agent on for `orders` (telling the
// console it is a Java app), the pods roll with it and the revision says why; off rolls back;
// a viewer sees the switch but cannot flip it.
import { test, expect } from './fixtures';
import { loginAs } from './pages';

test('alice turns APM on for orders and off again; vera only sees it', async ({ page, browser }) => {
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

  await page.getByTestId('apm-toggle').click();
  await expect(page.getByTestId('apm-notice')).toContainText('APM is off');
  await expect(card).toHaveAttribute('data-on', 'false');
  await expect(current).toContainText('APM off by alice');
  await expect(page.getByTestId('app-health')).toHaveText(/Running|运行中/, { timeout: 60_000 });
});
