#% params: UNITS
# Prints one line per unit of $UNITS (one a line): unit<TAB>is-enabled<TAB>is-active.
set -u
while IFS= read -r u; do
  [ -n "$u" ] || continue
  e=$(systemctl is-enabled "$u" 2>/dev/null || true)
  a=$(systemctl is-active "$u" 2>/dev/null || true)
  printf '%s\t%s\t%s\n' "$u" "${e:-not-found}" "${a:-unknown}"
done <<UNITS_END
$UNITS
UNITS_END
