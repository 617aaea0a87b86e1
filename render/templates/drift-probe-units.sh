# Prints one line per unit given in "$@": unit<TAB>is-enabled<TAB>is-active.
for u in "$@"; do
  e=$(systemctl is-enabled "$u" 2>/dev/null || true)
  a=$(systemctl is-active "$u" 2>/dev/null || true)
  printf '%s\t%s\t%s\n' "$u" "${e:-not-found}" "${a:-unknown}"
done
