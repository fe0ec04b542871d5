// A pipeline from an uploaded zip (issue 18): alice designs it with "upload a jar, war or zip"
// as its source (a file that is not a zip is refused first), sees the file's SHA-256, picks a
// base image and a start command; the run skips build and quality and builds the image; "deploy
// as a new app" opens the form prefilled with the image and the port, exposed through nginx;
// the new app's pod runs the zip's start command and answers with the zip's page.
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test, expect } from './fixtures';
import { loginAs, uniqueName } from './pages';

/** A zip of `files`, made with Python's zipfile (python3 comes with scripts/setup.sh). */
function zipOf(dir: string, name: string, files: Record<string, string>): string {
  for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), content);
  const out = path.join(dir, name);
  execFileSync('python3', ['-m', 'zipfile', '-c', out, ...Object.keys(files)], { cwd: dir });
  return out;
}

/** The body of a GET through the demo's nginx node-1 with this Host. */
function curl(host: string, urlPath: string): string {
  try {
    return execFileSync('curl', ['-s', '--max-time', '5', '-H', `Host: ${host}`, `http://127.0.0.1:8081${urlPath}`],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e: any) {
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

test('a pipeline from an uploaded zip builds an image that deploys as a new app and answers on its port', async ({ page }) => {
  test.setTimeout(240_000);
  const app = uniqueName('site');
  const pipeline = `${app}-ci`;
  const host = `${app}.alpha.demo`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-artifact-'));
  const text = `hello from the uploaded zip of ${app}`;
  const zip = zipOf(dir, 'site.zip', { 'index.html': `<h1>${text}</h1>\n` });
  const sha = crypto.createHash('sha256').update(fs.readFileSync(zip)).digest('hex');
  const notZip = path.join(dir, 'app.jar');
  fs.writeFileSync(notZip, '#!/bin/sh\necho this is no jar\n');

  await loginAs(page, 'alice');
  await page.goto('/t/alpha/pipelines');
  await page.getByTestId('new-pipeline').click();
  await page.getByTestId('pipeline-name').fill(pipeline);
  await page.getByTestId('pipeline-app').fill(app);
  const card = (kind: string) => page.locator(`[data-testid=stage-card][data-kind="${kind}"]`);
  await card('source').getByTestId('source-artifact').check();
  await expect(card('source').getByTestId('field-git-url')).toHaveCount(0);
  // build (and quality) are skipped for an artifact, and the cards say so
  await expect(card('build').getByTestId('stage-skipped')).toBeVisible();

  // a file that is not a zip: refused by the server, with the reason
  await card('source').getByTestId('field-artifact-file').setInputFiles(notZip);
  await expect(card('source').getByTestId('artifact-error')).toContainText('not a jar, war or zip');
  await expect(card('source').getByTestId('artifact-uploaded')).toHaveCount(0);

  await card('source').getByTestId('field-artifact-file').setInputFiles(zip);
  await expect(card('source').getByTestId('artifact-sha256')).toHaveText(sha);
  await expect(card('source').getByTestId('artifact-name')).toHaveText('site.zip');
  await expect(card('source').getByTestId('artifact-error')).toHaveCount(0);
  await card('source').getByTestId('field-base-image').selectOption('python3');
  await card('source').getByTestId('field-start-command').fill('exec python3 -m http.server 8080 --bind "${POD_IP:-0.0.0.0}"');
  await expect(card('source').getByTestId('field-artifact-port')).toHaveValue('8080');
  await card('image').getByTestId('field-repository').fill(`alpha/${app}`);
  await expect(card('image').getByTestId('dockerfile-written')).toBeVisible();
  await page.getByTestId('dockerfile-preview').click();
  await expect(page.getByTestId('dockerfile-final')).toContainText('FROM python:3.11-slim');
  await expect(page.getByTestId('dockerfile-final')).toContainText('EXPOSE 8080');
  await page.getByTestId('save-pipeline').click();
  await expect(page).toHaveURL(new RegExp(`/t/alpha/pipelines/alpha/${pipeline}$`));

  await page.getByTestId('run-pipeline').click();
  await expect(page).toHaveURL(new RegExp(`/runs/${pipeline}-1$`));
  await expect(page.getByTestId('run-phase')).toHaveText('Succeeded', { timeout: 90_000 });
  await expect(page.locator('[data-testid=run-stage][data-stage="build"]')).toHaveAttribute('data-phase', 'Skipped');
  await expect(page.locator('[data-testid=run-stage][data-stage="image"]')).toHaveAttribute('data-phase', 'Succeeded');
  const image = (await page.getByTestId('run-image').textContent())!.trim();
  expect(image).toContain(`registry.wharf.local:5000/alpha/${app}:build-1@sha256:`);

  // the app does not exist: the deploy form, prefilled with the image and the artifact's port
  await page.getByTestId('quick-deploy-new').click();
  await expect(page.getByTestId('deploy-image')).toHaveValue(image);
  await expect(page.getByTestId('deploy-port')).toHaveValue('8080');
  await page.getByTestId('deploy-expose').check();
  await page.getByTestId('deploy-expose-host').fill(host);
  await page.getByTestId('deploy-submit').click();
  await expect(page.getByTestId('app-name')).toHaveText(app);
  await expect(page.getByTestId('app-health')).toHaveText(/Running|运行中/, { timeout: 60_000 });
  // the pod runs the zip's start command: python serves the zip's page
  await expect.poll(() => curl(host, '/index.html'), { timeout: 60_000 }).toContain(text);
});
