record="$HOST_STATE/packages"
if [ -f "$record" ]; then
  # shellcheck disable=SC2046
  pkg_remove $(cat "$record")
  rm -f "$record"
fi
cleanup_state
