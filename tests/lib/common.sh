# SPDX-License-Identifier: Apache-2.0
# Shared helpers for end-to-end tests (bash).  Source it first thing:
#   . "$(dirname "$0")/../lib/common.sh"
# Environment (set by tests/run-e2e, defaults for running a test by hand):
#   SY_SRC    source tree        SY_BUILD  build tree
#   SWITCHYARD the daemon binary
# Every namespace a test makes is named sy<pid>-<name> and removed on exit,
# along with every process started through sy_bg / sy_daemon.
set -u
SY_SRC=${SY_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
SWITCHYARD=${SWITCHYARD:-$SY_BUILD/switchyard}
PY=/usr/bin/python3
SY_TAG=sy$$
SY_TMP=$(mktemp -d /tmp/sy-test.XXXXXX)
SY_NETNS=()
SY_PIDS=()
declare -gA SY_BG_CMD SY_BG_LOG	# pid → command, log file of what sy_bg started
SY_TEST_NAME=$(basename "$0" .sh)

sy_log() { printf '[%s] %s\n' "$SY_TEST_NAME" "$*" >&2; }

sy_cleanup() {
	local p ns
	for p in "${SY_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${SY_PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	for ns in "${SY_NETNS[@]}"; do
		# processes left inside the namespace
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "${SY_KEEP_TMP:-}" ] || rm -rf "$SY_TMP"
}
trap sy_cleanup EXIT
trap 'exit 130' INT TERM

# sy_fail MESSAGE: print and exit 1 (the EXIT trap cleans up)
sy_fail() { sy_log "FAIL: $*"; exit 1; }
# sy_skip MESSAGE: exit 77 (counted as skipped)
sy_skip() { sy_log "SKIP: $*"; exit 77; }
sy_pass() { sy_log "PASS${1:+: $*}"; exit 0; }

# sy_no_icmp_ratelimit NS: a probe round REJECTs hundreds of packets at once;
# no ICMP rate limit (and no redirects) in that namespace
sy_no_icmp_ratelimit() {
	ip netns exec "$1" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_msgs_per_sec=100000 \
		net.ipv4.icmp_msgs_burst=100000 net.ipv4.conf.all.send_redirects=0
}

# sy_netns NAME → creates namespace $SY_TAG-NAME with lo up, echoes its name
sy_netns() {
	local ns="$SY_TAG-$1"
	ip netns add "$ns" || sy_fail "ip netns add $ns"
	SY_NETNS+=("$ns")
	ip -n "$ns" link set lo up
	echo "$ns"
}
# Must be called in the parent shell (not $(...)) to register cleanup:
#   sy_mkns VAR NAME   sets VAR to the namespace name
sy_mkns() {
	local ns="$SY_TAG-$2"
	ip netns add "$ns" || sy_fail "ip netns add $ns"
	SY_NETNS+=("$ns")
	ip -n "$ns" link set lo up
	printf -v "$1" '%s' "$ns"
}

# sy_veth NS1 IF1 ADDR1/PLEN NS2 IF2 ADDR2/PLEN  (addresses may be "-")
sy_veth() {
	local n1=$1 i1=$2 a1=$3 n2=$4 i2=$5 a2=$6 t1 t2
	t1="v$$a$RANDOM"; t2="v$$b$RANDOM"
	ip link add "$t1" type veth peer name "$t2" || sy_fail "veth"
	ip link set "$t1" netns "$n1" && ip -n "$n1" link set "$t1" name "$i1"
	ip link set "$t2" netns "$n2" && ip -n "$n2" link set "$t2" name "$i2"
	[ "$a1" = - ] || ip -n "$n1" addr add "$a1" dev "$i1"
	[ "$a2" = - ] || ip -n "$n2" addr add "$a2" dev "$i2"
	ip -n "$n1" link set "$i1" up
	ip -n "$n2" link set "$i2" up
}

# sy_bg NS LOGFILE CMD...  start CMD in NS in the background, registered for cleanup.
# Sets SY_LAST_PID.
sy_bg() {
	local ns=$1 log=$2; shift 2
	if [ "$ns" = - ]; then
		"$@" >"$log" 2>&1 &
	else
		ip netns exec "$ns" "$@" >"$log" 2>&1 &
	fi
	SY_LAST_PID=$!
	SY_PIDS+=("$SY_LAST_PID")
	SY_BG_CMD[$SY_LAST_PID]="$*"
	SY_BG_LOG[$SY_LAST_PID]=$log
	# a test server (echo_server.py, sy-echo serve) is not listening yet
	# when it has been forked: wait for it before the test's first packet
	# (SY_BG_NOWAIT=1 sy_bg ...: not now, the caller uses sy_wait_servers)
	[ -n "${SY_BG_NOWAIT:-}" ] && return 0
	case " $* " in
	*/echo_server.py\ *|*/sy-echo\ serve\ *) sy_wait_servers "$SY_LAST_PID" ;;
	esac
}
# sy_wait_servers PID...: each of these servers started with sy_bg listens
# (several started with SY_BG_NOWAIT=1 start up side by side: in an emulated
# VM guest each Python start costs seconds)
sy_wait_servers() {
	local p
	for p in "$@"; do
		sy_wait_listening "$p" ||
			sy_fail "server exited or not listening within ${SY_READY_WAIT}s: ${SY_BG_CMD[$p]:-pid $p}: $(tail -n 3 "${SY_BG_LOG[$p]:-/dev/null}" 2>/dev/null | tr '\n' ' ')"
	done
}

# How long a freshly started server may take to listen: generous, as an
# emulated VM guest on a loaded CI machine takes many seconds per Python start.
SY_READY_WAIT=${SY_READY_WAIT:-90}
# sy_listening PID: the process has a listening TCP/SCTP socket or a bound,
# unconnected UDP socket (its own sockets, whatever port others use; read from
# /proc, so it needs neither ss nor the kernel's sock_diag modules)
sy_listening() {
	local pid=$1
	{
		find "/proc/$pid/fd" -lname 'socket:*' -printf '%l\n' | tr -dc '0-9\n' | sed 's/^/fd /'
		cat "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6" | awk '$4 == "0A" { print "on", $10 }'
		cat "/proc/$pid/net/udp" "/proc/$pid/net/udp6" | awk '$4 == "07" { print "on", $10 }'
		awk 'FNR > 1 { print "on", $8 }' "/proc/$pid/net/sctp/eps"
	} 2>/dev/null | awk '$1 == "fd" { fd[$2] = 1 } $1 == "on" && ($2 in fd) { f = 1 } END { exit !f }'
}
# sy_wait_listening PID: wait (SY_READY_WAIT s) until PID listens; 1 when it
# exits or does not listen in time
sy_wait_listening() {
	local end=$((SECONDS + SY_READY_WAIT))
	until sy_listening "$1"; do
		kill -0 "$1" 2>/dev/null || return 1
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# sy_wait TIMEOUT_SECONDS CMD...  poll CMD every 0.1 s until it succeeds
sy_wait() {
	local t=$1; shift
	local end=$((SECONDS + t))
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# sy_echo_server NS PROTO PORT NAME: a server answering "NAME <peer-ip>" to
# every TCP connection / UDP datagram (tests/lib/echo_server.py); listening
# when this returns (sy_bg waits for it)
sy_echo_server() {
	sy_bg "$1" "$SY_TMP/echo-$4-$2-$3.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" \
		--proto "$2" --port "$3" --name "$4"
}
# sy_bound_count NS PROTO PORT: sockets of PROTO (tcp|udp|sctp) listening on /
# bound to PORT in NS (NS "-": this namespace); read from /proc/net
sy_bound_count() {
	local hex files st
	hex=$(printf ':%04X' "$3")
	case $2 in
	tcp) files="/proc/net/tcp /proc/net/tcp6" st=0A ;;
	udp) files="/proc/net/udp /proc/net/udp6" st=07 ;;
	sctp)
		sy_in "$1" sh -c 'cat /proc/net/sctp/eps 2>/dev/null' |
			awk -v p="$3" 'NR > 1 && $6 == p' | wc -l
		return ;;
	*) echo 0; return 1 ;;
	esac
	# shellcheck disable=SC2086
	sy_in "$1" sh -c "cat $files 2>/dev/null" |
		awk -v p="$hex" -v st="$st" '$4 == st && substr($2, length($2) - 4) == p' | wc -l
}
sy_in() { if [ "$1" = - ]; then shift; "$@"; else ip netns exec "$@"; fi; }
# sy_wait_bound NS PROTO PORT [N]: wait (SY_READY_WAIT s) until N (1) sockets
# of PROTO are listening on / bound to PORT in NS: for servers that sy_bg does
# not know (sy_bg waits for echo_server.py and sy-echo itself)
sy_wait_bound() { sy_wait "$SY_READY_WAIT" sy_bound_ge "$1" "$2" "$3" "${4:-1}"; }
sy_bound_ge() { [ "$(sy_bound_count "$1" "$2" "$3")" -ge "$4" ]; }
# sy_ask NS PROTO IP PORT [SRCPORT] → prints the server's answer (empty on failure)
sy_ask() {
	ip netns exec "$1" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto "$2" \
		--host "$3" --port "$4" ${5:+--sport "$5"} 2>/dev/null
}
