// Signing in through OpenID Connect (a real provider: panva's oidc-provider, started here from
// scripts/oidc): the platform admin adds it on the Sign-in page, tests it and saves it, sees
// the redirect URI to register, and maps beta-viewers to viewer on beta's tenant page; pete,
// in beta-viewers at the provider, presses "Sign in with Corp SSO" on the login page, signs in
// at the provider, lands in beta and sees it read-only; logout ends the provider's session too
// and comes back to the login page; a failed sign-in says why in both languages.
import { test, expect } from './fixtures';
import { loginAs } from './pages';
import { spawn, ChildProcess } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';

const PROVIDER = path.resolve(__dirname, '../../scripts/oidc/provider.mjs');
const SECRET = 'e2e-client-secret';
let provider: ChildProcess | undefined;
let issuer: string;

test.beforeAll(async ({}, testInfo) => {
  const console_ = testInfo.project.use.baseURL!;
  provider = spawn(
    'node',
    [PROVIDER, '--port', '0', '--client-id', 'wharf', '--client-secret', SECRET,
      '--redirect-uri', `${console_}/auth/oidc/sso/callback`, '--post-logout-redirect-uri', `${console_}/login`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = readline.createInterface({ input: provider.stdout! });
  issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the OIDC provider did not start within 30 s')), 30_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line.replace(/^ready /, ''));
    });
    provider!.on('exit', (code) => reject(new Error(`provider.mjs exited (${code}): run scripts/setup.sh (npm ci in scripts/oidc)`)));
  });
  // pete is in beta-viewers at the provider
  const answer = await fetch(`${issuer}/_test/groups`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'pete', groups: ['beta-viewers'] }),
  });
  expect(answer.status).toBe(200);
});

test.afterAll(async () => {
  provider?.kill('SIGTERM');
});

test('an OIDC provider is added and tested, and its beta-viewers see beta read-only', async ({ page, browser, baseURL }) => {
  await loginAs(page, 'admin');
  await page.getByTestId('nav-admin-identity').click();
  await page.getByTestId('idp-kind').selectOption('oidc');
  await page.getByTestId('oidc-name').fill('sso');
  await page.getByTestId('oidc-display-name').fill('Corp SSO');
  await page.getByTestId('oidc-issuer').fill(issuer);
  await page.getByTestId('oidc-client-id').fill('wharf');
  // the redirect URI to register at the provider, before anything is saved
  await expect(page.getByTestId('oidc-redirect-uri')).toHaveValue(`${baseURL}/auth/oidc/sso/callback`);
  // a wrong secret: the provider does not take the client's credentials, and the test says so
  await page.getByTestId('oidc-client-secret').fill('not-the-secret');
  await page.getByTestId('oidc-try').click();
  await expect(page.locator('[data-testid=idp-trial-step][data-ok=true]')).toHaveCount(2);
  await expect(page.locator('[data-testid=idp-trial-step][data-ok=false]')).toHaveCount(1);
  await page.getByTestId('oidc-client-secret').fill(SECRET);
  await page.getByTestId('oidc-try').click();
  await expect(page.locator('[data-testid=idp-trial-step][data-ok=true]')).toHaveCount(3);
  await page.getByTestId('oidc-save').click();
  await expect(page.locator('[data-testid=idp-row][data-name=sso]')).toBeVisible();

  // beta's groups: beta-viewers → viewer
  await page.goto('/t/beta/tenant');
  await page.getByTestId('group-provider').selectOption('sso');
  await page.getByTestId('group-name').fill('beta-viewers');
  await page.getByTestId('group-role').selectOption('viewer');
  await page.getByTestId('group-add').click();
  await expect(page.getByTestId('groups-ok')).toBeVisible();

  // pete signs in at the provider from the login page
  const pete = await (await browser.newContext()).newPage();
  await pete.goto('/login');
  await pete.getByTestId('oidc-sso').click();
  await expect(pete).toHaveURL(new RegExp(`^${issuer}/interaction/`));
  await pete.locator('#username').fill('pete');
  await pete.locator('#password').fill('pete-pass-1');
  await pete.locator('#login-submit').click();
  await expect(pete.getByTestId('user-name')).toHaveText('Pete Viewer');
  await expect(pete).toHaveURL(/\/t\/beta$/);
  // read-only: beta's apps are there, nothing to deploy with
  await expect(pete.getByTestId('apps-table').getByTestId('app-row').first()).toBeVisible();
  await expect(pete.getByTestId('deploy-button')).toHaveCount(0);

  // logout: the provider's session ends too, and the browser comes back to the login page
  await pete.getByTestId('logout').click();
  await expect(pete).toHaveURL(/\/login$/);
  await pete.getByTestId('oidc-sso').click();
  await expect(pete).toHaveURL(new RegExp(`^${issuer}/interaction/`));
  await expect(pete.locator('#password')).toBeVisible();
});

test('a failed sign-in says why', async ({ page }) => {
  await page.goto('/login?oidc=taken');
  await expect(page.getByTestId('oidc-error')).toContainText('belongs to another Wharf user');
  // a sign-in not started in this browser comes back to the login page saying so
  await page.goto('/auth/oidc/sso/callback?code=x&state=y');
  await expect(page).toHaveURL(/\/login\?oidc=expired$/);
  await expect(page.getByTestId('oidc-error')).toContainText('took too long');
});
