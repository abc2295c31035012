// Unit tests of mirror.mjs: the SSE parser on every way a stream may be written and cut into
// chunks, and the mirror's bookkeeping on an injected clock. cmd/jwtd/node_resource_test.go runs
// them (npm test), then the server against a real jwtd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSSE, RevocationMirror } from './mirror.mjs';

const parse = (chunks) => {
  const got = [];
  const p = parseSSE((ev) => got.push(ev));
  for (const c of chunks) p.push(c);
  return { got, settled: p.settled() };
};

const parserCases = [
  { name: 'jwtd snapshot, id after data', in: 'event: snapshot\ndata: {"entries":[],"cursor":"1-1"}\nid: 1-1\n\n',
    want: [{ type: 'snapshot', data: '{"entries":[],"cursor":"1-1"}', id: '1-1' }] },
  { name: 'jwtd event, id first', in: 'id: 2-1\nevent: revocation\ndata: {"kind":"sid"}\n\n',
    want: [{ type: 'revocation', data: '{"kind":"sid"}', id: '2-1' }] },
  { name: 'CRLF', in: 'event: revocation\r\ndata: a\r\nid: 3\r\n\r\n', want: [{ type: 'revocation', data: 'a', id: '3' }] },
  { name: 'CR', in: 'event: revocation\rdata: a\rid: 3\r\r', want: [{ type: 'revocation', data: 'a', id: '3' }] },
  { name: 'multi-line data', in: 'data: one\ndata:two\ndata:  three\n\n', want: [{ type: 'message', data: 'one\ntwo\n three', id: '' }] },
  { name: 'comments and keep-alives', in: ': keep-alive\n\n:x\ndata: a\n: inside\n\n', want: [{ type: 'message', data: 'a', id: '' }] },
  { name: 'no data, no event', in: 'event: revocation\nid: 9\n\ndata: a\n\n', want: [{ type: 'message', data: 'a', id: '9' }] },
  { name: 'field without colon', in: 'data\ndata\n\n', want: [{ type: 'message', data: '\n', id: '' }] },
  { name: 'id persists; NUL id ignored', in: 'id: 5\ndata: a\n\nid: 6\0\ndata: b\n\n',
    want: [{ type: 'message', data: 'a', id: '5' }, { type: 'message', data: 'b', id: '5' }] },
  { name: 'unknown fields ignored', in: 'retry: 10\nfoo: bar\ndata: a\n\n', want: [{ type: 'message', data: 'a', id: '' }] },
  { name: 'one leading BOM', in: '\uFEFFdata: a\n\n', want: [{ type: 'message', data: 'a', id: '' }] },
  { name: 'cut before the blank line', in: 'event: snapshot\ndata: {"entries":[\nid: 1\n', want: [] },
];

for (const tc of parserCases) {
  test(`parseSSE: ${tc.name}`, () => {
    assert.deepEqual(parse([tc.in]).got, tc.want, 'in one chunk');
    for (let i = 1; i < tc.in.length; i++) { // and cut in two anywhere, CRLF included
      assert.deepEqual(parse([tc.in.slice(0, i), tc.in.slice(i)]).got, tc.want, `cut at ${i}`);
    }
    assert.deepEqual(parse([...tc.in]).got, tc.want, 'one character at a time');
  });
}

test('parseSSE: settled only after a line, and never inside a snapshot', () => {
  assert.equal(parse([]).settled, false);
  assert.equal(parse(['event: snapshot\ndata: {"entries":[']).settled, false);
  assert.equal(parse(['event: snapshot\ndata: {"entries":[]}\nid: 1\n\n']).settled, true);
  assert.equal(parse([': keep-alive\n\n']).settled, true);
  assert.equal(parse(['id: 2\nevent: revocation\n']).settled, true);
});

const snapshot = (entries, cursor = 'c1') => ({ type: 'snapshot', data: JSON.stringify({ entries, cursor }), id: cursor });
const event = (entry, id) => ({ type: 'revocation', data: JSON.stringify(entry), id });

test('RevocationMirror: what revokes a token', () => {
  let now = 1_000_000_000;
  const m = new RevocationMirror({ url: 'http://x', clientId: 'a', clientSecret: 'b', now: () => now });
  assert.equal(m.staleness(), Infinity, 'never loaded');
  m.apply(snapshot([
    { kind: 'sid', value: 's1', expires_at: 1_000_100 },
    { kind: 'jti', value: 'j1', expires_at: 1_000_100 },
    { kind: 'sub', value: 'bob', not_before: 1_000_000, expires_at: 1_000_100 },
    { kind: 'other', value: 'x', expires_at: 1_000_100 },
    { kind: 'sub', value: 'nobefore', expires_at: 1_000_100 },
  ]));
  assert.equal(m.size, 3, 'unknown kinds and malformed entries are left out');
  const rows = [
    [{ sid: 's1', jti: 'j9', sub: 'alice', iat: 999_999 }, 'sid'],
    [{ sid: 's9', jti: 'j1', sub: 'alice', iat: 999_999 }, 'jti'],
    [{ jti: 'j1', sub: 'alice', iat: 999_999 }, 'jti'],
    [{ sid: 's9', jti: 'j9', sub: 'bob', iat: 1_000_000 }, 'sub'],
    [{ sid: 's9', jti: 'j9', sub: 'bob', iat: 999_000 }, 'sub'],
    [{ sid: 's9', jti: 'j9', sub: 'bob', iat: 1_000_001 }, ''],
    [{ sid: 's9', jti: 'j9', sub: 'bob' }, 'sub'],
    [{ sid: 's9', jti: 'j9', sub: 'alice', iat: 1 }, ''],
    [{ sid: 's9', jti: 'j9', sub: 'nobefore', iat: 1 }, ''],
  ];
  for (const [claims, want] of rows) assert.equal(m.revoked(claims), want, JSON.stringify(claims));

  // A later cut-off wins, an earlier one (out of order) does not move it back.
  m.apply(event({ kind: 'sub', value: 'bob', not_before: 1_000_050, expires_at: 1_000_200 }, 'c2'));
  m.apply(event({ kind: 'sub', value: 'bob', not_before: 1_000_010, expires_at: 1_000_150 }, 'c3'));
  assert.equal(m.revoked({ sub: 'bob', iat: 1_000_050 }), 'sub');
  assert.equal(m.revoked({ sub: 'bob', iat: 1_000_051 }), '');
  m.apply(event({ kind: 'sid', value: 's1', expires_at: 1_000_050 }, 'c4')); // twice: the longer life stays

  // At expires_at an entry stops counting, and a minute later the sweep drops it.
  now = 1_000_100_000;
  assert.equal(m.revoked({ sid: 's1', sub: 'x', iat: 1 }), '', 'sid at its expires_at');
  assert.equal(m.revoked({ sub: 'bob', iat: 1 }), 'sub', 'the cut-off lives to 1_000_200');
  now = 1_000_170_000;
  m.apply(event({ kind: 'jti', value: 'j2', expires_at: 1_000_300 }, 'c5'));
  assert.equal(m.size, 2, 'the sweep dropped sid s1 and jti j1');
  assert.equal(m.stats.events, 4);

  // A snapshot merges: what the mirror holds stays (a jwtd that lost it cannot unrevoke), and an
  // entry already expired is not taken.
  m.apply(snapshot([{ kind: 'jti', value: 'j3', expires_at: 1_000_300 }, { kind: 'sid', value: 'old', expires_at: 1_000_170 }], 'c6'));
  assert.equal(m.revoked({ jti: 'j2', sub: 'x', iat: 1 }), 'jti');
  assert.equal(m.revoked({ jti: 'j3', sub: 'x', iat: 1 }), 'jti');
  assert.equal(m.revoked({ sid: 'old', sub: 'x', iat: 1 }), '');
  assert.equal(m.size, 3);
  assert.equal(m.stats.snapshots, 2);
});

test('RevocationMirror: a malformed event throws (the connection then reconnects)', () => {
  const m = new RevocationMirror({ url: 'http://x', clientId: 'a', clientSecret: 'b' });
  assert.throws(() => m.apply({ type: 'snapshot', data: '{"entries":[', id: '1' }));
  assert.throws(() => m.apply({ type: 'snapshot', data: '{}', id: '1' }));
  assert.equal(m.stats.snapshots, 0);
});
