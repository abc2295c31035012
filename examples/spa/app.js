// The example SPA: sign in through the app's own backend (which opens a
// jwtd session with "delivery": "code"), exchange the code in the browser,
// call APIs with client.fetch, and sign out. Everything about tokens is
// the browser client's job: memory only, refresh ahead of expiry, once
// across tabs, retry on 401.
import { createClient, pkce } from './jwtd.js';

const { jwtd } = await (await fetch('config.json')).json();
const client = createClient({ issuer: jwtd });
const $ = (id) => document.getElementById(id);
const log = (line) => { $('log').textContent = `${new Date().toLocaleTimeString()} ${line}\n` + $('log').textContent; };

async function show(signedIn) {
  $('login').hidden = signedIn;
  $('home').hidden = !signedIn;
  if (!signedIn) return;
  const res = await client.fetch(jwtd + '/v1/session'); // bearer added, 401 retried once
  const s = res.ok ? await res.json() : {};
  $('who').textContent = res.ok ? `Signed in as ${s.sub} (session ${s.sid})` : `GET /v1/session: ${res.status}`;
}

client.on('session', (e) => { log(`session: new access token from ${e.source}, expires in ${Math.round((e.expiresAt - Date.now()) / 1000)} s`); show(true); });
client.on('logout', (e) => { log(`logout: ${e.reason}`); show(false); });
client.on('error', (e) => log(`error: ${e.error.message}`));

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const { verifier, challenge } = await pkce();
  // Your backend checks the user's password, then asks jwtd for a code.
  const res = await fetch('api/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: $('user').value, challenge }),
  });
  if (!res.ok) return log(`login: ${res.status}`);
  const { code } = await res.json();
  try {
    await client.exchange(code, verifier);
  } catch (e) {
    log(`exchange: ${e.message}`);
  }
});
$('check').addEventListener('click', () => show(true));
$('logout').addEventListener('click', () => client.logout().catch((e) => log(`logout: ${e.message}`)));

// After a reload: another tab's token, or a refresh by the cookie.
show(!!(await client.start()));
