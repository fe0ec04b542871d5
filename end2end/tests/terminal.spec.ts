// The web terminal: a shell on a shop-web pod (42, stty size follows the window), a file
// uploaded, cat'ed, and downloaded back identical; a viewer and another tenant's user refused
// at the socket itself, not only in the page; every refusal explained in the page; a debug
// container for a distroless pod; a recorded session replayed and downloaded by an admin, and
// shown as expired once its recording is deleted.
import { Page } from '@playwright/test';
import { test, expect } from './fixtures';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEMO_DATA, deploy, loginAs, uniqueName } from './pages';

const screen = (page: Page) => page.getByTestId('terminal-pane').locator('.xterm-rows');
// The demo's data folder, as playwright.config.ts gives it to `wharf demo` (recordings under it).

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
  await expect(page.getByTestId('terminal-refused')).toContainText('Viewers cannot open a shell');
});

/** The name of one of shop-web's running pods, as the terminal page picks it. */
async function shopWebPod(page: Page): Promise<string> {
  await openShopWebTerminal(page);
  return (await page.getByTestId('terminal-pod').inputValue()).split('/')[1];
}

test('a refused terminal says why: no such pod, wrong container, another tenant', async ({ page }) => {
  await loginAs(page, 'alice');
  const pod = await shopWebPod(page);
  const pane = page.getByTestId('terminal-pane');

  await page.goto('/t/alpha/terminal?ns=alpha&pod=nope');
  await expect(pane).toHaveAttribute('data-state', 'refused');
  await expect(page.getByTestId('terminal-refusal')).toContainText("pod 'nope' in namespace 'alpha' does not exist");

  await page.goto(`/t/alpha/terminal?ns=alpha&pod=${pod}&container=db`);
  await expect(pane).toHaveAttribute('data-state', 'refused');
  await expect(page.getByTestId('terminal-refusal')).toContainText(`container 'db' is not in pod '${pod}'; its containers: `);

  await page.getByTestId('logout').click();
  await loginAs(page, 'bob');
  // alpha's pod through bob's own tenant
  await page.goto(`/t/beta/terminal?ns=alpha&pod=${pod}`);
  await expect(pane).toHaveAttribute('data-state', 'refused');
  await expect(page.getByTestId('terminal-refusal')).toContainText("Not allowed to open a terminal here: namespace 'alpha' does not belong to tenant 'beta'");
  // alpha itself
  await page.goto(`/t/alpha/terminal?ns=alpha&pod=${pod}`);
  await expect(page.getByTestId('terminal-refused')).toContainText('You have no access to this tenant.');
  await expect(pane).toHaveCount(0);
});

test('a distroless pod has no shell: the terminal offers a debug container, and it answers', async ({ page }) => {
  await loginAs(page, 'alice');
  const name = uniqueName('jre');
  await deploy(page, 'alpha', { name, image: 'gcr.io/distroless/java17', port: 8080 });
  await expect(page.getByTestId('rollout')).toHaveText('1 / 1');
  await page.getByTestId('app-terminal').click();

  const pane = page.getByTestId('terminal-pane');
  await expect(pane).toHaveAttribute('data-state', 'no-shell');
  const offer = page.getByTestId('terminal-debug-offer');
  await expect(offer).toContainText('has no shell (tried /bin/bash, /bin/sh)');
  await expect(offer).toContainText('nicolaka/netshoot:v0.13');

  await page.getByTestId('terminal-debug-start').click();
  await expect(pane).toHaveAttribute('data-state', 'live');
  await expect(pane.locator('.terminal-status')).toContainText('debug container debug-');
  await typeInTerminal(page, 'echo $((6*7))');
  await expect(screen(page)).toContainText('42');
});

test('an admin replays a recorded session and downloads it', async ({ page }) => {
  await loginAs(page, 'admin');
  await openShopWebTerminal(page);
  await expect(page.getByTestId('terminal-recording')).toBeVisible();
  const marker = `replay-${Date.now().toString(36)}`;
  // a three-second pause in the middle, to pause the replay in
  await typeInTerminal(page, `echo ${marker}-$((6*7)); sleep 3; echo after-$((1+1))`);
  await expect(screen(page)).toContainText('after-2');
  await typeInTerminal(page, 'exit');
  await expect(page.getByTestId('terminal-ended')).toContainText('code 0');

  // The session shows up in the audit trail with its recording.
  const row = page.getByTestId('session-row').filter({ hasText: 'admin' }).filter({ has: page.getByTestId('session-replay') }).first();
  await expect(async () => {
    await page.getByTestId('sessions-refresh').click();
    await expect(row).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await row.getByTestId('session-replay').click();

  const replay = page.getByTestId('replay');
  const replayed = page.getByTestId('replay-screen').locator('.xterm-rows');
  await page.getByTestId('replay-speed').selectOption('8');
  await expect(replay).toHaveAttribute('data-state', 'done');
  await expect(replayed).toContainText(`${marker}-42`);
  await expect(replayed).toContainText('after-2');
  // Play again at 1×: pause during the recorded three seconds of sleep, then go on to the end.
  await page.getByTestId('replay-speed').selectOption('1');
  await page.getByTestId('replay-toggle').click();
  await expect(replayed).toContainText(`${marker}-42`);
  await page.getByTestId('replay-toggle').click();
  await expect(replay).toHaveAttribute('data-state', 'paused');
  await expect(replayed).not.toContainText('after-2');
  await page.getByTestId('replay-toggle').click();
  await expect(replay).toHaveAttribute('data-state', 'done');
  await expect(replayed).toContainText('after-2');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('replay-download').click()]);
  expect(download.suggestedFilename()).toMatch(/^wharf-session-[a-z]+\.cast$/);
  const cast = fs.readFileSync((await download.path())!, 'utf8').split('\n');
  expect(JSON.parse(cast[0])).toMatchObject({ version: 2 });
  expect(cast.join('\n')).toContain(`${marker}-42`);

  // Once the recording is deleted (as retention does), its row says so instead of offering a replay.
  const id = download.suggestedFilename().replace(/\.cast$/, '');
  const local = path.join(DEMO_DATA, 'recordings', 'alpha', `${id}.cast`);
  const bucket = path.join(DEMO_DATA, 'seaweedfs', 'endpoints.json');
  if (fs.existsSync(bucket)) {
    // `wharf demo --shared-logs`: the replay came from the log bucket, none is left on disk
    expect(fs.existsSync(local)).toBe(false);
    const { filer } = JSON.parse(fs.readFileSync(bucket, 'utf8'));
    const gone = await fetch(`${filer}/buckets/wharf-logs/demo/files/recordings/alpha/${id}.cast`, { method: 'DELETE' });
    expect(gone.ok).toBe(true);
  } else {
    fs.rmSync(local);
  }
  await page.getByTestId('replay-close').click();
  const swept = page.locator(`[data-testid="session-row"][data-session="${id}"]`);
  await expect(async () => {
    await page.getByTestId('sessions-refresh').click();
    await expect(swept.getByTestId('session-recording-expired')).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await expect(swept.getByTestId('session-replay')).toHaveCount(0);
  await expect(swept.getByTestId('session-cast-download')).toHaveCount(0);
});
