#% params: BACKEND
# One iptables backend for host, kube-proxy and CNI (iptablesBackend): legacy or nft; auto
# keeps what the host uses.
record="$HOST_STATE/iptables"
current() {
  case "$(iptables --version 2>/dev/null)" in
    *nf_tables*) echo nft ;;
    *legacy*) echo legacy ;;
    "") echo none ;;
    *) echo legacy ;;  # iptables < 1.8 has only the legacy backend
  esac
}
if [ "$BACKEND" = auto ]; then
  echo "iptables: keeping the host's backend ($(current))"
  exit 0
fi
if [ "$(current)" = "$BACKEND" ]; then
  echo "iptables: already $BACKEND"
  exit 0
fi
case "$FAMILY" in
  debian) alt=update-alternatives ;;
  *) alt=alternatives ;;
esac
switched=no
for tool in iptables ip6tables arptables ebtables; do
  target="/usr/sbin/$tool-$BACKEND"
  link="/etc/alternatives/$tool"
  if [ -x "$target" ] && [ -L "$link" ]; then
    before=$(readlink -f "$link")
    if [ "$before" != "$target" ]; then
      grep -q "^$tool " "$record" 2>/dev/null || echo "$tool $before" >> "$record"
      "$alt" --set "$tool" "$target" >/dev/null
      switched=yes
    fi
  fi
done
if [ "$(current)" != "$BACKEND" ]; then
  case "$FAMILY/$BACKEND" in
    rhel/legacy) why="RHEL 8+ ships only the nf_tables backend: use iptablesBackend nft or auto" ;;
    rhel7/nft) why="RHEL/CentOS 7 ships only the legacy backend: use iptablesBackend legacy or auto" ;;
    *) why="no $BACKEND variant of iptables is installed" ;;
  esac
  echo "error: cannot switch iptables to $BACKEND: $why" >&2
  exit 1
fi
if [ "$switched" = yes ]; then
  echo "iptables: switched to $BACKEND"
fi
