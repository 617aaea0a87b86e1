record="$HOST_STATE/iptables"
case "$FAMILY" in
  debian) alt=update-alternatives ;;
  *) alt=alternatives ;;
esac
if [ -f "$record" ]; then
  while read -r tool before; do
    if [ -n "$tool" ]; then
      "$alt" --set "$tool" "$before" >/dev/null 2>&1 || true
    fi
  done < "$record"
  rm -f "$record"
fi
cleanup_state
