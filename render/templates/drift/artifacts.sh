#% params: STATE_DIR ARTIFACTS
# Prints one line per artifact of $ARTIFACTS (one a line): artifact<TAB>ok, or
# artifact<TAB>drifted<TAB>paths (comma-separated files whose content no longer matches what the
# verified install recorded).
set -u
while IFS= read -r a; do
  [ -n "$a" ] || continue
  manifest="$STATE_DIR/$a.manifest"
  if [ ! -f "$manifest" ]; then
    printf '%s\tdrifted\t%s\n' "$a" "$manifest"
    continue
  fi
  bad=""
  while read -r path digest; do
    [ -n "$path" ] || continue
    if [ "$digest" = tree ]; then
      [ -d "$path" ] || bad="$bad,$path"
    elif [ ! -f "$path" ] || [ "$(sha256sum "$path" | cut -d' ' -f1)" != "$digest" ]; then
      bad="$bad,$path"
    fi
  done <<LIST
$(tail -n +2 "$manifest")
LIST
  if [ -z "$bad" ]; then
    printf '%s\tok\n' "$a"
  else
    printf '%s\tdrifted\t%s\n' "$a" "${bad#,}"
  fi
done <<ARTIFACTS_END
$ARTIFACTS
ARTIFACTS_END
