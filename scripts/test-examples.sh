#!/usr/bin/env bash
# The package as a user installs it: builds and packs the library, installs each app in
# examples/ from the tarball with a plain `npm install` (its own lock), builds it with tsc, then
# on Node 22, 24 and 26 starts it against a fresh PostgreSQL database and runs
# scripts/examples-e2e.mjs over HTTP. One line per example and Node line, then
# "examples: N passed, N failed"; exits 1 on any failure.
#
#   scripts/test-examples.sh [example ...]     (default: every folder of examples/)
#
# Works in temporary copies, so the tree gets no node_modules, changed lock or rebuilt dist/:
# the library is built from a copy of the working tree (src/ as it is now, node_modules linked),
# which a build running in the tree at the same time cannot empty half-way through the pack.
# PostgreSQL: TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), a role
# that may CREATE DATABASE; each run makes its own databases and drops them.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

ADMIN_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
NODE_LINES=(22 24 26)
START_TIMEOUT=30   # seconds for an example to answer HTTP
STOP_TIMEOUT=10    # seconds for it to exit after SIGTERM

examples=("$@")
if [ ${#examples[@]} -eq 0 ]; then
  for dir in examples/*/; do [ -f "$dir/package.json" ] && examples+=("$(basename "$dir")"); done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/test-examples.XXXXXX")
server_pid=
databases=()
passed=0
failed=0

stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null
  for _ in $(seq 1 $((STOP_TIMEOUT * 10))); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  local stopped=0
  if kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null; stopped=1; fi
  wait "$server_pid" 2>/dev/null
  server_pid=
  return $stopped
}
psql_admin() { timeout 30 psql "$ADMIN_URL" -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null; }
drop_database() { psql_admin -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"; }
cleanup() {
  stop_server
  for db in "${databases[@]}"; do [ -z "$db" ] || drop_database "$db" || echo "could not drop database $db" >&2; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "examples: $passed passed, $failed failed, interrupted"; exit 130' INT TERM

result() { # PASS|FAIL, label, detail
  if [ "$1" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  printf '%s %-12s %s\n' "$1" "$2" "$3"
}
finish() {
  echo "examples: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
# Every example x Node line still gets its FAIL line when a step before the runs fails.
fail_all() { # detail, examples...
  local detail=$1 example line
  shift
  for example in "$@"; do for line in "${NODE_LINES[@]}"; do result FAIL "$example" "node $line: $detail"; done; done
}

command -v psql >/dev/null || { echo "test-examples: psql is needed (the PostgreSQL client)" >&2; fail_all "no psql" "${examples[@]}"; finish; }
psql_admin -c 'SELECT 1' || { echo "test-examples: PostgreSQL at $ADMIN_URL does not answer" >&2; fail_all "no PostgreSQL" "${examples[@]}"; finish; }

# Build, pack and install with Node 24 (the line CI runs the suite on); each Node line then runs the result.
node24=$(scripts/node-line.sh 24) || { fail_all "Node 24 could not be installed" "${examples[@]}"; finish; }
build_path="$node24:$PATH"
echo "building and packing the library (node $(PATH=$build_path node --version), npm $(PATH=$build_path npm --version))"
lib="$work/library"
mkdir -p "$lib"
tar -C "$root" --exclude=./.git --exclude=./node_modules --exclude=./dist --exclude=./sample/dist --exclude=./examples \
  --exclude=./.data --exclude=./coverage -cf - . | tar -C "$lib" -xf -
ln -s "$root/node_modules" "$lib/node_modules"
if ! (cd "$lib" && export PATH=$build_path && timeout 300 npm run -s build >"$work/build.log" 2>&1 &&
  timeout 120 npm pack --silent --pack-destination "$work" >"$work/pack.log" 2>&1); then
  tail -20 "$work/build.log" "$work/pack.log" >&2
  fail_all "the library did not build or pack" "${examples[@]}"
  finish
fi
# The examples depend on "file:../nestjs-sessions.tgz", a name that does not change with the version.
mv "$work"/nestjs-sessions-*.tgz "$work/nestjs-sessions.tgz"

# Node lines, installed once (outside the per-example timings).
declare -A node_bin
for line in "${NODE_LINES[@]}"; do node_bin[$line]=$(timeout 300 scripts/node-line.sh "$line") || node_bin[$line]=; done

for example in "${examples[@]}"; do
  src="examples/$example"
  app="$work/$example"
  if [ ! -f "$src/package.json" ] || [ ! -f "$src/package-lock.json" ]; then
    fail_all "no examples/$example with a package.json and package-lock.json" "$example"
    continue
  fi
  mkdir -p "$app" && tar -C "$src" --exclude=./node_modules --exclude=./dist -cf - . | tar -C "$app" -xf -

  # The lock records the tarball's hash from when it was committed; npm would install that
  # build again from its cache. Point it at this build, then check npm keeps the lock as is.
  if ! PATH=$build_path node "$root/scripts/example-lock.mjs" retarget "$app/package-lock.json" "$work/nestjs-sessions.tgz" 2>"$app/lock.log"; then
    fail_all "$(tail -1 "$app/lock.log")" "$example"
    continue
  fi
  cp "$app/package-lock.json" "$app/package-lock.before.json"
  if ! (cd "$app" && export PATH=$build_path && timeout 600 npm install --no-audit --no-fund >install.log 2>&1); then
    tail -20 "$app/install.log" >&2
    fail_all "npm install failed (log above)" "$example"
    continue
  fi
  if ! PATH=$build_path node "$root/scripts/example-lock.mjs" same "$app/package-lock.before.json" "$app/package-lock.json" 2>"$app/lock.log"; then
    cat "$app/lock.log" >&2
    fail_all "npm install changed examples/$example/package-lock.json: refresh it (see examples/README.md)" "$example"
    continue
  fi
  if ! (cd "$app" && export PATH=$build_path && timeout 300 npm run -s build >build.log 2>&1); then
    tail -20 "$app/build.log" >&2
    fail_all "the build failed (log above)" "$example"
    continue
  fi

  for line in "${NODE_LINES[@]}"; do
    bin=${node_bin[$line]}
    if [ -z "$bin" ]; then result FAIL "$example" "node $line: could not be installed"; continue; fi
    version=$("$bin/node" --version)
    db="examples_${example//[^a-z0-9]/_}_${line}_$$"
    log="$work/$example-node$line.log"
    started=$(date +%s%N)
    if ! psql_admin -c "CREATE DATABASE \"$db\""; then result FAIL "$example" "node $version: could not create database $db"; continue; fi
    databases+=("$db")
    port=$("$bin/node" -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')

    (cd "$app" && exec env PORT="$port" DATABASE_URL="${ADMIN_URL%/*}/$db" "$bin/node" dist/main.js) >"$log" 2>&1 &
    server_pid=$!
    detail=
    up=0
    for _ in $(seq 1 $((START_TIMEOUT * 10))); do
      if ! kill -0 "$server_pid" 2>/dev/null; then detail="exited before answering"; break; fi
      if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/me"; then up=1; break; fi
      sleep 0.1
    done
    [ "$up" = 1 ] || detail=${detail:-"did not answer within ${START_TIMEOUT}s"}
    if [ "$up" = 1 ] && ! detail=$(timeout 60 "$bin/node" scripts/examples-e2e.mjs "http://127.0.0.1:$port" 2>&1); then
      detail=${detail:-"the e2e timed out"}
      up=0
    fi
    stop_server || { [ "$up" = 1 ] && detail="did not exit within ${STOP_TIMEOUT}s of SIGTERM"; up=0; }
    if drop_database "$db"; then databases=("${databases[@]/$db}"); fi
    ms=$((($(date +%s%N) - started) / 1000000))
    if [ "$up" = 1 ]; then
      result PASS "$example" "node $version ($ms ms)"
    else
      result FAIL "$example" "node $version: $detail"
      tail -15 "$log" | sed 's/^/    /' >&2
    fi
  done
done
finish
