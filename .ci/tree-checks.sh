#!/usr/bin/env bash
# The repository holds only what we write: no tracked path that an ignore rule covers (what a
# tool installs or generates), no file over 1 MB outside an allow-list. And a loud notice when
# crates.io has a sqlx-core newer than the one vendor/ patches, so the patch is dropped then.
set -euo pipefail
cd "$(dirname "$0")/.."

failed=0
ignored=$(git ls-files -ci --exclude-standard)
if [ -n "$ignored" ]; then
  echo "tracked files that an ignore rule covers (git rm -r --cached them):"
  echo "$ignored" | head -n 20
  failed=1
fi

# Allowed above 1 MB: the vendored GraphiQL assets and the lock files.
large=$(git ls-files -z | xargs -0 -r stat -c '%s %n' \
  | awk '$1 > 1048576 && $2 !~ /^static\/graphiql\// && $2 !~ /(^|\/)(Cargo\.lock|package-lock\.json)$/ {print $2}')
if [ -n "$large" ]; then
  echo "tracked files over 1 MB outside the allow-list:"
  echo "$large"
  failed=1
fi
[ "$failed" -eq 0 ] || exit 1
echo "tracked files: only ours"

# vendor/sqlx-core is 0.9.0 plus the TCP_NODELAY fix (sqlx issue 4335). Not fatal: the index may
# be unreachable, and a newer release needs a person to check that it carries the fix.
vendored=$(sed -n 's/^version = "\(.*\)"/\1/p' vendor/sqlx-core/Cargo.toml | head -n 1)
newest=$(curl -fsS --max-time 10 https://index.crates.io/sq/lx/sqlx-core 2>/dev/null \
  | python3 -c '
import json, sys
versions = [json.loads(line) for line in sys.stdin if line.strip()]
released = [v["vers"] for v in versions if not v.get("yanked") and "-" not in v["vers"]]
key = lambda v: tuple(int(p) for p in v.split("."))
print(max(released, key=key) if released else "")
' 2>/dev/null || true)
if [ -z "$newest" ]; then
  echo "sqlx-core: could not read the crates.io index; vendored $vendored"
elif [ "$newest" != "$vendored" ]; then
  printf '\n!!!!! sqlx-core %s is released (vendor/sqlx-core patches %s): if it sets TCP_NODELAY\n' "$newest" "$vendored"
  printf '!!!!! on PostgreSQL connections (sqlx PR 4336), upgrade and remove vendor/ and [patch.crates-io].\n\n'
else
  echo "sqlx-core: $vendored is still the newest release; vendor/sqlx-core stays"
fi
