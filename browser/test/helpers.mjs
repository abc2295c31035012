// Test doubles for the unit tests: a jwtd that rotates its refresh cookie
// the way the real one does (grace for a retry of the newest spend, reuse
// detection otherwise), a browser's shared cookie jar, and a Web Locks
// manager. The real jwtd and Chromium run in cmd/jwtd/spa_client_test.go.

/** A fake jwtd behind one cookie jar shared by every tab of a browser. */
export function fakeJwtd({ ttl = 60, grace = 10_000, now = Date.now, latency = 5 } = {}) {
  const s = {
    jar: null, // the cookie the browser holds
    parent: new Map(), // spent jti -> { child, at }
    live: new Set(), // unspent jtis
    revoked: false,
    refreshes: 0,
    reuse: 0,
    requests: [],
    online: true,
    status: null, // force an answer status for /v1/refresh
    serial: 0,
    apiStatus: (auth) => (auth === 'Bearer ' + s.lastAccess ? 200 : 401),
  };
  const mint = () => {
    const n = ++s.serial;
    s.live.add('r' + n);
    s.lastAccess = 'a' + n;
    return { access: 'a' + n, refresh: 'r' + n };
  };
  const answer = (status, body) => new Response(body === undefined ? null : JSON.stringify(body), {
    status, headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
  });
  const tokenBody = (p) => ({ access_token: p.access, token_type: 'Bearer', expires_in: ttl, session_id: 'sid1' });
  s.login = () => { const p = mint(); s.jar = p.refresh; return p; };
  s.fetch = async (input, init = {}) => {
    const req = new Request(input, init);
    const path = new URL(req.url).pathname;
    s.requests.push({ path, method: req.method, credentials: init.credentials, xrw: req.headers.get('X-Requested-With'),
      auth: req.headers.get('Authorization'), body: req.method === 'POST' ? await req.clone().text() : '' });
    if (!s.online) throw new TypeError('Failed to fetch');
    const cookie = s.jar; // sent with the request, as a browser does
    if (latency) await new Promise((r) => setTimeout(r, latency));
    if (path === '/v1/sessions/exchange') {
      const p = mint();
      s.jar = p.refresh;
      return answer(200, tokenBody(p));
    }
    if (path === '/v1/refresh') {
      s.refreshes++;
      if (s.lose && s.live.has(cookie)) { // spent, but the answer never reaches the browser
        s.lose = false;
        s.live.delete(cookie);
        const p = mint();
        s.parent.set(cookie, { child: p.refresh, at: now() });
        return new Promise(() => {});
      }
      if (s.status) return answer(s.status, { error: 'temporarily_unavailable', error_description: 'x' });
      if (!cookie) return answer(400, { error: 'invalid_request', error_description: 'refresh_token is required' });
      if (s.revoked) { s.jar = null; return answer(400, { error: 'invalid_grant', error_description: 'revoked' }); }
      if (s.live.has(cookie)) {
        s.live.delete(cookie);
        const p = mint();
        s.parent.set(cookie, { child: p.refresh, at: now() });
        s.jar = p.refresh;
        return answer(200, tokenBody(p));
      }
      const spent = s.parent.get(cookie);
      if (spent && s.live.has(spent.child) && now() - spent.at <= grace) {
        s.jar = spent.child; // the same pair again
        return answer(200, tokenBody({ access: 'a' + spent.child.slice(1), refresh: spent.child }));
      }
      s.reuse++;
      s.revoked = true;
      s.jar = null;
      return answer(400, { error: 'invalid_grant', error_description: 'refresh token already used; the session is revoked' });
    }
    if (path === '/v1/logout') {
      s.revoked = true;
      s.jar = null;
      return answer(204);
    }
    return answer(s.apiStatus(req.headers.get('Authorization')), { ok: true });
  };
  return s;
}

/**
 * A Web Locks manager for one origin and one lock name: exclusive, granted
 * in order. abandon() releases the holder, as a browser does when the
 * holder's tab closes.
 */
export function fakeLocks() {
  const queue = [];
  let held = null;
  const next = () => {
    if (held || !queue.length) return;
    held = queue.shift();
    held.run();
  };
  return {
    request(name, fn) {
      return new Promise((resolve, reject) => {
        const entry = {
          run: () => Promise.resolve().then(() => fn({ name })).then(resolve, reject)
            .finally(() => { if (held === entry) { held = null; next(); } }),
        };
        queue.push(entry);
        next();
      });
    },
    abandon() { held = null; next(); },
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** waitFor polls cond until it holds or ms pass. */
export async function waitFor(cond, ms = 2000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('waitFor: timed out');
    await sleep(5);
  }
}
