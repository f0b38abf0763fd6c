#!/usr/bin/env bash
# Builds the Debian package from this checkout (committed or not) and checks it with lintian.
# Usage: scripts/build-deb.sh [--clean] [--no-lintian]
#   --clean       start from an empty build folder (default: reuse it; ninja rebuilds what changed)
#   --no-lintian  skip lintian
# The build runs in a copy (build-deb/src/gpuhost-<version>), never in the tree, so the tree
# gets no debris; the .deb lands in build-deb/ and its path is the last line printed.
# Non-interactive; as root it installs missing build packages itself (else through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

clean=0 lint=1
for arg in "$@"; do
  case "$arg" in
    --clean) clean=1 ;;
    --no-lintian) lint=0 ;;
    *) echo "usage: $0 [--clean] [--no-lintian]" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh build deb

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
out=$root/build-deb
src=$out/src/gpuhost-$version
mkdir -p "$out"
# One build at a time per checkout (an engineer's and the deployment test's share build-deb/).
exec 9>"$out/.lock"
flock 9
[ "$clean" -eq 0 ] || rm -rf "$out/src"
mkdir -p "$src"

# A fresh copy of the sources, but the cmake build folder (obj-*) stays: tar keeps the files'
# times, so ninja rebuilds only what changed since the last run.
find "$src" -mindepth 1 -maxdepth 1 ! -name 'obj-*' -exec rm -rf {} +
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked and untracked-but-not-ignored files; ones deleted in the working tree are skipped.
  git -C "$root" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' file; do [ -e "$file" ] && printf '%s\0' "$file"; done |
    tar --null -T - -cf - | tar -xf - -C "$src"
else
  tar --exclude='./build*' --exclude='./.dev-state' --exclude='./images/cache' -cf - . | tar -xf - -C "$src"
fi

rm -f "$out"/gpuhost_"$version"_*.deb "$out"/gpuhost-dbgsym_"$version"_*.deb "$out"/gpuhost_"$version"_*.buildinfo \
      "$out"/gpuhost_"$version"_*.changes
# -nc: keep obj-* (the copy above is already clean); -b: binary only; -us -uc: no signing.
(cd "$src" && dpkg-buildpackage -b -us -uc -nc -j"$(nproc)")
for file in "$out"/src/gpuhost_"$version"_* "$out"/src/gpuhost-dbgsym_"$version"_*; do
  [ -e "$file" ] && mv -f "$file" "$out"/
done
deb=$out/gpuhost_${version}_${arch}.deb
[ -f "$deb" ] || { echo "build-deb: no $deb was built" >&2; exit 1; }

status=0
if [ "$lint" -eq 1 ]; then
  # Errors fail the script; the remaining tags are overridden, with reasons, in
  # debian/gpuhost.lintian-overrides.
  lintian --fail-on error --info "$out"/gpuhost_"$version"_"$arch".changes || status=$?
fi
echo "$deb"
exit "$status"
