// The module must stay small: minified (esbuild) and gzipped, under 5 KB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const LIMIT = 5 * 1024;

test(`jwtd.js minified and gzipped is under ${LIMIT} bytes`, async (t) => {
  const out = await build({ entryPoints: [new URL('../jwtd.js', import.meta.url).pathname], bundle: true, minify: true, format: 'esm', write: false });
  const min = out.outputFiles[0].contents;
  const gz = gzipSync(min, { level: 9 }).length;
  t.diagnostic(`jwtd.js: ${min.length} bytes minified, ${gz} bytes gzipped`);
  assert.ok(gz < LIMIT, `gzip(minify(jwtd.js)): got ${gz} bytes, want < ${LIMIT}`);
});
