// The storage page (issue 17): the demo's classes named like Rook-Ceph's, a claim created,
// bound by the demo's provisioner, its files reached through a files pod, expanded and deleted
// with its name typed; a viewer sees the claims and no buttons.
import { test, expect } from './fixtures';
import { loginAs, uniqueName } from './pages';

test('alice creates a claim on the demo\'s Ceph block class, expands it and deletes it; vera only looks', async ({ page, browser }) => {
  test.setTimeout(120_000);
  const name = uniqueName('data');
  await loginAs(page, 'alice');
  await page.goto('/t/alpha');
  await page.getByTestId('nav-storage').click();
  await expect(page).toHaveURL(/\/t\/alpha\/storage$/);
  const block = page.locator('[data-testid=class-row][data-class="rook-ceph-block"]');
  await expect(block).toContainText('Ceph RBD block');
  await expect(block).toContainText('default');
  await expect(page.locator('[data-testid=class-row][data-class="rook-cephfs"]')).toContainText('CephFS shared');

  // a size that is not one: refused on the page, nothing sent
  await page.getByTestId('claim-name').fill(name);
  await page.getByTestId('claim-size-input').fill('1GB');
  await page.getByTestId('claim-create').click();
  await expect(page.getByTestId('action-error')).toContainText("'1GB' is not a storage size");

  await page.getByTestId('claim-size-input').fill('1Gi');
  await page.getByTestId('claim-create').click();
  await expect(page.getByTestId('notice')).toContainText('Claim created');
  const row = page.locator(`[data-testid=claim-row][data-claim="${name}"]`);
  await expect(row).toHaveAttribute('data-phase', 'Bound', { timeout: 30_000 });
  await expect(row.getByTestId('claim-size')).toHaveText('1Gi');

  // no pod mounts it: its files through a files pod alice starts, then stops
  await row.getByTestId('claim-files-open').click();
  const files = page.getByTestId('claim-files');
  // a state with what to do, not an error; nothing to upload through yet
  await expect(files.getByTestId('claim-files-why')).toContainText("no running pod mounts claim");
  await expect(files.getByTestId('error')).toHaveCount(0);
  await expect(files.getByTestId('claim-upload')).toBeHidden();
  await files.getByTestId('claim-files-start-pod').click();
  await expect(files.getByTestId('claim-files-through')).toContainText(`files-${name}-`, { timeout: 60_000 });
  await expect(files.getByTestId('claim-files-through')).toContainText('/data');
  await expect(files.getByTestId('claim-files-empty')).toBeVisible();
  await files.getByTestId('claim-upload-file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('kept') });
  await files.getByTestId('claim-upload').click();
  await expect(files.locator('[data-testid=file-row][data-name="notes.txt"]')).toContainText('4 B');
  await files.getByTestId('claim-files-stop-pod').click();
  await expect(files.getByTestId('claim-files-start-pod')).toBeVisible({ timeout: 30_000 });
  await files.getByTestId('claim-files-close').click();

  page.once('dialog', (d) => d.accept('2Gi'));
  await row.getByTestId('claim-expand').click();
  await expect(page.getByTestId('notice')).toContainText('Claim expanded');
  await expect(row.getByTestId('claim-size')).toHaveText('2Gi', { timeout: 30_000 });

  const vera = await browser.newPage();
  await loginAs(vera, 'vera');
  await vera.goto('/t/alpha/storage');
  await expect(vera.locator(`[data-testid=claim-row][data-claim="${name}"]`)).toBeVisible();
  await expect(vera.getByTestId('claim-delete')).toHaveCount(0);
  await expect(vera.getByTestId('claim-form')).toHaveCount(0);
  await vera.close();

  // the wrong name typed: refused, the claim stays
  page.once('dialog', (d) => d.accept('nope'));
  await row.getByTestId('claim-delete').click();
  await expect(page.getByTestId('action-error')).toContainText("type the claim's name");
  page.once('dialog', (d) => d.accept(name));
  await row.getByTestId('claim-delete').click();
  await expect(page.getByTestId('notice')).toContainText('Claim deleted');
  await expect(row).toHaveCount(0, { timeout: 30_000 });
});
