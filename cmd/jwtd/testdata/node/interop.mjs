// Interoperability of jwtd with jose and openid-client, against a running
// jwtd. cmd/jwtd/interop_test.go starts jwtd, opens a session and runs
// this with JWTD_ISSUER, ACCESS_TOKEN and REFRESH_TOKEN set. Exit 0 and
// the line "node interop: ok" mean every check passed.
import assert from 'node:assert/strict';
import * as jose from 'jose';
import * as client from 'openid-client';

const issuer = process.env.JWTD_ISSUER;
const access = process.env.ACCESS_TOKEN;
const refresh = process.env.REFRESH_TOKEN;

// jose: verify the access token through the JWKS alone, with the RFC 9068
// checks a resource server makes.
const JWKS = jose.createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
const verify = (tok) => jose.jwtVerify(tok, JWKS, { issuer, audience: 'api', typ: 'at+jwt' });
const { payload, protectedHeader } = await verify(access);
assert.equal(payload.sub, 'alice');
assert.equal(payload.client_id, 'dev-app');
assert.equal(protectedHeader.typ, 'at+jwt');

// The refresh token must never pass: its key is not published.
await assert.rejects(verify(refresh), 'a refresh token verified as an access token');
await assert.rejects(jose.jwtVerify(access, JWKS, { issuer, audience: 'other' }), 'wrong audience accepted');

// openid-client: discovery from the issuer alone, then a refresh grant as
// a public client (token_endpoint_auth_method none: client_id in the body).
const config = await client.discovery(new URL(issuer), 'dev-app', undefined, client.None(), {
  execute: [client.allowInsecureRequests], // jwtd runs on http://127.0.0.1 in the test
});
assert.equal(config.serverMetadata().token_endpoint, `${issuer}/oauth/token`);
const tokens = await client.refreshTokenGrant(config, refresh);
assert.ok(tokens.access_token && tokens.refresh_token && tokens.refresh_token !== refresh);
assert.equal(tokens.token_type.toLowerCase(), 'bearer');
const next = await verify(tokens.access_token);
assert.equal(next.payload.sid, payload.sid);

// A spent refresh token comes back: openid-client surfaces invalid_grant.
const second = await client.refreshTokenGrant(config, tokens.refresh_token);
await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token + 'x'), (err) => err.error === 'invalid_grant');
assert.ok(second.access_token);

console.log('node interop: ok');
