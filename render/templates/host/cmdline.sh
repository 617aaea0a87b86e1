#% params: FLAGS
# Raspberry Pi: kubelet needs the memory cgroup, which Raspberry Pi OS turns on only from the
# kernel command line. Flags are added once; a reboot is left to the operator, never done here.
record="$HOST_STATE/cmdline"
file=""
for f in /boot/firmware/cmdline.txt /boot/cmdline.txt; do
  if [ -f "$f" ]; then file=$f; break; fi
done
if [ -z "$file" ]; then
  echo "kernel command line: not a Raspberry Pi boot layout, nothing to do"
  exit 0
fi
added=""
for flag in $FLAGS; do
  if ! tr ' ' '\n' < "$file" | grep -qx "$flag"; then
    sed -i "1 s|\$| $flag|" "$file"
    added="$added $flag"
    echo "$file $flag" >> "$record"
  fi
done
if [ -n "$added" ]; then
  echo "kernel command line: added$added to $file"
fi
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
  grep -qw memory /sys/fs/cgroup/cgroup.controllers && exit 0
else
  grep -qw memory /proc/cgroups && awk '$1 == "memory" { exit !$4 }' /proc/cgroups && exit 0
fi
echo "error: $NODE's running kernel has no memory cgroup; $file now enables it." \
  "Reboot $NODE, then run pulumi up again (nothing reboots your hosts behind your back)" >&2
exit 1
