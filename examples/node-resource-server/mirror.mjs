import { setTimeout as sleep } from 'node:timers/promises';

// mirror.mjs keeps a copy of jwtd's denylist from GET /v1/revocations (Server-Sent Events), so a
// resource server refuses revoked tokens without calling jwtd per request. No dependencies: fetch,
// a streaming reader and the SSE parser below. Copy it; docs/integrations/node.md explains it.

// parseSSE reads a text/event-stream (WHATWG HTML §9.2.6) fed in chunks: lines end in CRLF, LF or
// CR; `:` lines are comments; data lines join with "\n"; id may come before or after data (an
// event is dispatched at its blank line). settled() says a line was read and no snapshot is
// half-read: only then do bytes prove the mirror fresh.
export function parseSSE(onEvent) {
  let buf = '', scanned = 0, type = '', data = [], id = '', lines = 0, first = true, cr = false;
  const line = (l) => {
    lines++;
    if (l === '') {
      if (data.length) onEvent({ type: type || 'message', data: data.join('\n'), id });
      type = ''; data = [];
    } else if (l[0] !== ':') {
      const i = l.indexOf(':');
      const field = i < 0 ? l : l.slice(0, i);
      let value = i < 0 ? '' : l.slice(i + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') type = value;
      else if (field === 'id' && !value.includes('\0')) id = value;
    }
  };
  return {
    push(text) {
      if (!text) return;
      if (cr && text[0] === '\n') text = text.slice(1); // the "\n" of a CRLF the chunks cut in two
      cr = false; buf += text;
      if (first && buf) { first = false; if (buf[0] === '\uFEFF') buf = buf.slice(1); } // one BOM
      let start = 0;
      for (let i = scanned; i < buf.length; i++) {
        const c = buf[i];
        if (c !== '\n' && c !== '\r') continue;
        line(buf.slice(start, i));
        if (c === '\r' && i + 1 === buf.length) cr = true;
        else if (c === '\r' && buf[i + 1] === '\n') i++;
        start = i + 1;
      }
      buf = buf.slice(start); scanned = buf.length;
    },
    settled: () => lines > 0 && type !== 'snapshot',
  };
}

// RevocationMirror follows the feed: a snapshot and each revocation event add entries, the last
// event id resumes a reconnect, and entries go at expires_at. It only ever learns: a snapshot is
// merged, never swapped in, so a jwtd that lost revocations (the memory store restarted) cannot make
// it accept a token it has seen revoked (revocation.Mirror in Go does the same). staleness() is the
// time since the last byte of a stream whose view was complete (Infinity before the first snapshot).
export class RevocationMirror {
  #o; #entries = new Map(); #lastId = ''; #fresh = -Infinity; #synced = false; #down = false; #swept = 0;
  #stop = new AbortController();
  stats = { connects: 0, snapshots: 0, events: 0 };

  constructor({ url, clientId, clientSecret, now = Date.now, log = console.error,
    idleTimeout = 20_000, minBackoff = 250, maxBackoff = 5_000 }) {
    const basic = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`; // RFC 6749 §2.3.1
    this.#o = { feed: `${url.replace(/\/+$/, '')}/v1/revocations`, auth: `Basic ${btoa(basic)}`,
      now, log, idleTimeout, minBackoff, maxBackoff };
  }

  get size() { return this.#entries.size; }
  staleness() { return this.#o.now() - this.#fresh; }
  stop() { this.#stop.abort(); }

  // revoked names what revokes a token's claims ('sid', 'jti', 'sub') or returns ''.
  revoked({ sid, jti, sub, iat }) {
    const nowS = this.#o.now() / 1000;
    const live = (key) => { const e = this.#entries.get(key); return e && e.exp > nowS ? e : undefined; };
    if (sid !== undefined && live(`sid ${sid}`)) return 'sid';
    if (jti !== undefined && live(`jti ${jti}`)) return 'jti';
    const cut = sub !== undefined && live(`sub ${sub}`);
    return cut && !(iat > cut.nb) ? 'sub' : ''; // a token without iat is cut off too
  }

  // apply takes one parsed SSE event; the connection calls it, tests may too. A snapshot on a
  // resumed stream means jwtd could not resume (a gap, another process's cursor): merged all the same.
  apply({ type, data, id }) {
    const nowS = this.#o.now() / 1000;
    if (type === 'snapshot') {
      for (const e of JSON.parse(data).entries) this.#put(e, nowS);
      this.#synced = true; this.stats.snapshots++;
    } else if (type === 'revocation') {
      this.#put(JSON.parse(data), nowS); this.stats.events++;
    } else return;
    this.#lastId = id;
    if (nowS - this.#swept < 60) return;
    this.#swept = nowS; // once a minute, drop what has expired: every token it blocked has too
    for (const [key, e] of this.#entries) if (e.exp <= nowS) this.#entries.delete(key);
  }

  // #put adds an entry, keeping the later cut-off and the longer life: an event may come twice or,
  // after an outbox delay on jwtd's side, out of order.
  #put({ kind, value, not_before: nb, expires_at: exp }, nowS) {
    if (!['sid', 'jti', 'sub'].includes(kind) || typeof value !== 'string' || !(exp > nowS)) return;
    if (kind === 'sub' && !Number.isFinite(nb)) return;
    const key = `${kind} ${value}`, old = this.#entries.get(key);
    this.#entries.set(key, { nb: Math.max(nb ?? -Infinity, old?.nb ?? -Infinity), exp: Math.max(exp, old?.exp ?? 0) });
  }

  // run follows the feed until stop(), reconnecting with Last-Event-ID and backoff; it logs one
  // line per outage and one per recovery.
  async run() {
    const { signal } = this.#stop;
    for (let delay = this.#o.minBackoff; !signal.aborted; delay = Math.min(delay * 2, this.#o.maxBackoff)) {
      const fresh = this.#fresh;
      let wait = 0;
      try { await this.#connect(); } catch (err) {
        if (signal.aborted) break;
        if (!this.#down) this.#o.log(`revocation feed unreachable; retrying: ${err.message}${err.cause ? `: ${err.cause.message}` : ''}`);
        this.#down = true; wait = err.retryAfter ?? 0;
      }
      if (this.#fresh > fresh) delay = this.#o.minBackoff; // that stream worked: start over
      await sleep(Math.max(wait, delay * (0.5 + Math.random() / 2)), undefined, { signal }).catch(() => {});
    }
  }

  async #connect() {
    const ac = new AbortController(), stop = () => ac.abort();
    this.#stop.signal.addEventListener('abort', stop);
    let idle;
    const alive = () => { clearTimeout(idle); idle = setTimeout(() => ac.abort(new Error('idle timeout')), this.#o.idleTimeout); };
    try {
      alive();
      const headers = { accept: 'text/event-stream', authorization: this.#o.auth };
      if (this.#lastId) headers['last-event-id'] = this.#lastId;
      const res = await fetch(this.#o.feed, { headers, signal: ac.signal, redirect: 'error' });
      if (res.status !== 200 || !res.headers.get('content-type')?.startsWith('text/event-stream')) {
        await res.body?.cancel();
        const refused = res.status === 401 || res.status === 403, after = Number(res.headers.get('retry-after') ?? NaN);
        throw Object.assign(new Error(`GET /v1/revocations: status ${res.status}${refused ? ' (it needs a confidential client with the introspect grant)' : ''}`),
          { retryAfter: refused ? 60_000 : after > 0 ? Math.min(after, 60) * 1000 : 0 });
      }
      this.stats.connects++;
      this.#synced = this.#lastId !== ''; // resumed, unless a snapshot comes first
      const sse = parseSSE((ev) => {
        try { this.apply(ev); } catch { throw new Error(`malformed ${ev.type} event`); }
      });
      for await (const text of res.body.pipeThrough(new TextDecoderStream())) {
        alive();
        sse.push(text);
        if (!this.#synced || !sse.settled()) continue;
        this.#fresh = this.#o.now();
        if (this.#down) { this.#down = false; this.#o.log('revocation feed followed again'); }
      }
      throw new Error('stream ended');
    } finally {
      clearTimeout(idle); ac.abort();
      this.#stop.signal.removeEventListener('abort', stop);
    }
  }
}
