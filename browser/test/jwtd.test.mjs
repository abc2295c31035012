import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createClient, createChallenge, createVerifier, pkce, JwtdError } from '../jwtd.js';
import { fakeJwtd, fakeLocks, sleep, waitFor } from './helpers.mjs';

const ISSUER = 'https://auth.example';
let channel = 0;

// tabs opens n clients of one app in one browser: one jar, one lock
// manager (or none), one channel name. They are closed after the test.
function tabs(t, n, jwtd, opts = {}) {
  const name = 'jwtd-test-' + ++channel;
  const locks = opts.locks === null ? null : fakeLocks();
  const all = Array.from({ length: n }, () => createClient({ issuer: ISSUER, fetch: jwtd.fetch, locks, name, settle: 20, electMs: 30, ...opts }));
  t.after(() => all.forEach((c) => c.close()));
  return all;
}

test('PKCE: verifier and S256 challenge', async (t) => {
  await t.test('RFC 7636 appendix B', async () => {
    const got = await createChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk');
    assert.equal(got, 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', 'createChallenge(appendix B verifier)');
  });
  await t.test('verifier is 43 unreserved characters, fresh each time', async () => {
    const a = createVerifier();
    assert.match(a, /^[A-Za-z0-9_-]{43}$/, `createVerifier(): got ${a}`);
    assert.notEqual(a, createVerifier(), 'createVerifier() twice: got the same verifier');
  });
  await t.test('pkce pairs them', async () => {
    const { verifier, challenge } = await pkce();
    assert.equal(challenge, await createChallenge(verifier), 'pkce(): challenge is not S256(verifier)');
  });
});

test('exchange sends the code with credentials and the CSRF header, and every tab gets the token', async (t) => {
  const jwtd = fakeJwtd();
  const [a, b] = tabs(t, 2, jwtd);
  const seen = [];
  b.on('session', (e) => seen.push(e));
  const got = await a.exchange('the-code', 'the-verifier');
  const r = jwtd.requests[0];
  assert.deepEqual([r.path, r.method, r.credentials, r.xrw], ['/v1/sessions/exchange', 'POST', 'include', 'jwtd'], 'exchange request');
  assert.deepEqual(JSON.parse(r.body), { code: 'the-code', code_verifier: 'the-verifier' }, 'exchange body');
  assert.equal(got, a.accessToken, 'exchange(): resolves with the access token');
  await waitFor(() => b.accessToken === got);
  assert.equal(seen[0].source, 'peer', 'session event in the other tab: source');
});

test('exchange refused: a JwtdError with status and code', async (t) => {
  const [a] = tabs(t, 1, {
    fetch: async () => new Response(JSON.stringify({ error: 'invalid_grant', error_description: 'code is invalid' }), { status: 400 }),
  });
  await assert.rejects(a.exchange('x', 'y'), (e) => e instanceof JwtdError && e.status === 400 && e.error === 'invalid_grant');
});

// Every tab wants to refresh at the same instant; one request goes out.
for (const [label, opts] of [['Web Locks', {}], ['fallback election without Web Locks', { locks: null }]]) {
  for (const n of [2, 5]) {
    test(`single flight, ${label}: ${n} tabs refreshing at once send one refresh`, async (t) => {
      const jwtd = fakeJwtd();
      const all = tabs(t, n, jwtd, opts);
      await all[0].exchange('c', 'v');
      await waitFor(() => all.every((c) => c.accessToken));
      for (let round = 1; round <= 5; round++) {
        const got = await Promise.all(all.map((c) => c.refresh()));
        assert.equal(jwtd.refreshes, round, `round ${round}: refresh requests: got ${jwtd.refreshes}, want ${round}`);
        assert.equal(jwtd.reuse, 0, 'reuse detected');
        assert.ok(got.every((g) => g && g === got[0]), `round ${round}: tokens differ: ${got}`);
        await sleep(40); // past settle: the next round is a new period
      }
    });
  }
}

// A claim that arrives before this tab starts electing must still count
// (the first election dropped such claims, and two tabs refreshed).
test('fallback election: tabs that start a few ms apart send one refresh', async (t) => {
  const jwtd = fakeJwtd({ grace: 0 });
  const all = tabs(t, 5, jwtd, { locks: null });
  await all[0].exchange('c', 'v');
  await waitFor(() => all.every((c) => c.accessToken));
  for (let round = 1; round <= 5; round++) {
    await Promise.all(all.map((c, i) => sleep(i * 3).then(() => c.refresh())));
    assert.deepEqual([jwtd.refreshes, jwtd.reuse], [round, 0], `round ${round}: refreshes, reuse`);
    await sleep(40);
  }
});

test('a tab waiting on the lock does not refresh again with the spent cookie', async (t) => {
  const jwtd = fakeJwtd({ grace: 0 }); // any second spend is a reuse
  const [a, b] = tabs(t, 2, jwtd);
  await a.exchange('c', 'v');
  await waitFor(() => b.accessToken);
  await Promise.all([a.refresh(), b.refresh(), b.refresh(), a.refresh()]);
  assert.deepEqual([jwtd.refreshes, jwtd.reuse], [1, 0], 'refreshes, reuse');
});

// A tab that closes while its refresh is at jwtd: the cookie was spent,
// the new one never reached the browser. Another tab must refresh again
// inside the grace (jwtd answers the same pair); at its next period the
// old cookie would be a reuse.
test('a tab closed mid-refresh: another tab repairs the cookie inside the grace', async (t) => {
  const jwtd = fakeJwtd({ grace: 300 });
  const locks = fakeLocks();
  const [a, b] = tabs(t, 2, jwtd, { locks, watchdog: 50 });
  await a.exchange('c', 'v');
  await waitFor(() => b.accessToken);
  jwtd.lose = true;
  a.refresh();
  await waitFor(() => jwtd.refreshes === 1);
  a.close();
  locks.abandon();
  await sleep(400); // past the grace
  const got = await b.refresh();
  assert.deepEqual([jwtd.reuse, !!got], [0, true], 'reuse, tab b has a token');
});

test('fetch adds the bearer token; on a 401 it refreshes once and retries once', async (t) => {
  await t.test('401 then 200', async (t) => {
    const jwtd = fakeJwtd();
    const [a] = tabs(t, 1, jwtd);
    const first = await a.exchange('c', 'v');
    jwtd.lastAccess = 'revoked-elsewhere'; // the API refuses the current token once
    let calls = 0;
    jwtd.apiStatus = (auth) => (++calls === 1 ? 401 : auth === 'Bearer ' + a.accessToken ? 200 : 401);
    const res = await a.fetch('https://api.example/things', { method: 'POST', body: 'payload' });
    const api = jwtd.requests.filter((r) => r.path === '/things');
    assert.equal(res.status, 200, 'fetch(): status');
    assert.deepEqual(api.map((r) => r.auth), ['Bearer ' + first, 'Bearer ' + a.accessToken], 'Authorization of the two tries');
    assert.deepEqual(api.map((r) => r.body), ['payload', 'payload'], 'body of the retry');
    assert.equal(jwtd.refreshes, 1, 'refreshes');
  });
  await t.test('401 twice: the second 401 is the answer, no loop', async (t) => {
    const jwtd = fakeJwtd();
    const [a] = tabs(t, 1, jwtd);
    await a.exchange('c', 'v');
    jwtd.apiStatus = () => 401;
    const res = await a.fetch('https://api.example/things');
    assert.equal(res.status, 401, 'fetch(): status');
    assert.equal(jwtd.requests.filter((r) => r.path === '/things').length, 2, 'API calls');
    assert.equal(jwtd.refreshes, 1, 'refreshes');
  });
});

test('a listener that throws does not break the refresh', async (t) => {
  const thrown = [];
  globalThis.reportError = (e) => thrown.push(e.message); // as in browsers
  t.after(() => { delete globalThis.reportError; });
  const jwtd = fakeJwtd();
  const [a] = tabs(t, 1, jwtd);
  await a.exchange('c', 'v');
  a.on('session', () => { throw new Error('listener bug'); });
  const got = await a.refresh();
  await waitFor(() => thrown.length === 1);
  assert.deepEqual([!!got, got === a.accessToken, thrown[0]], [true, true, 'listener bug'], 'refresh() with a throwing listener');
});

test('logout in one tab logs out every tab', async (t) => {
  const jwtd = fakeJwtd();
  const all = tabs(t, 3, jwtd);
  await all[0].exchange('c', 'v');
  await waitFor(() => all.every((c) => c.accessToken));
  const reasons = [];
  all.forEach((c) => c.on('logout', (e) => reasons.push(e.reason)));
  await all[1].logout();
  await waitFor(() => reasons.length === 3);
  assert.deepEqual(reasons.sort(), ['logout', 'peer', 'peer'], 'logout reasons');
  assert.ok(all.every((c) => c.accessToken === null), 'a tab still holds a token');
  const r = jwtd.requests.at(-1);
  assert.deepEqual([r.path, r.credentials, r.xrw], ['/v1/logout', 'include', 'jwtd'], 'logout request');
});

test('a refused refresh (session revoked) logs out every tab', async (t) => {
  const jwtd = fakeJwtd();
  const [a, b] = tabs(t, 2, jwtd);
  await a.exchange('c', 'v');
  await waitFor(() => b.accessToken);
  jwtd.revoked = true;
  const reasons = [];
  b.on('logout', (e) => reasons.push(e.reason));
  assert.equal(await a.refresh(), null, 'refresh() of a revoked session');
  await waitFor(() => reasons.length === 1);
  assert.deepEqual([a.accessToken, b.accessToken, reasons[0]], [null, null, 'peer']);
});

test('transient failures keep the token and report an error', async (t) => {
  for (const row of [
    { name: 'network down', set: (j) => { j.online = false; } },
    { name: '503', set: (j) => { j.status = 503; } },
  ]) {
    await t.test(row.name, async (t) => {
      const jwtd = fakeJwtd();
      const [a] = tabs(t, 1, jwtd);
      const tok = await a.exchange('c', 'v');
      const errors = [];
      a.on('error', (e) => errors.push(e.error));
      row.set(jwtd);
      assert.equal(await a.refresh(), tok, 'refresh(): the old token stays');
      assert.equal(errors.length, 1, 'error events');
    });
  }
});

test('start: a new tab takes the token of an open tab, else refreshes by the cookie', async (t) => {
  const jwtd = fakeJwtd();
  const [a, b] = tabs(t, 2, jwtd);
  await a.exchange('c', 'v');
  await sleep(30);
  const late = createClient({ issuer: ISSUER, fetch: jwtd.fetch, locks: fakeLocks(), name: 'jwtd-test-' + channel });
  t.after(() => late.close());
  assert.equal(await late.start(), a.accessToken, 'start() with an open tab');
  assert.equal(jwtd.refreshes, 0, 'refreshes');
  const alone = createClient({ issuer: ISSUER, fetch: jwtd.fetch, locks: fakeLocks(), name: 'another-app' });
  t.after(() => alone.close());
  assert.ok(await alone.start(50), 'start() alone: no token from the cookie');
  assert.equal(jwtd.refreshes, 1, 'refreshes');
  void b;
});

test('the refresh timer fires at refreshAt of the lifetime', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 1_000_000;
  const jwtd = fakeJwtd({ ttl: 10, latency: 0 });
  const a = createClient({ issuer: ISSUER, fetch: jwtd.fetch, locks: fakeLocks(), BroadcastChannel: null, now: () => clock, jitter: 0, settle: 0 });
  t.after(() => a.close());
  await a.exchange('c', 'v');
  const flush = () => new Promise((r) => setImmediate(r));
  clock += 4999;
  t.mock.timers.tick(4999);
  await flush();
  assert.equal(jwtd.refreshes, 0, 'refreshes before refreshAt');
  clock += 1;
  t.mock.timers.tick(1);
  await flush();
  assert.equal(jwtd.refreshes, 1, 'refreshes at refreshAt');
});

// Near session_max_age jwtd answers ever shorter tokens, down to
// expires_in 0; the client must not refresh in a tight loop.
test('a token with expires_in 0 is refreshed after 500 ms, not at once', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 1_000_000;
  const jwtd = fakeJwtd({ ttl: 0, latency: 0 });
  const a = createClient({ issuer: ISSUER, fetch: jwtd.fetch, locks: fakeLocks(), BroadcastChannel: null, now: () => clock, jitter: 0, settle: 0 });
  t.after(() => a.close());
  await a.exchange('c', 'v');
  const flush = () => new Promise((r) => setImmediate(r));
  for (let i = 0; i < 5; i++) {
    clock += 100;
    t.mock.timers.tick(100);
    await flush();
  }
  assert.equal(jwtd.refreshes, 1, 'refreshes in the first 500 ms');
});

test('the access token is never written to web storage or cookies', async () => {
  const src = await readFile(new URL('../jwtd.js', import.meta.url), 'utf8');
  for (const api of ['localStorage', 'sessionStorage', 'document.cookie', 'indexedDB']) {
    assert.ok(!src.includes(api), `jwtd.js uses ${api}`);
  }
});

test('jwtd.d.ts declares exactly what jwtd.js exports', async () => {
  const mod = await import('../jwtd.js');
  const dts = await readFile(new URL('../jwtd.d.ts', import.meta.url), 'utf8');
  const declared = [...dts.matchAll(/^export (?:function|class|const) (\w+)/gm)].map((m) => m[1]).sort();
  assert.deepEqual(declared, Object.keys(mod).sort(), 'exports declared in jwtd.d.ts vs exported by jwtd.js');
});
