#!/usr/bin/env bash
# The local lab: Debian machines booted with `systemd-nspawn -b`, each in its own network
# namespace on a private bridge, and an HTTP mirror they fetch binaries from.
#
#   lab/lab.sh base                      debootstrap the shared base rootfs (cached, once)
#   lab/lab.sh network-up | network-down the bridge the hosts and the mirror live on
#   lab/lab.sh create NAME IP [PUBKEY]   boot a host (idempotent); prints its SSH host key
#   lab/lab.sh destroy NAME              stop a host and remove all it had (idempotent)
#   lab/lab.sh mirror-start DIR          serve DIR at http://<bridge address>:PORT/
#   lab/lab.sh mirror-stop
#   lab/lab.sh registry-start DIR        run DIR/registry (distribution) at <bridge address>:PORT,
#                                        plain HTTP, its data under WORK_DIR/registry
#   lab/lab.sh registry-stop
#   lab/lab.sh status                    what runs
#   lab/lab.sh revive                    boot again the hosts (and mirror) a reboot stopped
#   lab/lab.sh clean [--all]             destroy every host, the mirror, the bridge (--all: the base)
#
# Settings (environment): K8SFS_LAB_WORK_DIR, K8SFS_LAB_BASE_DIR, K8SFS_LAB_BRIDGE,
# K8SFS_LAB_GATEWAY (the bridge's address with prefix, the hosts' gateway), K8SFS_LAB_RELEASE,
# K8SFS_LAB_DEBIAN_MIRROR, K8SFS_LAB_MIRROR_PORT, K8SFS_LAB_REGISTRY_PORT (default 5000),
# K8SFS_LAB_BOOT_TIMEOUT. See lab/README.md.
#
# Processes outlive the caller (pulumi): as transient systemd units when systemd is PID 1,
# otherwise as session leaders whose PIDs are kept under WORK_DIR/run.
set -euo pipefail
shopt -s inherit_errexit

WORK_DIR=${K8SFS_LAB_WORK_DIR:-/var/lib/k8s-from-scratch-lab}
BRIDGE=${K8SFS_LAB_BRIDGE:-br-k8sfs}
GATEWAY=${K8SFS_LAB_GATEWAY:-10.231.0.1/24}
RELEASE=${K8SFS_LAB_RELEASE:-bookworm}
MIRROR_PORT=${K8SFS_LAB_MIRROR_PORT:-8088}
REGISTRY_PORT=${K8SFS_LAB_REGISTRY_PORT:-5000}
BOOT_TIMEOUT=${K8SFS_LAB_BOOT_TIMEOUT:-180}
PREFIX=k8sfs-lab # transient unit and network namespace names: PREFIX-NAME
BASE_ROOT=${K8SFS_LAB_BASE_DIR:-$WORK_DIR/base} # may be shared between work dirs (tests)
RUN_DIR=$WORK_DIR/run
HOSTS_DIR=$WORK_DIR/hosts
REGISTRY_DATA=$WORK_DIR/registry

# Everything host preparation would otherwise install from a package mirror: lab hosts have no
# internet. Bump BASE_REVISION when the customisation in build_base changes.
BASE_PACKAGES=(
	systemd systemd-sysv dbus openssh-server iproute2 iputils-ping curl ca-certificates
	kmod iptables nftables ebtables ipset ipvsadm conntrack socat ethtool procps tar gzip
	util-linux systemd-timesyncd libseccomp2 apparmor xz-utils less
)
BASE_REVISION=2

log() { printf '[lab %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
}

need_root() { [[ $(id -u) == 0 ]] || die "must run as root (network namespaces, mounts, nspawn)"; }

# with_lock NAME CMD...: run CMD holding WORK_DIR/run/NAME.lock (hosts are created in parallel).
with_lock() {
	local name=$1
	shift
	mkdir -p "$RUN_DIR"
	(
		flock 9
		"$@"
	) 9>"$RUN_DIR/$name.lock"
}

have_systemd() { [[ -d /run/systemd/system ]]; }

# daemon PIDFILE LOG CGROUPS CMD...: run CMD in a new session, detached from the caller's fds
# (pulumi waits for its command's stdout to close), in the cgroup folders listed in CGROUPS
# (space-separated, may be empty), and keep its PID.
daemon() {
	local pidfile=$1 logfile=$2 cgroups=$3
	shift 3
	# shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
	setsid bash -c '
		for f in /proc/$$/fd/*; do n=${f##*/}; if ((n > 2)); then eval "exec $n>&-"; fi; done
		for d in $2; do echo $$ >"$d/cgroup.procs"; done
		echo $$ >"$1"
		shift 2
		exec "$@"' _ "$pidfile" "$cgroups" "$@" </dev/null >>"$logfile" 2>&1 &
	disown
}

# running_pid NAME UNIT MATCH: the PID of NAME (a host, the mirror, the registry), run as the
# transient unit UNIT or else as the session leader in RUN_DIR/NAME.pid; empty when it is not
# running. A PID file can outlive its process and the PID be reused: the process's command line
# must contain MATCH.
running_pid() {
	local name=$1 unit=$2 match=$3 pid=""
	if have_systemd; then
		pid=$(systemctl show -p MainPID --value "$unit.service" 2>/dev/null || true)
		[[ $pid == 0 ]] && pid=""
	elif [[ -f $RUN_DIR/$name.pid ]]; then
		pid=$(<"$RUN_DIR/$name.pid")
		{ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$match" || pid=""
	fi
	printf '%s\n' "$pid"
}

# stop_running NAME UNIT MATCH SECONDS: stop what running_pid finds: SIGTERM, and SIGKILL when it
# still runs after SECONDS.
stop_running() {
	local name=$1 unit=$2 match=$3 seconds=$4 pid i
	if have_systemd; then
		systemctl stop "$unit.service" 2>/dev/null || true
		systemctl reset-failed "$unit.service" 2>/dev/null || true
		return 0
	fi
	pid=$(running_pid "$name" "$unit" "$match")
	if [[ -n $pid ]]; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < seconds * 5; i++)); do
			[[ -n $(running_pid "$name" "$unit" "$match") ]] || break
			sleep 0.2
		done
		if [[ -n $(running_pid "$name" "$unit" "$match") ]]; then
			log "$name: still running after $seconds s; killing"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 1
		fi
	fi
	rm -f "$RUN_DIR/$name.pid"
}

# host_cgroups NAME: create and print a cgroup folder for the host in every cgroup hierarchy, so
# that (through nspawn's cgroup namespace) each host sees a root of its own: kubelets must not
# share kubepods. Only without systemd as PID 1; systemd-run's Delegate=yes does this otherwise.
host_cgroups() {
	local name=$1 mnt dir
	while read -r mnt; do
		dir=$mnt/$PREFIX
		mkdir -p "$dir/$name"
		if [[ -f $mnt/cpuset.cpus ]]; then # cpuset children start empty: copy the parent's
			cat "$mnt/cpuset.cpus" >"$dir/cpuset.cpus"
			cat "$mnt/cpuset.mems" >"$dir/cpuset.mems"
			cat "$mnt/cpuset.cpus" >"$dir/$name/cpuset.cpus"
			cat "$mnt/cpuset.mems" >"$dir/$name/cpuset.mems"
		fi
		printf '%s\n' "$dir/$name"
	done < <(cgroup_mounts)
}

cgroup_mounts() { awk '$9 == "cgroup" || $9 == "cgroup2" { print $5 }' /proc/self/mountinfo; }

# host_cgroup_pids NAME: every process still in the host's cgroups (none once nspawn stopped it,
# some when nspawn was killed and its container outlived it).
host_cgroup_pids() {
	local mnt
	while read -r mnt; do
		[[ -d $mnt/$PREFIX/$1 ]] || continue
		find "$mnt/$PREFIX/$1" -name cgroup.procs -exec cat {} + 2>/dev/null
	done < <(cgroup_mounts) | sort -un
}

# remove_host_cgroups NAME: the host's cgroup folders, deepest first, after killing what is left.
remove_host_cgroups() {
	local name=$1 mnt pids i
	for ((i = 0; i < 20; i++)); do
		pids=$(host_cgroup_pids "$name")
		[[ -n $pids ]] || break
		((i > 0)) || log "$name: killing processes left in its cgroups: $(tr '\n' ' ' <<<"$pids")"
		# shellcheck disable=SC2086 # one PID per word
		kill -KILL $pids 2>/dev/null || true
		sleep 0.25
	done
	while read -r mnt; do
		[[ -d $mnt/$PREFIX/$name ]] || continue
		find "$mnt/$PREFIX/$name" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[[ -d $mnt/$PREFIX/$name ]] && log "$name: cgroup $mnt/$PREFIX/$name is not empty; left in place"
		rmdir "$mnt/$PREFIX" 2>/dev/null || true
	done < <(cgroup_mounts)
}

# --------------------------------------------------------------------------- base rootfs

debian_mirror() {
	if [[ -n ${K8SFS_LAB_DEBIAN_MIRROR:-} ]]; then
		printf '%s\n' "$K8SFS_LAB_DEBIAN_MIRROR"
		return
	fi
	# The mirror apt already uses (deb822 `URIs:` or one-line `deb URL suite`), not the security one.
	local url
	url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '$1 == "URIs:" { for (i = 2; i <= NF; i++) print $i } $1 == "deb" { print ($2 ~ /^\[/ ? $3 : $2) }' |
		grep -v -e security -e '^cdrom:' | head -n1) || true
	printf '%s\n' "${url:-http://deb.debian.org/debian}"
}

base_dir() {
	local key
	key=$(printf '%s\n' "$RELEASE" "$BASE_REVISION" "${BASE_PACKAGES[@]}" | sha256sum | cut -c1-12)
	printf '%s\n' "$BASE_ROOT/$RELEASE-$key"
}

build_base() {
	local dir tmp mirror start=$SECONDS
	dir=$(base_dir)
	if [[ -f $dir/.complete ]]; then
		log "base rootfs: cached in $dir"
		printf '%s\n' "$dir"
		return
	fi
	command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
	mirror=$(debian_mirror)
	tmp=$dir.tmp
	rm -rf --one-file-system "$tmp"
	mkdir -p "$tmp"
	local IFS=,
	log "base rootfs: debootstrap $RELEASE from $mirror into $tmp (2 to 5 min; once per release and package list)"
	debootstrap --variant=minbase --include="${BASE_PACKAGES[*]}" "$RELEASE" "$tmp/rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 &
	unset IFS
	local pid=$! last
	# debootstrap is quiet for minutes: say every 20 s what it is at (its log's last step).
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		if (((SECONDS - start) % 20 < 2)); then
			last=$(grep -E '^I: ' "$tmp/debootstrap.log" 2>/dev/null | tail -n1 | cut -c1-80)
			log "base rootfs: debootstrap working, $((SECONDS - start)) s: ${last:-starting}"
		fi
	done
	wait "$pid" || die "debootstrap failed; see $tmp/debootstrap.log"
	customise_base "$tmp/rootfs"
	touch "$tmp/.complete"
	rm -rf --one-file-system "$dir"
	mv "$tmp" "$dir"
	prune_bases "$dir"
	log "base rootfs: built in $((SECONDS - start)) s: $dir ($(du -sh "$dir/rootfs" | cut -f1))"
	printf '%s\n' "$dir"
}

# customise_base ROOT: what every lab host shares. Per-host identity (machine-id, SSH host keys,
# hostname) is made at create time so that no two hosts share it.
customise_base() {
	local root=$1
	rm -f "$root"/etc/ssh/ssh_host_*
	: >"$root/etc/machine-id"
	rm -f "$root/var/lib/dbus/machine-id"
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
	# No DNS server is reachable from the lab: resolve only what /etc/hosts knows.
	printf '# lab hosts have no DNS server\n' >"$root/etc/resolv.conf"
	mkdir -p "$root/root/.ssh"
	chmod 700 "$root/root/.ssh"
	# Key logins only.
	printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\n' >"$root/etc/ssh/sshd_config.d/lab.conf"
	# nspawn mounts cgroup v1 controllers read-only (its cgroup namespace makes each host see only
	# its own subtree); kubelet and the runtime create kubepods/pod cgroups in them, so make the
	# controller mounts writable before anything else starts. No-op on cgroup v2.
	cat >"$root/etc/systemd/system/k8sfs-lab-cgroups.service" <<'EOF'
[Unit]
Description=k8s-from-scratch lab: writable cgroup v1 controllers
DefaultDependencies=no
Before=sysinit.target
ConditionPathIsMountPoint=/sys/fs/cgroup/memory

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for d in /sys/fs/cgroup/*; do mountpoint -q "$d" && mount -o remount,rw,bind "$d"; done; true'

[Install]
WantedBy=sysinit.target
EOF
	mkdir -p "$root/etc/systemd/system/sysinit.target.wants"
	ln -sf ../k8sfs-lab-cgroups.service "$root/etc/systemd/system/sysinit.target.wants/k8sfs-lab-cgroups.service"
	# Units that cannot work in a container and would only mark the system degraded.
	local unit
	for unit in systemd-timesyncd.service getty@tty1.service; do
		ln -sf /dev/null "$root/etc/systemd/system/$unit"
	done
}

# prune_bases KEEP: remove older base builds no host of this work dir was made from.
prune_bases() {
	local keep=$1 old used
	for old in "$BASE_ROOT"/*; do
		[[ -d $old && $old != "$keep" ]] || continue
		used=$(cat "$HOSTS_DIR"/*/base 2>/dev/null | grep -cxF "$old" || true)
		if [[ $used == 0 ]]; then
			log "base rootfs: removing the older $old"
			rm -rf --one-file-system "$old"
		fi
	done
}

cmd_base() {
	need_root
	with_lock base build_base >/dev/null
}

# --------------------------------------------------------------------------- network

gateway_ip() { printf '%s\n' "${GATEWAY%/*}"; }
prefix_len() { printf '%s\n' "${GATEWAY#*/}"; }

# Kernel settings that are machine-wide, not per network namespace, and that the hosts change:
# kubelet's at start (setupKernelTunables) and host preparation's inotify limits. The lab records
# the machine's values before the first host and restores them with network-down.
MACHINE_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes fs.inotify.max_user_watches
	fs.inotify.max_user_instances)

record_sysctls() {
	local record=$RUN_DIR/sysctl-before key
	[[ -f $record ]] && return 0
	for key in "${MACHINE_SYSCTLS[@]}"; do
		printf '%s=%s\n' "$key" "$(sysctl -n "$key")"
	done >"$record.new"
	mv "$record.new" "$record"
}

restore_sysctls() {
	local record=$RUN_DIR/sysctl-before kv
	[[ -f $record ]] || return 0
	while read -r kv; do
		[[ -n $kv ]] && sysctl -q -w "$kv" >/dev/null
	done <"$record"
	log "restored the machine-wide kernel settings the hosts change: $(tr '\n' ' ' <"$record")"
	rm -f "$record"
}

network_up() {
	mkdir -p "$RUN_DIR"
	record_sysctls
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		log "bridge $BRIDGE: creating with $GATEWAY"
		ip link add "$BRIDGE" type bridge
	fi
	if ! ip -o -4 addr show dev "$BRIDGE" | grep -q " $GATEWAY "; then
		ip addr add "$GATEWAY" dev "$BRIDGE"
	fi
	ip link set "$BRIDGE" up
}

cmd_network_up() {
	need_root
	with_lock network network_up
}

cmd_network_down() {
	need_root
	ip link show "$BRIDGE" >/dev/null 2>&1 || return 0
	local ports
	ports=$(ip -o link show master "$BRIDGE" | awk -F': ' '{print $2}' | cut -d@ -f1 | tr '\n' ' ')
	if [[ -n $ports ]]; then
		log "bridge $BRIDGE: still has ports ($ports); destroy those hosts first; keeping it"
		return 0
	fi
	local name
	for name in "${SERVERS[@]}"; do
		if [[ -n $(server_pid "$name") ]]; then
			log "bridge $BRIDGE: the $name still listens on it; run $name-stop first; keeping it"
			return 0
		fi
	done
	ip link del "$BRIDGE"
	log "bridge $BRIDGE: removed"
	restore_sysctls
}

# --------------------------------------------------------------------------- hosts

check_name() {
	[[ $1 =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || die "host name '$1' is not a DNS label"
}

check_ip() {
	[[ $1 =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "'$1' is not an IPv4 address"
	local o
	for o in "${BASH_REMATCH[@]:1}"; do
		((o <= 255)) || die "'$1' is not an IPv4 address"
	done
}

netns_of() { printf '%s\n' "$PREFIX-$1"; }
unit_of() { printf '%s\n' "$PREFIX-$1"; }
# Interface names are at most 15 bytes: a hash of the host name keeps them unique.
veth_of() { printf 'k8sfs%s\n' "$(printf '%s' "$1" | sha256sum | cut -c1-8)"; }

# nspawn_pid NAME: the PID of the host's systemd-nspawn process, empty when it is not running.
nspawn_pid() { running_pid "$1" "$(unit_of "$1")" "--machine=$1 "; }

# leader_pid NAME: the host's PID 1 (its systemd), as seen from here.
leader_pid() {
	local pid
	pid=$(nspawn_pid "$1")
	[[ -n $pid ]] || return 0
	# nspawn is a subreaper: the container's init is its only child.
	pgrep -P "$pid" | head -n1 || true  # none yet while nspawn is still starting its init
}

setup_netns() {
	local name=$1 ip=$2 ns veth
	ns=$(netns_of "$name")
	veth=$(veth_of "$name")
	[[ -e /run/netns/$ns ]] || ip netns add "$ns"
	# A veth whose peer is not in this namespace (left from an older one) is replaced.
	if ! ip -n "$ns" link show eth0 >/dev/null 2>&1 && ip link show "$veth" >/dev/null 2>&1; then
		ip link del "$veth"
	fi
	if ! ip link show "$veth" >/dev/null 2>&1; then
		ip link add "$veth" type veth peer name eth0 netns "$ns"
	fi
	ip link set "$veth" master "$BRIDGE" up
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 up
	ip -n "$ns" addr replace "$ip/$(prefix_len)" dev eth0
	ip -n "$ns" route replace default via "$(gateway_ip)" dev eth0
}

# write_identity ROOTFS NAME IP PUBKEY: per-host files, written into the host's overlay.
write_identity() {
	local root=$1 name=$2 ip=$3 pubkey=$4
	printf '%s\n' "$name" >"$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n' "$ip" "$name" >"$root/etc/hosts"
	# No DNS server answers in the lab, but a resolver must be named: CoreDNS (dnsPolicy Default)
	# refuses to start without an upstream. The bridge's address refuses port 53 at once, so
	# names outside the cluster fail fast, as at an air-gapped site with no outside DNS.
	printf '# the lab has no DNS server: lookups outside the cluster fail at once\nnameserver %s\n' \
		"$(gateway_ip)" >"$root/etc/resolv.conf"
	if [[ ! -s $root/etc/machine-id ]]; then
		tr -d '-' </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
	fi
	if [[ ! -f $root/etc/ssh/ssh_host_ed25519_key ]]; then
		ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f "$root/etc/ssh/ssh_host_ed25519_key"
		ssh-keygen -q -t rsa -b 3072 -N '' -C "root@$name" -f "$root/etc/ssh/ssh_host_rsa_key"
	fi
	if [[ -n $pubkey ]]; then
		install -d -m 700 "$root/root/.ssh"
		printf '%s\n' "$pubkey" >"$root/root/.ssh/authorized_keys.new"
		chmod 600 "$root/root/.ssh/authorized_keys.new"
		mv "$root/root/.ssh/authorized_keys.new" "$root/root/.ssh/authorized_keys"
	fi
}

mount_rootfs() {
	local name=$1 base=$2 dir=$HOSTS_DIR/$1
	mkdir -p "$dir/upper" "$dir/work" "$dir/rootfs" "$dir/containerd"
	if ! mountpoint -q "$dir/rootfs"; then
		mount -t overlay "$PREFIX-$name" \
			-o "lowerdir=$base/rootfs,upperdir=$dir/upper,workdir=$dir/work" "$dir/rootfs"
	fi
}

# nspawn_args NAME: how a host is booted. Kubernetes needs more than a default container:
#  --capability=all            containerd/runc/kube-proxy need CAP_SYS_ADMIN, NET_ADMIN, ...
#  --system-call-filter        keyrings (runc's session keyring) and bpf (cgroup device filters)
#  --bind /dev/kmsg            kubelet's OOM watcher reads the kernel log
#  --bind .../containerd       /var/lib/containerd on a real filesystem: overlayfs snapshots
#                              cannot have an overlayfs upper dir (the rootfs is one)
#  --bind-ro /lib/modules      modprobe in host preparation (when the host has modules)
#  --register=no --keep-unit   no machined, no scope of its own: it runs in our unit or session
#  SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 (environment): cgroup controllers, /proc/sys and /sys
#                              writable: kubelet creates kubepods cgroups and sets the sysctls
#                              vm.overcommit_memory, kernel.panic(_on_oops) (machine-wide, as in
#                              kind); kube-proxy and host preparation set net.* (per namespace)
nspawn_args() {
	local name=$1 dir=$HOSTS_DIR/$1
	local args=(
		--quiet --boot --directory="$dir/rootfs" --machine="$name" --hostname="$name"
		--register=no --keep-unit --network-namespace-path="/run/netns/$(netns_of "$name")"
		--resolv-conf=off --timezone=off --link-journal=no --console=passive
		--capability=all --system-call-filter='add_key keyctl request_key bpf'
		--bind=/dev/kmsg --bind="$dir/containerd:/var/lib/containerd"
	)
	[[ -d /lib/modules ]] && args+=(--bind-ro=/lib/modules)
	printf '%s\n' "${args[@]}"
}

start_host() {
	local name=$1 args
	mapfile -t args < <(nspawn_args "$name")
	if have_systemd; then
		systemd-run --quiet --unit="$(unit_of "$name")" --service-type=notify \
			--setenv=SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 \
			--property=KillMode=mixed --property=Delegate=yes \
			--property=DevicePolicy=auto --property='DeviceAllow=char-* rwm' --property='DeviceAllow=block-* rwm' \
			systemd-nspawn "${args[@]}"
	else
		local cgroups
		cgroups=$(host_cgroups "$name" | tr '\n' ' ')
		SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 \
			daemon "$RUN_DIR/$name.pid" "$HOSTS_DIR/$name/nspawn.log" "$cgroups" systemd-nspawn "${args[@]}"
		local i
		for ((i = 0; i < 50; i++)); do
			[[ -n $(nspawn_pid "$name") ]] && return 0
			sleep 0.1
		done
	fi
}

# wait_ready NAME IP: until the host's systemd says running/degraded and sshd accepts connections.
wait_ready() {
	local name=$1 ip=$2 deadline=$((SECONDS + BOOT_TIMEOUT)) leader state=""
	while ((SECONDS < deadline)); do
		leader=$(leader_pid "$name")
		if [[ -z $(nspawn_pid "$name") ]]; then
			tail -n 20 "$HOSTS_DIR/$name/nspawn.log" >&2 2>/dev/null || true
			die "$name: systemd-nspawn exited while booting"
		fi
		if [[ -n $leader ]]; then
			state=$(timeout 10 nsenter --target "$leader" --mount --pid \
				systemctl is-system-running 2>/dev/null || true)
			if [[ $state == running || $state == degraded ]] &&
				timeout 3 bash -c "exec 3<>/dev/tcp/$ip/22" 2>/dev/null; then
				if [[ $state == degraded ]]; then
					log "$name: degraded; failed units:"
					nsenter --target "$leader" --mount --pid systemctl --failed --no-legend >&2 || true
				fi
				return 0
			fi
		fi
		sleep 1
	done
	die "$name: not ready after ${BOOT_TIMEOUT}s (system state: ${state:-unknown})"
}

create_host() {
	local name=$1 ip=$2 pubkey=$3 base dir=$HOSTS_DIR/$1 start=$SECONDS
	# A host keeps the base it was made from (its overlay's upper dir holds changes against it).
	if [[ -f $dir/base && -f $(<"$dir/base")/.complete ]]; then
		base=$(<"$dir/base")
	else
		base=$(with_lock base build_base)
	fi
	with_lock network network_up
	if [[ -f $dir/ip && $(<"$dir/ip") != "$ip" ]]; then
		log "$name: moves from $(<"$dir/ip") to $ip: recreating it"
		destroy_host "$name"
	fi
	mkdir -p "$dir" "$RUN_DIR"
	printf '%s\n' "$ip" >"$dir/ip"
	printf '%s\n' "$base" >"$dir/base"
	mount_rootfs "$name" "$base"
	write_identity "$dir/rootfs" "$name" "$ip" "$pubkey"
	setup_netns "$name" "$ip"
	if [[ -z $(nspawn_pid "$name") ]]; then
		log "$name: booting at $ip"
		start_host "$name"
	fi
	wait_ready "$name" "$ip"
	log "$name: ready at $ip in $((SECONDS - start)) s"
	# The host key, for pinning (ssh.hostKeys).
	cut -d' ' -f1,2 "$dir/rootfs/etc/ssh/ssh_host_ed25519_key.pub"
}

cmd_create() {
	[[ $# -ge 2 && $# -le 3 ]] || usage
	need_root
	check_name "$1"
	check_ip "$2"
	with_lock "host-$1" create_host "$1" "$2" "${3:-}"
}

# stop_host NAME: SIGTERM makes nspawn ask the host's systemd to power off cleanly.
stop_host() { stop_running "$1" "$(unit_of "$1")" "--machine=$1 " 30; }

destroy_host() {
	local name=$1 dir=$HOSTS_DIR/$1 ns veth
	ns=$(netns_of "$name")
	veth=$(veth_of "$name")
	stop_host "$name"
	have_systemd || remove_host_cgroups "$name"
	if mountpoint -q "$dir/rootfs"; then
		umount "$dir/rootfs" || umount --lazy "$dir/rootfs"
	fi
	if ip link show "$veth" >/dev/null 2>&1; then
		ip link del "$veth"
	fi
	if [[ -e /run/netns/$ns ]]; then
		ip netns del "$ns"
	fi
	if [[ -d $dir ]]; then
		mountpoint -q "$dir/rootfs" && die "$dir/rootfs is still mounted; not removing it"
		rm -rf --one-file-system "$dir"
	fi
	rm -f "$RUN_DIR/host-$name.lock"
	log "$name: destroyed"
}

cmd_destroy() {
	[[ $# -eq 1 ]] || usage
	need_root
	check_name "$1"
	with_lock "host-$1" destroy_host "$1"
}

# --------------------------------------------------------------------------- servers
# The mirror and the registry: servers on the bridge's address, each a transient unit when
# systemd is PID 1, else a session leader whose PID is kept in RUN_DIR/NAME.pid (its output in
# RUN_DIR/NAME.log); RUN_DIR/NAME.dir names the folder it was started from (revive restarts it).

SERVERS=(mirror registry)
declare -A SERVER_UNIT=([mirror]=$PREFIX-mirror-$MIRROR_PORT [registry]=$PREFIX-registry-$REGISTRY_PORT)
# What each one's command line has (running_pid).
declare -A SERVER_MATCH=([mirror]=' http.server ' [registry]="/registry serve $RUN_DIR/registry.yml")

# server_pid NAME: the server's PID, empty when it is not running.
server_pid() { running_pid "$1" "${SERVER_UNIT[$1]}" "${SERVER_MATCH[$1]}"; }

server_stop() {
	stop_running "$1" "${SERVER_UNIT[$1]}" "${SERVER_MATCH[$1]}" 10
	rm -f "$RUN_DIR/$1.dir"
}

# server_start NAME DIR URL SECONDS [--setenv=VAR=VALUE | --property=P]... -- CMD...: NAME runs
# CMD, started from DIR, unless it already does; then URL must answer within SECONDS. The unit
# has a read-only view of the machine (no DynamicUser: its private /tmp would hide folders under
# /tmp) and the properties P; the VARs are in its environment with or without systemd.
server_start() {
	local name=$1 dir=$2 url=$3 seconds=$4 env=() props=() i
	shift 4
	while [[ $1 != -- ]]; do
		case $1 in
		--setenv=*) env+=("${1#--setenv=}") ;;
		*) props+=("$1") ;;
		esac
		shift
	done
	shift
	if [[ -n $(server_pid "$name") && -f $RUN_DIR/$name.dir && $(<"$RUN_DIR/$name.dir") == "$dir" ]]; then
		log "$name: already running from $dir"
	else
		server_stop "$name"
		network_up
		if have_systemd; then
			systemd-run --quiet --unit="${SERVER_UNIT[$name]}" "${env[@]/#/--setenv=}" \
				--property=ProtectSystem=strict --property=ProtectHome=read-only \
				--property=NoNewPrivileges=yes "${props[@]}" "$@"
		else
			(
				((${#env[@]} == 0)) || export "${env[@]}"
				daemon "$RUN_DIR/$name.pid" "$RUN_DIR/$name.log" "" "$@"
			)
		fi
		printf '%s\n' "$dir" >"$RUN_DIR/$name.dir"
	fi
	for ((i = 0; i < seconds * 5; i++)); do
		if curl -fsS -o /dev/null "$url" 2>/dev/null; then
			return 0
		fi
		# Gone for a second already (a port in use, a bad config): it will not answer.
		if [[ -z $(server_pid "$name") ]] && ((i > 5)); then
			break
		fi
		sleep 0.2
	done
	tail -n 20 "$RUN_DIR/$name.log" >&2 2>/dev/null || true
	die "$name: $url does not answer; see $RUN_DIR/$name.log"
}

# cmd_server_start NAME DIR: NAME_start DIR (as an absolute path) under the network lock.
cmd_server_start() {
	local name=$1 dir
	shift
	[[ $# -eq 1 ]] || usage
	need_root
	case $name in
	mirror) [[ -d $1 ]] || die "mirror folder $1 does not exist" ;;
	registry) [[ -x $1/registry ]] || die "$1/registry is missing or not executable (toolchain/images.sh build registry)" ;;
	esac
	dir=$(cd "$1" && pwd)
	mkdir -p "$RUN_DIR"
	with_lock network "${name}_start" "$dir"
}

cmd_server_stop() {
	need_root
	mkdir -p "$RUN_DIR"
	with_lock network server_stop "$1"
	log "$1: stopped"
}

# --------------------------------------------------------------------------- mirror

# mirror_start DIR: serve DIR over HTTP; prints its URL.
mirror_start() {
	local dir=$1 url python
	url="http://$(gateway_ip):$MIRROR_PORT/"
	python=$(command -v python3) || die "python3 is missing"
	server_start mirror "$dir" "$url" 10 -- \
		"$python" -m http.server --bind "$(gateway_ip)" --directory "$dir" "$MIRROR_PORT"
	log "mirror: serving $dir at $url"
	printf '%s\n' "$url"
}

# --------------------------------------------------------------------------- registry
# An OCI registry (distribution's `registry`, built by toolchain/images.sh) on the bridge's
# address, plain HTTP, serving the images toolchain/images.sh pushes; it keeps its data across
# restarts.

# registry_start DIR: run DIR/registry; prints its HOST:PORT.
registry_start() {
	local dir=$1 addr
	addr="$(gateway_ip):$REGISTRY_PORT"
	mkdir -p "$REGISTRY_DATA"
	cat >"$RUN_DIR/registry.yml" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: k8sfs-lab-registry
storage:
  filesystem:
    rootdirectory: $REGISTRY_DATA
  delete:
    enabled: true
http:
  addr: $addr
  headers:
    X-Content-Type-Options: [nosniff]
EOF
	server_start registry "$dir" "http://$addr/v2/" 20 --setenv=OTEL_TRACES_EXPORTER=none \
		--property="ReadWritePaths=$REGISTRY_DATA" -- "$dir/registry" serve "$RUN_DIR/registry.yml"
	log "registry: serving $REGISTRY_DATA at http://$addr/"
	printf '%s\n' "$addr"
}

# --------------------------------------------------------------------------- status, clean

host_names() {
	[[ -d $HOSTS_DIR ]] || return 0
	find "$HOSTS_DIR" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort
}

cmd_status() {
	local name pid state leader
	printf 'bridge %s: %s\n' "$BRIDGE" "$(ip -o -4 addr show dev "$BRIDGE" 2>/dev/null | awk '{print $4}' || true)"
	pid=$(server_pid mirror)
	printf 'mirror: %s\n' "${pid:+pid $pid serving $(cat "$RUN_DIR/mirror.dir" 2>/dev/null) on port $MIRROR_PORT}"
	pid=$(server_pid registry)
	printf 'registry: %s\n' "${pid:+pid $pid on port $REGISTRY_PORT, data in $REGISTRY_DATA}"
	while read -r name; do
		[[ -n $name ]] || continue
		pid=$(nspawn_pid "$name")
		state=stopped
		if [[ -n $pid ]]; then
			leader=$(leader_pid "$name")
			state=$(nsenter --target "$leader" --mount --pid systemctl is-system-running 2>/dev/null || true)
		fi
		printf 'host %s %s: %s\n' "$name" "$(cat "$HOSTS_DIR/$name/ip" 2>/dev/null || true)" "${state:-starting}"
	done < <(host_names)
}

# revive: boot again every host this work dir has (and the mirror it served), e.g. after the
# machine rebooted. Pulumi cannot see that (pulumi-command has no read), so `make up` runs this.
cmd_revive() {
	need_root
	local name dir
	while read -r name; do
		[[ -n $name ]] || continue
		[[ -f $HOSTS_DIR/$name/ip ]] || continue
		if [[ -z $(nspawn_pid "$name") ]]; then
			with_lock "host-$name" create_host "$name" "$(<"$HOSTS_DIR/$name/ip")" "" >/dev/null
		fi
	done < <(host_names)
	for name in "${SERVERS[@]}"; do
		if [[ -f $RUN_DIR/$name.dir && -z $(server_pid "$name") ]]; then
			dir=$(<"$RUN_DIR/$name.dir")
			with_lock network "${name}_start" "$dir" >/dev/null
		fi
	done
}

cmd_clean() {
	need_root
	local name
	while read -r name; do
		[[ -n $name ]] && cmd_destroy "$name"
	done < <(host_names)
	for name in "${SERVERS[@]}"; do
		cmd_server_stop "$name"
	done
	cmd_network_down
	if [[ ${1:-} == --all ]]; then
		rm -rf --one-file-system "$WORK_DIR"
		log "removed $WORK_DIR"
	fi
}

main() {
	[[ $# -ge 1 ]] || usage
	local sub=$1
	shift
	case $sub in
	base) cmd_base "$@" ;;
	network-up) cmd_network_up "$@" ;;
	network-down) cmd_network_down "$@" ;;
	create) cmd_create "$@" ;;
	destroy) cmd_destroy "$@" ;;
	mirror-start | registry-start) cmd_server_start "${sub%-start}" "$@" ;;
	mirror-stop | registry-stop) cmd_server_stop "${sub%-stop}" ;;
	status) cmd_status "$@" ;;
	revive) cmd_revive "$@" ;;
	clean) cmd_clean "$@" ;;
	-h | --help | help) usage ;;
	*) usage ;;
	esac
}

main "$@"
