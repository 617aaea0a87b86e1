# Put back the sysctl values we changed and unload the modules we loaded (best effort: a
# module still in use stays).
sysctl_record="$HOST_STATE/sysctl-before"
modules_record="$HOST_STATE/modules-loaded"
if [ -f "$sysctl_record" ]; then
  while read -r kv; do
    if [ -n "$kv" ]; then
      sysctl -q -w "$kv" >/dev/null 2>&1 || true
    fi
  done < "$sysctl_record"
  rm -f "$sysctl_record"
fi
if [ -f "$modules_record" ]; then
  while read -r m; do
    if [ -n "$m" ]; then
      modprobe -r "$m" 2>/dev/null || true
    fi
  done < "$modules_record"
  rm -f "$modules_record"
fi
cleanup_state
