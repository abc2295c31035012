// jwtd browser client: the handoff-code exchange (PKCE, RFC 7636), the
// access token in memory only, refresh by the HttpOnly cookie ahead of
// expiry, single-flight across tabs, fetch with the bearer token, and
// logout everywhere. No dependencies; see jwtd.d.ts for the API.
//
// Why single-flight matters: the refresh cookie rotates (RFC 6819
// §5.2.2.3). Two tabs that spend one cookie more than tokens.reuse_grace
// apart, or after its child was spent, are a REUSE to jwtd, which then
// revokes the whole session. So at most one tab refreshes at a time (Web
// Locks), it tells the others the new access token (BroadcastChannel), and
// a tab that got the lock checks first whether a token arrived meanwhile.

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** A PKCE code_verifier: 32 random bytes, base64url (43 characters). */
export const createVerifier = () => b64url(crypto.getRandomValues(new Uint8Array(32)));

/** The S256 code_challenge of a verifier: base64url(SHA-256(verifier)). */
export const createChallenge = async (verifier) =>
  b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));

/** A fresh verifier and its S256 challenge. */
export const pkce = async () => {
  const verifier = createVerifier();
  return { verifier, challenge: await createChallenge(verifier) };
};

/** An answer of jwtd that was not a success: status and RFC 6749 error. */
export class JwtdError extends Error {
  constructor(status, body) {
    super(`jwtd: ${status} ${(body && body.error) || 'error'}`);
    this.status = status;
    this.error = body && body.error;
    this.description = body && body.error_description;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function createClient(o) {
  const g = globalThis;
  const base = String(o.issuer).replace(/\/+$/, '');
  const name = o.name || 'jwtd:' + base;
  const now = o.now || Date.now;
  const doFetch = o.fetch || g.fetch.bind(g);
  const ratio = o.refreshAt ?? 0.5;
  const jitter = o.jitter ?? 0.1;
  const settle = o.settle ?? 100;
  const elect = o.electMs ?? 100;
  const watchdog = o.watchdog ?? 2000;
  const locks = o.locks !== undefined ? o.locks : g.navigator && g.navigator.locks;
  const BC = o.BroadcastChannel !== undefined ? o.BroadcastChannel : g.BroadcastChannel;
  const bc = BC ? new BC(name) : null;
  const id = Math.random().toString(36).slice(2) + now();
  const subs = {};
  let tok = null; // { access, exp, at, sid, scope }: memory only, by design
  let inflight = null;
  let timer = 0;
  let watch = 0; // another tab's refresh we wait to hear the end of
  let backoff = 0;
  let holding = null; // fallback election: our claim while we refresh
  const claims = new Map(); // fallback election: other tabs' claims by id
  let closed = false;

  // A listener that throws must not break a refresh: its error goes to
  // reportError (window.onerror sees it), or is rethrown on its own task.
  const report = g.reportError || ((e) => setTimeout(() => { throw e; }));
  const emit = (type, detail) => (subs[type] || []).slice().forEach((f) => {
    try { f(detail); } catch (e) { report(e); }
  });
  const post = (m) => bc && bc.postMessage(m);
  const wire = (t) => ({ t: 'token', a: t.access, e: t.exp, at: t.at, sid: t.sid, scope: t.scope });

  // due: the token is past its refresh instant (or there is none).
  const due = (t) => !t || now() >= t.at + (t.exp - t.at) * ratio;

  // schedule the next refresh: ms from now, or at refreshAt of the token's
  // life, but never sooner than 500 ms: near session_max_age jwtd's tokens
  // get shorter, down to expires_in 0, and a timer of 0 would spin.
  function schedule(ms) {
    clearTimeout(timer);
    if (closed || !tok) return;
    if (ms === undefined) {
      const life = tok.exp - tok.at;
      ms = Math.max(500, tok.at + life * (ratio - jitter * Math.random()) - now());
    }
    timer = setTimeout(() => refresh(), Math.max(0, ms));
  }

  function adopt(t, source) {
    tok = t;
    backoff = 0;
    schedule();
    emit('session', { accessToken: t.access, expiresAt: t.exp, sessionId: t.sid, scope: t.scope, source });
  }

  function end(reason, tell) {
    const had = tok;
    tok = null;
    clearTimeout(timer);
    if (tell) post({ t: 'logout' });
    if (had || tell) emit('logout', { reason });
  }

  async function call(path, body) {
    const res = await doFetch(base + path, {
      method: 'POST',
      credentials: 'include',
      headers: body ? { 'X-Requested-With': 'jwtd', 'Content-Type': 'application/json' } : { 'X-Requested-With': 'jwtd' },
      body: body ? JSON.stringify(body) : undefined,
    });
    let json = null;
    try { json = await res.json(); } catch (_) { /* 204, or not JSON */ }
    return { res, json };
  }

  const fromAnswer = (j, at) => ({
    access: j.access_token, exp: at + j.expires_in * 1000, at, sid: j.session_id, scope: j.scope,
  });

  // One refresh request. The caller holds the cross-tab lock. The other
  // tabs hear 'start' and then the token or 'done'; if a tab closes in
  // between, jwtd may have spent the cookie without the new one ever
  // reaching the browser. A peer then refreshes after `watchdog` ms, well
  // inside tokens.reuse_grace, and jwtd's grace answers the same pair
  // (and sets the cookie) instead of a reuse at the next period.
  async function once() {
    post({ t: 'start' });
    try {
      await spend();
    } finally {
      post({ t: 'done', id });
    }
  }

  async function spend() {
    let r;
    try {
      r = await call('/v1/refresh');
    } catch (error) {
      // Offline, DNS or CORS: the cookie is untouched. Had jwtd spent it and
      // the answer been lost, the retry (1 s) is inside the grace.
      return retry(error, 0);
    }
    const { res, json } = r;
    if (res.ok && json && json.access_token) {
      const t = fromAnswer(json, now());
      post(wire(t));
      adopt(t, 'refresh');
      if (settle) await sleep(settle); // let the broadcast land before the lock goes
      return;
    }
    if (res.status === 429 || res.status >= 500) {
      return retry(new JwtdError(res.status, json), (+res.headers.get('Retry-After') || 0) * 1000);
    }
    // 400 invalid_grant (expired, revoked, reuse), 401 or 403: this cookie
    // will not refresh (jwtd has cleared it). A tab that had a session
    // tells the others, which share the cookie.
    const e = new JwtdError(res.status, json);
    if (res.status === 403) emit('error', { error: e });
    end(e.error || 'invalid_grant', !!tok);
  }

  // A transient failure: keep the token (it may still be valid) and try
  // again with exponential backoff, sooner when the network comes back.
  function retry(error, hint) {
    backoff = Math.min(Math.max(backoff * 2, 1000), 30000);
    emit('error', { error });
    schedule(Math.max(hint, backoff));
  }

  // The cross-tab lock: Web Locks where there are; else an election on the
  // channel; else this tab alone. The election: post a claim, listen for
  // electMs, and the earliest claim (then the smallest id) refreshes; the
  // others withdraw and wait until the winner is done or its token came.
  // Two tabs refresh at once only if their claims took longer than electMs
  // to cross; both then spend one cookie within that time, which jwtd's
  // grace answers with the same pair (tokens.reuse_grace, default 10 s).
  async function exclusive(fn) {
    if (locks) return locks.request(name, fn);
    if (!bc) return fn();
    for (let round = 0; round < 3; round++) {
      const mine = { t: 'claim', id, n: now() };
      post(mine);
      await sleep(elect);
      let first = mine;
      for (const c of claims.values()) {
        if (c.n > now() - 15000 && (c.n < first.n || (c.n === first.n && c.id < first.id))) first = c;
      }
      if (first === mine) {
        holding = mine;
        try { return await fn(); } finally { holding = null; post({ t: 'done', id }); }
      }
      post({ t: 'drop', id }); // withdraw
      const seen = tok;
      await new Promise((resolve) => {
        const t = setTimeout(resolve, 10000);
        const check = () => (closed || tok !== seen || !claims.has(first.id) ? (clearTimeout(t), resolve()) : waiters.push(check));
        check();
      });
      if (tok !== seen) return;
    }
    return fn();
  }
  let waiters = [];
  const wake = () => { const w = waiters; waiters = []; w.forEach((f) => f()); };

  /**
   * Refresh once across all tabs: resolves with the new access token, or
   * null when the session is over or jwtd cannot be reached now.
   */
  function refresh(seen = tok) {
    if (closed) return Promise.resolve(null);
    if (!inflight) {
      inflight = exclusive(async () => {
        // Someone refreshed while we waited for the lock: its token is here.
        // Or someone logged out: there is nothing left to refresh.
        if ((tok && tok !== seen && !due(tok)) || (seen && !tok)) return;
        await once();
      }).finally(() => { inflight = null; });
    }
    return inflight.then(() => (tok ? tok.access : null));
  }

  if (bc) {
    bc.onmessage = ({ data: m }) => {
      if (closed || !m) return;
      if (m.t === 'start') {
        clearTimeout(watch);
        watch = setTimeout(() => refresh(), watchdog);
      }
      if (m.t === 'token' && m.a && (!tok || m.e > tok.exp)) {
        adopt({ access: m.a, exp: m.e, at: m.at, sid: m.sid, scope: m.scope }, 'peer');
      } else if (m.t === 'logout') {
        end('peer', false);
      } else if (m.t === 'ask' && tok && now() < tok.exp) {
        post(wire(tok));
      } else if (m.t === 'claim' && m.id !== id) {
        claims.set(m.id, m);
        if (holding) post(holding); // a late claimer must lose to the holder
      } else if (m.t === 'done' || m.t === 'drop') {
        claims.delete(m.id);
      }
      if (m.t === 'token' || m.t === 'done' || m.t === 'logout') {
        clearTimeout(watch);
        wake();
      }
    };
  }

  // A tab that wakes from sleep, is unfrozen or comes back online refreshes
  // if its token is due; the lock makes that once for all tabs.
  const onWake = () => {
    if (!closed && tok && (due(tok) || backoff)) refresh();
  };
  const targets = [[g.window, 'online'], [g.window, 'pageshow'], [g.document, 'visibilitychange'], [g.document, 'resume']];
  targets.forEach(([t, e]) => t && t.addEventListener(e, onWake));

  const client = {
    get accessToken() { return tok ? tok.access : null; },
    get expiresAt() { return tok ? tok.exp : null; },

    /** Trade the handoff code and its PKCE verifier for a session. */
    async exchange(code, verifier) {
      const { res, json } = await call('/v1/sessions/exchange', { code, code_verifier: verifier });
      if (!res.ok || !json || !json.access_token) throw new JwtdError(res.status, json);
      const t = fromAnswer(json, now());
      post(wire(t));
      adopt(t, 'exchange');
      return t.access;
    },

    /**
     * After a page load: take the token of another tab, or else refresh by
     * the cookie. Resolves with the access token, or null (no session).
     */
    async start(wait = 150) {
      if (tok) return tok.access;
      const seen = tok;
      post({ t: 'ask' });
      for (let i = 0; i < wait / 10 && tok === seen; i++) await sleep(10);
      return tok ? tok.access : refresh(seen);
    },

    refresh: () => refresh(),

    /** The access token, refreshed first when it is missing or expired. */
    async token() {
      return tok && now() < tok.exp ? tok.access : refresh();
    },

    /** fetch with the bearer token; on a 401, refresh once and retry once. */
    async fetch(input, init) {
      const req = new Request(input, init);
      const send = (t) => {
        const r = new Request(req.clone(), {});
        if (t) r.headers.set('Authorization', 'Bearer ' + t);
        return doFetch(r);
      };
      const t = await client.token();
      const res = await send(t);
      if (res.status !== 401 || !t) return res;
      // Another tab (or call) may have refreshed already; else refresh now.
      const next = !tok ? null : tok.access !== t ? tok.access : await refresh(tok);
      return next && next !== t ? send(next) : res;
    },

    /** Log out: jwtd revokes the session and clears the cookie; every tab ends. */
    async logout() {
      let error = null;
      try {
        const { res, json } = await call('/v1/logout');
        if (!res.ok && res.status !== 401) error = new JwtdError(res.status, json);
      } catch (e) {
        error = e;
      }
      end('logout', true);
      if (error) throw error;
    },

    /** Subscribe to 'session', 'logout' or 'error'; returns the unsubscribe. */
    on(type, fn) {
      (subs[type] = subs[type] || []).push(fn);
      return () => { subs[type] = subs[type].filter((f) => f !== fn); };
    },

    /** Stop timers and listeners (the token stays until the page goes). */
    close() {
      closed = true;
      clearTimeout(timer);
      clearTimeout(watch);
      targets.forEach(([t, e]) => t && t.removeEventListener(e, onWake));
      if (bc) bc.close();
    },
  };
  return client;
}
