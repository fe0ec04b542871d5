import { test, expect } from './fixtures';
import { login, loginAs } from './pages';

test('a wrong password is refused with a clear message', async ({ page }) => {
  await login(page, 'alice', 'not-her-password');
  await expect(page.getByTestId('login-error')).toContainText('Wrong user name or password');
  await expect(page).toHaveURL(/\/login$/);
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
