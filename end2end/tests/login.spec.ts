import { test, expect } from './fixtures';
import { login, loginAs } from './pages';

test('a wrong password is refused with a clear message, and counted for the platform admins', async ({ browser }) => {
  const page = await browser.newPage();
  await login(page, 'vera', 'not-her-password');
  await expect(page.getByTestId('login-error')).toContainText('Wrong user name or password');
  await expect(page).toHaveURL(/\/login$/);
  const admin = await browser.newPage();
  await loginAs(admin, 'admin');
  await admin.goto('/admin/users');
  // at least this one (other specs may have failed too); cleared by vera's next good login
  await expect(admin.locator('[data-testid=user-row][data-name=vera] [data-testid=user-failed-logins]')).toHaveText(/^[1-9]\d* \(/);
});

test('logging in opens the first tenant, logging out returns to the login page', async ({ page }) => {
  await loginAs(page, 'alice');
  await expect(page).toHaveURL(/\/t\/alpha$/);
  await expect(page.getByTestId('apps-table').getByTestId('app-row').first()).toBeVisible();
  await page.getByTestId('logout').click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/t/alpha');
  await expect(page).toHaveURL(/\/login$/);
});

test('the console speaks Chinese and has a dark theme', async ({ page }) => {
  await loginAs(page, 'alice');
  await page.getByTestId('lang-toggle').click();
  await expect(page.getByTestId('tab-apps')).toContainText('应用');
  await page.getByTestId('theme-toggle').click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
});

test("the server's refusals read in the page's language", async ({ page }) => {
  await loginAs(page, 'alice');
  await page.getByTestId('lang-toggle').click();
  await expect(page.getByTestId('tab-apps')).toContainText('应用');
  await page.goto('/t/alpha/deploy');
  // `orders` is one of the demo's apps in alpha: the server refuses a second one of that name
  await page.getByTestId('deploy-name').fill('orders');
  await page.getByTestId('deploy-image').fill('nginx:1.25');
  await page.getByTestId('deploy-submit').click();
  const error = page.getByTestId('deploy-errors');
  await expect(error).toContainText('orders');
  await expect(error).toHaveText(/[\u4e00-\u9fff]/);
  await expect(error).not.toContainText('already exists');
  // and in English again when the reader switches back, without asking the server again
  await page.getByTestId('lang-toggle').click();
  await expect(error).toContainText('already exists');
});
