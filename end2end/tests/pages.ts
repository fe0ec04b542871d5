// Page objects for the console: each method is something a user does.
import { expect, Page, APIRequestContext } from '@playwright/test';
import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const PASSWORD = 'wharf-demo';
/** The demo's data folder (the config's `--data`). */
export const DEMO_DATA = process.env.WHARF_E2E_DATA ?? path.resolve(__dirname, '../../target/e2e-demo');
export const KUBECONFIG = path.join(DEMO_DATA, 'kubeconfig');

export async function login(page: Page, user: string, password = PASSWORD) {
  await page.goto('/login');
  await page.getByTestId('login-user').fill(user);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
}

export async function loginAs(page: Page, user: string) {
  await login(page, user);
  await expect(page.getByTestId('user-name')).toHaveText(user);
}

/** Calls a server function directly, as a script would, with the page's cookies. */
export async function callServerFn(request: APIRequestContext, name: string, args: object) {
  return request.post(`/api/${name}`, { data: args, headers: { 'content-type': 'application/json' } });
}

/**
 * The kubectl the project installs (`make setup-test` builds it with the real kube-apiserver),
 * never whichever one the machine has on PATH; `KUBECTL` names another. Its own discovery cache
 * under the demo's data folder, so an earlier demo on the same port is never remembered.
 */
export const KUBECTL = process.env.KUBECTL ?? '/opt/kube-real/bin/kubectl-1.20';

function kubectlArgs(kubeconfig: string, args: string[]): string[] {
  if (!fs.existsSync(KUBECTL)) {
    throw new Error(`${KUBECTL} is missing: \`make setup-test\` (or bash scripts/setup.sh --real-cluster) builds it`);
  }
  return ['--kubeconfig', kubeconfig, '--cache-dir', path.join(DEMO_DATA, 'kube-cache'), ...args];
}

/** kubectl as the demo's admin. */
export function kubectl(...args: string[]): string {
  return kubectlWith(KUBECONFIG, ...args);
}

/** kubectl with another kubeconfig (a node agent's, say); throws with kubectl's stderr. */
export function kubectlWith(kubeconfig: string, ...args: string[]): string {
  return execFileSync(KUBECTL, kubectlArgs(kubeconfig, args), { encoding: 'utf8', stdio: 'pipe' });
}

/** The same without blocking the test while it runs (for work going on in the background). */
export function kubectlAsync(...args: string[]): Promise<string> {
  const argv = kubectlArgs(KUBECONFIG, args);
  return new Promise((resolve, reject) =>
    execFile(KUBECTL, argv, { encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
}

/** A name no other test uses, so specs never depend on each other's leftovers. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}`;
}

export async function deploy(page: Page, tenant: string, app: { name: string; image: string; replicas?: number; port?: number }) {
  await page.goto(`/t/${tenant}`);
  await page.getByTestId('deploy-button').click();
  await page.getByTestId('deploy-name').fill(app.name);
  await page.getByTestId('deploy-image').fill(app.image);
  await page.getByTestId('deploy-replicas').fill(String(app.replicas ?? 1));
  await page.getByTestId('deploy-port').fill(String(app.port ?? 8080));
  await page.getByTestId('deploy-submit').click();
  await expect(page.getByTestId('app-name')).toHaveText(app.name);
}
