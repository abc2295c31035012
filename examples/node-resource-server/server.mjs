// server.mjs is a small orders API that accepts jwtd access tokens: jose verifies the token through
// the JWKS, and mirror.mjs keeps jwtd's denylist from the revocation feed, so a revoked token is
// refused within about a second, without a call to jwtd per request. Configuration by environment
// (see README.md); it prints "listening on <port>" once it serves.
import http from 'node:http';
import { createRemoteJWKSet, jwtVerify, errors } from 'jose';
import { RevocationMirror } from './mirror.mjs';

function config(env) {
  const fail = (msg) => { console.error(`config: ${msg}`); process.exit(2); };
  for (const k of ['JWTD_URL', 'AUDIENCE', 'CLIENT_ID', 'CLIENT_SECRET']) if (!env[k]) fail(`${k} is required`);
  const maxStaleness = Number(env.MAX_STALENESS ?? 15000);
  if (!Number.isInteger(maxStaleness) || maxStaleness <= 0) fail('MAX_STALENESS must be a positive number of milliseconds');
  const failMode = env.FAIL_MODE ?? 'closed';
  if (failMode !== 'closed' && failMode !== 'open') fail('FAIL_MODE must be "closed" or "open"');
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('PORT must be a port number (0: any free port)');
  return { issuer: env.JWTD_URL.replace(/\/+$/, ''), audience: env.AUDIENCE, clientId: env.CLIENT_ID,
    clientSecret: env.CLIENT_SECRET, maxStaleness, failMode, port, host: env.HOST || '127.0.0.1',
    requiredScope: env.REQUIRED_SCOPE ?? '' };
}

const cfg = config(process.env);
const jwks = createRemoteJWKSet(new URL(`${cfg.issuer}/.well-known/jwks.json`));
const mirror = new RevocationMirror({ url: cfg.issuer, clientId: cfg.clientId, clientSecret: cfg.clientSecret });
mirror.run().catch((err) => { console.error(`revocation mirror stopped: ${err.message}`); process.exit(1); });

// Errors that say the keys could not be fetched (jwtd down, a bad JWKS answer), not that the token
// is bad: those are 503, never a 401 that would make the client throw its token away.
const keysUnavailable = (err) => !(err instanceof errors.JOSEError) ||
  ['ERR_JOSE_GENERIC', 'ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID'].includes(err.code);

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

// RFC 6750 §3: no credentials get a bare challenge; a bad token invalid_token; too little scope
// insufficient_scope (403). The descriptions are fixed texts: nothing of the token is echoed.
const challenge = (res, status, error, description, extra = '') => send(res, status,
  { error, error_description: description },
  { 'www-authenticate': `Bearer error="${error}", error_description="${description}"${extra}` });
const unavailable = (res, description) => send(res, 503,
  { error: 'temporarily_unavailable', error_description: description }, { 'retry-after': '1' });

let failingOpen = false;

async function orders(req, res) {
  const authz = req.headers.authorization;
  if (!authz || !/^bearer(\s|$)/i.test(authz)) {
    return send(res, 401, { error_description: 'a bearer token is required' }, { 'www-authenticate': 'Bearer' });
  }
  const token = /^bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(authz)?.[1];
  if (!token) return challenge(res, 401, 'invalid_token', 'malformed bearer token');
  let payload;
  try {
    ({ payload } = await jwtVerify(token, jwks, { issuer: cfg.issuer, audience: cfg.audience, typ: 'at+jwt',
      requiredClaims: ['sub', 'iat', 'exp', 'jti'] }));
  } catch (err) {
    if (keysUnavailable(err)) return unavailable(res, 'signing keys unavailable; retry later');
    return challenge(res, 401, 'invalid_token', err.code === 'ERR_JWT_EXPIRED' ? 'token expired' : 'token invalid');
  }
  // Fail mode: a mirror older than MAX_STALENESS (or never loaded) may miss revocations. Closed
  // refuses with 503 until it catches up; open accepts what it cannot check and says so in the log.
  // What the mirror knows is refused either way.
  const stale = mirror.staleness() > cfg.maxStaleness;
  if (stale && cfg.failMode === 'closed') return unavailable(res, 'revocation list is stale; retry later');
  if (stale !== failingOpen) {
    failingOpen = stale;
    console.error(stale ? 'WARN revocation list is stale; accepting tokens unchecked (FAIL_MODE=open)' : 'revocation list is fresh again');
  }
  if (mirror.revoked(payload)) return challenge(res, 401, 'invalid_token', 'token revoked');
  const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
  if (cfg.requiredScope && !scopes.includes(cfg.requiredScope)) {
    return challenge(res, 403, 'insufficient_scope', 'token lacks the required scope', `, scope="${cfg.requiredScope}"`);
  }
  send(res, 200, { sub: payload.sub, orders: [] });
}

const routes = new Map([['/orders', orders], ['/readyz', ready]]);

function ready(req, res) {
  const ms = mirror.staleness(), ok = ms <= cfg.maxStaleness;
  send(res, ok ? 200 : 503, { ready: ok, staleness_ms: Number.isFinite(ms) ? ms : null, entries: mirror.size, ...mirror.stats });
}

const server = http.createServer(async (req, res) => {
  const route = routes.get(req.url.split('?')[0]);
  if (!route) return send(res, 404, { error: 'not found' });
  if (req.method !== 'GET') return send(res, 405, { error: 'method not allowed' }, { allow: 'GET' });
  try {
    await route(req, res);
  } catch (err) {
    console.error(`request failed: ${err.message}`);
    if (!res.headersSent) send(res, 500, { error: 'server error' });
  }
});

server.listen(cfg.port, cfg.host, () => console.log(`listening on ${server.address().port}`));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => { mirror.stop(); server.close(); server.closeAllConnections(); });
}
