// Drives Debian's Chromium (headless) through the test SPA with
// playwright-core. cmd/jwtd/browser_test.go serves the SPA and starts jwtd,
// then runs this with SPA_URL, JWTD_URL, COOKIE_NAME and CHROMIUM set. It
// prints one JSON line with everything it saw; the Go test judges it.
import { chromium } from 'playwright-core';

const { SPA_URL, JWTD_URL, COOKIE_NAME, CHROMIUM } = process.env;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP localhost 127.0.0.1'],
});
const result = {};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => console.error('page:', m.text()));
  await page.goto(`${SPA_URL}/?jwtd=${encodeURIComponent(JWTD_URL)}`);
  result.first = await page.evaluate(() => window.loginAndRefresh());

  // What the browser holds for jwtd's host: the refresh cookie, and its attributes.
  result.cookies = (await context.cookies(JWTD_URL)).map(({ name, httpOnly, secure, sameSite, path, domain }) => ({ name, httpOnly, secure, sameSite, path, domain }));

  // Even a page on jwtd's own origin cannot read it: HttpOnly.
  await page.goto(`${JWTD_URL}/healthz`);
  result.jwtdOriginDocumentCookie = await page.evaluate(() => document.cookie);

  await page.goto(`${SPA_URL}/?jwtd=${encodeURIComponent(JWTD_URL)}`);
  result.second = await page.evaluate(() => window.reloadRefreshLogout());
  result.cookiesAfterLogout = (await context.cookies(JWTD_URL)).map((c) => c.name);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
