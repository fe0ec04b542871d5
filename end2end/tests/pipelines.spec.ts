import { Page } from '@playwright/test';
import { test, expect } from './fixtures';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DEMO_DATA, callServerFn, deploy, loginAs, uniqueName } from './pages';

/** The demo node's shared folder: its sandboxed containers can read nothing else of this host. */
const SHARED = path.join(DEMO_DATA, 'cluster', 'nodes', '.shared');

/** A git repository made for the test: a tiny project whose build writes an artifact. */
function makeRepo(build: string, extra: Record<string, string> = {}): { url: string; head: string } {
  const dir = fs.mkdtempSync(path.join(SHARED, 'e2e-repo-'));
  fs.chmodSync(dir, 0o755);
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=E2E', '-c', 'user.email=e2e@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd: dir, encoding: 'utf8' }).trim();
  git('init', '-q');
  fs.writeFileSync(path.join(dir, 'build.sh'), build);
  fs.writeFileSync(path.join(dir, 'App.java'), 'class App {}\n');
  for (const [name, content] of Object.entries(extra)) fs.writeFileSync(path.join(dir, name), content);
  git('add', '-A');
  git('commit', '-q', '-m', 'first');
  return { url: `file://${dir}`, head: git('rev-parse', 'HEAD') };
}

const BUILD = 'echo compiling App.java\nfor i in 1 2 3; do echo "step $i of the build"; sleep 0.3; done\nmkdir -p target && echo jar > target/app.jar\necho BUILD SUCCESS\n';

/** Designs a pipeline on the page: the default cards, filled in, plus a quality stage. */
async function design(page: Page, name: string, app: string, repoUrl: string, quality: boolean) {
  await page.goto('/t/alpha/pipelines');
  await page.getByTestId('new-pipeline').click();
  await page.getByTestId('pipeline-name').fill(name);
  await page.getByTestId('pipeline-app').fill(app);
  const card = (kind: string) => page.locator(`[data-testid=stage-card][data-kind="${kind}"]`);
  await expect(card('source')).toBeVisible();
  await card('source').getByTestId('field-git-url').fill(repoUrl);
  await card('source').getByTestId('field-git-ref').fill('main');
  await card('build').getByTestId('field-build-image').fill('maven:3.9-eclipse-temurin-17');
  await card('build').getByTestId('field-build-command').fill('sh build.sh');
  if (quality) {
    await page.getByTestId('add-quality').click();
    await card('quality').getByTestId('field-sonar-url').fill('http://sonar.example.com');
  }
  await card('image').getByTestId('field-repository').fill(`alpha/${app}`);
  await card('image').getByTestId('field-dockerfile').fill('FROM eclipse-temurin:17-jre\nCOPY target/app.jar /app.jar\nCMD ["java", "-jar", "/app.jar"]\n');
  // the stages are in the order they run
  await expect(page.getByTestId('stage-card')).toHaveCount(quality ? 5 : 4);
  await page.getByTestId('save-pipeline').click();
  await expect(page).toHaveURL(new RegExp(`/t/alpha/pipelines/alpha/${name}$`));
}

test('design a pipeline, run it, watch its log, see the quality verdict, quick-deploy it and see the pods roll', async ({ page }) => {
  test.setTimeout(240_000);
  const app = uniqueName('built');
  const pipeline = `${app}-ci`;
  const repo = makeRepo(BUILD);
  await loginAs(page, 'alice');
  await deploy(page, 'alpha', { name: app, image: 'nginx:1.25', replicas: 2, port: 8080 });
  await design(page, pipeline, app, repo.url, true);

  await page.getByTestId('run-pipeline').click();
  await expect(page).toHaveURL(new RegExp(`/runs/${pipeline}-1$`));
  // the build's log streams in while it runs
  await page.locator('[data-testid=run-stage][data-stage=build]').click();
  await expect(page.getByTestId('log-stage')).toHaveText('build');
  await expect(page.getByTestId('log-text').filter({ hasText: 'step 2 of the build' })).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('log-text').filter({ hasText: 'BUILD SUCCESS' })).toBeVisible({ timeout: 60_000 });

  await expect(page.getByTestId('run-phase')).toHaveText('Succeeded', { timeout: 90_000 });
  await expect(page.getByTestId('run-commit')).toHaveText(repo.head);
  await expect(page.getByTestId('run-quality')).toHaveText('passed');
  await expect(page.getByTestId('run-image')).toContainText(`registry.wharf.local:5000/alpha/${app}:build-1-passed@sha256:`);
  for (const stage of ['clone', 'build', 'quality', 'image']) {
    await expect(page.locator(`[data-testid=run-stage][data-stage="${stage}"]`)).toHaveAttribute('data-phase', 'Succeeded');
  }
  const image = (await page.getByTestId('run-image').textContent())!.trim();

  // the run's logs are searchable in the log viewer like any container's
  const runUrl = page.url();
  await page.getByTestId('open-in-logs').click();
  await expect(page.getByTestId('logs-app')).toHaveValue(`alpha/pipeline:${pipeline}`);
  await page.getByTestId('logs-container').selectOption('build');
  await page.getByTestId('logs-search').fill('step 2');
  await page.getByTestId('logs-search-submit').click();
  await expect(page.getByTestId('log-text')).toHaveCount(1);
  await expect(page.getByTestId('log-text')).toHaveText('step 2 of the build');
  await page.goto(runUrl);

  await page.getByTestId('quick-deploy').click();
  await expect(page.getByTestId('notice')).toContainText(image);
  await expect(page.getByTestId('run-deployed')).toContainText('alice');

  // the app's pods roll to the built image
  await page.goto(`/t/alpha/apps/alpha/${app}`);
  await expect(page.getByTestId('app-image')).toHaveText(image);
  const pods = page.getByTestId('app-pods').getByTestId('pod-row');
  await expect(pods.getByTestId('pod-image').filter({ hasText: image })).toHaveCount(2, { timeout: 60_000 });
  await expect(pods.getByTestId('pod-image').filter({ hasText: 'nginx:1.25' })).toHaveCount(0, { timeout: 60_000 });
  // and the app shows its pipeline's last result
  await expect(page.getByTestId('app-pipelines').getByTestId('run-badge')).toHaveAttribute('data-phase', 'Succeeded');
});

test('a run for an app that does not exist yet deploys it as a new app from the prefilled form', async ({ page }) => {
  test.setTimeout(180_000);
  const app = uniqueName('fresh');
  const pipeline = `${app}-ci`;
  const repo = makeRepo(BUILD);
  await loginAs(page, 'alice');
  await design(page, pipeline, app, repo.url, false);
  await page.getByTestId('run-pipeline').click();
  await expect(page.getByTestId('run-phase')).toHaveText('Succeeded', { timeout: 90_000 });
  const image = (await page.getByTestId('run-image').textContent())!.trim();
  const runUrl = page.url();
  // nothing to set the image of: the button opens the deploy form instead
  await expect(page.getByTestId('quick-deploy')).toHaveCount(0);
  await page.getByTestId('quick-deploy-new').click();
  await expect(page).toHaveURL(/\/t\/alpha\/deploy\?/);
  await expect(page.getByTestId('deploy-name')).toHaveValue(app);
  await expect(page.getByTestId('deploy-image')).toHaveValue(image);
  await expect(page.getByTestId('deploy-namespace')).toHaveValue('alpha');
  await page.getByTestId('deploy-submit').click();
  await expect(page.getByTestId('app-name')).toHaveText(app);
  await expect(page.getByTestId('app-image')).toHaveText(image);
  // the run knows it was deployed, and now offers the ordinary quick deploy
  await page.goto(runUrl);
  await expect(page.getByTestId('run-deployed')).toContainText('alice');
  await expect(page.getByTestId('quick-deploy')).toBeVisible();
  await expect(page.getByTestId('quick-deploy-new')).toHaveCount(0);
});

test('a failing build shows the failing stage and its log lines; a retry is a new run', async ({ page }) => {
  const app = uniqueName('broken');
  const repo = makeRepo("echo 'App.java:3: error: cannot find symbol'\nexit 3\n");
  await loginAs(page, 'alice');
  await design(page, app, app, repo.url, false);
  await page.getByTestId('run-pipeline').click();
  await expect(page.getByTestId('run-phase')).toHaveText('Failed', { timeout: 90_000 });
  await expect(page.getByTestId('run-message')).toHaveText("stage 'build' failed with exit code 3");
  await expect(page.locator('[data-testid=run-stage][data-stage=build]')).toHaveAttribute('data-phase', 'Failed');
  await expect(page.locator('[data-testid=run-stage][data-stage=image]')).toHaveAttribute('data-phase', 'Skipped');
  // the failed stage's log is the one shown
  await expect(page.getByTestId('log-stage')).toHaveText('build');
  await expect(page.getByTestId('log-text').filter({ hasText: 'cannot find symbol' })).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('quick-deploy')).toHaveCount(0);

  await page.getByTestId('retry-run').click();
  await expect(page).toHaveURL(new RegExp(`/runs/${app}-2$`));
  await expect(page.getByTestId('run-phase')).toHaveText('Failed', { timeout: 90_000 });
});

test('cancel stops a running build', async ({ page }) => {
  const app = uniqueName('slow');
  const repo = makeRepo('echo started\nsleep 600\n');
  await loginAs(page, 'alice');
  await design(page, app, app, repo.url, false);
  await page.getByTestId('run-pipeline').click();
  await expect(page.locator('[data-testid=run-stage][data-stage=build]')).toHaveAttribute('data-phase', 'Running', { timeout: 60_000 });
  await page.getByTestId('cancel-run').click();
  await expect(page.getByTestId('run-phase')).toHaveText('Cancelled', { timeout: 60_000 });
  await expect(page.getByTestId('run-message')).toHaveText('cancelled by alice');
});

test('the designer explains a bad design and saves nothing', async ({ page }) => {
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/pipelines/new');
  const name = uniqueName('bad');
  await page.getByTestId('pipeline-name').fill(name);
  await page.getByTestId('pipeline-app').fill('shop-web');
  const card = (kind: string) => page.locator(`[data-testid=stage-card][data-kind="${kind}"]`);
  await card('source').getByTestId('field-git-url').fill('github.com/team/app');
  await card('build').getByTestId('field-build-command').fill('');
  await card('image').getByTestId('field-dockerfile').fill('RUN make\n');
  // moving the deploy card up breaks the order
  await card('deploy').getByTestId('stage-up').click();
  await page.getByTestId('save-pipeline').click();
  const errors = page.getByTestId('pipeline-errors');
  await expect(errors).toContainText("git URL 'github.com/team/app'");
  await expect(errors).toContainText('build command is empty');
  await expect(errors).toContainText('RUN before FROM');
  await expect(errors).toContainText('the deploy stage comes last');
  await expect(page).toHaveURL(/\/pipelines\/new$/);
  const res = await callServerFn(page.request, 'pipelines', { tenant: 'alpha' });
  const view = await res.json();
  expect(view.pipelines.map((p: { name: string }) => p.name)).not.toContain(name);
});

test('beta sees none of alpha\'s pipelines, and a viewer cannot run one', async ({ browser }) => {
  const repo = makeRepo(BUILD);
  const name = uniqueName('private');
  const alice = await browser.newPage();
  await loginAs(alice, 'alice');
  await design(alice, name, name, repo.url, false);

  const bob = await browser.newPage();
  await loginAs(bob, 'bob');
  await bob.goto('/t/beta/pipelines');
  await expect(bob.getByTestId('no-pipelines')).toBeVisible();
  const res = await callServerFn(bob.request, 'start_run', { tenant: 'alpha', namespace: 'alpha', pipeline: name });
  expect(res.status()).toBe(403);

  const vera = await browser.newPage();
  await loginAs(vera, 'vera');
  await vera.goto(`/t/alpha/pipelines/alpha/${name}`);
  await expect(vera.getByTestId('no-runs')).toBeVisible();
  await expect(vera.getByTestId('run-pipeline')).toHaveCount(0);
  await vera.goto('/t/alpha/pipelines');
  await expect(vera.locator(`[data-testid=pipeline-row][data-name=${name}]`)).toBeVisible();
  await expect(vera.getByTestId('pipeline-run-now')).toHaveCount(0);
  const refused = await callServerFn(vera.request, 'start_run', { tenant: 'alpha', namespace: 'alpha', pipeline: name });
  expect(refused.status()).toBe(403);
});

test('the demo comes with a pipeline for orders over a local git repository', async ({ page }) => {
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/pipelines');
  const row = page.locator('[data-testid=pipeline-row][data-name=orders-ci]');
  await expect(row).toBeVisible();
  await expect(row).toContainText('source → build → quality → debug tools → image → deploy');

  // Run it from the list: the run's page follows it to the end, and the list shows the result.
  await row.getByTestId('pipeline-run-now').click();
  await expect(page).toHaveURL(/\/t\/alpha\/pipelines\/alpha\/orders-ci\/runs\/orders-ci-\d+$/);
  await expect(page.getByTestId('run-phase')).toHaveText('Succeeded', { timeout: 90_000 });
  await page.goto('/t/alpha/pipelines');
  await expect(row.getByTestId('run-badge')).toHaveAttribute('data-phase', 'Succeeded');
});
