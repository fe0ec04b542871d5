// Signing in through the company directory (a real slapd, started by `wharf-test-ldap`): the
// platform admin adds the directory on the Sign-in page, tests it with a user's password and
// sees their groups, saves; alpha's admin maps the directory group alpha-devs to developer on
// the tenant page; dora signs in with her directory password, lands in alpha as a developer,
// deploys, and shows up among the members through groups; taken out of the group in the
// directory, her next request after the directory sync is refused.
import { test, expect } from './fixtures';
import { loginAs, login, deploy, uniqueName, callServerFn } from './pages';
import { spawn, ChildProcess } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';

const DIRECTORY = path.resolve(__dirname, '../../target/debug/wharf-test-ldap');

type Started = { ldaps: string; ca_pem: string; form: Record<string, string> };
let directory: ChildProcess | undefined;
let started: Started;
let lines: readline.Interface;

/** The directory's next line of output (its answer to the last command). */
function nextLine(what: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the test directory did not ${what} within 30 s`)), 30_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
  });
}

test.beforeAll(async () => {
  directory = spawn(DIRECTORY, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  lines = readline.createInterface({ input: directory.stdout! });
  directory.on('exit', (code) => {
    if (code) console.error(`wharf-test-ldap exited (${code}): is slapd installed?`);
  });
  started = JSON.parse(await nextLine('start'));
});

test.afterAll(async () => {
  // closing its input stops it (and its slapd) cleanly
  directory?.stdin?.end();
});

test('a directory is added, tested and used to sign in, its groups giving roles', async ({ page, browser }) => {
  const f = started.form;
  await loginAs(page, 'admin');
  await page.getByTestId('nav-admin-identity').click();
  await expect(page.getByTestId('idp-empty')).toBeVisible();
  await page.getByTestId('idp-name').fill('corp');
  await page.getByTestId('idp-display-name').fill('Example Corp');
  await page.getByTestId('idp-url').fill(started.ldaps);
  await page.getByTestId('idp-ca').fill(started.ca_pem);
  await page.getByTestId('idp-bind-dn').fill(f.bind_dn);
  await page.getByTestId('idp-bind-password').fill(f.bind_password);
  await page.getByTestId('idp-user-base').fill(f.user_base);
  await page.getByTestId('idp-group-base').fill(f.group_base);
  // a test with dora's password: every step passes, her groups are shown; nothing is saved
  await page.getByTestId('idp-trial-user').fill('dora');
  await page.getByTestId('idp-trial-password').fill('dora-pass-1');
  await page.getByTestId('idp-test').click();
  await expect(page.locator('[data-testid=idp-trial-step][data-ok=true]')).toHaveCount(3);
  await expect(page.getByTestId('idp-trial-groups')).toHaveText('alpha-devs, platform-ops');
  await expect(page.getByTestId('idp-empty')).toBeVisible();
  // a wrong bind password: the first step fails and says so
  await page.getByTestId('idp-bind-password').fill('not it');
  await page.getByTestId('idp-test').click();
  await expect(page.locator('[data-testid=idp-trial-step][data-ok=false]')).toHaveCount(1);
  await page.getByTestId('idp-bind-password').fill(f.bind_password);
  await page.getByTestId('idp-save').click();
  await expect(page.getByTestId('idp-ok')).toBeVisible();
  await expect(page.locator('[data-testid=idp-row][data-name=corp]')).toBeVisible();

  // alpha's admin maps the directory's alpha-devs to developer
  const ada = await browser.newPage();
  await loginAs(ada, 'ada');
  await ada.goto('/t/alpha/tenant');
  await ada.getByTestId('group-name').fill('alpha-devs');
  await ada.getByTestId('group-role').selectOption('developer');
  await ada.getByTestId('group-add').click();
  await expect(ada.getByTestId('groups-ok')).toBeVisible();
  await expect(ada.locator('[data-testid=group-row][data-group=alpha-devs]')).toBeVisible();
  await expect(ada.getByTestId('groups-mapped-none')).toBeVisible();

  // dora signs in with her directory password and works in alpha as a developer
  const dora = await (await browser.newContext()).newPage();
  await login(dora, 'dora', 'dora-pass-1');
  await expect(dora.getByTestId('user-name')).toHaveText('Dora Directory');
  await expect(dora).toHaveURL(/\/t\/alpha$/);
  await expect(dora.getByTestId('apps-table').getByTestId('app-row').first()).toBeVisible();
  const app = uniqueName('dora');
  await deploy(dora, 'alpha', { name: app, image: 'nginx:1.25', port: 80 });
  // a wrong directory password is refused like any other
  const stranger = await (await browser.newContext()).newPage();
  await login(stranger, 'dora', 'not-her-password');
  await expect(stranger.getByTestId('login-error')).toContainText('Wrong user name or password');

  // and she shows up apart from the members added by hand
  await ada.reload();
  await expect(ada.locator('[data-testid=mapped-row][data-user=dora] [data-testid=mapped-role]')).toHaveText('developer');
  await expect(ada.locator('[data-testid=member-row][data-user=dora]')).toHaveCount(0);
  // the platform admin's list counts her
  await page.reload();
  await expect(page.locator('[data-testid=idp-row][data-name=corp] [data-testid=idp-users]')).toHaveText('1');

  // taken out of alpha-devs in the directory: once the directory sync has read it (every 10 s
  // here), her next request to alpha is refused, and the page says she has no access
  directory!.stdin!.write(JSON.stringify({ leave: ['dora', 'alpha-devs'] }) + '\n');
  expect(JSON.parse(await nextLine('take dora out of alpha-devs'))).toEqual({ done: 'leave' });
  const pods = { tenant: 'alpha', query: { app: null, namespace: 'alpha', filter: '', offset: 0, limit: 5 } };
  await expect(async () => {
    const answer = await callServerFn(dora.request, 'list_pods', pods);
    expect(answer.status()).toBe(403);
  }).toPass({ timeout: 60_000 });
  await dora.goto('/t/alpha');
  await expect(dora.getByTestId('error')).toContainText("no access to tenant 'alpha'");
  await expect(dora.getByTestId('apps-table')).toHaveCount(0);
});
