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
    *) echo "unknown tool: $1" >&2; return 2 ;;
  esac
}

version_of() {
  case "$1" in
    etcd) echo $ETCD_VERSION ;; kube-*|kubectl) echo $KUBE_VERSION ;; kwok) echo $KWOK_VERSION ;;
    versitygw) echo $VERSITYGW_VERSION ;; llm-d-inference-sim) echo $SIM_VERSION ;;
    s5cmd) echo $S5CMD_VERSION ;; helm) echo $HELM_VERSION ;;
  esac
}

path_of() {
  external "$1" && return 0
  ensure "$1" >&2
  cached "$1" "$(version_of "$1")"
}

ALL="etcd versitygw llm-d-inference-sim kwok kube-apiserver kube-controller-manager kube-scheduler kubectl s5cmd helm"

if [ "${1:-}" = path ]; then path_of "$2"; exit 0; fi
if [ "${1:-}" = env ]; then
  # Shell lines naming every tool, for the test harness: GRAFT_BIN_ETCD=/path ...
  for t in $ALL; do
    var=GRAFT_BIN_$(echo "$t" | tr 'a-z-' 'A-Z_')
    echo "export $var=$(path_of "$t")"
  done
  exit 0
fi
tools=("$@"); [ ${#tools[@]} -gt 0 ] || read -r -a tools <<<"$ALL"
lock="$CACHE/.lock"
exec 9>"$lock"; flock 9
for t in "${tools[@]}"; do
  external "$t" >/dev/null || ensure "$t"
done
log "ready: ${tools[*]}"
