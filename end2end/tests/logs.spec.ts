// The log viewer: open an app's logs, pick a window, search with highlights, follow new
// lines as they arrive; and another tenant's user reaches none of it.
import { Page } from '@playwright/test';
import { test, expect } from './fixtures';
import { callServerFn, loginAs } from './pages';

async function shownLines(page: Page): Promise<number> {
  return Number(await page.getByTestId('log-view').getAttribute('data-count'));
}

async function search(page: Page, text: string) {
  await page.getByTestId('logs-search').fill(text);
  await page.getByTestId('logs-search').press('Enter');
}

test("an app's logs: a window, a search with highlights, then following new lines", async ({ page }) => {
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/apps/alpha/shop-web');
  await page.getByTestId('app-logs').click();
  await expect(page).toHaveURL(/\/t\/alpha\/logs\?ns=alpha&app=shop-web/);
  await expect(page.getByTestId('logs-app')).toHaveValue('alpha/shop-web');

  // All pods of the app, merged, each line tagged with its pod.
  await expect(page.getByTestId('log-line').first()).toBeVisible();
  await expect(page.getByTestId('log-pod').first()).toContainText('shop-web-');

  // A window.
  await page.getByTestId('range-5m').click();
  await expect(page).toHaveURL(/range=5m/);
  await expect(page.getByTestId('range-5m')).toHaveClass(/active/);
  await expect(page.getByTestId('log-line').first()).toBeVisible();

  // A search: only matching lines, the match marked.
  await search(page, 'GET');
  await expect(page).toHaveURL(/q=GET/);
  await expect(page.getByTestId('match').first()).toHaveText('GET');
  const texts = await page.getByTestId('log-text').allTextContents();
  expect(texts.length).toBeGreaterThan(0);
  for (const t of texts) expect(t).toContain('GET');

  // A bad regex is explained, not sent.
  await page.getByTestId('logs-regex').check();
  await search(page, 'GET (');
  await expect(page.getByTestId('search-error')).toContainText('invalid regular expression');
  await search(page, 'GET /[a-z]+');
  await expect(page.getByTestId('search-error')).toHaveCount(0);
  await expect(page.getByTestId('match').first()).toContainText('GET /');

  // The link reopens the same view.
  const link = page.url();
  await page.goto(link);
  await expect(page.getByTestId('logs-search')).toHaveValue('GET /[a-z]+');
  await expect(page.getByTestId('logs-regex')).toBeChecked();
  await expect(page.getByTestId('range-5m')).toHaveClass(/active/);

  // Follow: new lines arrive without a reload.
  await page.getByTestId('logs-regex').uncheck();
  await search(page, '');
  await page.getByTestId('logs-follow').check();
  await expect(page).toHaveURL(/follow=1/);
  await expect(page.getByTestId('live-state')).toHaveAttribute('data-state', 'live');
  await expect(page.getByTestId('log-line').first()).toBeVisible();
  const before = await shownLines(page);
  await expect.poll(() => shownLines(page), { timeout: 30_000 }).toBeGreaterThan(before);
});

test('the download is the shown range as a file', async ({ page }) => {
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/logs?ns=alpha&app=shop-web&range=1h');
  await expect(page.getByTestId('log-line').first()).toBeVisible();
  const href = await page.getByTestId('log-download').getAttribute('href');
  expect(href).toMatch(/^\/download\/logs\/alpha\?ns=alpha&app=shop-web&from=/);
  const res = await page.request.get(href!);
  expect(res.status()).toBe(200);
  expect(res.headers()['content-disposition']).toMatch(/^attachment; filename="alpha_shop-web_.*\.log"$/);
  expect(await res.text()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z alpha\/shop-web-[^/]+\/[^ ]+ /);
});

test("bob cannot open alpha's logs: not the page, not the socket, not the download", async ({ page }) => {
  await loginAs(page, 'bob');
  await page.goto('/t/alpha/logs?ns=alpha&app=shop-web');
  await expect(page.getByTestId('logs-error')).toContainText('Not allowed');
  await expect(page.getByTestId('log-line')).toHaveCount(0);

  const query = { selection: { namespace: 'alpha', app: 'shop-web', pod: null, container: null }, from: '', to: '', search: { text: '', regex: false }, limit: 10, backward: false, cursor: null };
  expect((await callServerFn(page.request, 'query_logs', { tenant: 'alpha', query })).status()).toBe(403);
  expect((await callServerFn(page.request, 'query_logs', { tenant: 'beta', query })).status()).toBe(403);
  expect((await callServerFn(page.request, 'log_sources', { tenant: 'alpha' })).status()).toBe(403);
  expect((await page.request.get('/download/logs/alpha?ns=alpha&app=shop-web')).status()).toBe(403);
  expect((await page.request.get('/download/logs/beta?ns=alpha&app=shop-web')).status()).toBe(403);
  // the socket checks before upgrading: a plain GET is refused the same way
  expect((await page.request.get('/ws/logs/alpha?ns=alpha&app=shop-web')).status()).toBe(403);
});
