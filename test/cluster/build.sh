#!/usr/bin/env bash
# Builds pinned, real Kubernetes components from source through the Go module proxy.
#
# Each component is built in a throwaway Go module that requires the upstream module at a
# pinned version (Kubernetes additionally needs its staging modules replaced by the published
# v0.X.Y tags, because its own go.mod points them at ./staging). Binaries land in a cache
# outside the checkout, keyed by version, so every clone on the machine reuses them.
#
# Usage: build.sh [component ...]   (default: all)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"

log() { printf '%s [build] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

all_present() {
  local dir="$1"; shift
  for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
}

if [ "${1:-}" = "--check" ]; then
  # Exit 0 when every component is already in the cache (used by `cluster up`).
  all_present "$K8S_BIN_DIR" kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl &&
    all_present "$LPO_CACHE_DIR/etcd-v${ETCD_VERSION}" etcd &&
    all_present "$LPO_CACHE_DIR/kwok-v${KWOK_VERSION}" kwok &&
    all_present "$LPO_CACHE_DIR/helm-v${HELM_VERSION}" helm &&
    all_present "$LPO_CACHE_DIR/coredns-v${COREDNS_VERSION}" coredns &&
    all_present "$LPO_CACHE_DIR/kube-router-${KUBE_ROUTER_MODULE_VERSION}" kube-router
  exit
fi

# One build at a time per cache: a second one (another checkout, a test run that starts a cluster)
# would replace the first one's half-written output. It waits, then finds what the first built.
mkdir -p "$LPO_CACHE_DIR"
exec 9>"$LPO_CACHE_DIR/.build.lock"
if ! flock -n 9; then
  log "another build of this cache is running; waiting for it to finish"
  flock 9
fi

command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH. Install Go >= ${GO_MIN_VERSION} (https://go.dev/doc/install) or set LPO_K8S_BIN_DIR to a directory with prebuilt binaries (see README)."
go_version="$(go env GOVERSION | sed 's/^go//')"
if [ "$(printf '%s\n%s\n' "$GO_MIN_VERSION" "$go_version" | sort -V | head -1)" != "$GO_MIN_VERSION" ]; then
  die "Go ${go_version} is too old: Kubernetes ${K8S_VERSION} needs Go >= ${GO_MIN_VERSION}. Upgrade Go, or export GOTOOLCHAIN=go${GO_MIN_VERSION} to let the go command fetch it from the module proxy."
fi

mkdir -p "$LPO_CACHE_DIR"
avail_kb="$(df -Pk "$LPO_CACHE_DIR" | awk 'NR==2 {print $4}')"
need_kb=$((8 * 1024 * 1024))
if [ "${avail_kb:-0}" -lt "$need_kb" ]; then
  die "only $((avail_kb / 1024)) MiB free under $LPO_CACHE_DIR; a cold build needs about 8 GiB (Go build cache and module downloads included). Free some space or set LPO_CACHE_DIR to a larger disk."
fi

export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

# Runs `go build -v` and turns its package list into a progress line every 100 packages,
# because a cold Kubernetes build compiles thousands of packages over tens of minutes.
go_build_with_progress() {
  local label="$1"; shift
  local logfile="$1"; shift
  local count=0 start=$SECONDS
  set +e
  go build -v "$@" 2>&1 | tee "$logfile" | while IFS= read -r line; do
    count=$((count + 1))
    if [ $((count % 100)) -eq 0 ]; then
      log "$label: $count packages compiled ($((SECONDS - start)) s)"
    fi
  done
  local rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    if grep -qiE 'proxy|dial tcp|no such host|connection refused|404 Not Found|410 Gone' "$logfile"; then
      log "$label: the Go module proxy could not serve a module (GOPROXY=$(go env GOPROXY)):"
    else
      log "$label: go build failed:"
    fi
    grep -vE '^[a-zA-Z0-9._/-]+$' "$logfile" | tail -25 >&2
    die "$label failed; full log: $logfile"
  fi
}

write_module() {
  local dir="$1" requires="$2" replaces="${3:-}"
  mkdir -p "$dir"
  {
    echo "module lpo.local/build/$(basename "$dir")"
    echo
    echo "go ${GO_MIN_VERSION}"
    echo
    echo "require ("
    printf '%s\n' "$requires" | sed 's/^/\t/'
    echo ")"
    if [ -n "$replaces" ]; then
      echo
      echo "replace ("
      printf '%s\n' "$replaces" | sed 's/^/\t/'
      echo ")"
    fi
  } >"$dir/go.mod"
}

build_kubernetes() {
  local out="$K8S_BIN_DIR"
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
  if all_present "$out" "${bins[@]}"; then log "kubernetes v${K8S_VERSION}: cached in $out"; return; fi
  log "kubernetes v${K8S_VERSION}: fetching the module and its staging module list"
  local work="$LPO_CACHE_DIR/work/kubernetes-${K8S_VERSION}"
  local moddir
  moddir="$(cd /tmp && GOFLAGS= go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/^\s*"Dir": "\(.*\)",\?$/\1/p')"
  [ -n "$moddir" ] && [ -f "$moddir/go.mod" ] || die "the Go module proxy did not serve k8s.io/kubernetes@v${K8S_VERSION} (GOPROXY=$(go env GOPROXY))"
  local staging_version="v0.${K8S_VERSION#1.}"
  local replaces
  replaces="$(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#\1 => \1 '"$staging_version"'#p' "$moddir/go.mod")"
  write_module "$work" "k8s.io/kubernetes v${K8S_VERSION}" "$replaces"
  local minor="${K8S_VERSION#1.}"; minor="${minor%%.*}"
  local tag_time
  tag_time="$(cd /tmp && GOFLAGS= go list -m -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/^\s*"Time": "\(.*\)",\?$/\1/p')"
  local ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=v${K8S_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor}"
    # The module proxy knows the tag's time but not its commit, so gitCommit stays empty.
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$tag_time"
  done
  local pkgs=()
  for b in "${bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  mkdir -p "$out.partial"
  log "kubernetes v${K8S_VERSION}: compiling ${bins[*]} (cold: tens of minutes on 2 cores)"
  (cd "$work" && go_build_with_progress "kubernetes" "$work/build.log" -trimpath -ldflags "$ldflags" -o "$out.partial/" "${pkgs[@]}")
  finish "$out"
}

build_simple() {
  # build_simple <name> <module@version> <package> <binary> [ldflags]
  local name="$1" module="$2" pkg="$3" bin="$4" ldflags="${5:-}"
  local out="$LPO_CACHE_DIR/$name-${module##*@}"
  if all_present "$out" "$bin"; then log "$name ${module##*@}: cached in $out"; return; fi
  local work="$LPO_CACHE_DIR/work/$name-${module##*@}"
  write_module "$work" "${module%@*} ${module##*@}"
  mkdir -p "$out.partial"
  log "$name ${module##*@}: compiling $pkg"
  (cd "$work" && go_build_with_progress "$name" "$work/build.log" -trimpath -ldflags "-s -w $ldflags" -o "$out.partial/$bin" "$pkg")
  finish "$out"
}

build_kube_router() {
  # kube-router's module path stays github.com/cloudnativelabs/kube-router/v2 (the fork's go.mod
  # declares it), so the build module requires that path and replaces it with k3s's fork.
  local version="$KUBE_ROUTER_MODULE_VERSION"
  local out="$LPO_CACHE_DIR/kube-router-$version"
  if all_present "$out" kube-router; then log "kube-router $version: cached in $out"; return; fi
  local work="$LPO_CACHE_DIR/work/kube-router-$version"
  write_module "$work" "github.com/cloudnativelabs/kube-router/v2 v${KUBE_ROUTER_VERSION}" \
    "github.com/cloudnativelabs/kube-router/v2 => github.com/k3s-io/kube-router/v2 $version"
  local tag_time
  tag_time="$(cd /tmp && GOFLAGS= go list -m -json "github.com/k3s-io/kube-router/v2@$version" 2>/dev/null | sed -n 's/^\s*"Time": "\(.*\)",\?$/\1/p')"
  local pkg=github.com/cloudnativelabs/kube-router/v2
  mkdir -p "$out.partial"
  log "kube-router $version: compiling $pkg/cmd/kube-router (cold: about 5 min on 2 cores)"
  (cd "$work" && go_build_with_progress "kube-router" "$work/build.log" -trimpath \
    -ldflags "-s -w -X $pkg/pkg/version.Version=$version -X $pkg/pkg/version.BuildDate=$tag_time" \
    -o "$out.partial/kube-router" "$pkg/cmd/kube-router")
  finish "$out"
}

# A build is published by renaming its directory, so an interrupted build never looks complete.
finish() {
  local out="$1"
  rm -rf "$out"
  mv "$out.partial" "$out"
  log "installed $(ls "$out" | tr '\n' ' ')in $out"
}


components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kubernetes etcd kwok helm coredns kube-router)
for c in "${components[@]}"; do
  case "$c" in
    kubernetes) build_kubernetes ;;
    etcd) build_simple etcd "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" go.etcd.io/etcd/server/v3 etcd \
      "-X go.etcd.io/etcd/api/v3/version.GitSHA=v${ETCD_VERSION}" ;;
    kwok) build_simple kwok "sigs.k8s.io/kwok@v${KWOK_VERSION}" sigs.k8s.io/kwok/cmd/kwok kwok \
      "-X sigs.k8s.io/kwok/pkg/consts.Version=v${KWOK_VERSION}" ;;
    helm) build_simple helm "helm.sh/helm/v3@v${HELM_VERSION}" helm.sh/helm/v3/cmd/helm helm \
      "-X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION}" ;;
    coredns) build_simple coredns "github.com/coredns/coredns@v${COREDNS_VERSION}" github.com/coredns/coredns coredns ;;
    kube-router) build_kube_router ;;
    *) die "unknown component '$c' (known: kubernetes etcd kwok helm coredns kube-router)" ;;
  esac
done
log "done"
