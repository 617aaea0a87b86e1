record="$HOST_STATE/swap"
if [ -f "$record" ]; then
  if grep -qx fstab "$record"; then
    sed -i 's|^#k8sfs-swap# ||' /etc/fstab
  fi
  grep '^mask ' "$record" | while read -r _ unit; do
    systemctl unmask "$unit" 2>&1 || true
  done
  if grep -qx dphys-swapfile "$record"; then
    systemctl enable --now dphys-swapfile 2>&1 || true
  fi
  if grep -qx swapon "$record"; then
    swapon -a || true
  fi
  rm -f "$record"
fi
cleanup_state
