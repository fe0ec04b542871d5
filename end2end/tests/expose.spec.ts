// "Expose through nginx" on an app's page: alice deploys catalog, exposes it on
// catalog.alpha.demo and reaches it through the demo's nginx within seconds; a host of another
// tenant is refused with the reason; she adds a certificate from the page and reaches the app
// over HTTPS with it; removing the route takes it out of nginx. A viewer sees the routes only.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test, expect } from './fixtures';
import { deploy, loginAs, uniqueName } from './pages';

/** The status of a GET through the demo's nginx node-1 with this Host. */
function curl(host: string): string {
  const args = ['-s', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Host: ${host}`, 'http://127.0.0.1:8081/'];
  try {
    return execFileSync('curl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e: any) {
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

/** curl's account of the TLS handshake with node-1 (it writes it on stderr). */
function httpsSubject(host: string): string {
  const r = spawnSync('curl', ['-sk', '-v', '-o', '/dev/null', '--max-time', '5', '--resolve', `${host}:8443:127.0.0.1`, `https://${host}:8443/`],
    { encoding: 'utf8' });
  return `${r.stderr ?? ''}`;
}

test('alice exposes an app through nginx from its page, with a certificate added there', async ({ page, browser }) => {
  test.setTimeout(180_000);
  const name = uniqueName('catalog');
  const host = `${name}.alpha.demo`;
  await loginAs(page, 'alice');
  await deploy(page, 'alpha', { name, image: 'nginx:1.25', port: 80 });
  await expect(page.getByTestId('expose-none')).toBeVisible();
  await expect(page.getByTestId('expose-port')).toHaveValue('80');

  // another tenant's host: refused, nothing stored
  await page.getByTestId('expose-host').fill('billing.beta.demo');
  await page.getByTestId('expose-save').click();
  await expect(page.getByTestId('expose-error')).toContainText('*.alpha.demo');
  await expect(page.getByTestId('expose-none')).toBeVisible();

  await page.getByTestId('expose-host').fill(host);
  await page.getByTestId('expose-save').click();
  await expect(page.getByTestId('expose-notice')).toContainText(host);
  await expect(page.locator(`[data-testid="expose-route"][data-host="${host}"]`)).toBeVisible();
  await expect.poll(() => curl(host), { timeout: 30_000 }).toBe('200');

  // a certificate made here, pasted into the page
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-expose-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${host}`,
    '-addext', `subjectAltName=DNS:${host}`, '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  await page.getByTestId('expose-new-tls').fill(`${name}-tls`);
  await page.getByTestId('expose-cert').fill(fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8'));
  await page.getByTestId('expose-key').fill('not a key');
  await page.getByTestId('expose-save').click();
  await expect(page.getByTestId('expose-error')).toContainText('tls.key');
  await page.getByTestId('expose-key').fill(fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'));
  await page.getByTestId('expose-save').click();
  await expect(page.getByTestId('expose-notice')).toContainText(host);
  await expect(page.locator(`[data-testid="expose-route"][data-host="${host}"]`)).toContainText(`${name}-tls`);
  await expect.poll(() => httpsSubject(host), { timeout: 30_000 }).toContain(`CN=${host}`);

  // a viewer sees the route, not the form
  const vera = await browser.newPage();
  await loginAs(vera, 'vera');
  await vera.goto(`/t/alpha/apps/alpha/${name}`);
  await expect(vera.locator(`[data-testid="expose-route"][data-host="${host}"]`)).toBeVisible();
  await expect(vera.getByTestId('expose-form')).toHaveCount(0);
  await expect(vera.getByTestId('expose-remove')).toHaveCount(0);
  await vera.close();

  await page.getByTestId('expose-remove').click();
  await expect(page.getByTestId('expose-none')).toBeVisible();
  await expect.poll(() => curl(host), { timeout: 30_000 }).toBe('404');
});

test('an app deployed with "expose through nginx" ticked answers by its host at once', async ({ page }) => {
  const name = uniqueName('shelf');
  const host = `${name}.alpha.demo`;
  await loginAs(page, 'alice');
  await page.goto('/t/alpha');
  await page.getByTestId('deploy-button').click();
  await page.getByTestId('deploy-name').fill(name);
  await page.getByTestId('deploy-image').fill('nginx:1.25');
  await page.getByTestId('deploy-port').fill('80');
  await page.getByTestId('deploy-expose').check();
  await expect(page.getByTestId('deploy-expose-cluster')).toHaveValue('edge');
  await page.getByTestId('deploy-expose-host').fill(host);
  await page.getByTestId('deploy-submit').click();
  await expect(page.getByTestId('app-name')).toHaveText(name);
  await expect(page.locator(`[data-testid="expose-route"][data-host="${host}"]`)).toBeVisible();
  await expect.poll(() => curl(host), { timeout: 30_000 }).toBe('200');
});
