#% params: NODE OS_OVERRIDE
# Shared by every host-prep step: OS family detection and package helpers.
set -eu
HOST_STATE=${HOST_STATE:-/var/lib/k8s-from-scratch/host}
OS_RELEASE=${OS_RELEASE:-/etc/os-release}
SELINUX_CONFIG=${SELINUX_CONFIG:-/etc/selinux/config}
mkdir -p "$HOST_STATE"

# debian | rhel | rhel7, from the node's `os` override or /etc/os-release.
# shellcheck disable=SC2317  # library function; not every step calls it
os_family() {
  if [ "$OS_OVERRIDE" != auto ]; then
    echo "$OS_OVERRIDE"
    return
  fi
  if [ ! -r "$OS_RELEASE" ]; then
    echo "error: $NODE has no /etc/os-release; set the node's os (debian, rhel or rhel7)" >&2
    return 1
  fi
  # shellcheck disable=SC1090
  ids=$(. "$OS_RELEASE" && echo " ${ID:-} ${ID_LIKE:-} ")
  # shellcheck disable=SC1090
  major=$(. "$OS_RELEASE" && echo "${VERSION_ID:-0}" | cut -d. -f1)
  case "$ids" in
    *" debian "* | *" ubuntu "* | *" raspbian "*) echo debian ;;
    *" rhel "* | *" centos "* | *" fedora "* | *" rocky "* | *" almalinux "* | *" ol "*)
      if [ "$major" -le 7 ] 2>/dev/null; then echo rhel7; else echo rhel; fi
      ;;
    *)
      echo "error: $NODE runs an unsupported OS (ID/ID_LIKE:$ids); supported: Debian, Ubuntu, Raspberry Pi OS," \
        "RHEL/CentOS/Rocky/Alma 8+, CentOS/Oracle Linux 7; or set the node's os" >&2
      return 1
      ;;
  esac
}

# shellcheck disable=SC2317  # library function; not every step calls it
in_container() {
  if command -v systemd-detect-virt >/dev/null 2>&1; then
    systemd-detect-virt --container --quiet
  else
    [ -f /run/.containerenv ] || [ -f /.dockerenv ]
  fi
}

# Enforcing | Permissive | Disabled; a host without the SELinux tools has none active.
# shellcheck disable=SC2317  # library function; not every step calls it
selinux_state() {
  if command -v getenforce >/dev/null 2>&1; then
    getenforce
  else
    echo Disabled
  fi
}

# The policy confined containers run under is loaded: container-selinux's module (refpolicy's
# on Debian) is named "container". semodule (policycoreutils) is on every host with SELinux
# active; RHEL 7's prints "name<TAB>version".
# shellcheck disable=SC2317  # library function; not every step calls it
container_policy_loaded() {
  semodule -l 2>/dev/null | awk '{ print $1 }' | grep -qx container
}

# Puts back what the selinux part changed for security.selinux: permissive (its record).
# shellcheck disable=SC2317  # library function; not every step calls it
selinux_restore() {
  if grep -qx config "$1"; then
    sed -i 's/^SELINUX=permissive/SELINUX=enforcing/' "$SELINUX_CONFIG"
  fi
  setenforce 1 2>/dev/null || true
  rm -f "$1"
}

# shellcheck disable=SC2317  # library function; not every step calls it
pkg_installed() {
  # shellcheck disable=SC2016  # ${Status} is dpkg-query's field, not ours
  case "$FAMILY" in
    debian) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ;;
    *) rpm -q "$1" >/dev/null 2>&1 ;;
  esac
}

# shellcheck disable=SC2317  # library function; not every step calls it
pkg_available() {
  case "$FAMILY" in
    debian) apt-cache show "$1" >/dev/null 2>&1 ;;
    rhel) dnf -q list "$1" >/dev/null 2>&1 ;;
    rhel7) yum -q list "$1" >/dev/null 2>&1 ;;
  esac
}

# shellcheck disable=SC2317  # library function; not every step calls it
pkg_install() {
  case "$FAMILY" in
    debian) DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" ;;
    rhel) dnf install -y -q "$@" ;;
    rhel7) yum install -y -q "$@" ;;
  esac
}

# Remove packages we installed, never one something else still depends on.
# shellcheck disable=SC2317  # library function; not every step calls it
pkg_remove() {
  for p in "$@"; do
    case "$FAMILY" in
      debian) dpkg -r "$p" >/dev/null 2>&1 || echo "kept package $p: other packages need it" ;;
      *) rpm -e "$p" >/dev/null 2>&1 || echo "kept package $p: other packages need it" ;;
    esac
  done
}

apt_updated=no
# shellcheck disable=SC2317  # library function; not every step calls it
pkg_refresh() {
  if [ "$FAMILY" = debian ] && [ "$apt_updated" = no ]; then
    apt-get update -q >/dev/null
    apt_updated=yes
  fi
}

# Restore scripts end with this: the state dir goes once the last record is gone.
# shellcheck disable=SC2317  # library function; not every step calls it
cleanup_state() {
  rmdir "$HOST_STATE" /var/lib/k8s-from-scratch 2>/dev/null || true
}

FAMILY=$(os_family)
