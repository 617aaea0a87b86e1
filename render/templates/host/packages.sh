#% params: PKG_DEBIAN PKG_RHEL PKG_RHEL7 PKG_SELINUX
# Install the OS packages Kubernetes needs; record the ones that were not there before.
# PKG_SELINUX: wanted too where SELinux is active (Enforcing or Permissive).
record="$HOST_STATE/packages"
touch "$record"
case "$FAMILY" in
  debian) wanted=$PKG_DEBIAN ;;
  rhel) wanted=$PKG_RHEL ;;
  *) wanted=$PKG_RHEL7 ;;
esac
if [ "$(selinux_state)" != Disabled ]; then
  wanted="$wanted $PKG_SELINUX"
fi
missing=""
for choice in $wanted; do
  optional=no
  case "$choice" in
    *\?) optional=yes; choice=${choice%\?} ;;
  esac
  names=$(echo "$choice" | tr '|' ' ')
  have=no
  for name in $names; do
    if pkg_installed "$name"; then have=yes; break; fi
  done
  [ "$have" = no ] || continue
  pkg_refresh
  pick=""
  for name in $names; do
    if pkg_available "$name"; then pick=$name; break; fi
  done
  if [ -n "$pick" ]; then
    missing="$missing $pick"
  elif [ "$optional" = no ]; then
    echo "error: none of the packages '$choice' is available from this host's $FAMILY repositories" >&2
    exit 1
  fi
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  # shellcheck disable=SC2086
  pkg_install $missing
  for p in $missing; do
    grep -qx "$p" "$record" || echo "$p" >> "$record"
  done
else
  echo "packages: all present"
fi
