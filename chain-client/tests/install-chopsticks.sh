#!/usr/bin/env bash
# Installs chopsticks (npm `@acala-network/chopsticks`), which runs Bittensor's runtime from a
# chain spec on loopback for chain-client's `subtensor` tests. Idempotent: the package lives
# under target/chopsticks and is installed only when missing or of another version.
#
# Prints the path of the chopsticks entry point; export it as CHOPSTICKS for the tests (they
# also look in target/chopsticks on their own).
set -euo pipefail

VERSION="${CHOPSTICKS_VERSION:-1.5.1}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${CHOPSTICKS_DIR:-$ROOT/target/chopsticks}"
BIN="$DIR/node_modules/.bin/chopsticks"
STAMP="$DIR/.installed-$VERSION"

command -v node >/dev/null || { echo "install-chopsticks: node (>= 18) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "install-chopsticks: npm is required" >&2; exit 1; }

mkdir -p "$DIR"
# One install at a time: the tests may call this from several processes at once.
exec 9>"$DIR/.lock"
flock 9
if [ ! -f "$STAMP" ] || [ ! -x "$BIN" ]; then
  rm -f "$DIR"/.installed-*
  [ -f "$DIR/package.json" ] || echo '{"name":"chopsticks-cache","private":true}' > "$DIR/package.json"
  # --ignore-scripts: the tests run chopsticks without its `--db` cache, so the native sqlite3
  # build (many minutes on 2 cores) is never needed.
  npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error --ignore-scripts \
    "@acala-network/chopsticks@$VERSION" >&2
  touch "$STAMP"
fi
"$BIN" --version >/dev/null 2>&1 || { echo "install-chopsticks: $BIN does not run" >&2; exit 1; }
echo "$BIN"
