#!/usr/bin/env bash
# Fetches the benchmark corpus: the real photos (JPEG, 0.2-18 MP, several with EXIF)
# shipped in Debian's mate-backgrounds and plasma-workspace-wallpapers packages.
# They are never committed. Needs apt-get (after `apt-get update`) and dpkg-deb.
# Usage: bench/image/fetch-photos.sh [DIR]   (default: bench/photos, git-ignored)
set -euo pipefail
dest=${1:-"$(dirname "$0")/../photos"}
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download mate-backgrounds plasma-workspace-wallpapers >/dev/null)
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
# Photos only: JPEG files above 50 kB (skips previews and tiny thumbnails).
find "$work/root" -type f \( -iname '*.jpg' -o -iname '*.jpeg' \) -size +50k -print0 |
  while IFS= read -r -d '' f; do
    rel=${f#"$work"/root/usr/share/}
    cp "$f" "$dest/$(printf '%s' "$rel" | tr '/' '_')"
  done
echo "$(find "$dest" -type f | wc -l) photos in $dest"
