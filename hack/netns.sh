#!/usr/bin/env bash
# The sandbox's network: runs a command inside a network namespace of its own, the parent of every
# sandbox pod's namespace. It has lo, a bridge graft0 at 10.244.0.1/16 (the pods' veths hang on
# it; fake nodes get pod CIDRs 10.244.N.0/24) and no route out: a connect to anything but lo and
# 10.244.0.0/16 fails at once with ENETUNREACH, so nothing a test starts can reach the host's
# network, whatever address it binds or dials.
#
#   hack/netns.sh COMMAND [ARG...]          run COMMAND in a new sandbox network (root: unshare
#                                           --net; otherwise in a user namespace of its own too)
#   hack/netns.sh --enter PID COMMAND...    run COMMAND in the sandbox network that process PID
#                                           lives in (kubectl against a `make sandbox` or a KEEP=1
#                                           demo; they print the exact command)
#
# Inside, GRAFT_NETNS=graft0 names the bridge; the sandbox (src/sandbox/netns.ts) checks it and the
# routes before it starts any pod. Called inside such a namespace already, it just runs COMMAND.
# Examples: hack/netns.sh npx vitest run --project integration test/integration/adapter.test.ts
#           hack/netns.sh bash      (a shell in a fresh sandbox network)
set -euo pipefail

BRIDGE=graft0
GATEWAY=10.244.0.1
PREFIX=16

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# True when this process already lives in a sandbox network: the bridge has the gateway address
# and there is no default route (IPv4 or IPv6).
inside() {
  [[ "${GRAFT_NETNS:-}" == "$BRIDGE" ]] || return 1
  ip -4 -o addr show dev "$BRIDGE" 2>/dev/null | grep -q " $GATEWAY/$PREFIX " || return 1
  [[ -z "$(ip -4 route show default 2>/dev/null)" && -z "$(ip -6 route show default 2>/dev/null)" ]]
}

# Sets the namespace up (run inside it, as its root), then runs the command.
setup() {
  ip link set lo up
  ip link add "$BRIDGE" type bridge forward_delay 0 stp_state 0
  ip addr add "$GATEWAY/$PREFIX" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Forwarding on, with no route out: a pod's packet to an outside address gets "network
  # unreachable" back at once instead of silence (pod to pod is bridged and needs none of it).
  echo 1 > /proc/sys/net/ipv4/ip_forward
  # A pod address with no namespace behind it yet (KWOK marks a pod Running before the sandbox has
  # made its namespace) answers "host unreachable" after 3 ARP tries: 100 ms apart, not 1 s.
  echo 100 > /proc/sys/net/ipv4/neigh/$BRIDGE/retrans_time_ms
  if [[ -n "$(ip -4 route show default)$(ip -6 route show default 2>/dev/null)" ]]; then
    echo "hack/netns.sh: the new network namespace has a default route; refusing to go on" >&2; exit 1
  fi
  export GRAFT_NETNS="$BRIDGE"
  exec "$@"
}

[[ $# -ge 1 ]] || usage
case "$1" in
  -h|--help) usage ;;
  --setup) shift; setup "$@" ;;
  --enter)
    [[ $# -ge 3 && "$2" =~ ^[0-9]+$ ]] || usage
    pid=$2; shift 2
    [[ -e "/proc/$pid/ns/net" ]] || { echo "hack/netns.sh: no process $pid (is the sandbox still running?)" >&2; exit 1; }
    flags=(--target "$pid" --net)
    # A sandbox started by a non-root user lives in its own user namespace: enter that one too.
    if [[ $(id -u) -ne 0 ]]; then flags+=(--user --preserve-credentials); fi
    exec nsenter "${flags[@]}" -- env GRAFT_NETNS="$BRIDGE" "$@"
    ;;
esac

if inside; then exec "$@"; fi
# --fork: the command is the namespace's first process, and the namespace goes when the last
# process in it does (each pod's namespace is a child; see src/sandbox/pod-netns.ts).
if [[ $(id -u) -eq 0 ]]; then
  exec unshare --net --fork -- "$0" --setup "$@"
fi
exec unshare --user --map-root-user --net --fork -- "$0" --setup "$@"
