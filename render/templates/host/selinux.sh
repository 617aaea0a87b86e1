#% params: SELINUX_MODE
# SELinux. security.selinux "enforcing" (the default) keeps an Enforcing host Enforcing and leaves
# a Permissive one as found; "permissive" sets an Enforcing host Permissive, recorded for destroy.
record="$HOST_STATE/selinux"
mode=$(selinux_state)
if [ "$mode" = Disabled ]; then
  echo "SELinux: not active"
  exit 0
fi
if [ "$SELINUX_MODE" = permissive ]; then
  if [ "$mode" = Enforcing ]; then
    setenforce 0
    if [ -f "$SELINUX_CONFIG" ] && grep -q '^SELINUX=enforcing' "$SELINUX_CONFIG"; then
      sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' "$SELINUX_CONFIG"
      echo config > "$record"
    else
      echo runtime > "$record"
    fi
    echo "SELinux: Enforcing -> Permissive (security.selinux: permissive; destroy restores Enforcing)"
  else
    echo "SELinux: $mode"
  fi
elif [ -f "$record" ]; then
  # An earlier run under security.selinux: permissive set this host Permissive: undo that.
  selinux_restore "$record"
  echo "SELinux: $mode -> Enforcing (security.selinux: enforcing; an earlier run had set Permissive)"
elif [ "$mode" = Enforcing ]; then
  echo "SELinux: Enforcing, kept; containers run confined (container_t)"
else
  echo "SELinux: $mode, left as found: security.selinux: enforcing does not switch a Permissive host" \
    "to Enforcing (setenforce 1 and SELINUX=enforcing in $SELINUX_CONFIG do)"
fi
