#!/usr/bin/env bash
# sync.sh VERSION: rebuilds this directory from github.com/ollama/ollama@VERSION (fetched from the
# Go module proxy): the packages github.com/ollama/ollama/api needs, their license, and the
# patches (*.patch) applied on top. See README.md for why this copy exists.
set -euo pipefail
version=${1:?usage: sync.sh VERSION (e.g. v0.17.4)}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here" && GOFLAGS=-mod=mod go mod download -json "github.com/ollama/ollama@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "module github.com/ollama/ollama@$version not downloaded" >&2; exit 1; }
packages="api auth envconfig format internal/orderedmap types/model version"
for p in $packages; do
	rm -rf "${here:?}/$p"
	mkdir -p "$here/$p"
	find "$src/$p" -maxdepth 1 -name '*.go' ! -name '*_test.go' -exec cp {} "$here/$p/" \;
	chmod -R u+w "$here/$p"
done
cp "$src/LICENSE" "$here/LICENSE"
chmod u+w "$here/LICENSE"
for patch in "$here"/*.patch; do
	patch --quiet --no-backup-if-mismatch -d "$here" -p1 < "$patch"
done
# The copy's own module file: upstream's, pruned to what these packages import (same versions).
cp "$src/go.mod" "$here/go.mod"
chmod u+w "$here/go.mod"
echo "$version" > "$here/VERSION"
(cd "$here" && GOFLAGS=-mod=mod go mod tidy)
echo "third_party/ollama: github.com/ollama/ollama $version with $(ls "$here"/*.patch | wc -l) patch(es)"
