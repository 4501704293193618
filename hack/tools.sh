#!/usr/bin/env bash
# Builds the pinned local tools from the Go module proxy into a cache outside the repo, once per
# machine. Honours KUBEBUILDER_ASSETS and binaries already on PATH (at the pinned version or not:
# the user's choice wins). Usage: hack/tools.sh [tool ...]   (default: all)
#        hack/tools.sh path TOOL   prints the binary's path (building it when missing)
set -euo pipefail

CACHE="${GRAFT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/graft}"
BIN="$CACHE/bin"
SRC="$CACHE/src"
mkdir -p "$BIN" "$SRC"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" GOTOOLCHAIN=local

ETCD_VERSION=v3.6.14
KUBE_VERSION=v1.36.3
KUBE_STAGING=0.36.3
KWOK_VERSION=v0.8.0
VERSITYGW_VERSION=v1.7.0
SIM_VERSION=v0.10.2
S5CMD_VERSION=v2.3.0
HELM_VERSION=v3.21.4
# GitOps tools (not in the default set: `hack/tools.sh gitops` builds them). Flux v1.10.1 cannot be
# built from the proxy: it answers 403 for several of its dependencies (fluxcd/pkg/artifact v0.27.1,
# spiffe v0.2.0, sigstore/cosign v3.1.4, ...), and it needs Go 1.27. v1.9.6 builds with Go 1.26.
FLUX_SOURCE_VERSION=v1.9.6
FLUX_KUSTOMIZE_VERSION=v1.9.6
FLUX_GO_TOOLCHAIN=local
# The proxy serves only some versions of some Flux libraries; pin those to the nearest one served.
FLUX_SOURCE_REPLACES="github.com/fluxcd/pkg/artifact=github.com/fluxcd/pkg/artifact@v0.18.0"
FLUX_KUSTOMIZE_REPLACES=""
# helm-controller: its version list is refused, the exact version that Flux v2.9.5 (the release of
# source and kustomize-controller v1.9.x) pins is served.
FLUX_HELM_VERSION=v1.6.4
FLUX_HELM_REPLACES=""
# The Gateway API data plane of the routing tests. Traefik v3.7.x cannot be built as a dependency:
# it needs github.com/traefik/traefik/dynamic/ext through a local replace (no module the proxy
# serves) and lego DNS-provider modules the proxy answers 403 for. v3.6.12 resolves as it is.
TRAEFIK_VERSION=v3.6.12
# The Gateway API release Traefik v3.6.12 is built against (its go.mod); its standard-channel CRDs
# are everything its kubernetesgateway provider watches (TCPRoute/TLSRoute only with
# experimentalChannel, which the tests leave off).
GATEWAY_API_VERSION=v1.4.0
# The peer in bench/peers (not in the default set: `hack/tools.sh aibrix` builds it): AIBrix's
# controller manager. Its go.mod names Go 1.22.6, fetched through the proxy; zmq needs cgo, so the
# build leaves it out with the nozmq tag.
AIBRIX_VERSION=v0.6.0
AIBRIX_GO_TOOLCHAIN=go1.22.6

log() { echo "[tools] $*" >&2; }

# The versioned file name in the cache for a tool.
cached() { echo "$BIN/$1-$2"; }

# Existing binary from KUBEBUILDER_ASSETS (etcd, kube-apiserver, kubectl) or PATH.
external() {
  local name=$1
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$name" ]; then
    echo "$KUBEBUILDER_ASSETS/$name"; return 0
  fi
  if [ -n "${GRAFT_USE_PATH_TOOLS:-}" ] && command -v "$name" >/dev/null 2>&1; then
    command -v "$name"; return 0
  fi
  return 1
}

go_install() { # name version package
  # A throwaway wrapper module instead of `go install pkg@version`: the latter asks the proxy for the
  # module's version list, which the proxy refuses for some modules (llm-d-inference-sim).
  local name=$1 version=$2 pkg=$3 out
  out=$(cached "$name" "$version")
  [ -x "$out" ] && return 0
  log "building $name $version"
  local dir="$SRC/$name-$version"
  rm -rf "$dir"; mkdir -p "$dir"
  ( cd "$dir" && go mod init "local/$name" >/dev/null 2>&1 \
    && go get -tool "$pkg@$version" \
    && go build -o "$out.tmp" "$pkg" && mv "$out.tmp" "$out" )
}

# Like go_install, for a module whose own go.mod has `replace` lines (ignored when it is a
# dependency): copy the ones that point at other modules into the wrapper before resolving.
go_install_replaced() { # name version module package toolchain "old=new@version ..." [ldflags]
  local name=$1 version=$2 module=$3 pkg=$4 toolchain=$5 extra=$6 ldflags=${7:-} out
  out=$(cached "$name" "$version")
  [ -x "$out" ] && return 0
  log "building $name $version (large; toolchain $toolchain)"
  local dir="$SRC/$name-$version"
  rm -rf "$dir"; mkdir -p "$dir"
  (
    cd "$dir" && export GOTOOLCHAIN=$toolchain
    go mod init "local/$name" >/dev/null 2>&1
    local mod; mod=$(go mod download -json "$module@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
    [ -n "$mod" ] || { echo "cannot download $module@$version" >&2; exit 1; }
    go mod edit -go="$(go mod edit -json "$mod" | sed -n 's/^\t"Go": "\(.*\)",$/\1/p')"
    go mod edit -json "$mod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    new = r["New"]
    if new["Path"].startswith("."): continue  # its own sub-modules: resolved by version
    old = r["Old"]["Path"] + ("@" + r["Old"]["Version"] if r["Old"].get("Version") else "")
    print("-replace=" + old + "=" + new["Path"] + "@" + new["Version"])
' | xargs -r go mod edit
    for r in $extra; do go mod edit -replace="$r"; done
    go get -tool "$pkg@$version"
    go build -p "${GRAFT_BUILD_PARALLEL:-2}" -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg" && mv "$out.tmp" "$out"
  )
}

# The CRDs a module ships (a folder of YAML in it), copied next to the binaries under share/NAME-VERSION:
# a Flux controller's config/crd/bases, the Gateway API's standard channel (what the sandbox installs
# before it starts a gateway).
module_crds() { # module version subfolder [name]
  local module=$1 version=$2 sub=$3 name=${4:-${1##*/}}
  local out="$CACHE/share/$name-$version/crds"
  [ -f "$out/.ready" ] && { echo "$out"; return 0; }
  local dir; dir=$(cd "$SRC" && go mod download -json "$module@$version" \
    | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir/$sub" ] || { echo "no $sub in $module@$version" >&2; return 1; }
  mkdir -p "$out"; cp "$dir/$sub"/*.yaml "$out/"; chmod -R u+w "$out"; touch "$out/.ready"
  echo "$out"
}
flux_crds() { module_crds "$1" "$2" config/crd/bases; } # module version

# AIBrix's controller manager, built inside its own module (its go.mod and go.sum, replaces
# included, exactly as upstream builds it); its CRDs (config/crd/<group>/*.yaml) go to $CACHE/share.
aibrix_dir() { (cd "$SRC" && GOTOOLCHAIN=$AIBRIX_GO_TOOLCHAIN go mod download -json "github.com/vllm-project/aibrix@$AIBRIX_VERSION" \
  | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'); }
build_aibrix() {
  local out; out=$(cached aibrix-controller-manager "$AIBRIX_VERSION")
  [ -x "$out" ] && return 0
  log "building aibrix-controller-manager $AIBRIX_VERSION (large; toolchain $AIBRIX_GO_TOOLCHAIN)"
  local dir; dir=$(aibrix_dir)
  [ -f "$dir/cmd/controllers/main.go" ] || { echo "no cmd/controllers in aibrix@$AIBRIX_VERSION" >&2; return 1; }
  ( cd "$dir" && GOTOOLCHAIN=$AIBRIX_GO_TOOLCHAIN GOFLAGS="$GOFLAGS -mod=readonly -tags=nozmq" \
      go build -p "${GRAFT_BUILD_PARALLEL:-2}" -ldflags "-s -w" -o "$out.tmp" ./cmd/controllers && mv "$out.tmp" "$out" )
}
aibrix_crds() {
  local out="$CACHE/share/aibrix-$AIBRIX_VERSION/crds"
  [ -f "$out/.ready" ] && { echo "$out"; return 0; }
  local dir; dir=$(aibrix_dir)
  [ -f "$dir/config/crd/model/model.aibrix.ai_modeladapters.yaml" ] || { echo "no ModelAdapter CRD in aibrix@$AIBRIX_VERSION" >&2; return 1; }
  mkdir -p "$out"; cp "$dir"/config/crd/*/*.aibrix.ai_*.yaml "$out/"; chmod -R u+w "$out"; touch "$out/.ready"
  echo "$out"
}

# Graft's own small Go programs (hack/go/<name>): cached under a hash of their sources, so an edit
# rebuilds them.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
own_version() { # name
  (cd "$REPO_ROOT/hack/go/$1" && cat go.mod go.sum $(find . -name '*.go' | sort) | sha256sum | cut -c1-12)
}
build_own() { # name
  local name=$1 out; out=$(cached "$name" "$(own_version "$name")")
  [ -x "$out" ] && return 0
  log "building $name (hack/go/$name)"
  ( cd "$REPO_ROOT/hack/go/$name" && go build -o "$out.tmp$$" . && mv "$out.tmp$$" "$out" )
}

build_etcd() {
  local out; out=$(cached etcd "$ETCD_VERSION")
  [ -x "$out" ] && return 0
  log "building etcd $ETCD_VERSION"
  local dir="$SRC/etcd-$ETCD_VERSION"
  rm -rf "$dir"; mkdir -p "$dir"
  ( cd "$dir" && go mod init local/etcd >/dev/null 2>&1 \
    && go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
    && go build -o "$out.tmp" go.etcd.io/etcd/server/v3 && mv "$out.tmp" "$out" )
}

KUBE_MODULES="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt
kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller streaming"

kube_module() {
  local dir="$SRC/kubernetes-$KUBE_VERSION"
  if [ ! -f "$dir/.ready" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    (
      cd "$dir"
      go mod init local/kube >/dev/null 2>&1
      {
        echo "require k8s.io/kubernetes $KUBE_VERSION"
        for m in $KUBE_MODULES; do echo "replace k8s.io/$m => k8s.io/$m v$KUBE_STAGING"; done
      } >> go.mod
      for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
        go get -tool "k8s.io/kubernetes/cmd/$c@$KUBE_VERSION"
      done
      touch .ready
    )
  fi
  echo "$dir"
}

build_kube() { # component
  local c=$1 out; out=$(cached "$c" "$KUBE_VERSION")
  [ -x "$out" ] && return 0
  local dir; dir=$(kube_module)
  log "building $c $KUBE_VERSION (slow the first time)"
  local v=k8s.io/component-base/version
  ( cd "$dir" && go build -p "${GRAFT_BUILD_PARALLEL:-2}" \
      -ldflags "-s -w -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=36 -X $v.gitTreeState=clean" \
      -o "$out.tmp" "k8s.io/kubernetes/cmd/$c" && mv "$out.tmp" "$out" )
}

ensure() {
  case "$1" in
    etcd) build_etcd ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) build_kube "$1" ;;
    kwok) go_install kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok ;;
    versitygw) go_install versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw ;;
    llm-d-inference-sim) go_install llm-d-inference-sim "$SIM_VERSION" github.com/llm-d/llm-d-inference-sim/cmd/llm-d-inference-sim ;;
    s5cmd) go_install s5cmd "$S5CMD_VERSION" github.com/peak/s5cmd/v2 ;;
    helm) go_install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm ;;
    source-controller) go_install_replaced source-controller "$FLUX_SOURCE_VERSION" \
        github.com/fluxcd/source-controller github.com/fluxcd/source-controller "$FLUX_GO_TOOLCHAIN" \
        "$FLUX_SOURCE_REPLACES" ;;
    kustomize-controller) go_install_replaced kustomize-controller "$FLUX_KUSTOMIZE_VERSION" \
        github.com/fluxcd/kustomize-controller github.com/fluxcd/kustomize-controller "$FLUX_GO_TOOLCHAIN" \
        "$FLUX_KUSTOMIZE_REPLACES" ;;
    helm-controller) go_install_replaced helm-controller "$FLUX_HELM_VERSION" \
        github.com/fluxcd/helm-controller github.com/fluxcd/helm-controller "$FLUX_GO_TOOLCHAIN" \
        "$FLUX_HELM_REPLACES" ;;
    traefik) go_install_replaced traefik "$TRAEFIK_VERSION" github.com/traefik/traefik/v3 \
        github.com/traefik/traefik/v3/cmd/traefik local "" \
        "-X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" ;;
    lua-health|kstatus) build_own "$1" ;;
    aibrix-controller-manager) build_aibrix ;;
    *) echo "unknown tool: $1" >&2; return 2 ;;
  esac
}

version_of() {
  case "$1" in
    etcd) echo $ETCD_VERSION ;; kube-*|kubectl) echo $KUBE_VERSION ;; kwok) echo $KWOK_VERSION ;;
    versitygw) echo $VERSITYGW_VERSION ;; llm-d-inference-sim) echo $SIM_VERSION ;;
    s5cmd) echo $S5CMD_VERSION ;; helm) echo $HELM_VERSION ;;
    source-controller) echo $FLUX_SOURCE_VERSION ;; kustomize-controller) echo $FLUX_KUSTOMIZE_VERSION ;;
    helm-controller) echo $FLUX_HELM_VERSION ;; traefik) echo $TRAEFIK_VERSION ;;
    lua-health|kstatus) own_version "$1" ;;
    aibrix-controller-manager) echo $AIBRIX_VERSION ;;
  esac
}

path_of() {
  case "$1" in
    source-controller-crds) flux_crds github.com/fluxcd/source-controller "$FLUX_SOURCE_VERSION"; return ;;
    kustomize-controller-crds) flux_crds github.com/fluxcd/kustomize-controller "$FLUX_KUSTOMIZE_VERSION"; return ;;
    helm-controller-crds) flux_crds github.com/fluxcd/helm-controller "$FLUX_HELM_VERSION"; return ;;
    gateway-api-crds) module_crds sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION" config/crd/standard; return ;;
    aibrix-crds) aibrix_crds; return ;;
  esac
  external "$1" && return 0
  ensure "$1" >&2
  cached "$1" "$(version_of "$1")"
}

ALL="etcd versitygw llm-d-inference-sim kwok kube-apiserver kube-controller-manager kube-scheduler kubectl s5cmd helm traefik"
OWN="lua-health kstatus"
FLUX="source-controller kustomize-controller helm-controller"
GITOPS="$OWN $FLUX"
PEERS="aibrix-controller-manager"

if [ "${1:-}" = path ]; then path_of "$2"; exit 0; fi
if [ "${1:-}" = env ]; then
  # Shell lines naming every tool, for the test harness: GRAFT_BIN_ETCD=/path ... The GitOps tools
  # are named only once built (`hack/tools.sh gitops`), so `env` never starts their long builds.
  for t in $ALL; do
    var=GRAFT_BIN_$(echo "$t" | tr 'a-z-' 'A-Z_')
    echo "export $var=$(path_of "$t")"
  done
  echo "export GRAFT_CRDS_GATEWAY_API=$(path_of gateway-api-crds)"
  for t in $GITOPS; do
    p=$(cached "$t" "$(version_of "$t")")
    [ -x "$p" ] && echo "export GRAFT_BIN_$(echo "$t" | tr 'a-z-' 'A-Z_')=$p"
  done
  for m in $FLUX; do
    d="$CACHE/share/$m-$(version_of "$m")/crds"
    [ -f "$d/.ready" ] && echo "export GRAFT_CRDS_$(echo "$m" | tr 'a-z-' 'A-Z_')=$d"
  done
  p=$(cached aibrix-controller-manager "$AIBRIX_VERSION"); d="$CACHE/share/aibrix-$AIBRIX_VERSION/crds"
  [ -x "$p" ] && echo "export GRAFT_BIN_AIBRIX_CONTROLLER_MANAGER=$p"
  [ -f "$d/.ready" ] && echo "export GRAFT_CRDS_AIBRIX=$d"
  exit 0
fi
tools=("$@"); [ ${#tools[@]} -gt 0 ] || read -r -a tools <<<"$ALL"
lock="$CACHE/.lock"
[ "${tools[*]}" != gitops ] || read -r -a tools <<<"$GITOPS"
[ "${tools[*]}" != aibrix ] || read -r -a tools <<<"$PEERS"
# The GitOps tools take their own locks: a Flux build is long and must not hold up the others.
in_set() { local t; for t in "${tools[@]}"; do [[ " $1 " == *" $t "* ]] || return 1; done; }
if in_set "$OWN"; then lock="$CACHE/.lock-own"; elif in_set "$GITOPS"; then lock="$CACHE/.lock-gitops"
elif in_set "$PEERS"; then lock="$CACHE/.lock-peers"; fi
exec 9>"$lock"; flock 9
for t in "${tools[@]}"; do
  external "$t" >/dev/null || ensure "$t"
done
for t in "${tools[@]}"; do
  case "$t" in
    source-controller|kustomize-controller|helm-controller) path_of "$t-crds" >/dev/null ;;
    traefik) path_of gateway-api-crds >/dev/null ;;
    aibrix-controller-manager) path_of aibrix-crds >/dev/null ;;
  esac
done
log "ready: ${tools[*]}"
