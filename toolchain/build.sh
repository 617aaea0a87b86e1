#!/usr/bin/env bash
# Build the k8s-from-scratch toolchain from Go modules (Go module proxy only).
#
#   toolchain/build.sh [all|engine|pulumi|plugins|kubernetes|etcd|cni|containerd|crictl]...
#
# Outputs, Go module cache and Go build cache all live under
# ${K8SFS_TOOLCHAIN_DIR:-/var/cache/k8s-from-scratch/toolchain}; a component whose
# output folder (keyed by version) already has its SHA256SUMS is not rebuilt.
# See toolchain/README.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env disable=SC1091
. "$HERE/versions.env"

TOOLCHAIN_DIR=${K8SFS_TOOLCHAIN_DIR:-/var/cache/k8s-from-scratch/toolchain}
WORK_DIR="$TOOLCHAIN_DIR/work"
SCRATCH="$WORK_DIR/scratch" # a folder outside any Go module, for `go list -m`
JOBS=${K8SFS_BUILD_JOBS:-$(nproc)}
NICE=(nice -n "${K8SFS_NICE:-10}")

export GOMODCACHE="$TOOLCHAIN_DIR/go/mod"
export GOCACHE="$TOOLCHAIN_DIR/go/build"
export GOFLAGS="-trimpath -buildvcs=false"
export GOTOOLCHAIN=local
# Module proxy only: drop a trailing ",direct" (no VCS hosts are reachable here,
# and a proxy refusal should stay a clear refusal). K8SFS_GOPROXY overrides.
GOPROXY=${K8SFS_GOPROXY:-$(go env GOPROXY)}
GOPROXY=${GOPROXY%,direct}
GOPROXY=${GOPROXY%|direct}
export GOPROXY=${GOPROXY:-https://proxy.golang.org}
export GOWORK=off
export GO111MODULE=on
export GOOS=linux
export CGO_ENABLED="${K8SFS_CGO_ENABLED:-0}"
GOARCH=$(go env GOARCH)
export GOARCH
PLATFORM="linux-$GOARCH"

ALL_COMPONENTS=(pulumi plugins kubernetes etcd cni containerd crictl kube-bench)

log() { printf '[toolchain %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

usage() {
	local IFS='|'
	cat >&2 <<EOF
usage: $0 [all|engine|${ALL_COMPONENTS[*]}]...
"engine" is pulumi + plugins, unless a pulumi on PATH already has the pinned plugins.
Builds into ${TOOLCHAIN_DIR} (set K8SFS_TOOLCHAIN_DIR to change).
"prune" (after the builds) removes the Go build cache and work folders.
Env: K8SFS_FORCE=1 rebuilds; K8SFS_VERIFY=1 checks SHA256SUMS of cached outputs;
     K8SFS_BUILD_JOBS (go build -p, default nproc); K8SFS_NICE (default 10);
     K8SFS_<COMPONENT>_VERSION overrides, see toolchain/versions.env.
EOF
}

# ---------------------------------------------------------------------------
# Go module helpers

# json_field NAME: value of the first "NAME": "..." line of the go command's
# JSON on stdin.
json_field() {
	sed -n "s/^[[:space:]]*\"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" | head -n1
}

# mod_json M V: `go list -m -json M@V` (fetches only .info and .mod).
mod_json() {
	local out
	if ! out=$(cd "$SCRATCH" && go list -m -json "$1@$2" 2>&1); then
		log "module $1@$2 is not available from GOPROXY=$(go env GOPROXY):"
		printf '%s\n' "$out" >&2
		return 1
	fi
	printf '%s\n' "$out"
}

# mod_gomod M V: path of the module's go.mod file.
mod_gomod() {
	local j
	j=$(mod_json "$1" "$2")
	json_field GoMod <<<"$j"
}

# mod_time M V: commit time of the version, as the proxy reports it.
mod_time() {
	local j
	j=$(mod_json "$1" "$2")
	json_field Time <<<"$j"
}

# mod_dir M V: download the module and print its (read-only) source folder.
mod_dir() {
	local out dir
	if ! out=$(cd "$SCRATCH" && go mod download -json "$1@$2" 2>&1); then
		log "cannot download $1@$2:"
		printf '%s\n' "$out" >&2
		return 1
	fi
	dir=$(json_field Dir <<<"$out")
	[[ -d $dir ]] || die "go mod download $1@$2 reported no Dir"
	printf '%s\n' "$dir"
}

# gomod_go FILE: the `go` directive of a go.mod file.
gomod_go() { awk '$1 == "go" { print $2; exit }' "$1"; }

# gomod_replaces FILE: one "OLD[@V] NEW[@V]" line per replace directive.
gomod_replaces() {
	go mod edit -print "$1" | awk '
		/^replace[ \t]*\($/ { blk = 1; next }
		blk && /^\)/ { blk = 0; next }
		{ line = "" }
		blk { line = $0 }
		!blk && /^replace[ \t]/ { line = $0; sub(/^replace[ \t]+/, "", line) }
		line != "" {
			sub(/[ \t]*\/\/.*$/, "", line)
			gsub(/^[ \t]+|[ \t]+$/, "", line)
			if (split(line, side, /[ \t]*=>[ \t]*/) != 2) next
			nl = split(side[1], l, /[ \t]+/)
			nr = split(side[2], r, /[ \t]+/)
			print (nl == 2 ? l[1] "@" l[2] : l[1]), (nr == 2 ? r[1] "@" r[2] : r[1])
		}'
}

# gomod_godebugs FILE: one "key=value" line per godebug directive.
gomod_godebugs() {
	go mod edit -print "$1" | awk '
		/^godebug[ \t]*\($/ { blk = 1; next }
		blk && /^\)/ { blk = 0; next }
		blk { gsub(/[ \t]/, ""); print; next }
		/^godebug[ \t]/ { sub(/^godebug[ \t]+/, ""); gsub(/[ \t]/, ""); print }'
}

# new_wrapper DIR NAME GOVERSION: an empty main module to build other modules'
# commands with.
new_wrapper() {
	rm -rf "$1"
	mkdir -p "$1"
	printf 'module %s\n\ngo %s\n' "$2" "$3" >"$1/go.mod"
}

# wrapper_module DIR NAME M V [LOCAL_PREFIX LOCAL_VERSION]: the wrapper k8sfs.local/toolchain/NAME
# in DIR, requiring M@V with M's replace and godebug directives (LOCAL_*: see wrapper_copy_gomod).
wrapper_module() {
	local dir=$1 name=$2 m=$3 v=$4 gomod
	gomod=$(mod_gomod "$m" "$v")
	new_wrapper "$dir" "k8sfs.local/toolchain/$name" "$(gomod_go "$gomod")"
	wrapper_require "$dir" "$m@$v"
	wrapper_copy_gomod "$dir" "$gomod" "${5:-}" "${6:-}"
}

# wrapper_require DIR M@V...
wrapper_require() {
	local dir=$1 mv
	shift
	for mv in "$@"; do
		(cd "$dir" && go mod edit -require="$mv")
	done
}

# wrapper_copy_gomod DIR GOMOD LOCAL_PREFIX LOCAL_VERSION
# Repeats GOMOD's replace and godebug directives in the wrapper DIR (replace
# directives of a dependency are ignored by the go command). A local replace
# (=> ./x or ../x) of a module under LOCAL_PREFIX becomes "=> same module at
# LOCAL_VERSION" (the sibling module published from that folder); other local
# replaces (etcd's ./FORBIDDEN_DEPENDENCY guards) are dropped.
wrapper_copy_gomod() {
	local dir=$1 gomod=$2 prefix=$3 version=$4 old new oldpath kv
	while read -r old new; do
		[[ -n $old ]] || continue
		oldpath=${old%@*}
		case $new in
		./* | ../* | /*)
			if [[ $new == *FORBIDDEN* ]]; then
				continue
			elif [[ -n $prefix && $oldpath == "$prefix"* ]]; then
				(cd "$dir" && go mod edit -replace="$oldpath=$oldpath@$version")
			else
				log "note: dropping local replace $old => $new"
			fi
			;;
		*)
			(cd "$dir" && go mod edit -replace="$old=$new")
			;;
		esac
	done < <(gomod_replaces "$gomod")
	while read -r kv; do
		[[ -n $kv ]] || continue
		(cd "$dir" && go mod edit -godebug="$kv")
	done < <(gomod_godebugs "$gomod")
}

# gobuild DIR OUT LDFLAGS TAGS PKG...: build PKGs inside module DIR. OUT is a
# file for one package, or a folder ending in / for several.
gobuild() {
	local dir=$1 out=$2 ldflags=$3 tags=$4
	shift 4
	local args=(build -mod=mod -p "$JOBS" -ldflags "-s -w $ldflags")
	[[ -z $tags ]] || args+=(-tags "$tags")
	log "go ${args[*]} -o $out $* (in $dir, CGO_ENABLED=$CGO_ENABLED)"
	(cd "$dir" && "${NICE[@]}" go "${args[@]}" -o "$out" "$@")
}

# ---------------------------------------------------------------------------
# Output folders

# cached OUT: true when OUT was completed (its SHA256SUMS lists files that
# all exist; with K8SFS_VERIFY=1 their checksums are checked too).
cached() {
	local out=$1 _sum f
	[[ -z ${K8SFS_FORCE:-} && -s $out/SHA256SUMS ]] || return 1
	if [[ -n ${K8SFS_VERIFY:-} ]]; then
		(cd "$out" && sha256sum --quiet --strict -c SHA256SUMS) || return 1
		return 0
	fi
	while read -r _sum f; do
		[[ -e $out/${f#\*} ]] || return 1
	done <"$out/SHA256SUMS"
}

# staging OUT: print a fresh temporary folder next to OUT.
staging() {
	local tmp="$1.tmp"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	printf '%s\n' "$tmp"
}

# seal TMP OUT [FIND-OPTION...]: TMP/SHA256SUMS over the files below TMP (written last: a folder
# with it is complete), then TMP becomes OUT.
seal() {
	local tmp=$1 out=$2
	shift 2
	(
		cd "$tmp"
		find . "$@" -type f ! -name 'SHA256SUMS*' ! -name '.SHA256SUMS*' -printf '%P\n' | LC_ALL=C sort |
			xargs -r sha256sum >.SHA256SUMS.new
		mv .SHA256SUMS.new SHA256SUMS
	)
	rm -rf "$out"
	mkdir -p "$(dirname "$out")"
	mv "$tmp" "$out"
}

# publish TMP OUT: seal TMP's top-level files as OUT and list them.
publish() {
	seal "$1" "$2" -maxdepth 1
	log "wrote $2:"
	sed 's/^/    /' "$2/SHA256SUMS" >&2
}

# module_output NAME M V OUT WRAPPER BUILD...: NAME's output folder OUT (built from module M at
# V) unless it is cached: a wrapper module WRAPPER for M@V (wrapper_module), then
# `BUILD... M V WRAPPER TMP` builds into the staging folder TMP, which is published as OUT.
module_output() {
	local name=$1 m=$2 v=$3 out=$4 w=$5 tmp
	shift 5
	if cached "$out"; then
		log "$name $v: cached in $out"
		return 0
	fi
	wrapper_module "$w" "$name" "$m" "$v"
	tmp=$(staging "$out")
	"$@" "$m" "$v" "$w" "$tmp"
	publish "$tmp" "$out"
}

# ---------------------------------------------------------------------------
# Sources the proxy does not serve: pinned archives in shared/upstream/

UPSTREAM_DIR=${K8SFS_UPSTREAM_DIR:-$(cd "$HERE/../.." && pwd)/shared/upstream}

# unpack NAME: check NAME.tar.gz against UPSTREAM_DIR/SHA256SUMS, extract it into a fresh
# folder under WORK_DIR/src and print the archive's top folder.
unpack() {
	local name=$1 archive dest
	archive="$UPSTREAM_DIR/$name.tar.gz"
	[[ -f $archive ]] || die "$name: $archive is missing (K8SFS_UPSTREAM_DIR names the folder)"
	(cd "$UPSTREAM_DIR" && grep -E "  $name\.tar\.gz\$" SHA256SUMS | sha256sum --quiet --strict -c -) ||
		die "$name: $archive does not match $UPSTREAM_DIR/SHA256SUMS"
	dest="$WORK_DIR/src/$name"
	rm -rf "$dest"
	mkdir -p "$dest"
	tar -xzf "$archive" -C "$dest"
	printf '%s\n' "$dest/$(ls "$dest")"
}

# pin_pulumi GOMOD...: require the engine's pkg/v3 and sdk/v3 at the CLI's version (the
# providers' own pins do not compile against it) and repeat the CLI's clipboard replace.
pin_pulumi() {
	local f
	for f in "$@"; do
		go mod edit -require="github.com/pulumi/pulumi/pkg/v3@$K8SFS_PULUMI_VERSION" \
			-require="github.com/pulumi/pulumi/sdk/v3@$K8SFS_PULUMI_VERSION" \
			-replace="github.com/atotto/clipboard=$CLIPBOARD" "$f"
	done
}
CLIPBOARD=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e

# ---------------------------------------------------------------------------
# Components

PULUMI_OUT() { printf '%s\n' "$TOOLCHAIN_DIR/pulumi/$K8SFS_PULUMI_VERSION"; }

# The CLI (pkg/v3 from the proxy) and, next to it where the CLI looks for them, the Python
# language host and the two scripts it runs (programs, and dynamic providers), built from the
# pulumi-language-python archive against the CLI's pkg/sdk.
build_pulumi() {
	local v=$K8SFS_PULUMI_VERSION lv=$K8SFS_PULUMI_LANGUAGE_PYTHON_VERSION out tmp pkgmod src
	local sdk=github.com/pulumi/pulumi/sdk/v3 pkg=github.com/pulumi/pulumi/pkg/v3
	out=$(PULUMI_OUT)
	if cached "$out" && [[ $(cat "$out/language-python.version" 2>/dev/null) == "$lv" ]]; then
		log "pulumi $v (language host $lv): cached in $out"
		return 0
	fi
	pkgmod=$(mod_gomod "$pkg" "$v")
	tmp=$(staging "$out")

	log "pulumi $v: the CLI (7 to 8 min cold, seconds warm)"
	# pkg/v3 replaces sdk/v3 => ../sdk; use the published sdk/v3@v (and its clipboard replace).
	local w="$WORK_DIR/pulumi/$v/cli"
	new_wrapper "$w" k8sfs.local/toolchain/pulumi "$(gomod_go "$pkgmod")"
	wrapper_require "$w" "$pkg@$v" "$sdk@$v"
	wrapper_copy_gomod "$w" "$pkgmod" github.com/pulumi/pulumi/ "$v"
	gobuild "$w" "$tmp/pulumi" "-X $sdk/go/common/version.Version=$v" "" "$pkg/cmd/pulumi"

	log "pulumi-language-python $lv (under a minute after the CLI)"
	src=$(unpack "pulumi-language-python-$lv")
	local host="$src/sdk/python/cmd/pulumi-language-python"
	# Its go.mod points pkg and sdk at the monorepo's folders, which the archive leaves out.
	go mod edit -dropreplace="$pkg" -dropreplace="$sdk" "$host/go.mod"
	pin_pulumi "$host/go.mod"
	gobuild "$host" "$tmp/pulumi-language-python" "-X $sdk/go/common/version.Version=$lv" "" .
	install -m 0755 "$src/sdk/python/cmd/pulumi-language-python-exec" \
		"$src/sdk/python/dist/pulumi-resource-pulumi-python" "$tmp/"
	printf '%s\n' "$lv" >"$tmp/language-python.version"
	publish "$tmp" "$out"
}

# pulumi_bin: the built CLI, else one on PATH.
pulumi_bin() {
	local p
	p="$(PULUMI_OUT)/pulumi"
	if [[ -x $p ]]; then
		printf '%s\n' "$p"
	elif command -v pulumi >/dev/null; then
		command -v pulumi
	else
		return 1
	fi
}

# make_embeds NAME CMDDIR VERSION: create every //go:embed file the provider's main package
# needs that the sources lack (generated and git-ignored upstream): X-embed.json from X.json
# with its "version" set, as the providers' generate step does.
make_embeds() {
	local name=$1 cmd=$2 v=$3 f base
	while read -r f; do
		[[ -n $f && ! -e $cmd/$f ]] || continue
		case $f in
		*-embed.json)
			base=${f%-embed.json}.json
			[[ -f $cmd/$base ]] || die "$name: $f is embedded but neither it nor $base exist"
			log "$name: generating $f from $base (version ${v#v})"
			(cd "$SCRATCH" && go run "$HERE/helpers/setjsonversion.go" "$cmd/$base" "$cmd/$f" "${v#v}")
			;;
		*) die "$name: embedded file $cmd/$f is missing and I do not know how to make it" ;;
		esac
	done < <(sed -n 's|^//go:embed[[:space:]]\{1,\}||p' "$cmd"/*.go | tr ' ' '\n')
}

# plugin_prepare NAME VERSION: a complete, writable provider/ module for the plugin; prints
# its folder and the module path its version ldflag lives under.
plugin_prepare() {
	local name=$1 v=$2 src dir mod
	case $name in
	command)
		src=$(unpack "pulumi-command-$v")
		dir="$src/provider"
		# pulumi-command names go-provider v1.3.0, which does not compile against pkg v3.27x.
		local gp
		gp=$(unpack "pulumi-go-provider-$K8SFS_PULUMI_GO_PROVIDER_VERSION")
		pin_pulumi "$gp/go.mod" "$dir/go.mod"
		go mod edit -replace="github.com/pulumi/pulumi-go-provider=$gp" "$dir/go.mod"
		mod=github.com/pulumi/pulumi-command/provider
		;;
	tls | random)
		src=$(unpack "pulumi-$name-$v")
		dir="$src/provider"
		# terraform-bridge's dependencies at commits the proxy does not serve.
		local yaml dotnet
		yaml=$(unpack "pulumi-yaml-$K8SFS_PULUMI_YAML_COMMIT")
		dotnet=$(unpack "pulumi-dotnet-$K8SFS_PULUMI_DOTNET_COMMIT")
		go mod edit -replace="github.com/pulumi/pulumi-yaml=$yaml" \
			-replace="github.com/pulumi/pulumi-dotnet/pulumi-language-dotnet/v3=$dotnet/pulumi-language-dotnet" \
			"$dir/go.mod"
		if [[ $name == tls ]]; then
			# The commit pulumi-tls names is not served; this one is, and builds.
			local f
			for f in "$dir/go.mod" "$dir/shim/go.mod"; do
				go mod edit -replace="github.com/hashicorp/terraform-provider-tls=github.com/hashicorp/terraform-provider-tls@$K8SFS_TERRAFORM_PROVIDER_TLS_VERSION" "$f"
			done
		fi
		local major=${v#v}
		mod=github.com/pulumi/pulumi-$name/provider/v${major%%.*}
		;;
	kubernetes)
		# Served by the proxy at the release commit; its sdk/v4 => ../sdk replace becomes the
		# published sdk/v4 of the same release.
		local k=github.com/pulumi/pulumi-kubernetes/provider/v4 from
		from=$(mod_dir "$k" "$K8SFS_PLUGIN_KUBERNETES_MODULE_VERSION")
		dir="$WORK_DIR/src/pulumi-kubernetes-$v/provider"
		rm -rf "$dir"
		mkdir -p "$dir"
		cp -a "$from/." "$dir/"
		chmod -R u+w "$dir"
		go mod edit -replace="github.com/pulumi/pulumi-kubernetes/sdk/v4=github.com/pulumi/pulumi-kubernetes/sdk/v4@$v" \
			"$dir/go.mod"
		mod=$k
		;;
	*) die "unknown plugin $name" ;;
	esac
	printf '%s %s\n' "$dir" "$mod"
}

# build_plugin NAME VERSION: build the provider plugin and register it with the CLI.
build_plugin() {
	local name=$1 v=$2 out tmp prep dir mod
	out="$TOOLCHAIN_DIR/plugins/$name/$v"
	if cached "$out"; then
		log "pulumi-resource-$name $v: cached in $out"
	else
		log "pulumi-resource-$name $v (cold: command 1 min, tls and random 3 to 4, kubernetes 6 to 11)"
		prep=$(plugin_prepare "$name" "$v")
		read -r dir mod <<<"$prep"
		local cmd="$dir/cmd/pulumi-resource-$name"
		[[ -d $cmd ]] || die "$name: no cmd/pulumi-resource-$name in $dir"
		make_embeds "$name" "$cmd" "$v"
		tmp=$(staging "$out")
		gobuild "$dir" "$tmp/pulumi-resource-$name" "-X $mod/pkg/version.Version=$v" "" \
			"./cmd/pulumi-resource-$name"
		publish "$tmp" "$out"
	fi
	install_plugin "$name" "$v" "$out/pulumi-resource-$name"
}

# install_plugin NAME VERSION BINARY: register in $PULUMI_HOME/plugins.
install_plugin() {
	local name=$1 v=$2 bin=$3 pulumi home dest
	home=${PULUMI_HOME:-$HOME/.pulumi}
	dest="$home/plugins/resource-$name-$v/pulumi-resource-$name"
	if [[ -f $dest ]] && cmp -s "$dest" "$bin"; then
		log "pulumi-resource-$name $v: already in $home/plugins"
		return 0
	fi
	pulumi=$(pulumi_bin) || die "no pulumi CLI to install plugins with (build 'pulumi' first)"
	log "installing pulumi-resource-$name $v into $home/plugins"
	PULUMI_SKIP_UPDATE_CHECK=true "$pulumi" plugin install resource "$name" "${v#v}" \
		--file "$bin" --reinstall
}

build_plugins() {
	local failed=() p rc
	for p in command:"$K8SFS_PLUGIN_COMMAND_VERSION" tls:"$K8SFS_PLUGIN_TLS_VERSION" \
		random:"$K8SFS_PLUGIN_RANDOM_VERSION" kubernetes:"$K8SFS_PLUGIN_KUBERNETES_VERSION"; do
		set +e
		(
			set -e
			build_plugin "${p%%:*}" "${p#*:}"
		)
		rc=$?
		set -e
		((rc == 0)) || failed+=("${p%%:*}")
	done
	((${#failed[@]} == 0)) || die "plugins failed: ${failed[*]}"
}

# external_engine: a pulumi on PATH (not ours) that already has every pinned plugin: a user's
# normal install, used as is.
external_engine() {
	local p listed spec name v
	p=$(command -v pulumi) || return 1
	[[ $p != "$TOOLCHAIN_DIR"/* ]] || return 1
	listed=$(PULUMI_SKIP_UPDATE_CHECK=true pulumi plugin ls 2>/dev/null) || return 1
	for spec in command:"$K8SFS_PLUGIN_COMMAND_VERSION" tls:"$K8SFS_PLUGIN_TLS_VERSION" \
		random:"$K8SFS_PLUGIN_RANDOM_VERSION" kubernetes:"$K8SFS_PLUGIN_KUBERNETES_VERSION"; do
		name=${spec%%:*} v=${spec#*:}
		awk -v n="$name" -v v="${v#v}" '$1 == n && $2 == "resource" && $3 == v { f = 1 } END { exit !f }' \
			<<<"$listed" || return 1
	done
}

# engine: the CLI and the plugins; a user's pulumi with the pinned plugins wins over building.
build_engine() {
	if [[ -z ${K8SFS_FORCE:-} ]] && external_engine; then
		log "engine: using $(command -v pulumi) ($(pulumi version)), which has the pinned plugins"
		return 0
	fi
	build_pulumi
	build_plugins
}

build_kubernetes() {
	local v=$K8SFS_KUBERNETES_VERSION out tmp w m date
	local major minor staging_v
	out="$TOOLCHAIN_DIR/kubernetes/$v/$PLATFORM"
	if cached "$out"; then
		log "kubernetes $v: cached in $out"
		return 0
	fi
	major=${v#v}
	minor=${major#*.}
	minor=${minor%%.*}
	major=${major%%.*}
	staging_v="v0.${v#v*.}" # v1.35.4 -> v0.35.4 (k/k#79384)
	date=$(mod_time k8s.io/kubernetes "$v")
	w="$WORK_DIR/kubernetes/$v"
	# Every "k8s.io/X => ./staging/src/k8s.io/X" becomes "k8s.io/X => k8s.io/X v0.Y.Z".
	wrapper_module "$w" kubernetes k8s.io/kubernetes "$v" k8s.io/ "$staging_v"
	local ld="" p
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
		ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
		# The proxy does not tell the commit; set it if you know it.
		[[ -z ${K8SFS_KUBERNETES_GIT_COMMIT:-} ]] || ld+=" -X $p.gitCommit=$K8SFS_KUBERNETES_GIT_COMMIT"
	done
	tmp=$(staging "$out")
	local pkgs=()
	for m in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
		pkgs+=("k8s.io/kubernetes/cmd/$m")
	done
	gobuild "$w" "$tmp/" "$ld" "" "${pkgs[@]}"
	publish "$tmp" "$out"
}

build_etcd() {
	local v=$K8SFS_ETCD_VERSION out tmp w srv ctl utl
	out="$TOOLCHAIN_DIR/etcd/$v/$PLATFORM"
	if cached "$out"; then
		log "etcd $v: cached in $out"
		return 0
	fi
	srv=$(mod_gomod go.etcd.io/etcd/server/v3 "$v")
	ctl=$(mod_gomod go.etcd.io/etcd/etcdctl/v3 "$v")
	utl=$(mod_gomod go.etcd.io/etcd/etcdutl/v3 "$v")
	w="$WORK_DIR/etcd/$v"
	new_wrapper "$w" k8sfs.local/toolchain/etcd "$(gomod_go "$srv")"
	wrapper_require "$w" go.etcd.io/etcd/server/v3@"$v" go.etcd.io/etcd/etcdctl/v3@"$v" \
		go.etcd.io/etcd/etcdutl/v3@"$v"
	# Sibling modules (api, client/pkg, client/v3, pkg) are replaced locally upstream.
	local f
	for f in "$srv" "$ctl" "$utl"; do
		wrapper_copy_gomod "$w" "$f" go.etcd.io/etcd/ "$v"
	done
	tmp=$(staging "$out")
	gobuild "$w" "$tmp/etcd" "" "" go.etcd.io/etcd/server/v3
	gobuild "$w" "$tmp/etcdctl" "" "" go.etcd.io/etcd/etcdctl/v3
	gobuild "$w" "$tmp/etcdutl" "" "" go.etcd.io/etcd/etcdutl/v3
	publish "$tmp" "$out"
}

build_cni() {
	local v=$K8SFS_CNI_PLUGINS_VERSION
	module_output cni-plugins github.com/containernetworking/plugins "$v" \
		"$TOOLCHAIN_DIR/cni-plugins/$v/$PLATFORM" "$WORK_DIR/cni-plugins/$v" cni_binaries
}

# cni_binaries M V WRAPPER TMP: every main package under plugins/{main,ipam,meta} that builds
# for linux.
cni_binaries() {
	local m=$1 v=$2 w=$3 tmp=$4 pkgs=()
	mod_dir "$m" "$v" >/dev/null
	mapfile -t pkgs < <(cd "$w" && go list -mod=mod -e \
		-f '{{if and (eq .Name "main") (not .Incomplete)}}{{.ImportPath}}{{end}}' \
		"$m/plugins/main/..." "$m/plugins/ipam/..." "$m/plugins/meta/..." | sed '/^$/d')
	((${#pkgs[@]} > 0)) || die "cni-plugins: no packages found"
	gobuild "$w" "$tmp/" "-X $m/pkg/utils/buildversion.BuildVersion=$v" "" "${pkgs[@]}"
}

build_containerd() {
	local v=$K8SFS_CONTAINERD_VERSION
	module_output containerd github.com/containerd/containerd/v2 "$v" \
		"$TOOLCHAIN_DIR/containerd/$v/$PLATFORM" "$WORK_DIR/containerd/$v" containerd_binaries
}

# containerd_binaries M V WRAPPER TMP: static, as upstream's release (no cgo: no btrfs snapshotter).
containerd_binaries() {
	local m=$1 v=$2 w=$3 tmp=$4
	gobuild "$w" "$tmp/" "-X $m/version.Version=$v -X $m/version.Package=$m" \
		"no_btrfs urfave_cli_no_docs netgo osusergo" \
		"$m/cmd/containerd" "$m/cmd/containerd-shim-runc-v2" "$m/cmd/ctr"
}

build_crictl() {
	local v=$K8SFS_CRICTL_VERSION
	module_output crictl sigs.k8s.io/cri-tools "$v" \
		"$TOOLCHAIN_DIR/crictl/$v/$PLATFORM" "$WORK_DIR/crictl/$v" crictl_binary
}

# crictl_binary M V WRAPPER TMP
crictl_binary() {
	local m=$1 v=$2 w=$3 tmp=$4
	gobuild "$w" "$tmp/crictl" "-X $m/pkg/version.Version=$v" "" "$m/cmd/crictl"
}

# build_kube_bench: kube-bench from its pinned archive, with its cfg/ (the CIS benchmark
# definitions it reads at run time) next to it.
build_kube_bench() {
	local v=$K8SFS_KUBE_BENCH_VERSION out tmp src
	out="$TOOLCHAIN_DIR/kube-bench/$v/$PLATFORM"
	if cached "$out"; then
		log "kube-bench $v: cached in $out"
		return 0
	fi
	src=$(unpack "kube-bench-$v")
	tmp=$(staging "$out")
	gobuild "$src" "$tmp/kube-bench" "-X github.com/aquasecurity/kube-bench/cmd.KubeBenchVersion=$v" "" .
	cp -a "$src/cfg" "$tmp/cfg"
	seal "$tmp" "$out"
	log "wrote $out (kube-bench and cfg/)"
}

# prune: drop the Go build cache and the wrapper/copy-out folders (several GB
# after a Kubernetes build); outputs and the module cache stay.
prune() {
	log "pruning $GOCACHE and $WORK_DIR"
	go clean -cache
	rm -rf "$WORK_DIR"
	mkdir -p "$SCRATCH"
}

# ---------------------------------------------------------------------------

main() {
	local want=() c
	(($# > 0)) || set -- all
	for c in "$@"; do
		case $c in
		all) want+=("${ALL_COMPONENTS[@]}") ;;
		engine | pulumi | plugins | kubernetes | etcd | cni | containerd | crictl | kube-bench) want+=("$c") ;;
		prune) want+=(prune) ;;
		-h | --help)
			usage
			return 0
			;;
		*)
			usage
			die "unknown component: $c"
			;;
		esac
	done
	command -v go >/dev/null || die "go is not on PATH"
	mkdir -p "$GOMODCACHE" "$GOCACHE" "$SCRATCH"
	log "toolchain dir $TOOLCHAIN_DIR, $(go version), GOPROXY=$(go env GOPROXY), -p $JOBS"

	build_each component build_component "${want[@]}"
}

build_component() {
	case $1 in
	engine) build_engine ;;
	pulumi) build_pulumi ;;
	plugins) build_plugins ;;
	kubernetes) build_kubernetes ;;
	etcd) build_etcd ;;
	cni) build_cni ;;
	containerd) build_containerd ;;
	crictl) build_crictl ;;
	kube-bench) build_kube_bench ;;
	prune) prune ;;
	esac
}

# build_each WHAT FUNC ITEM...: FUNC ITEM for each item once, in order, in a subshell each (one
# failing does not stop the next), timed; prints the seconds of each and fails naming the failed.
build_each() {
	local what=$1 func=$2 c
	shift 2
	local -A seen=()
	local summary=() failed=() start rc
	for c in "$@"; do
		[[ -z ${seen[$c]:-} ]] || continue
		seen[$c]=1
		start=$SECONDS
		log "=== $c"
		set +e
		(
			set -e
			"$func" "$c"
		)
		rc=$?
		set -e
		if ((rc == 0)); then
			summary+=("$(printf '%-19s ok      %5ds' "$c" $((SECONDS - start)))")
		else
			summary+=("$(printf '%-19s FAILED  %5ds' "$c" $((SECONDS - start)))")
			failed+=("$c")
		fi
		log "=== $c: ${summary[-1]#"$c"}"
	done
	printf 'elapsed seconds per %s:\n' "$what" >&2
	printf '  %s\n' "${summary[@]}" >&2
	((${#failed[@]} == 0)) || die "failed: ${failed[*]}"
}

# Sourcing the file (for tests) defines the functions only.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; exit; fi
