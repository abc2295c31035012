// Drives headless Chromium through the test page of the browser client
// (index.html beside this file, which imports browser/jwtd.js) with
// playwright-core. cmd/jwtd/spa_client_test.go starts jwtd (access_ttl 2s,
// leeway 0s), serves the page on another origin, and runs this with
// SPA_URL, JWTD_URL, CHROMIUM, NODE_DEPS (the folder whose node_modules
// has playwright-core) and PERIODS set. It counts refresh requests on the
// jwtd side (its /metrics) and prints one JSON line; the Go test judges it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const { SPA_URL, JWTD_URL, CHROMIUM, NODE_DEPS } = process.env;
const PERIODS = +(process.env.PERIODS || 20);
const { chromium } = createRequire(NODE_DEPS + '/')('playwright-core');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// jwtd's own count: POST /v1/refresh by status, and reuse detections.
async function metrics() {
  const text = await (await fetch(JWTD_URL + '/metrics')).text();
  const m = { refresh: {}, reuse: 0 };
  for (const line of text.split('\n')) {
    const r = line.match(/^jwtd_http_request_duration_seconds_count\{method="POST",route="\/v1\/refresh",status="(\d+)"\} (\d+)/);
    if (r) m.refresh[r[1]] = +r[2];
    const u = line.match(/^jwtd_refresh_reuse_detected_total (\d+)/);
    if (u) m.reuse = +u[1];
  }
  return m;
}
const total = (m) => Object.values(m.refresh).reduce((a, b) => a + b, 0);
function delta(a, b) {
  const d = { refresh: {}, reuse: b.reuse - a.reuse, requests: total(b) - total(a) };
  for (const [k, v] of Object.entries(b.refresh)) if (v - (a.refresh[k] || 0)) d.refresh[k] = v - (a.refresh[k] || 0);
  return d;
}

// session: GET /v1/session with a tab's token, from outside the browser.
async function session(token) {
  if (!token) return 0;
  return (await fetch(JWTD_URL + '/v1/session', { headers: { Authorization: 'Bearer ' + token } })).status;
}

// Chromium is started here, not by chromium.launch(): pages that
// Playwright opens get its focus emulation, which keeps them visible, and
// a visible page ignores Page.setWebLifecycleState frozen. The default
// context of a browser connected with noDefaults has none; the freeze
// phase runs there. Playwright's own launch flags against background
// timer throttling are kept, so hidden tabs keep their timers.
const profile = mkdtempSync(join(tmpdir(), 'jwtd-chromium-'));
const proc = spawn(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--user-data-dir=' + profile,
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
  '--host-resolver-rules=MAP localhost 127.0.0.1', '--remote-debugging-port=0', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
const exited = new Promise((r) => proc.once('exit', r));
let browser;
try {
  const ws = await new Promise((resolve, reject) => {
    let err = '';
    proc.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    exited.then(() => reject(new Error('chromium exited: ' + err)));
    setTimeout(() => reject(new Error('chromium did not start: ' + err)), 30000);
  });
  browser = await chromium.connectOverCDP(ws, { noDefaults: true });
} catch (e) {
  proc.kill('SIGKILL');
  throw e;
}

// tabs opens n tabs of the app in a fresh context (its own cookie jar,
// locks and channels), logs in in the first and starts the others.
async function tabs(n, mode = 'locks', context) {
  context = context || await browser.newContext();
  const pages = [];
  for (let i = 0; i < n; i++) {
    const page = await context.newPage();
    page.on('console', (m) => console.error(`tab ${i}:`, m.text()));
    page.on('pageerror', (e) => console.error(`tab ${i} error:`, e.message));
    await page.goto(`${SPA_URL}/?jwtd=${encodeURIComponent(JWTD_URL)}&mode=${mode}`);
    await page.waitForFunction(() => window.app);
    pages.push(page);
  }
  await pages[0].evaluate(() => window.app.login());
  for (const p of pages.slice(1)) await p.evaluate(() => window.app.start());
  return { context, pages };
}
const states = (pages) => Promise.all(pages.map((p) => p.evaluate(() => window.app.state())));

// until polls cond every 50 ms for up to ms; it returns whether it held.
async function until(cond, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(50);
  }
  return false;
}

// coincide: n tabs with jitter 0 share one token, so their refresh timers
// fire at the same instant every period. Run until jwtd has seen PERIODS+1
// refreshes (or 60 s), then report jwtd's counts and what the tabs saw.
async function coincide(n, mode) {
  const t = await tabs(n, mode);
  await sleep(300);
  const m0 = await metrics();
  const since = Date.now();
  const lock0 = (await states(t.pages)).reduce((a, s) => a + s.lockRequests, 0);
  await until(async () => total(await metrics()) - total(m0) >= PERIODS + 1, 60000);
  const m1 = await metrics();
  const st = await states(t.pages);
  const out = {
    tabs: n, mode, ms: Date.now() - since, jwtd: delta(m0, m1),
    lockRequests: st.reduce((a, s) => a + s.lockRequests, 0) - lock0,
    // every token a tab got from jwtd itself, during the phase (the rest came from peers)
    refreshes: st.flatMap((s, tab) => s.events.filter((e) => e.type === 'session' && e.source === 'refresh' && e.at >= since)
      .map((e) => ({ tab, at: e.at, jti: e.jti }))),
    logouts: st.reduce((a, s) => a + s.events.filter((e) => e.type === 'logout').length, 0),
    sessions: await Promise.all(st.map((s) => session(s.accessToken))),
  };
  return { t, out };
}

const result = {};
try {
  // Two and five tabs, Web Locks.
  const two = await coincide(2, 'locks');
  result.two = two.out;
  await two.t.context.close();
  const five = await coincide(5, 'locks');
  result.five = five.out;

  // Logout in one tab ends all five.
  const before = await states(five.t.pages);
  await five.t.pages[2].evaluate(() => window.app.logout());
  const ended = await until(async () => (await states(five.t.pages)).every((s) => s.accessToken === null), 5000);
  const after = await states(five.t.pages);
  result.logout = {
    ended,
    reasons: after.map((s) => (s.events.filter((e) => e.type === 'logout').at(-1) || {}).reason || ''),
    sessions: await Promise.all(before.map((s) => session(s.accessToken))),
    restart: await five.t.pages[0].evaluate(() => window.app.start()),
  };
  await five.t.context.close();

  // Freeze every tab past expiry (CDP Page.setWebLifecycleState), resume.
  {
    const t = await tabs(3, 'locks', browser.contexts()[0]);
    await sleep(1500);
    const cdp = await Promise.all(t.pages.map((p) => t.context.newCDPSession(p)));
    const held = await states(t.pages); // a frozen page cannot be asked
    await Promise.all(cdp.map((c) => c.send('Page.setWebLifecycleState', { state: 'frozen' })));
    await sleep(300); // a refresh in flight at the freeze lands
    const m0 = await metrics();
    await sleep(5000); // access_ttl is 2s
    const m1 = await metrics();
    const expired = await Promise.all(held.map((s) => session(s.accessToken)));
    const resumed = Date.now();
    await Promise.all(cdp.map((c) => c.send('Page.setWebLifecycleState', { state: 'active' })));
    const recovered = await until(async () => (await states(t.pages)).every((s) => s.events.some((e) => e.type === 'session' && e.at >= resumed)), 10000);
    const m2 = await metrics();
    const st = await states(t.pages);
    const lifecycle = await states(t.pages);
    result.freeze = {
      events: lifecycle.map((s) => [s.froze, s.resumed]),
      frozen: delta(m0, m1), expired, recovered, recoverMs: Date.now() - resumed, resume: delta(m1, m2),
      sessions: await Promise.all(st.map((s) => session(s.accessToken))),
    };
    for (const page of t.pages) await page.close(); // closing the default context would close the browser
  }

  // Cut the network (CDP offline emulation) past expiry, restore it.
  {
    const t = await tabs(2, 'locks');
    await sleep(1000);
    await t.context.setOffline(true);
    await sleep(300); // a refresh in flight at the cut lands
    const m0 = await metrics();
    await sleep(5000);
    const m1 = await metrics();
    const s1 = await states(t.pages);
    const restored = Date.now();
    await t.context.setOffline(false);
    const recovered = await until(async () => (await states(t.pages)).every((s) => s.events.some((e) => e.type === 'session' && e.at >= restored)), 15000);
    const m2 = await metrics();
    const st = await states(t.pages);
    result.offline = {
      offline: delta(m0, m1), sawOffline: s1.every((s) => !s.online), errors: s1.reduce((a, s) => a + s.events.filter((e) => e.type === 'error').length, 0),
      recovered, recoverMs: Date.now() - restored, restore: delta(m1, m2),
      sessions: await Promise.all(st.map((s) => session(s.accessToken))),
    };
    await t.context.close();
  }

  // The example SPA (examples/spa): sign in, a second tab shares the
  // session, signing out in it signs out the first.
  {
    const context = await browser.newContext();
    const [a, b] = [await context.newPage(), await context.newPage()];
    await a.goto(`${SPA_URL}/example/`);
    await a.fill('#user', 'bob');
    await a.click('#login button');
    const who = (p) => p.locator('#who').filter({ hasText: 'Signed in as' });
    await who(a).waitFor({ timeout: 10000 });
    await b.goto(`${SPA_URL}/example/`);
    await who(b).waitFor({ timeout: 10000 });
    result.example = { signedIn: await who(a).textContent(), otherTab: await who(b).textContent() };
    await b.click('#logout');
    await a.locator('#login').waitFor({ state: 'visible', timeout: 10000 });
    await b.locator('#login').waitFor({ state: 'visible', timeout: 10000 });
    result.example.signedOut = true;
    await context.close();
  }

  // Without Web Locks: the BroadcastChannel election, five tabs.
  const fb = await coincide(5, 'fallback');
  result.fallback = fb.out;
  await fb.t.context.close();
} finally {
  await browser.close();
  proc.kill();
  if (await Promise.race([exited.then(() => true), sleep(10000).then(() => false)]) === false) {
    proc.kill('SIGKILL');
    await exited;
  }
  // Best effort: a helper process may still be writing to the profile.
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  } catch (e) {
    console.error('driver: could not remove', profile, e.message);
  }
}
console.log(JSON.stringify(result));
