#!/usr/bin/env bash
# Build the images a lab cluster runs, as OCI image layouts, and the registry that serves them.
#
#   toolchain/images.sh build [IMAGE...]   build what is missing (IMAGE: pause coredns flannel
#                                          flannel-cni-plugin agnhost registry; default: all)
#   toolchain/images.sh push HOST:PORT     push every built image to that registry (plain HTTP
#                                          allowed) and print HOST:PORT/<path>:<tag>@sha256:...
#   toolchain/images.sh list               the image references this builds
#   toolchain/images.sh registry-dir       the folder of the registry binary it builds
#
# Binaries come from Go modules (module proxy), shared/upstream archives and Debian packages;
# images are assembled with umoci and pushed with skopeo (no Docker daemon, no registry pull).
# Outputs, like toolchain/build.sh's, live under ${K8SFS_TOOLCHAIN_DIR:-/var/cache/k8s-from-scratch/toolchain}:
#   images/<repository>/<tag>/   oci/ (OCI layout, tagged <tag>), digest, reference, packages,
#                                SHA256SUMS (written last: a folder with it is complete)
#   registry/<version>/linux-<arch>/registry
#   debian/<release>/            the private apt state and .deb cache the image roots come from
# A complete folder is not rebuilt (K8SFS_FORCE=1 rebuilds, K8SFS_VERIFY=1 checks sums).
# Go settings, K8SFS_NICE and K8SFS_BUILD_JOBS are toolchain/build.sh's. See toolchain/README.md.
# shellcheck source-path=SCRIPTDIR
# shellcheck disable=SC2317 # build_each (build.sh) calls build_image, hence every builder, indirectly
set -euo pipefail
shopt -s inherit_errexit

# --------------------------------------------------------------------------- Debian packages
# What this script needs on the machine (installed when missing; nothing is upgraded).
IMAGES_HOST_PACKAGES=(umoci skopeo gcc libc6-dev dpkg apt debian-archive-keyring ca-certificates)

install_host_packages() {
	local missing=() p
	for p in "${IMAGES_HOST_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	[[ $(id -u) == 0 ]] || {
		echo "images.sh: missing Debian packages (${missing[*]}); run as root to install them" >&2
		exit 1
	}
	echo "images.sh: installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Versions (each overridable from the environment).
: "${K8SFS_PAUSE_VERSION:=3.10.1}"                      # from build/pause of k8s.io/kubernetes
: "${K8SFS_IMAGES_KUBERNETES_VERSION:=v1.35.4}"         # the module pause and agnhost come from
: "${K8SFS_COREDNS_VERSION:=v1.15.0}"
: "${K8SFS_FLANNEL_VERSION:=v0.28.10}"
: "${K8SFS_FLANNEL_TENCENT_VPC_VERSION:=v1.0.900}"      # the proxy refuses the zips flannel names
: "${K8SFS_FLANNEL_CNI_PLUGIN_VERSION:=v1.9.1-flannel1}" # shared/upstream archive
: "${K8SFS_FLANNEL_CNI_PLUGIN_COMMIT:=4c87e5d4}"
: "${K8SFS_AGNHOST_TAG:=2.52}"                          # the tag the smoke test names
: "${K8SFS_REGISTRY_VERSION:=v3.1.2}"                   # github.com/distribution/distribution/v3
: "${K8SFS_IMAGES_DEBIAN_RELEASE:=bookworm}"

IMAGE_NAMES=(pause coredns flannel flannel-cni-plugin agnhost)

# image_ref NAME: the reference the cluster's manifests use.
image_ref() {
	case $1 in
	pause) echo "registry.k8s.io/pause:$K8SFS_PAUSE_VERSION" ;;
	coredns) echo "registry.k8s.io/coredns/coredns:$K8SFS_COREDNS_VERSION" ;;
	flannel) echo "ghcr.io/flannel-io/flannel:$K8SFS_FLANNEL_VERSION" ;;
	flannel-cni-plugin) echo "ghcr.io/flannel-io/flannel-cni-plugin:$K8SFS_FLANNEL_CNI_PLUGIN_VERSION" ;;
	agnhost) echo "registry.k8s.io/e2e-test-images/agnhost:$K8SFS_AGNHOST_TAG" ;;
	*) return 1 ;;
	esac
}

usage() {
	sed -n '2,/^# shellcheck/{/^# shellcheck/d;s/^# \{0,1\}//;p}' "$0" >&2
}

cmd_list() {
	local n
	for n in "${IMAGE_NAMES[@]}"; do image_ref "$n"; done
}

# `list` and `help` need neither Go nor packages.
case ${1:-} in
list)
	cmd_list
	exit 0
	;;
-h | --help | help | "")
	usage
	[[ -n ${1:-} ]] && exit 0
	exit 2
	;;
esac

install_host_packages

# toolchain/build.sh's settings and helpers (sourcing it defines functions and the Go env only).
# shellcheck source=build.sh
. "$HERE/build.sh"
IMAGES_DIR="$TOOLCHAIN_DIR/images"
IMG_WORK="$WORK_DIR/images"
DEB_DIR="$TOOLCHAIN_DIR/debian/$K8SFS_IMAGES_DEBIAN_RELEASE"
UPSTREAM_DIR=${K8SFS_UPSTREAM_DIR:-$(cd "$HERE/../.." && pwd)/shared/upstream}

log() { printf '[images %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# image_dir NAME: images/<repository>/<tag>
image_dir() {
	local ref
	ref=$(image_ref "$1")
	printf '%s/%s/%s\n' "$IMAGES_DIR" "${ref%:*}" "${ref##*:}"
}

# --------------------------------------------------------------------------- Debian roots
# A private apt state (sources for K8SFS_IMAGES_DEBIAN_RELEASE, an empty dpkg status) resolves a
# package set as on an empty machine, downloads the .debs and unpacks them (dpkg-deb -x): no
# maintainer scripts run, so what they would do (alternatives) is done by the image builders.

debian_mirror_url() { # KIND: debian | debian-security
	local env=K8SFS_IMAGES_DEBIAN_MIRROR url
	[[ $1 == debian-security ]] && env=K8SFS_IMAGES_DEBIAN_SECURITY_MIRROR
	if [[ -n ${!env:-} ]]; then
		printf '%s\n' "${!env}"
		return
	fi
	url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '$1 == "URIs:" { for (i = 2; i <= NF; i++) print $i } $1 == "deb" { print ($2 ~ /^\[/ ? $3 : $2) }' |
		grep -E "/$1/?\$" | head -n1) || true
	printf '%s\n' "${url:-http://deb.debian.org/$1}"
}

APT_OPTS=()
apt_setup() {
	local rel=$K8SFS_IMAGES_DEBIAN_RELEASE arch key=/usr/share/keyrings/debian-archive-keyring.gpg
	arch=$(dpkg --print-architecture)
	mkdir -p "$DEB_DIR"/{state/lists/partial,cache/archives/partial,debs,etc/sources.list.d,etc/preferences.d}
	: >"$DEB_DIR/status.empty"
	cat >"$DEB_DIR/etc/sources.list.new" <<EOF
deb [signed-by=$key] $(debian_mirror_url debian) $rel main
deb [signed-by=$key] $(debian_mirror_url debian) $rel-updates main
deb [signed-by=$key] $(debian_mirror_url debian-security) $rel-security main
EOF
	mv "$DEB_DIR/etc/sources.list.new" "$DEB_DIR/etc/sources.list"
	APT_OPTS=(
		-o "Dir::State=$DEB_DIR/state" -o "Dir::State::status=$DEB_DIR/status.empty"
		-o "Dir::Cache=$DEB_DIR/cache" -o "Dir::Etc::SourceList=$DEB_DIR/etc/sources.list"
		-o "Dir::Etc::SourceParts=$DEB_DIR/etc/sources.list.d"
		-o "Dir::Etc::Preferences=$DEB_DIR/etc/preferences"
		-o "Dir::Etc::PreferencesParts=$DEB_DIR/etc/preferences.d"
		-o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
		-o APT::Install-Recommends=false -o APT::Install-Suggests=false -o Debug::NoLocking=true
		-o APT::Sandbox::User=root
	)
	# Package lists: refreshed when older than a day (K8SFS_IMAGES_APT_MAX_AGE seconds).
	local stamp="$DEB_DIR/state/updated" max=${K8SFS_IMAGES_APT_MAX_AGE:-86400}
	if [[ ! -f $stamp ]] || (($(date +%s) - $(stat -c %Y "$stamp") > max)); then
		log "debian $rel: apt-get update (private state in $DEB_DIR)"
		apt-get "${APT_OPTS[@]}" -qq update >&2
		touch "$stamp"
	fi
}

# debian_resolve PKG...: "name=version" of every package an empty machine would install.
debian_resolve() {
	apt-get "${APT_OPTS[@]}" -s install "$@" |
		awk '/^Inst / { v = $3; gsub(/[()]/, "", v); print $2 "=" v }' | LC_ALL=C sort
}

# debian_root ROOT PKG...: unpack PKGs and their dependencies into ROOT; prints name=version.
debian_root() {
	local root=$1 nv name ver deb
	shift
	[[ ${#APT_OPTS[@]} -gt 0 ]] || apt_setup
	local want=()
	mapfile -t want < <(debian_resolve "$@")
	((${#want[@]} > 0)) || die "apt resolved nothing for $*"
	local fetch=()
	for nv in "${want[@]}"; do
		name=${nv%%=*} ver=${nv#*=}
		compgen -G "$DEB_DIR/debs/${name}_${ver//:/%3a}_*.deb" >/dev/null || fetch+=("$nv")
	done
	if ((${#fetch[@]} > 0)); then
		log "debian: downloading ${#fetch[@]} packages"
		(cd "$DEB_DIR/debs" && apt-get "${APT_OPTS[@]}" -qq download "${fetch[@]}" >&2)
	fi
	mkdir -p "$root"
	for nv in "${want[@]}"; do
		name=${nv%%=*} ver=${nv#*=}
		deb=$(compgen -G "$DEB_DIR/debs/${name}_${ver//:/%3a}_*.deb" | head -n1)
		[[ -n $deb ]] || die "debian: $nv was not downloaded"
		dpkg-deb -x "$deb" "$root"
	done
	printf '%s\n' "${want[@]}"
}

# slim_root ROOT: drop what no container needs (docs, manuals, locales, caches).
slim_root() {
	local root=$1
	rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bug,bash-completion,zsh,fish,menu,common-licenses} \
		"$root"/usr/share/doc-base "$root"/var/cache/* "$root"/var/log/*
}

# base_files ROOT: the few files a Debian program expects that no package we unpack ships.
base_files() {
	local root=$1
	mkdir -p "$root"/{etc,tmp,run,root,var/tmp}
	chmod 1777 "$root/tmp" "$root/var/tmp"
	chmod 700 "$root/root"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
}

# busybox_links ROOT: a link for every busybox applet whose path is still free.
busybox_links() {
	local root=$1 applet
	[[ -x $root/bin/busybox ]] || die "busybox_links: no $root/bin/busybox"
	while read -r applet; do
		[[ -n $applet && $applet != linuxrc ]] || continue
		[[ -e $root/$applet || -L $root/$applet ]] && continue
		mkdir -p "$root/$(dirname "$applet")"
		ln -s /bin/busybox "$root/$applet"
	done < <("$root/bin/busybox" --list-full)
}

# --------------------------------------------------------------------------- OCI images

# oci_image NAME ROOT EPOCH UMOCI-CONFIG-ARGS...: ROOT becomes the single layer of a new OCI
# layout images/<repository>/<tag>/oci tagged <tag>; every timestamp is EPOCH (reproducible).
oci_image() {
	local name=$1 root=$2 epoch=$3 ref out tmp tag created bundle
	shift 3
	ref=$(image_ref "$name")
	tag=${ref##*:}
	out=$(image_dir "$name")
	tmp=$(staging "$out")
	created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
	bundle="$IMG_WORK/$name/bundle"
	rm -rf "$bundle"
	umoci init --layout "$tmp/oci"
	umoci new --image "$tmp/oci:$tag"
	umoci unpack --image "$tmp/oci:$tag" "$bundle" >/dev/null
	cp -a "$root/." "$bundle/rootfs/"
	find "$bundle/rootfs" -exec touch -h -d "@$epoch" {} +
	umoci repack --image "$tmp/oci:$tag" --history.created "$created" \
		--history.created_by "k8s-from-scratch toolchain/images.sh" "$bundle"
	rm -rf "$bundle"
	umoci config --image "$tmp/oci:$tag" --created "$created" --no-history \
		--config.label "org.opencontainers.image.version=$tag" "$@"
	umoci gc --layout "$tmp/oci"
	local digest
	digest=$(grep -o '"digest":"sha256:[0-9a-f]*"' "$tmp/oci/index.json" | head -n1 | cut -d'"' -f4)
	[[ -n $digest ]] || die "$name: no manifest digest in $tmp/oci/index.json"
	printf '%s\n' "$digest" >"$tmp/digest"
	printf '%s\n' "$ref" >"$tmp/reference"
	[[ -f $IMG_WORK/$name/packages ]] && cp "$IMG_WORK/$name/packages" "$tmp/packages"
	seal "$tmp" "$out" # every file of the layout, no listing (the caller logs the digest)
	log "$name: $ref $digest ($(du -sh "$out/oci" | cut -f1) compressed)"
}

# image_cached NAME: the image's folder is complete.
image_cached() {
	local out
	out=$(image_dir "$1")
	if cached "$out"; then
		log "$1: cached in $out ($(<"$out/digest"))"
		return 0
	fi
	return 1
}

# fresh_root NAME: an empty work folder for the image's root; prints it.
fresh_root() {
	local d="$IMG_WORK/$1"
	rm -rf "$d"
	mkdir -p "$d/root" "$d/bin"
	: >"$d/packages"
	printf '%s\n' "$d"
}

# with_cgo 0|1 CMD...: CMD with CGO_ENABLED set.
with_cgo() {
	local CGO_ENABLED=$1
	export CGO_ENABLED
	shift
	"$@"
}

# module_epoch M V: the version's commit time (as the proxy reports it) in seconds.
module_epoch() { date -u -d "$(mod_time "$1" "$2")" +%s; }

# --------------------------------------------------------------------------- the images

PATH_ENV=(--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)

build_pause() {
	image_cached pause && return 0
	local kv=$K8SFS_IMAGES_KUBERNETES_VERSION src w
	src=$(mod_dir k8s.io/kubernetes "$kv")
	w=$(fresh_root pause)
	log "pause $K8SFS_PAUSE_VERSION: gcc -static $src/build/pause/linux/pause.c"
	# build/pause/Makefile's CFLAGS (its -DVERSION has a git describe suffix we cannot know).
	"${NICE[@]}" gcc -Os -Wall -Werror -static "-DVERSION=v$K8SFS_PAUSE_VERSION" \
		-o "$w/bin/pause" "$src/build/pause/linux/pause.c"
	strip "$w/bin/pause"
	install -m 0755 "$w/bin/pause" "$w/root/pause"
	oci_image pause "$w/root" "$(module_epoch k8s.io/kubernetes "$kv")" \
		--config.entrypoint /pause --config.user 65535:65535
}

build_coredns() {
	image_cached coredns && return 0
	local v=$K8SFS_COREDNS_VERSION m=github.com/coredns/coredns w dir="$IMG_WORK/coredns-module"
	wrapper_module "$dir" coredns "$m" "$v"
	w=$(fresh_root coredns)
	with_cgo 0 gobuild "$dir" "$w/bin/coredns" "" "" "$m"
	install -m 0755 "$w/bin/coredns" "$w/root/coredns"
	mkdir -p "$w/root/etc/ssl/certs"
	# CoreDNS' forward plugin may talk TLS; the machine's CA bundle (Debian ca-certificates).
	[[ -f /etc/ssl/certs/ca-certificates.crt ]] && cp /etc/ssl/certs/ca-certificates.crt "$w/root/etc/ssl/certs/"
	oci_image coredns "$w/root" "$(module_epoch "$m" "$v")" \
		--config.entrypoint /coredns "${PATH_ENV[@]}" \
		--config.exposedports 53/udp --config.exposedports 53/tcp --config.exposedports 9153/tcp
}

build_flannel() {
	image_cached flannel && return 0
	local v=$K8SFS_FLANNEL_VERSION m=github.com/flannel-io/flannel dir="$IMG_WORK/flannel-module" w
	local vpc=github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc
	wrapper_module "$dir" flannel "$m" "$v"
	(cd "$dir" && go mod edit -replace="$vpc=$vpc@$K8SFS_FLANNEL_TENCENT_VPC_VERSION")
	w=$(fresh_root flannel)
	# The udp backend is cgo (upstream builds amd64 with CGO_ENABLED=1); flanneld links the
	# image's glibc (the same Debian release as this machine's).
	with_cgo 1 gobuild "$dir" "$w/bin/flanneld" "-X $m/pkg/version.Version=$v" "" "$m"
	with_cgo 0 gobuild "$dir" "$w/bin/install-conf" "" "" "$m/cmd/install_conf"
	log "flannel: Debian root (iptables, nftables, ipset and what they link; busybox-static)"
	debian_root "$w/root" iptables nftables ipset libc6 busybox-static >"$w/packages"
	slim_root "$w/root"
	base_files "$w/root"
	# The install-cni init container copies the CNI config with `cp` (render/cni/flannel.py).
	busybox_links "$w/root"
	# iptables' alternatives (its postinst is not run): the nft backend, Debian's default and
	# what the lab's Debian hosts (and kube-proxy there) use; iptables-legacy stays available.
	local t s
	for t in iptables ip6tables; do
		for s in "" -save -restore; do
			ln -sf xtables-nft-multi "$w/root/usr/sbin/$t$s"
		done
	done
	mkdir -p "$w/root/opt/bin"
	install -m 0755 "$w/bin/flanneld" "$w/bin/install-conf" "$w/root/opt/bin/"
	oci_image flannel "$w/root" "$(module_epoch "$m" "$v")" \
		--config.entrypoint /opt/bin/flanneld "${PATH_ENV[@]}"
}

build_flannel_cni_plugin() {
	image_cached flannel-cni-plugin && return 0
	local v=$K8SFS_FLANNEL_CNI_PLUGIN_VERSION src w epoch
	src=$(unpack "flannel-cni-plugin-$v")
	w=$(fresh_root flannel-cni-plugin)
	# scripts/build_flannel.sh's tags and version flags.
	with_cgo 0 gobuild "$src" "$w/bin/flannel" \
		"-X main.Version=$v -X main.Commit=$K8SFS_FLANNEL_CNI_PLUGIN_COMMIT -X main.Program=flannel" \
		"netgo osusergo no_stage static_build" .
	log "flannel-cni-plugin: busybox-static for the init container's cp"
	debian_root "$w/root" busybox-static >"$w/packages"
	slim_root "$w/root"
	busybox_links "$w/root"
	install -m 0755 "$w/bin/flannel" "$w/root/flannel"
	epoch=$(stat -c %Y "$src/go.mod") # git archive: the commit's time
	oci_image flannel-cni-plugin "$w/root" "$epoch" "${PATH_ENV[@]}"
}

build_agnhost() {
	image_cached agnhost && return 0
	local kv=$K8SFS_IMAGES_KUBERNETES_VERSION dir="$IMG_WORK/agnhost-module" w src ver
	src=$(mod_dir k8s.io/kubernetes "$kv")
	ver=$(<"$src/test/images/agnhost/VERSION")
	wrapper_module "$dir" agnhost k8s.io/kubernetes "$kv" k8s.io/ "v0.${kv#v*.}"
	w=$(fresh_root agnhost)
	with_cgo 0 gobuild "$dir" "$w/bin/agnhost" "-X main.Version=$ver" "" k8s.io/kubernetes/test/images/agnhost
	log "agnhost $ver (tagged $K8SFS_AGNHOST_TAG): Debian root (dnsutils, curl, busybox-static)"
	debian_root "$w/root" dnsutils curl busybox-static libc6 >"$w/packages"
	slim_root "$w/root"
	base_files "$w/root"
	busybox_links "$w/root" # sh, grep, head, sleep, ...
	install -m 0755 "$w/bin/agnhost" "$w/root/agnhost"
	oci_image agnhost "$w/root" "$(module_epoch k8s.io/kubernetes "$kv")" \
		--config.entrypoint /agnhost --config.cmd pause "${PATH_ENV[@]}"
}

REGISTRY_OUT() { printf '%s\n' "$TOOLCHAIN_DIR/registry/$K8SFS_REGISTRY_VERSION/$PLATFORM"; }

build_registry() {
	module_output registry github.com/distribution/distribution/v3 "$K8SFS_REGISTRY_VERSION" \
		"$(REGISTRY_OUT)" "$IMG_WORK/registry-module" registry_binary
}

# registry_binary M V WRAPPER TMP
registry_binary() {
	local m=$1 v=$2 w=$3 tmp=$4
	with_cgo 0 gobuild "$w" "$tmp/registry" "-X $m/version.version=$v -X $m/version.mainpkg=$m" "" "$m/cmd/registry"
}

# --------------------------------------------------------------------------- push

# push HOST:PORT: every built image to HOST:PORT/<repository path without its registry>:<tag>
# (the layout render/cni/images.py's mirror_image expects), then read back by digest.
cmd_push() {
	[[ $# -eq 1 && $1 == *:* ]] || die "usage: $0 push HOST:PORT"
	local host=$1 n out ref path dest digest got failed=()
	for n in "${IMAGE_NAMES[@]}"; do
		out=$(image_dir "$n")
		ref=$(image_ref "$n")
		if ! cached "$out"; then
			log "$n: not built ($out); run $0 build"
			failed+=("$n")
			continue
		fi
		digest=$(<"$out/digest")
		path=${ref#*/}
		dest="$host/$path"
		log "$n: skopeo copy oci:$out/oci:${ref##*:} docker://$dest"
		if ! skopeo --insecure-policy copy --quiet --preserve-digests --dest-tls-verify=false \
			"oci:$out/oci:${ref##*:}" "docker://$dest" >&2; then
			failed+=("$n")
			continue
		fi
		got=$(skopeo inspect --raw --tls-verify=false "docker://${dest%:*}@$digest" | sha256sum | cut -d' ' -f1)
		if [[ sha256:$got != "$digest" ]]; then
			log "$n: $dest@$digest does not read back (got sha256:$got)"
			failed+=("$n")
			continue
		fi
		printf '%s@%s\n' "$dest" "$digest"
	done
	((${#failed[@]} == 0)) || die "push failed: ${failed[*]}"
}

# --------------------------------------------------------------------------- main

cmd_build() {
	local want=() c
	(($# > 0)) || set -- "${IMAGE_NAMES[@]}" registry
	for c in "$@"; do
		case $c in
		all) want+=("${IMAGE_NAMES[@]}" registry) ;;
		pause | coredns | flannel | flannel-cni-plugin | agnhost | registry) want+=("$c") ;;
		*)
			usage
			die "unknown image: $c"
			;;
		esac
	done
	command -v go >/dev/null || die "go is not on PATH"
	mkdir -p "$GOMODCACHE" "$GOCACHE" "$SCRATCH" "$IMG_WORK"
	log "toolchain dir $TOOLCHAIN_DIR, $(go version), GOPROXY=$(go env GOPROXY), -p $JOBS, ${NICE[*]}"
	build_each image build_image "${want[@]}"
}

build_image() {
	case $1 in
	pause) build_pause ;;
	coredns) build_coredns ;;
	flannel) build_flannel ;;
	flannel-cni-plugin) build_flannel_cni_plugin ;;
	agnhost) build_agnhost ;;
	registry) build_registry ;;
	esac
}

images_main() {
	local sub=$1
	shift
	case $sub in
	build) cmd_build "$@" ;;
	push) cmd_push "$@" ;;
	registry-dir) REGISTRY_OUT ;;
	*)
		usage
		exit 2
		;;
	esac
}

# One line: bash has read it whole before it runs, so editing this file meanwhile is harmless.
images_main "$@"; exit
