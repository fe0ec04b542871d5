// The one fixture every spec runs under: it fails the test when a page of it raised an
// uncaught error or the Wasm app panicked. A panic in the browser kills the whole app (a
// release build aborts and the page goes blank), and a test that only looked at one element
// can still pass; this catches it wherever it happened, in any page the test opened.
//
// NB: failed requests are not errors here. Chromium logs every 4xx/5xx answer as a console
// error ("Failed to load resource: … 403"), and the isolation specs make such requests on
// purpose; only panics and uncaught errors count.
import { test as base, expect, BrowserContext } from '@playwright/test';

/** Console errors that mean the Wasm app broke. */
const FATAL = [/panicked at/, /already been disposed/, /RuntimeError: unreachable/, /RuntimeError: /];

export type BrowserErrors = {
  /** What went wrong in the browser so far; a spec may check it between steps to fail early. */
  browserErrors: string[];
};

function watch(context: BrowserContext, errors: string[]) {
  context.on('weberror', (e) => {
    const err = e.error();
    errors.push(`uncaught error in ${e.page()?.url() ?? 'a page'}: ${err.name}: ${err.message}`);
  });
  context.on('console', (msg) => {
    if (msg.type() === 'error' && FATAL.some((re) => re.test(msg.text()))) {
      errors.push(`console error in ${msg.page()?.url() ?? 'a page'}: ${msg.text()}`);
    }
  });
}

export const test = base.extend<BrowserErrors>({
  browserErrors: [
    async ({ context, browser }, use) => {
      const errors: string[] = [];
      watch(context, errors);
      // Specs that open more users' pages (`browser.newPage()` / `browser.newContext()`) get
      // them watched too: Playwright's `newPage` goes through `newContext`.
      const newContext = browser.newContext;
      browser.newContext = async (...args: Parameters<typeof browser.newContext>) => {
        const created = await newContext.apply(browser, args);
        watch(created, errors);
        return created;
      };
      try {
        await use(errors);
      } finally {
        browser.newContext = newContext;
      }
      expect(errors, 'the browser raised an error or the app panicked').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };
