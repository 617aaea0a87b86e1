record="$HOST_STATE/selinux"
if [ -f "$record" ]; then
  if grep -qx config "$record"; then
    sed -i 's/^SELINUX=permissive/SELINUX=enforcing/' /etc/selinux/config
  fi
  setenforce 1 2>/dev/null || true
  rm -f "$record"
fi
cleanup_state
