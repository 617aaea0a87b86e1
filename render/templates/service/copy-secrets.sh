#% params: DIR_MODE FILE_MODE
# k8s-from-scratch-copy-secrets USER:GROUP DIR FILE...
#
# Run as root by a control-plane unit before its service starts (ExecStartPre= with
# PermissionsStartOnly=true; render/systemd.py says why): copies each FILE, root's alone on disk,
# into DIR, the unit's runtime directory (RuntimeDirectory=: systemd makes it at every start,
# USER's, DIR_MODE, and removes it when the unit stops), as a FILE_MODE file of USER:GROUP with
# the same name. The service reads those copies and nothing else of the keys. Running it again leaves the
# same files.
set -eu
umask 077 # every file made here is root's alone from its first byte, until it is USER's
me=${0##*/}
if [ "$#" -lt 3 ]; then
  echo "usage: $me USER:GROUP DIR FILE..." >&2
  exit 2
fi
owner=$1
dir=$2
shift 2
user=${owner%%:*}
group=${owner#*:}
case $dir in
  /run/*/*) under_run=no ;;
  /run/?*) under_run=yes ;;
  *) under_run=no ;;
esac
if [ "$under_run" = no ]; then
  echo "$me: $dir is not a directory right under /run (a unit's RuntimeDirectory=)" >&2
  exit 2
fi
if [ -L "$dir" ]; then
  echo "$me: $dir is a symbolic link; no secret is copied through it" >&2
  exit 1
fi
# systemd made it already; this only makes sure of its owner and mode (and makes it, for a run by
# hand).
install -d -m "$DIR_MODE" -o "$user" -g "$group" "$dir"
for src in "$@"; do
  if [ ! -f "$src" ]; then
    echo "$me: $src is missing: the control-plane files step installs it" >&2
    exit 1
  fi
  dst=$dir/${src##*/}
  # Whatever is there goes first (a copy from before, or a link in its place): install then
  # creates the file anew, never writing through what was there.
  rm -f "$dst"
  install -m "$FILE_MODE" -o "$user" -g "$group" "$src" "$dst"
done
