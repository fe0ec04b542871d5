import { test, expect } from './fixtures';
import { deploy, kubectl, loginAs, uniqueName } from './pages';

test('deploy an app, scale it, upgrade its image, restart-free rollout, delete it', async ({ page }) => {
  const name = uniqueName('web');
  await loginAs(page, 'alice');
  await deploy(page, 'alpha', { name, image: 'nginx:1.25', replicas: 1, port: 8080 });

  const pods = page.getByTestId('app-pods').getByTestId('pod-row');
  await expect(pods).toHaveCount(1);
  await expect(pods.first().getByTestId('pod-status')).toHaveText('Running');

  await page.getByTestId('scale-input').fill('3');
  await page.getByTestId('scale-button').click();
  await expect(page.getByTestId('rollout')).toHaveText('3 / 3');
  await expect(pods.getByTestId('pod-status').filter({ hasText: 'Running' })).toHaveCount(3);

  await page.getByTestId('image-input').fill('nginx:1.27');
  await page.getByTestId('image-button').click();
  await expect(page.getByTestId('app-image')).toHaveText('nginx:1.27');
  // the rollout replaces every pod with one on the new image
  await expect(pods.getByTestId('pod-image').filter({ hasText: 'nginx:1.27' })).toHaveCount(3);
  await expect(pods.getByTestId('pod-image').filter({ hasText: 'nginx:1.25' })).toHaveCount(0);
  await expect(page.getByTestId('app-health')).toHaveText('Running');

  await page.getByTestId('delete-button').click();
  await expect(page.getByTestId('delete-confirm')).toBeDisabled();
  await page.getByTestId('delete-confirm-input').fill(name);
  await page.getByTestId('delete-confirm').click();
  await expect(page).toHaveURL(/\/t\/alpha$/);
  await expect(page.locator(`[data-testid=app-row][data-name="${name}"]`)).toHaveCount(0);
});

test('a change made with kubectl appears live, without a reload', async ({ page }) => {
  const name = uniqueName('live');
  await loginAs(page, 'alice');
  await deploy(page, 'alpha', { name, image: 'nginx:1.25', replicas: 1 });
  await expect(page.getByTestId('rollout')).toHaveText('1 / 1');
  kubectl('-n', 'alpha', 'scale', `deployment/${name}`, '--replicas=2');
  await expect(page.getByTestId('rollout')).toHaveText('2 / 2');
  kubectl('-n', 'alpha', 'delete', 'deployment', name);
  await expect(page.getByTestId('app-gone')).toBeVisible();
});

test('bad input in the deploy form is explained and nothing is created', async ({ page }) => {
  await loginAs(page, 'alice');
  await page.goto('/t/alpha/deploy');
  await page.getByTestId('deploy-name').fill('Bad_Name');
  await page.getByTestId('deploy-image').fill('not an image');
  await page.getByTestId('deploy-replicas').fill('-2');
  await page.getByTestId('deploy-submit').click();
  const errors = page.getByTestId('deploy-errors');
  await expect(errors).toContainText('name:');
  await expect(errors).toContainText('image:');
  await expect(errors).toContainText('replicas:');
  await expect(page).toHaveURL(/\/deploy$/);
  expect(kubectl('-n', 'alpha', 'get', 'deployments', '-o', 'name')).not.toContain('Bad_Name');
});

test('editing YAML: an error is shown beside the editor and nothing changes', async ({ page }) => {
  const name = uniqueName('yaml');
  await loginAs(page, 'alice');
  await deploy(page, 'alpha', { name, image: 'nginx:1.25' });
  await page.getByTestId('yaml-open').click();
  const editor = page.getByTestId('yaml-text');
  await expect(editor).toHaveValue(/kind: Deployment/);
  await editor.fill('kind: Deployment\nmetadata: [unclosed');
  await page.getByTestId('yaml-save').click();
  await expect(page.getByTestId('yaml-error')).toContainText('YAML');
  // a valid document the API server refuses: replicas must be a number
  await page.getByTestId('yaml-reload').click();
  await expect(editor).toHaveValue(/kind: Deployment/);
  const text = await editor.inputValue();
  await editor.fill(text.replace(/replicas: \d+/, 'replicas: lots'));
  await page.getByTestId('yaml-save').click();
  await expect(page.getByTestId('yaml-error')).toBeVisible();
  expect(kubectl('-n', 'alpha', 'get', 'deployment', name, '-o', 'jsonpath={.spec.replicas}')).toBe('1');
  kubectl('-n', 'alpha', 'delete', 'deployment', name);
});

test('an upgrade gone bad is rolled back from the Revisions section', async ({ page }) => {
  const name = uniqueName('undo');
  await loginAs(page, 'alice');
  await deploy(page, 'alpha', { name, image: 'nginx:1.25', replicas: 2 });
  const pods = page.getByTestId('app-pods').getByTestId('pod-row');
  await expect(pods.getByTestId('pod-image').filter({ hasText: 'nginx:1.25' })).toHaveCount(2);

  await page.getByTestId('image-input').fill('nginx:1.27');
  await page.getByTestId('image-button').click();
  await expect(pods.getByTestId('pod-image').filter({ hasText: 'nginx:1.27' })).toHaveCount(2);
  await expect(pods.getByTestId('pod-image').filter({ hasText: 'nginx:1.25' })).toHaveCount(0);

  const rows = page.getByTestId('revisions-table').getByTestId('revision-row');
  await expect(rows).toHaveCount(2);
  const current = page.locator('[data-testid=revision-row][data-current=true]');
  await expect(current).toHaveAttribute('data-revision', '2');
  await expect(current).toContainText('image set to nginx:1.27 by alice');
  await expect(current.getByTestId('rollback-button')).toHaveCount(0);

  const first = page.locator('[data-testid=revision-row][data-revision="1"]');
  await expect(first.getByTestId('revision-image')).toHaveText('nginx:1.25');
  await first.getByTestId('rollback-button').click();
  await expect(page.getByTestId('rollback-dialog')).toContainText('nginx:1.25');
  await page.getByTestId('rollback-confirm').click();

  await expect(page.getByTestId('app-image')).toHaveText('nginx:1.25');
  await expect(pods.getByTestId('pod-image').filter({ hasText: 'nginx:1.25' })).toHaveCount(2);
  await expect(pods.getByTestId('pod-image').filter({ hasText: 'nginx:1.27' })).toHaveCount(0);
  // the old ReplicaSet came back as revision 3; no third ReplicaSet was made
  await expect(current).toHaveAttribute('data-revision', '3');
  await expect(current).toContainText('rolled back to revision 1 by alice');
  await expect(rows).toHaveCount(2);
  expect(kubectl('-n', 'alpha', 'get', 'replicasets', '-l', `app=${name}`, '-o', 'name').trim().split('\n')).toHaveLength(2);
  kubectl('-n', 'alpha', 'delete', 'deployment', name);
});
