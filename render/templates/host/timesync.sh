# Certificates and etcd need a synchronised clock: keep the host's time daemon, or run one.
record="$HOST_STATE/timesync"
if in_container; then
  echo "time sync: in a container the clock is the host's"
  exit 0
fi
for unit in chronyd chrony systemd-timesyncd ntpd ntp ntpsec openntpd; do
  if systemctl is-active --quiet "$unit" 2>/dev/null; then
    echo "time sync: $unit is running"
    exit 0
  fi
done
case "$FAMILY" in
  debian) pkg=systemd-timesyncd; unit=systemd-timesyncd ;;
  *) pkg=chrony; unit=chronyd ;;
esac
if [ "$FAMILY" = debian ] && systemctl cat chrony >/dev/null 2>&1; then
  pkg=""; unit=chrony
elif systemctl cat "$unit" >/dev/null 2>&1; then
  pkg=""
fi
if [ -n "$pkg" ]; then
  pkg_refresh
  pkg_install "$pkg"
  echo "package $pkg" > "$record"
fi
systemctl enable --now "$unit" 2>&1
echo "unit $unit" >> "$record"
echo "time sync: started $unit"
