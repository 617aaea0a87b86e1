#% params: ARTIFACT CACHE_DIR STATE_DIR CLEAN_DIRS
# Remove every file and tree the install recorded, its record and its cached download.
set -eu
manifest="$STATE_DIR/$ARTIFACT.manifest"
if [ -f "$manifest" ]; then
  while read -r path _; do
    [ -n "$path" ] || continue
    rm -rf "$path" "$path.k8sfs-new" "$path.k8sfs-old"
    echo "removed $path"
  done <<LIST
$(tail -n +2 "$manifest")
LIST
  rm -f "$manifest" "$manifest.new"
fi
rm -rf "${CACHE_DIR:?}/${ARTIFACT:?}"
for d in "$STATE_DIR" "$CACHE_DIR" $CLEAN_DIRS; do
  rmdir "$d" 2>/dev/null || true
done
