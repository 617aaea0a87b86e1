# kubelet wants swap off: turn it off now and for every boot (fstab, dphys-swapfile, zram).
record="$HOST_STATE/swap"
touch "$record"
note() { grep -qx "$1" "$record" || echo "$1" >> "$record"; }
if command -v dphys-swapfile >/dev/null 2>&1 && systemctl is-enabled --quiet dphys-swapfile 2>/dev/null; then
  dphys-swapfile swapoff || true
  systemctl disable --now dphys-swapfile 2>&1
  note dphys-swapfile
fi
if grep -Eq '^[^#[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]]' /etc/fstab; then
  sed -i -E 's|^([^#[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]].*)$|#k8sfs-swap# \1|' /etc/fstab
  note fstab
  echo "commented out swap entries in /etc/fstab"
fi
for unit in $(systemctl list-units --type=swap --plain --no-legend 2>/dev/null | awk '{ print $1 }'); do
  case "$unit" in
    dev-zram*)
      systemctl mask --now "$unit" 2>&1
      note "mask $unit"
      ;;
  esac
done
if [ -n "$(tail -n +2 /proc/swaps)" ]; then
  if swapoff -a; then
    note swapon
    echo "swap is off"
  elif in_container; then
    echo "warning: swap is on and cannot be turned off inside a container"
  else
    echo "error: swapoff -a failed" >&2
    exit 1
  fi
fi
