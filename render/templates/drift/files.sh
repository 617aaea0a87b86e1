#% params: PATHS
# Prints one line per path of $PATHS (one a line): path<TAB>sha256<TAB>mode<TAB>owner<TAB>group,
# or path<TAB>missing.
set -u
tab=$(printf '\t')
while IFS= read -r p; do
  [ -n "$p" ] || continue
  if [ -f "$p" ]; then
    h=$(sha256sum "$p" | cut -d' ' -f1)
    meta=$(stat -c "%a${tab}%U${tab}%G" "$p")
    printf '%s\t%s\t%s\n' "$p" "$h" "$meta"
  else
    printf '%s\tmissing\n' "$p"
  fi
done <<PATHS_END
$PATHS
PATHS_END
