#% params: ARTIFACT VERSION FILE URL ALGO SUM KIND MEMBERS CACHE_DIR STATE_DIR
# Download, verify and install one pinned artifact. Idempotent: when the recorded install has
# this checksum and every installed file still has its recorded sha256, nothing is touched.
set -eu
umask 022
manifest="$STATE_DIR/$ARTIFACT.manifest"
want="$ALGO:$SUM"

hash_of() { sha256sum "$1" | cut -d' ' -f1; }
listed() { awk -v p="$1" '$1 == p { found = 1 } END { exit !found }' "$2"; }

if [ -f "$manifest" ] && [ "$(head -n 1 "$manifest")" = "$want" ]; then
  intact=yes
  while read -r path digest; do
    [ -n "$path" ] || continue
    if [ "$digest" = tree ]; then
      [ -d "$path" ] || intact=no
    elif [ ! -f "$path" ] || [ "$(hash_of "$path")" != "$digest" ]; then
      intact=no
    fi
  done <<LIST
$(tail -n +2 "$manifest")
LIST
  if [ "$intact" = yes ]; then
    echo "$ARTIFACT $VERSION: already installed"
    exit 0
  fi
  echo "$ARTIFACT $VERSION: installed files changed on the host, reinstalling"
fi

dir="$CACHE_DIR/$ARTIFACT/$VERSION"
file="$dir/$FILE"
mkdir -p "$dir" "$STATE_DIR"
verify() { [ -f "$1" ] && [ "$("${ALGO}sum" "$1" | cut -d' ' -f1)" = "$SUM" ]; }
if ! verify "$file"; then
  rm -f "$file.part"
  echo "$ARTIFACT $VERSION: downloading $URL"
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 5 --retry-delay 3 --connect-timeout 30 -o "$file.part" "$URL"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -t 5 -T 30 -O "$file.part" "$URL"
  else
    echo "error: neither curl nor wget is installed on this host" >&2
    exit 1
  fi
  if ! verify "$file.part"; then
    got=$("${ALGO}sum" "$file.part" | cut -d' ' -f1)
    rm -f "$file.part"
    echo "error: $URL has $ALGO $got, not the pinned $SUM: refusing to install it" >&2
    exit 1
  fi
  mv -f "$file.part" "$file"
fi
# Older cached versions of this artifact are dead weight.
for old in "$CACHE_DIR/$ARTIFACT"/*; do
  [ "$old" = "$dir" ] || rm -rf "$old"
done

work=$(mktemp -d "$dir/unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
case "$KIND" in
  binary) cp "$file" "$work/artifact" ;;
  *) tar -xf "$file" -C "$work" --no-same-owner ;;
esac

next="$manifest.new"
echo "$want" > "$next"

install_file() {
  mkdir -p "$(dirname "$2")"
  if [ -f "$2" ] && [ "$(hash_of "$1")" = "$(hash_of "$2")" ]; then
    chmod "$3" "$2"
  else
    cp "$1" "$2.k8sfs-new"
    chown root:root "$2.k8sfs-new"
    chmod "$3" "$2.k8sfs-new"
    mv -f "$2.k8sfs-new" "$2"
    echo "installed $2"
  fi
  echo "$2 $(hash_of "$2")" >> "$next"
}

while read -r src dest mode; do
  [ -n "$src" ] || continue
  case "$src" in
    */\*)
      from="$work/${src%/\*}"
      for f in "$from"/*; do
        [ -f "$f" ] || continue
        install_file "$f" "$dest/$(basename "$f")" "$mode"
      done
      ;;
    *)
      if [ "$KIND" = binary ]; then
        from="$work/artifact"
      else
        from="$work/$src"
      fi
      if [ ! -e "$from" ]; then
        echo "error: $FILE has no $src" >&2
        exit 1
      fi
      if [ "$KIND" = tree ]; then
        rm -rf "$dest.k8sfs-new" "$dest.k8sfs-old"
        mkdir -p "$(dirname "$dest")"
        mv "$from" "$dest.k8sfs-new"
        chown -R root:root "$dest.k8sfs-new"
        if [ -e "$dest" ]; then
          mv "$dest" "$dest.k8sfs-old"
        fi
        mv "$dest.k8sfs-new" "$dest"
        rm -rf "$dest.k8sfs-old"
        echo "installed $dest/"
        echo "$dest tree" >> "$next"
      else
        install_file "$from" "$dest" "$mode"
      fi
      ;;
  esac
done <<LIST
$MEMBERS
LIST

# Files an older version installed that this one no longer ships.
if [ -f "$manifest" ]; then
  while read -r path _; do
    [ -n "$path" ] || continue
    listed "$path" "$next" || rm -rf "$path"
  done <<LIST
$(tail -n +2 "$manifest")
LIST
fi
mv -f "$next" "$manifest"
echo "$ARTIFACT $VERSION: installed"
