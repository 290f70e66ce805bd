#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The iptables-mode lab, sourced by tests/e2e/iptables-*.sh (run on its own
# it only says so and skips).
#
#   node   (switchyard --proxy-mode=iptables, ip_forward=1)
#     eth-c 192.168.50.1/24  ── client ns  192.168.50.2/24 (+ .3 .. .9), gw .1
#     eth-K 10.244.K.1/24    ── endpoint ns epK 10.244.K.2/24, gw .1  (K = 1..N)
#   routes on node: 10.96.0.0/16 (ClusterIPs) and 192.168.60.0/24 (external
#   IPs) towards the client link, so unserved addresses are forwarded (and
#   hit the filter table) instead of being unroutable.
# The cluster CIDR is 10.244.0.0/16; the client is outside it.
#
# IPT_FAM=6 runs a test in IPv6 (the IPv6 twin of a test is this one line:
# IPT_FAM=6 exec bash iptables-X.sh): the same lab in IPv6 (the node keeps
# its IPv4 addresses), the Services IPv6-only, the endpoints' slices
# addressType IPv6, read back with ip6tables-legacy-save.  The helpers take
# the lab's IPv4 addresses and use their twins (ipt_ip):
#   192.168.50.N -> fd00:50::N   192.168.60.N -> fd00:60::N
#   10.244.K.N -> fd00:244:K::N, 10.244.K.0/24 -> fd00:244:K::/64 and the
#   cluster CIDR 10.244.0.0/16 -> fd00:244::/32 (fd00:244 fixes 32 bits as
#   10.244 fixes 16: every pod's twin is inside the cluster CIDR's twin)
#   10.96.A.B -> fd00:96::A:B (fd00:96::B when A is 0)
#   anything else a.b.c.d/L -> fd00:a:b:c::d/(96+L) (fd00:a:b::d when c is 0)
# $IPT is the family's iptables-legacy / ip6tables-legacy.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "iptables-lib.sh: the lab library of tests/e2e/iptables-*.sh (not a test)" >&2
	exit 77
fi
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

[ -x "$SWITCHYARD" ] || sy_skip "no switchyard binary at $SWITCHYARD"
IPT_FAM=${IPT_FAM:-4}
IPT=iptables-legacy
[ "$IPT_FAM" = 6 ] && IPT=ip6tables-legacy
if [ "${IPT_MODE:-iptables}" = iptables ]; then
	command -v $IPT-save >/dev/null || sy_skip "$IPT-save missing"
fi
[ "$IPT_FAM" = 6 ] && sy_log "IPv6 (IPT_FAM=6)"

# ipt_ip ADDR[/LEN]: the lab address in the family under test (above)
ipt_ip() {
	local a=${1%/*} l="" o1 o2 o3 o4
	[ "$IPT_FAM" = 6 ] || { echo "$1"; return; }
	[ "$a" = "$1" ] || l=${1#*/}
	case $a in *:*) echo "$1"; return ;; esac
	IFS=. read -r o1 o2 o3 o4 <<<"$a"
	# an invalid IPv4 address (an octet above 255) stays invalid
	[ "$o3" -le 255 ] && [ "$o4" -le 255 ] || { echo "fd00::$o4::1${l:+/$((l + 96))}"; return; }
	case $o1.$o2 in
	192.168) a="fd00:$o3::$o4"; l=${l:+$((l + 96))} ;;
	10.244)
		if [ "$l" = 16 ]; then a=fd00:244::; l=32
		else a="fd00:244:$o3::$o4"; l=${l:+$((l + 40))}; fi ;;
	10.96)
		if [ "$l" = 16 ]; then a=fd00:96::; l=64
		elif [ "$o3" = 0 ]; then a="fd00:96::$o4"
		else a="fd00:96::$o3:$o4"; fi ;;
	*)	# as ip6tables-save prints it (the longest run of zeros as ::)
		a="fd00:$o1:$o2:$o3::$o4"
		[ "$o3" = 0 ] && a="fd00:$o1:$o2::$o4"
		[ "$o4" = 0 ] && a=${a%0}
		l=${l:+$((l + 96))} ;;
	esac
	echo "$a${l:+/$l}"
}
# ipt_yaml: manifests on stdin with the lab's IPv4 addresses, in the family
# under test on stdout: every address through ipt_ip, a clusterIP line
# followed by its clusterIPs and ipFamilies, addressType IPv6
ipt_yaml() {
	local line pre ip rest q
	if [ "$IPT_FAM" != 6 ]; then cat; return; fi
	while IFS= read -r line; do
		rest=$line line=""
		while [[ $rest =~ ^([^0-9]*[^0-9.])?([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?)(.*)$ ]]; do
			pre=${BASH_REMATCH[1]} ip=${BASH_REMATCH[2]} rest=${BASH_REMATCH[4]}
			line+=$pre
			q=${line//[^\"]/}	# inside a quoted string already: no quotes of ours
			if [ $((${#q} % 2)) = 1 ]; then line+=$(ipt_ip "$ip")
			else line+="\"$(ipt_ip "$ip")\""; fi
		done
		line+=$rest
		line=${line/addressType: IPv4/addressType: IPv6}
		printf '%s\n' "$line"
		if [[ $line =~ ^(\ *)clusterIP:\ (.*)$ ]]; then
			printf '%sclusterIPs: [%s]\n%sipFamilies: [IPv6]\n' "${BASH_REMATCH[1]}" \
				"${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
		fi
	done
}
# ipt_hostport IP PORT: IP:PORT as iptables-save prints a DNAT target ([IPv6]:PORT)
ipt_hostport() {
	if [ "$IPT_FAM" = 6 ]; then echo "[$(ipt_ip "$1")]:$2"; else echo "$1:$2"; fi
}
# ipt_host IP: IP/32 or its twin/128, as iptables-save prints a host
ipt_host() {
	if [ "$IPT_FAM" = 6 ]; then echo "$(ipt_ip "$1")/128"; else echo "$1/32"; fi
}

IPT_M=$SY_TMP/manifests
mkdir -p "$IPT_M"
IPT_PID=
IPT_LOG=
IPT_EP_NS=()
IPT_NODEPORT=

# ipt_lab NEPS: build the namespaces (in IPv6 too with IPT_FAM=6)
ipt_lab() {
	local n=$1 k
	ipt_lab_base "$IPT_FAM"
	for k in 3 4 5 6 7 8 9; do ip -n "$CLIENT" addr add 192.168.50.$k/24 dev eth0; done
	ip -n "$NODE" route add 10.96.0.0/16 dev eth-c
	ip -n "$NODE" route add 192.168.60.0/24 dev eth-c
	if [ "$IPT_FAM" = 6 ]; then
		# ::2 the client's source address, as .2 in IPv4 (the others deprecated:
		# used only when a test binds them)
		for k in 3 4 5 6 7 8 9; do
			ip -n "$CLIENT" addr add fd00:50::$k/64 dev eth0 nodad preferred_lft 0
		done
	fi
	for k in $(seq 1 "$n"); do ipt_lab_ep "$k" "$IPT_FAM"; done
	# unserved IPv6 Service addresses are forwarded (to meet the filter
	# rules) out of eth-1, not back out of eth-c: IPv6 has no send_redirects
	if [ "$IPT_FAM" = 6 ]; then
		ip -n "$NODE" -6 route add fd00:96::/64 dev eth-1
		ip -n "$NODE" -6 route add fd00:60::/64 dev eth-1
	fi
}

# ipt_lab_base FAM: the node ($NODE, forwarding) and the client ($CLIENT):
#   eth-c 192.168.50.1/24 -- client 192.168.50.2/24, its default route via .1;
# FAM 6: IPv6 as well (the IPv4 addresses stay), no DAD:
#   eth-c fd00:50::1/64 -- client fd00:50::2/64, its default route via ::1
ipt_lab_base() {
	sy_mkns NODE node
	sy_mkns CLIENT client
	ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1
	# unserved ClusterIPs are routed back out of eth-c; an ICMP redirect
	# would use up the per-host ICMP budget before REJECT's answer
	ip netns exec "$NODE" sysctl -qw net.ipv4.conf.all.send_redirects=0
	ip netns exec "$NODE" sysctl -qw net.ipv4.conf.default.send_redirects=0
	# many REJECTs in a row: no ICMP rate limit
	ip netns exec "$NODE" sysctl -qw net.ipv4.icmp_ratelimit=0
	if [ "$1" = 6 ]; then
		ipt_nodad "$NODE"
		ipt_nodad "$CLIENT"
		ip netns exec "$NODE" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.icmp.ratelimit=0
	fi
	sy_veth "$NODE" eth-c 192.168.50.1/24 "$CLIENT" eth0 192.168.50.2/24
	ip -n "$CLIENT" route add default via 192.168.50.1
	ip netns exec "$NODE" sysctl -qw net.ipv4.conf.eth-c.send_redirects=0
	[ "$1" = 6 ] || return 0
	ip -n "$NODE" addr add fd00:50::1/64 dev eth-c nodad
	ip -n "$CLIENT" addr add fd00:50::2/64 dev eth0 nodad
	ip -n "$CLIENT" -6 route add default via fd00:50::1
}

# ipt_lab_ep K FAM: endpoint namespace epK (${IPT_EP_NS[K]}) on the node's
# eth-K: 10.244.K.2/24 (FAM 6: and fd00:244:K::2/64), default routes via .1 / ::1
ipt_lab_ep() {
	local k=$1 epns
	sy_mkns epns "ep$k"
	IPT_EP_NS[$k]=$epns
	[ "$2" = 6 ] && ipt_nodad "$epns"
	sy_veth "$NODE" "eth-$k" "10.244.$k.1/24" "$epns" eth0 "10.244.$k.2/24"
	ip -n "$epns" route add default via "10.244.$k.1"
	[ "$2" = 6 ] || return 0
	ip -n "$NODE" addr add "fd00:244:$k::1/64" dev "eth-$k" nodad
	ip -n "$epns" addr add "fd00:244:$k::2/64" dev eth0 nodad
	ip -n "$epns" -6 route add default via "fd00:244:$k::1"
}

# ipt_nodad NS: no duplicate address detection (addresses usable at once)
ipt_nodad() {
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# ipt_node_yaml [IP...]: the Node object node1 with these InternalIPs (each
# through ipt_ip; 192.168.50.1 when none given), on stdout
ipt_node_yaml() {
	local a
	[ $# -gt 0 ] || set -- 192.168.50.1
	printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: node1\nstatus:\n  addresses:\n'
	for a in "$@"; do printf '    - {type: InternalIP, address: "%s"}\n' "$(ipt_ip "$a")"; done
}
# ipt_node_manifest: the Node object for node1 in the manifest directory
ipt_node_manifest() { ipt_node_yaml >"$IPT_M/node.yaml"; }

# ipt_run FLAGS...: run the daemon in the node namespace (mode: $IPT_MODE,
# default iptables) with FLAGS; wait for its first sync ($IPT_LOG, $IPT_PID)
ipt_run() {
	IPT_LOG=$SY_TMP/switchyard.$RANDOM.log
	sy_bg "$NODE" "$IPT_LOG" "$SWITCHYARD" --proxy-mode="${IPT_MODE:-iptables}" "$@"
	IPT_PID=$SY_LAST_PID
	sy_wait 30 grep -q "First sync complete" "$IPT_LOG" || {
		cat "$IPT_LOG" >&2
		sy_fail "switchyard did not complete its first sync"
	}
}
# ipt_start [EXTRA FLAGS...]: ipt_run with the lab's manifests, addresses and CIDRs
ipt_start() {
	ipt_run --manifests "$IPT_M" --hostname-override node1 --cluster-cidr "$(ipt_cidrs)" \
		--metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256 \
		--min-sync-period 0s -v 2 "$@"
}

# ipt_cidrs: the --cluster-cidr value (both families' with IPT_FAM=6)
ipt_cidrs() {
	if [ "$IPT_FAM" = 6 ]; then echo 10.244.0.0/16,fd00:244::/32; else echo 10.244.0.0/16; fi
}

ipt_stop() {
	[ -n "$IPT_PID" ] || return 0
	kill "$IPT_PID" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$IPT_PID" 2>/dev/null || break; sleep 0.1; done
	IPT_PID=
}

# ipt_syncs: number of completed syncs so far
ipt_syncs() { grep -c "SyncProxyRules complete" "$IPT_LOG"; }
# ipt_wait_sync: wait for one more sync than now
ipt_wait_sync() {
	local n
	n=$(ipt_syncs)
	sy_wait "${1:-30}" test "$(ipt_syncs)" -gt "$n"
}

# ipt_servers K PROTO PORT: echo servers named epK in endpoint ns K
ipt_server() {
	if [ "$IPT_FAM" = 6 ]; then
		sy_bg "${IPT_EP_NS[$1]}" "$SY_TMP/echo-ep$1-$2-$3.log" "$PY" \
			"$SY_SRC/tests/lib/echo_server.py" --proto "$2" --port "$3" --name "ep$1" --bind ::
	else
		sy_echo_server "${IPT_EP_NS[$1]}" "$2" "$3" "ep$1"
	fi
}

# ipt_save [TABLE]: the node's table without counters and comments
ipt_save() {
	ip netns exec "$NODE" $IPT-save ${1:+-t "$1"} | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'
}

# ipt_ask_many NS PROTO IP PORT COUNT [SRC] → names, one per line (TIMEOUT
# after IPT_ASK_TIMEOUT s, 3 by default: one SYN retransmit and a slow
# server on a loaded machine fit in, a dropped connection is still TIMEOUT)
ipt_ask_many() {
	local src=""
	[ -z "${6:-}" ] || src=$(ipt_ip "$6")
	ip netns exec "$1" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto "$2" --host "$(ipt_ip "$3")" \
		--port "$4" --count "$5" ${src:+--src "$src"} --timeout "${IPT_ASK_TIMEOUT:-3}" 2>/dev/null
}

# ipt_pod_masq "WHEN" CLUSTER_IP PORT [EXT_IP PORT ...]: a pod (epP, P =
# $IPT_POD or 1: 10.244.P.2, inside the cluster CIDR) asks 30 times each;
# the sources the other endpoints saw must be, through the ClusterIP, the
# pod's own address only (not masqueraded) and, through each external
# address (externalIP, NodePort: externalTrafficPolicy Cluster, which
# kube-proxy's external chain marks unconditionally), never the pod's
# (masqueraded).  The addresses go through ipt_ip; the pod's address is in
# the ClusterIP's family (fd00:244:P::2 for an IPv6 one, also in a
# dual-stack test run with IPT_FAM=4).  The pod's answers from itself
# (hairpin) are not counted; in iptables mode the pod must not be a remote
# (nodeName not node1) endpoint of the Service: those have no hairpin mark.
# WHEN ends the failure messages ("" or e.g. " after the restart").
# K IP PORT: the sources the endpoints other than epK saw from epK, sorted,
# space-ended (v4-mapped peers of a server bound to [::] as IPv4 addresses)
ipt_pod_src() {
	ipt_ask_many "${IPT_EP_NS[$1]}" tcp "$2" "$3" 30 | grep '^ep[0-9]* ' | grep -v "^ep$1 " | cut -d' ' -f2 |
		sed 's/^::ffff://' | sort -u | tr '\n' ' '
}
ipt_pod_masq() {
	local when=$1 k=${IPT_POD:-1} pod got
	pod=10.244.$k.2
	case $(ipt_ip "$2") in *:*) pod=fd00:244:$k::2 ;; esac
	shift
	got=$(ipt_pod_src "$k" "$1" "$2")
	[ "$got" = "$pod " ] || sy_fail "pod to the ClusterIP$when: endpoints saw '$got' (want the pod's $pod, not masqueraded)"
	shift 2
	while [ $# -ge 2 ]; do
		got=$(ipt_pod_src "$k" "$1" "$2")
		[ -n "$got" ] && ! grep -qwF "$pod" <<<"$got" || sy_fail "pod to $1 $2$when: endpoints saw '$got' (want masqueraded)"
		shift 2
	done
}

# ipt_rejected IP PORT: TCP from the client to IP:PORT is rejected: no
# endpoint answers and every connection is refused.  IPv6: the kernel drops
# an ICMPv6 error that arrives while connect() holds the socket
# (TcpExtLockDroppedIcmps; see iptables-dualstack.sh), so there the proof is
# the client's ICMPv6 unreachable counter (one at least per connection).
ipt_rejected() {
	local got u0 u1
	if [ "$IPT_FAM" = 4 ]; then
		got=$(ipt_ask_many "$CLIENT" tcp "$1" "$2" 5 | cut -d' ' -f1 | sort -u | tr '\n' ' ')
		[ "$got" = "REFUSED " ]
		return
	fi
	u0=$(ipt_unreach6)
	got=$(ipt_ask_many "$CLIENT" tcp "$1" "$2" 5)
	u1=$(ipt_unreach6)
	! grep -q '^ep' <<<"$got" && [ $((u1 - u0)) -ge 5 ]
}
ipt_unreach6() {
	ip netns exec "$CLIENT" nstat -az Icmp6InDestUnreachs | awk '/Icmp6InDestUnreachs/ {print $2}'
}

# ipt_chisq COUNTS...: "statistic p-value" of a chi-square test against a
# uniform split (p: the chance of a split this uneven or worse when the
# choice is uniform)
ipt_chisq() {
	"$PY" - "$@" <<'EOF'
import math, sys
c = [int(x) for x in sys.argv[1:]]
e = sum(c) / len(c)
x = sum((v - e) ** 2 / e for v in c)
s = (len(c) - 1) / 2.0
# upper regularized incomplete gamma Q(s, x/2), from the lower one's series
term = tot = 1.0 / s
n = 1
while term > 1e-15 * tot:
    term *= (x / 2) / (s + n)
    tot += term
    n += 1
p = 1.0 - math.exp(s * math.log(x / 2) - x / 2 - math.lgamma(s)) * tot if x > 0 else 1.0
print("%.2f %.2g" % (x, max(p, 0.0)))
EOF
}
# ipt_uniform COUNTS...: prints "chi2=X p=P"; fails when the split is not
# uniform at p < 1e-4 (a uniform choice fails about 1 run in 10,000)
ipt_uniform() {
	local r
	r=$(ipt_chisq "$@")
	echo "chi2=${r% *} p=${r#* }"
	awk -v p="${r#* }" 'BEGIN { exit !(p >= 1e-4) }'
}

# ipt_svc NAME IP PORT TARGETPORT PROTO [extra spec yaml lines...] → Service yaml
ipt_svc() {
	local name=$1 ip port=$3 tport=$4 proto=$5 fam=""
	ip=$(ipt_ip "$2")
	shift 5
	[ "$IPT_FAM" = 6 ] && fam=$'\n  clusterIPs: ["'"$ip"$'"]\n  ipFamilies: [IPv6]'
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: default}
spec:
  clusterIP: "$ip"$fam
  ports:
    - {name: p, protocol: $proto, port: $port, targetPort: $tport$IPT_NODEPORT}
EOF
	local l
	for l in "$@"; do printf '  %s\n' "$l"; done
}

# ipt_slice SVC PROTO PORT "ip:node:ready" ... → EndpointSlice yaml
ipt_slice() {
	local svc=$1 proto=$2 port=$3 e
	shift 3
	cat <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $svc-x
  namespace: default
  labels: {kubernetes.io/service-name: $svc}
addressType: IPv$IPT_FAM
ports:
  - {name: p, protocol: $proto, port: $port}
endpoints:
EOF
	for e in "$@"; do
		IFS=: read -r ip node ready term <<<"$e"
		echo "  - addresses: [\"$(ipt_ip "$ip")\"]"
		echo "    conditions: {ready: ${ready:-true}, serving: true, terminating: ${term:-false}}"
		echo "    nodeName: ${node:-node2}"
	done
}

# ipt_write FILE: write stdin atomically into the manifest directory
ipt_write() {
	cat >"$IPT_M/.$1.tmp" && mv "$IPT_M/.$1.tmp" "$IPT_M/$1"
}

# ipt_web_manifest: the basic tests' Service "web" (NodePort, externalIP;
# TCP, UDP and SCTP ports) and its slice of three endpoints, on stdout
ipt_web_manifest() {
	cat <<'EOF2'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.80
  externalIPs: [192.168.60.10]
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30080}
    - {name: dns, protocol: UDP, port: 53, targetPort: 5353, nodePort: 30053}
    - {name: sctp, protocol: SCTP, port: 99, targetPort: 9999}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports:
  - {name: http, protocol: TCP, port: 8080}
  - {name: dns, protocol: UDP, port: 5353}
  - {name: sctp, protocol: SCTP, port: 9999}
endpoints:
  - {addresses: [10.244.1.2], conditions: {ready: true}, nodeName: node2}
  - {addresses: [10.244.2.2], conditions: {ready: true}, nodeName: node2}
  - {addresses: [10.244.3.2], conditions: {ready: true}, nodeName: node1}
EOF2
}
