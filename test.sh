#!/usr/bin/env bash
# test.sh runs every check jwtd has: gofmt, go vet, staticcheck and the whole
# test suite under the race detector. Tests that need Redis start their own
# redis-server processes on free loopback ports; this script makes sure the
# binary exists, installing it with apt-get where it can.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "test.sh: redis-server is missing; installing it with apt-get"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
	else
		echo "test.sh: redis-server is missing and cannot be installed here (needs root and apt-get)." >&2
		echo "test.sh: install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis) and run again." >&2
		exit 1
	fi
fi

# The browser test needs Chromium and the interop tests Node.js; without
# them those tests, and only those, are skipped. Say so before they run.
if [ ! -x "${JWTD_TEST_CHROMIUM:-/usr/bin/chromium}" ]; then
	echo "test.sh: note: Chromium is not installed, so TestBrowserSPA and TestSPAClient will be SKIPPED."
	echo "test.sh: to run it: apt-get install -y chromium chromium-driver (or set JWTD_TEST_CHROMIUM to a Chromium binary)"
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "test.sh: note: Node.js is not installed, so TestInteropNode, TestNodeResourceServer(RedisDown), TestBrowserSPA, TestSPAClient and the unit tests of browser/ will be SKIPPED."
	echo "test.sh: to run them: install nodejs and npm"
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "test.sh: gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go tool staticcheck ./...

# The browser client (browser/): its unit tests under Node's test runner,
# including its size (minified with esbuild and gzipped, under 5 KB).
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	if [ ! -d browser/node_modules/esbuild ]; then
		(cd browser && npm ci --no-audit --no-fund)
	fi
	(cd browser && npm test --silent)
fi

go test -race -count=1 -timeout 15m ./...
