// A user going through every page of the console, with the in-app links (so components are
// mounted and dropped as in real use, not reloaded), while pods come and go all the time
// because an app is scaled up and down in the background. Nothing may panic: a panic kills
// the whole Wasm app. The fixture fails the test on any panic or uncaught error; the test
// also checks after each page, so a failure names the page.
import { Page } from '@playwright/test';
import { test, expect } from './fixtures';
import { deploy, kubectl, kubectlAsync, loginAs, uniqueName } from './pages';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Scales `alpha/<name>` up and down until the returned function is called (and awaited). */
function churn(name: string): () => Promise<void> {
  let running = true;
  const sizes = [6, 1, 9, 0, 4, 12, 2];
  const loop = (async () => {
    for (let i = 0; running; i++) {
      await kubectlAsync('-n', 'alpha', 'scale', `deployment/${name}`, `--replicas=${sizes[i % sizes.length]}`).catch(() => undefined);
      await sleep(300);
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

/** Follows a link of the top navigation (client-side routing, no reload). */
async function nav(page: Page, testid: string, url: RegExp) {
  await page.getByTestId(testid).click();
  await expect(page).toHaveURL(url);
}

test('every page, in and out, while pods churn: nothing panics', async ({ page, browserErrors }) => {
  test.setTimeout(300_000);
  const app = uniqueName('churn');
  await loginAs(page, 'alice');
  await deploy(page, 'alpha', { name: app, image: 'nginx:1.25', replicas: 2 });
  const stop = churn(app);
  const noPanic = (where: string) => expect(browserErrors, `after ${where}`).toEqual([]);
  try {
    // Workloads: the pods tab re-asks its rows as the live view moves.
    await page.goto('/t/alpha');
    for (let i = 0; i < 4; i++) {
      await page.getByTestId('tab-pods').click();
      await expect(page.getByTestId('pods-table')).toBeVisible();
      await sleep(1_500);
      await page.getByTestId('tab-services').click();
      await expect(page.getByTestId('services-table')).toBeVisible();
      await page.getByTestId('tab-apps').click();
      await expect(page.locator(`[data-testid=app-row][data-name="${app}"]`)).toBeVisible();
    }
    await page.getByTestId('tab-pods').click();
    await page.getByTestId('filter').fill(app);
    await sleep(1_500);
    await page.getByTestId('filter').fill('');
    await page.getByTestId('tab-apps').click();
    noPanic('the workloads page');

    // The churning app's page, in and out.
    for (let i = 0; i < 4; i++) {
      await page.locator(`[data-testid=app-row][data-name="${app}"] a`).click();
      await expect(page.getByTestId('app-name')).toHaveText(app);
      await sleep(i % 2 ? 300 : 2_000);
      await page.goBack();
      await expect(page.getByTestId('tab-apps')).toBeVisible();
    }
    noPanic("the app's page");

    // The deploy form, and back.
    await page.getByTestId('deploy-button').click();
    await expect(page.getByTestId('deploy-form')).toBeVisible();
    await page.goBack();
    noPanic('the deploy form');

    // Logs, following, then every other page from the top navigation.
    await nav(page, 'nav-logs', /\/t\/alpha\/logs/);
    await page.getByTestId('logs-app').selectOption('alpha/shop-web');
    await page.getByTestId('logs-follow').check();
    await sleep(1_000);
    await page.getByTestId('logs-follow').uncheck();
    await page.getByTestId('range-5m').click();
    await nav(page, 'nav-nginx', /\/t\/alpha\/nginx/);
    await sleep(1_000);
    await nav(page, 'nav-monitoring', /\/t\/alpha\/monitoring/);
    await page.getByTestId('monitor-target').selectOption(`alpha/${app}`);
    await sleep(1_000);
    await nav(page, 'nav-alerts', /\/t\/alpha\/alerts/);
    await sleep(1_000);
    await nav(page, 'nav-terminal', /\/t\/alpha\/terminal/);
    noPanic('logs, nginx, monitoring and alerts');

    // A terminal on a shop-web pod, left while it is live.
    await page.goto('/t/alpha/apps/alpha/shop-web');
    await page.getByTestId('app-terminal').click();
    await expect(page.getByTestId('terminal-pane')).toHaveAttribute('data-state', 'live');
    await nav(page, 'nav-logs', /\/t\/alpha\/logs/);
    // and one opened from the picker, left while it is live too
    await nav(page, 'nav-terminal', /\/t\/alpha\/terminal$/);
    // NB: a shop-web pod, not one of the churning app's (it may be gone the next moment)
    const shopWeb = await page.getByTestId('terminal-pod').locator('option', { hasText: 'shop-web · ' }).first().getAttribute('value');
    await page.getByTestId('terminal-pod').selectOption(shopWeb!);
    await page.getByTestId('terminal-open').click();
    await expect(page.getByTestId('terminal-pane')).toHaveAttribute('data-state', 'live');
    await nav(page, 'nav-pipelines', /\/t\/alpha\/pipelines$/);
    noPanic('the terminal');

    // Pipelines: the list, the designer and back, again and again.
    const row = page.locator('[data-testid=pipeline-row][data-name=orders-ci]');
    for (let i = 0; i < 6; i++) {
      await row.locator('a').click();
      await expect(page.getByTestId('stage-card').first()).toBeVisible();
      await sleep([2_000, 200, 1_000][i % 3]);
      await page.goBack();
      await expect(row).toBeVisible();
    }
    noPanic('the pipeline designer');

    // A run of it: its page, its stages, back to the designer and forward again.
    await row.locator('a').click();
    await page.getByTestId('run-pipeline').click();
    await expect(page).toHaveURL(/\/runs\/orders-ci-\d+$/);
    await expect(page.getByTestId('run-stage').first()).toBeVisible();
    for (let i = 0; i < 3; i++) {
      await page.getByTestId('run-stage').nth(i).click();
      await sleep(700);
      await page.goBack();
      await expect(page.getByTestId('designer')).toBeVisible();
      await page.goForward();
      await expect(page.getByTestId('run-stages')).toBeVisible();
    }
    await nav(page, 'nav-pipelines', /\/t\/alpha\/pipelines$/);
    noPanic('the pipeline run');

    // And the workloads again, with the pods tab open while the app churns on.
    await page.locator('a.brand').click();
    await page.getByTestId('tab-pods').click();
    await expect(page.getByTestId('pods-table')).toBeVisible();
    await sleep(3_000);
    noPanic('the pods tab at the end');
  } finally {
    await stop();
    kubectl('-n', 'alpha', 'delete', 'deployment', app, '--ignore-not-found');
  }
});
