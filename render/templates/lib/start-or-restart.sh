#% params: UNIT HASH HASH_DIR WATCHED
# start_or_restart: starts $UNIT, or restarts it when its files changed since its last good
# start. The files' hash ($HASH) is recorded by record_hash once the unit is healthy, so running
# this again with the same files (a step re-run, a changed script) restarts nothing;
# `wrote=yes` restarts anyway (a file the calling script itself rewrote). With no recorded hash (the hash
# was not recorded by older versions) the unit is left running when its main process started
# after every file in $WATCHED was last written: it runs with them. Sets `restarted`.
# shellcheck disable=SC2317  # library functions; not every step calls each
# When the unit's main process started (a timer's: when it became active), in seconds since the
# epoch; fails when systemd does not say. `show -p` without --value: systemd before 230 has none.
unit_started_at() {
  at=$(TZ=UTC LC_ALL=C systemctl show -p ExecMainStartTimestamp "$UNIT" 2>/dev/null || true)
  at=${at#*=}
  case "$at" in
    "" | n/a)
      at=$(TZ=UTC LC_ALL=C systemctl show -p ActiveEnterTimestamp "$UNIT" 2>/dev/null || true)
      at=${at#*=}
      ;;
  esac
  case "$at" in
    "" | n/a | 0) return 1 ;;
  esac
  TZ=UTC LC_ALL=C date -d "$at" +%s 2>/dev/null
}
# shellcheck disable=SC2317
started_after_files() {
  started=$(unit_started_at) || return 1
  for f in $WATCHED; do
    [ -e "$f" ] && [ "$(stat -c %Y "$f")" -le "$started" ] || return 1
  done
}
# shellcheck disable=SC2317
start_or_restart() {
  systemctl daemon-reload
  systemctl enable "$UNIT" 2>&1
  recorded=$(cat "$HASH_DIR/$UNIT.hash" 2>/dev/null || true)
  restarted=yes
  if ! systemctl is-active --quiet "$UNIT"; then
    echo "starting $UNIT (files sha256 $HASH)"
  elif [ "${wrote:-no}" = no ] && [ "$recorded" = "$HASH" ]; then
    restarted=no
  elif [ "${wrote:-no}" = no ] && [ -z "$recorded" ] && started_after_files; then
    restarted=no
  else
    echo "restarting $UNIT (files sha256 $HASH)"
  fi
  if [ "$restarted" = yes ]; then
    systemctl restart "$UNIT"
  else
    echo "$UNIT: running with its current files (sha256 $HASH)"
  fi
}
# shellcheck disable=SC2317
record_hash() {
  mkdir -p "$HASH_DIR"
  echo "$HASH" >"$HASH_DIR/$UNIT.hash.new"
  mv -f "$HASH_DIR/$UNIT.hash.new" "$HASH_DIR/$UNIT.hash"
}
