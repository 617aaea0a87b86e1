#!/usr/bin/env bash
# Build the k8s-from-scratch toolchain from Go modules (Go module proxy only).
#
#   toolchain/build.sh [all|pulumi|plugins|kubernetes|etcd|cni|containerd|crictl]...
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

ALL_COMPONENTS=(pulumi plugins kubernetes etcd cni containerd crictl)

log() { printf '[toolchain %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

usage() {
	local IFS='|'
	cat >&2 <<EOF
usage: $0 [all|${ALL_COMPONENTS[*]}]...
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

# publish TMP OUT: write TMP/SHA256SUMS and move TMP to OUT.
publish() {
	local tmp=$1 out=$2
	(
		cd "$tmp"
		find . -maxdepth 1 -type f ! -name 'SHA256SUMS*' ! -name '.SHA256SUMS*' -printf '%P\n' | LC_ALL=C sort |
			xargs -r sha256sum >.SHA256SUMS.new
		mv .SHA256SUMS.new SHA256SUMS
	)
	rm -rf "$out"
	mkdir -p "$(dirname "$out")"
	mv "$tmp" "$out"
	log "wrote $out:"
	sed 's/^/    /' "$out/SHA256SUMS" >&2
}

# ---------------------------------------------------------------------------
# Components

PULUMI_OUT() { printf '%s\n' "$TOOLCHAIN_DIR/pulumi/$K8SFS_PULUMI_VERSION"; }

build_pulumi() {
	local v=$K8SFS_PULUMI_VERSION out tmp pkgmod langmod sdk=github.com/pulumi/pulumi/sdk/v3
	local pkg=github.com/pulumi/pulumi/pkg/v3
	local lang=github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3
	out=$(PULUMI_OUT)
	if cached "$out"; then
		log "pulumi $v: cached in $out"
		return 0
	fi
	pkgmod=$(mod_gomod "$pkg" "$v")
	langmod=$(mod_gomod "$lang" "$v")
	mod_gomod "$sdk" "$v" >/dev/null
	tmp=$(staging "$out")
	local ld="-X $sdk/go/common/version.Version=$v"

	# The CLI: pkg/v3 replaces sdk/v3 => ../sdk; use the published sdk/v3@v.
	local w="$WORK_DIR/pulumi/$v/cli"
	new_wrapper "$w" k8sfs.local/toolchain/pulumi "$(gomod_go "$pkgmod")"
	wrapper_require "$w" "$pkg@$v" "$sdk@$v"
	wrapper_copy_gomod "$w" "$pkgmod" github.com/pulumi/pulumi/ "$v"
	gobuild "$w" "$tmp/pulumi" "$ld" "" "$pkg/cmd/pulumi"

	# The Python language host (its own module; replaces pkg and sdk locally).
	w="$WORK_DIR/pulumi/$v/language-python"
	new_wrapper "$w" k8sfs.local/toolchain/pulumi-language-python "$(gomod_go "$langmod")"
	wrapper_require "$w" "$lang@$v" "$pkg@$v" "$sdk@$v"
	wrapper_copy_gomod "$w" "$langmod" github.com/pulumi/pulumi/ "$v"
	gobuild "$w" "$tmp/pulumi-language-python" "$ld" "" "$lang"

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

# make_shim NAME SRC: recreate the provider's local ./shim module, which the
# module zip lacks (it is a separate module in the provider's repository).
make_shim() {
	local name=$1 src=$2 shimpath upstream upver
	shimpath=$(gomod_replaces "$src/go.mod" | awk '$2 == "./shim" { print $1; exit }')
	[[ -n $shimpath ]] || die "$name: go.mod has no '=> ./shim' replace"
	shimpath=${shimpath%@*}
	[[ -f $HERE/shims/$name/shim.go.tmpl ]] || die "$name: no shim template in $HERE/shims/$name"
	upstream=${shimpath%/shim}
	upver=$(cd "$src" && go mod edit -json | awk -v m="\"$upstream\"" '
		$0 ~ "\"Path\": " m "," { found = 1; next }
		found && /"Version":/ { gsub(/[",]/, "", $2); print $2; exit }')
	[[ -n $upver ]] || die "$name: go.mod does not require $upstream (needed by the shim)"
	log "$name: recreating shim module $shimpath (requires $upstream $upver)"
	mkdir -p "$src/shim"
	printf 'module %s\n\ngo %s\n\nrequire %s %s\n' "$shimpath" "$(gomod_go "$src/go.mod")" \
		"$upstream" "$upver" >"$src/shim/go.mod"
	cp "$HERE/shims/$name/shim.go.tmpl" "$src/shim/shim.go"
	[[ ! -f $src/go.sum ]] || cp "$src/go.sum" "$src/shim/go.sum"
}

# make_embeds NAME SRC CMDDIR VERSION: create every //go:embed file the
# provider's main package needs that the module zip lacks (they are generated
# and git-ignored upstream): X-embed.json from X.json (schema: with version set).
make_embeds() {
	local name=$1 src=$2 cmd=$3 v=$4 f base
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

# build_plugin NAME VERSION: copy the provider module out of the module cache,
# complete it, build it.
build_plugin() {
	local name=$1 v=$2 major mod out tmp dir src
	major=${v#v}
	major=${major%%.*}
	mod=github.com/pulumi/pulumi-$name/provider
	((major < 2)) || mod="$mod/v$major"
	out="$TOOLCHAIN_DIR/plugins/$name/$v"
	if cached "$out"; then
		log "pulumi-resource-$name $v: cached in $out"
	else
		dir=$(mod_dir "$mod" "$v")
		src="$WORK_DIR/plugins/$name/$v/src"
		rm -rf "$src"
		mkdir -p "$src"
		cp -a "$dir/." "$src/"
		chmod -R u+w "$src"
		if gomod_replaces "$src/go.mod" | awk '$2 == "./shim" { f = 1 } END { exit !f }' &&
			[[ ! -f $src/shim/go.mod ]]; then
			make_shim "$name" "$src"
		fi
		local cmd="$src/cmd/pulumi-resource-$name"
		[[ -d $cmd ]] || die "$name: no cmd/pulumi-resource-$name in $mod@$v"
		make_embeds "$name" "$src" "$cmd" "$v"
		tmp=$(staging "$out")
		gobuild "$src" "$tmp/pulumi-resource-$name" "-X $mod/pkg/version.Version=$v" "" \
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
	local failed=()
	build_plugin_safe() {
		set +e
		(
			set -e
			build_plugin "$@"
		)
		local rc=$?
		set -e
		((rc == 0)) || failed+=("$1")
	}
	build_plugin_safe command "$K8SFS_PLUGIN_COMMAND_VERSION"
	build_plugin_safe tls "$K8SFS_PLUGIN_TLS_VERSION"
	build_plugin_safe random "$K8SFS_PLUGIN_RANDOM_VERSION"
	build_plugin_safe kubernetes "$K8SFS_PLUGIN_KUBERNETES_VERSION"
	((${#failed[@]} == 0)) || die "plugins failed: ${failed[*]}"
}

build_kubernetes() {
	local v=$K8SFS_KUBERNETES_VERSION out tmp gomod w m date
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
	gomod=$(mod_gomod k8s.io/kubernetes "$v")
	date=$(mod_time k8s.io/kubernetes "$v")
	w="$WORK_DIR/kubernetes/$v"
	new_wrapper "$w" k8sfs.local/toolchain/kubernetes "$(gomod_go "$gomod")"
	wrapper_require "$w" "k8s.io/kubernetes@$v"
	# Every "k8s.io/X => ./staging/src/k8s.io/X" becomes "k8s.io/X => k8s.io/X v0.Y.Z".
	wrapper_copy_gomod "$w" "$gomod" k8s.io/ "$staging_v"
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
	local v=$K8SFS_CNI_PLUGINS_VERSION out tmp w gomod m=github.com/containernetworking/plugins
	out="$TOOLCHAIN_DIR/cni-plugins/$v/$PLATFORM"
	if cached "$out"; then
		log "cni-plugins $v: cached in $out"
		return 0
	fi
	gomod=$(mod_gomod "$m" "$v")
	w="$WORK_DIR/cni-plugins/$v"
	new_wrapper "$w" k8sfs.local/toolchain/cni-plugins "$(gomod_go "$gomod")"
	wrapper_require "$w" "$m@$v"
	wrapper_copy_gomod "$w" "$gomod" "" ""
	mod_dir "$m" "$v" >/dev/null
	# Every main package under plugins/{main,ipam,meta} that builds for linux.
	local pkgs=()
	mapfile -t pkgs < <(cd "$w" && go list -mod=mod -e \
		-f '{{if and (eq .Name "main") (not .Incomplete)}}{{.ImportPath}}{{end}}' \
		"$m/plugins/main/..." "$m/plugins/ipam/..." "$m/plugins/meta/..." | sed '/^$/d')
	((${#pkgs[@]} > 0)) || die "cni-plugins: no packages found"
	tmp=$(staging "$out")
	gobuild "$w" "$tmp/" "-X $m/pkg/utils/buildversion.BuildVersion=$v" "" "${pkgs[@]}"
	publish "$tmp" "$out"
}

build_containerd() {
	local v=$K8SFS_CONTAINERD_VERSION out tmp w gomod m=github.com/containerd/containerd/v2
	out="$TOOLCHAIN_DIR/containerd/$v/$PLATFORM"
	if cached "$out"; then
		log "containerd $v: cached in $out"
		return 0
	fi
	gomod=$(mod_gomod "$m" "$v")
	w="$WORK_DIR/containerd/$v"
	new_wrapper "$w" k8sfs.local/toolchain/containerd "$(gomod_go "$gomod")"
	wrapper_require "$w" "$m@$v"
	wrapper_copy_gomod "$w" "$gomod" "" ""
	local ld="-X $m/version.Version=$v -X $m/version.Package=$m"
	# Static build as upstream's release (no cgo: no btrfs snapshotter).
	tmp=$(staging "$out")
	gobuild "$w" "$tmp/" "$ld" "no_btrfs urfave_cli_no_docs netgo osusergo" \
		"$m/cmd/containerd" "$m/cmd/containerd-shim-runc-v2" "$m/cmd/ctr"
	publish "$tmp" "$out"
}

build_crictl() {
	local v=$K8SFS_CRICTL_VERSION out tmp w gomod m=sigs.k8s.io/cri-tools
	out="$TOOLCHAIN_DIR/crictl/$v/$PLATFORM"
	if cached "$out"; then
		log "crictl $v: cached in $out"
		return 0
	fi
	gomod=$(mod_gomod "$m" "$v")
	w="$WORK_DIR/crictl/$v"
	new_wrapper "$w" k8sfs.local/toolchain/crictl "$(gomod_go "$gomod")"
	wrapper_require "$w" "$m@$v"
	wrapper_copy_gomod "$w" "$gomod" "" ""
	tmp=$(staging "$out")
	gobuild "$w" "$tmp/crictl" "-X $m/pkg/version.Version=$v" "" "$m/cmd/crictl"
	publish "$tmp" "$out"
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
		pulumi | plugins | kubernetes | etcd | cni | containerd | crictl) want+=("$c") ;;
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

	local -A seen=()
	local summary=() failed=() start rc
	for c in "${want[@]}"; do
		[[ -z ${seen[$c]:-} ]] || continue
		seen[$c]=1
		start=$SECONDS
		log "=== $c"
		set +e
		(
			set -e
			case $c in
			pulumi) build_pulumi ;;
			plugins) build_plugins ;;
			kubernetes) build_kubernetes ;;
			etcd) build_etcd ;;
			cni) build_cni ;;
			containerd) build_containerd ;;
			crictl) build_crictl ;;
			prune) prune ;;
			esac
		)
		rc=$?
		set -e
		if ((rc == 0)); then
			summary+=("$(printf '%-11s ok      %5ds' "$c" $((SECONDS - start)))")
		else
			summary+=("$(printf '%-11s FAILED  %5ds' "$c" $((SECONDS - start)))")
			failed+=("$c")
		fi
		log "=== $c: ${summary[-1]#"$c"}"
	done
	printf 'elapsed seconds per component:\n' >&2
	printf '  %s\n' "${summary[@]}" >&2
	((${#failed[@]} == 0)) || die "failed: ${failed[*]}"
}

# Sourcing the file (for tests) defines the functions only.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; exit; fi
