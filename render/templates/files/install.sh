# Installs the files of the bundle on stdin (render/host_files.py: a line per file, `path mode
# owner group base64`), each atomically; an identical file with the right mode and owner is
# left untouched.
set -eu
umask 077
while IFS=' ' read -r path mode owner group data; do
  [ -n "$path" ] || continue
  # Parents readable by the services' own users (files carry their own modes); new files are
  # created under umask 077 so a secret is never readable before its chmod.
  (umask 022 && mkdir -p "$(dirname "$path")")
  tmp="$path.k8sfs-new"
  printf '%s' "$data" | base64 -d > "$tmp"
  chown "$owner:$group" "$tmp"
  chmod "$mode" "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path" \
     && [ "$(stat -c '%a %U %G' "$path")" = "$(stat -c '%a %U %G' "$tmp")" ]; then
    rm -f "$tmp"
  else
    mv -f "$tmp" "$path"
    echo "updated $path"
  fi
done
