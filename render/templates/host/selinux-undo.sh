record="$HOST_STATE/selinux"
if [ -f "$record" ]; then
  selinux_restore "$record"
fi
cleanup_state
