record="$HOST_STATE/firewalld"
if [ -f "$record" ]; then
  if command -v firewall-cmd >/dev/null 2>&1 && systemctl is-active --quiet firewalld; then
    while read -r kind value; do
      case "$kind" in
        port) firewall-cmd --permanent --remove-port="$value" >/dev/null 2>&1 || true ;;
        source) firewall-cmd --permanent --zone=trusted --remove-source="$value" >/dev/null 2>&1 || true ;;
      esac
    done < "$record"
    firewall-cmd --reload >/dev/null 2>&1 || true
  fi
  rm -f "$record"
fi
cleanup_state
