#% params: MODULES SYSCTLS
# Load the modules and apply the sysctls of our modules-load.d / sysctl.d files now (the files
# make them persistent). Values before our first change are recorded for destroy.
modules_record="$HOST_STATE/modules-loaded"
sysctl_record="$HOST_STATE/sysctl-before"
touch "$modules_record"
for m in $MODULES; do
  [ -d "/sys/module/$m" ] && continue
  if modprobe "$m"; then
    echo "$m" >> "$modules_record"
  elif in_container; then
    echo "warning: cannot load $m inside a container; load it on the machine that runs this one"
  else
    echo "error: modprobe $m failed" >&2
    exit 1
  fi
done
if [ ! -f "$sysctl_record" ]; then
  for kv in $SYSCTLS; do
    key=${kv%%=*}
    value=$(sysctl -n "$key" 2>/dev/null || true)
    [ -n "$value" ] && echo "$key=$value" >> "$sysctl_record.new"
  done
  touch "$sysctl_record.new"
  mv -f "$sysctl_record.new" "$sysctl_record"
fi
for kv in $SYSCTLS; do
  key=${kv%%=*}
  want=${kv#*=}
  [ "$(sysctl -n "$key" 2>/dev/null || true)" = "$want" ] && continue
  if ! sysctl -q -w "$kv" >/dev/null 2>&1; then
    if in_container; then
      echo "warning: cannot set $kv inside a container"
    else
      echo "error: sysctl -w $kv failed" >&2
      exit 1
    fi
  else
    echo "set $kv"
  fi
done
