#% params: UNIT
restarts() {
  systemctl show -p NRestarts --value "$UNIT" 2>/dev/null || echo 0
}
