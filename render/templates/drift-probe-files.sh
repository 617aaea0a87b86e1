# Prints one line per path given in "$@": path<TAB>sha256<TAB>mode<TAB>owner<TAB>group,
# or path<TAB>missing.
tab=$(printf '\t')
for p in "$@"; do
  if [ -f "$p" ]; then
    h=$(sha256sum "$p" | cut -d' ' -f1)
    meta=$(stat -c "%a${tab}%U${tab}%G" "$p")
    printf '%s\t%s\t%s\n' "$p" "$h" "$meta"
  else
    printf '%s\tmissing\n' "$p"
  fi
done
