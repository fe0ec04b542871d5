// The web terminal: a shell on a shop-web pod (42, stty size follows the window), a file
// uploaded, cat'ed, and downloaded back identical; a viewer and another tenant's user refused
// at the socket itself, not only in the page.
import { test, expect, Page } from '@playwright/test';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loginAs } from './pages';

const screen = (page: Page) => page.getByTestId('terminal-pane').locator('.xterm-rows');

async function typeInTerminal(page: Page, text: string) {
  await page.getByTestId('terminal-screen').click();
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

/** Opens a terminal on one of alpha/shop-web's pods from the app page. */
async function openShopWebTerminal(page: Page) {
  await page.goto('/t/alpha/apps/alpha/shop-web');
  await page.getByTestId('app-terminal').click();
  await expect(page).toHaveURL(/\/t\/alpha\/terminal\?ns=alpha&app=shop-web/);
  await expect(page.getByTestId('terminal-pane')).toHaveAttribute('data-state', 'live');
}

/** Status of a raw WebSocket handshake from the page: 'open' or 'refused'. */
async function socketFromPage(page: Page, url: string): Promise<string> {
  return page.evaluate(
    (u) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`ws://${location.host}${u}`);
        ws.onopen = () => { ws.close(); resolve('open'); };
        ws.onerror = () => resolve('refused');
      }),
    url,
  );
}

test('a shell on a shop-web pod: 42, and stty size follows the window', async ({ page }) => {
  await loginAs(page, 'alice');
  await page.setViewportSize({ width: 1280, height: 900 });
  await openShopWebTerminal(page);

  await typeInTerminal(page, 'echo $((6*7))');
  await expect(screen(page)).toContainText('42');

  for (const size of [{ width: 1280, height: 900 }, { width: 900, height: 640 }]) {
    await page.setViewportSize(size);
    const pane = page.getByTestId('terminal-pane');
    // the new size has reached the terminal (fit on window resize)...
    await expect.poll(async () => Number(await pane.getAttribute('data-cols'))).toBeGreaterThan(10);
    const cols = await pane.getAttribute('data-cols');
    const rows = await pane.getAttribute('data-rows');
    await typeInTerminal(page, 'clear; stty size');
    // ...and the shell's terminal follows.
    await expect(screen(page)).toContainText(`${rows} ${cols}`);
  }

  // The exit code is shown, with a way back in.
  await typeInTerminal(page, 'exit 7');
  await expect(page.getByTestId('terminal-ended')).toContainText('code 7');
  await page.getByTestId('terminal-reconnect').click();
  await expect(page.getByTestId('terminal-pane')).toHaveAttribute('data-state', 'live');
});

test('upload a file, cat it, download it back identical', async ({ page }) => {
  await loginAs(page, 'alice');
  await openShopWebTerminal(page);
  const name = `wharf-e2e-${Date.now().toString(36)}.txt`;
  const content = `hello from the browser ${name}\n`;
  const local = path.join(os.tmpdir(), name);
  fs.writeFileSync(local, content);

  await page.getByTestId('upload-file').setInputFiles(local);
  await page.getByTestId('upload-dest').fill('/tmp/');
  await page.getByTestId('upload-button').click();
  await expect(page.getByTestId('upload-done')).toContainText(`/tmp/${name}`);
  await expect(page.getByTestId('upload-progress')).toBeVisible();

  await typeInTerminal(page, `cat /tmp/${name}`);
  await expect(screen(page)).toContainText(`hello from the browser ${name}`);

  await page.getByTestId('download-path').fill(`/tmp/${name}`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-link').click()]);
  const saved = await download.path();
  expect(fs.readFileSync(saved!, 'utf8')).toBe(content);
});

test('a viewer and another tenant\'s user are refused at the socket itself', async ({ page }) => {
  await loginAs(page, 'alice');
  await openShopWebTerminal(page);
  const pod = (await page.getByTestId('terminal-pod').inputValue()).split('/')[1];
  expect(pod).toMatch(/^shop-web-/);
  const url = `/ws/terminal/alpha?ns=alpha&pod=${pod}`;
  expect(await socketFromPage(page, url)).toBe('open');

  for (const user of ['vera', 'bob']) {
    await page.getByTestId('logout').click();
    await loginAs(page, user);
    expect(await socketFromPage(page, url)).toBe('refused');
    const res = await page.request.get(url);
    expect(res.status()).toBe(403);
  }
  // vera sees the page but no shell
  await page.getByTestId('logout').click();
  await loginAs(page, 'vera');
  await page.goto(`/t/alpha/terminal?ns=alpha&pod=${pod}`);
  await expect(page.getByTestId('terminal-refused')).toBeVisible();
});
