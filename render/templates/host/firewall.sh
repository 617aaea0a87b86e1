#% params: PORTS TRUSTED
# firewalld, when it runs: open this node's ports and trust the pod and service ranges.
record="$HOST_STATE/firewalld"
if ! command -v firewall-cmd >/dev/null 2>&1 || ! systemctl is-active --quiet firewalld; then
  echo "firewalld: not running, nothing to open"
  exit 0
fi
touch "$record"
changed=no
for port in $PORTS; do
  if ! firewall-cmd --permanent --query-port="$port" >/dev/null 2>&1; then
    firewall-cmd --permanent --add-port="$port" >/dev/null
    grep -qx "port $port" "$record" || echo "port $port" >> "$record"
    changed=yes
    echo "firewalld: opened $port"
  fi
done
for source in $TRUSTED; do
  if ! firewall-cmd --permanent --zone=trusted --query-source="$source" >/dev/null 2>&1; then
    firewall-cmd --permanent --zone=trusted --add-source="$source" >/dev/null
    grep -qx "source $source" "$record" || echo "source $source" >> "$record"
    changed=yes
    echo "firewalld: trusted $source"
  fi
done
if [ "$changed" = yes ]; then
  firewall-cmd --reload >/dev/null
fi
