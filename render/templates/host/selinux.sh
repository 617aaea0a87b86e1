#% params: SELINUX_MODE
# SELinux: Enforcing hosts go to Permissive unless security.selinux is "enforcing".
record="$HOST_STATE/selinux"
if ! command -v getenforce >/dev/null 2>&1 || [ "$(getenforce)" = Disabled ]; then
  echo "SELinux: not active"
  exit 0
fi
mode=$(getenforce)
if [ "$mode" = Enforcing ] && [ "$SELINUX_MODE" = permissive ]; then
  setenforce 0
  if [ -f /etc/selinux/config ] && grep -q '^SELINUX=enforcing' /etc/selinux/config; then
    sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' /etc/selinux/config
    echo config > "$record"
  else
    echo runtime > "$record"
  fi
  echo "SELinux: Enforcing -> Permissive (security.selinux: enforcing keeps it)"
elif [ "$mode" = Enforcing ]; then
  echo "SELinux: kept Enforcing as configured; the host needs container-selinux policy"
else
  echo "SELinux: $mode"
fi
