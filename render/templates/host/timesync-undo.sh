record="$HOST_STATE/timesync"
if [ -f "$record" ]; then
  while read -r kind value; do
    case "$kind" in
      unit) systemctl disable --now "$value" 2>&1 || true ;;
      package) pkg_remove "$value" ;;
    esac
  done < "$record"
  rm -f "$record"
fi
cleanup_state
