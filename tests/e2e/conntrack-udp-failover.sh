#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stale UDP conntrack cleanup (issue 5), with real traffic through a node
# namespace running the daemon:
#  - UDP clients with fixed source ports keep talking to a ClusterIP and to
#    a NodePort; the Service's endpoint is replaced in the manifest dir; the
#    very next datagram after one sync reaches the new endpoint (not after
#    the conntrack timeout);
#  - a Service without endpoints gets one: the flow that was refused
#    reaches it right after the sync;
#  - `conntrack -L` shows the stale entries gone and the others untouched
#    (same conntrack id): a TCP connection to the old endpoint, another
#    Service's UDP flow, and a control flow through a hand-made DNAT whose
#    target changed too (it keeps going to the old endpoint: what every
#    Service flow would do without the cleanup).
# Mode: the iptables mode when it is built, else --proxy-mode=none with the
# same DNAT rules written by the test (SY_CT_MODE=iptables|nftables|none forces
# it; tests/e2e/nftables-conntrack.sh runs it with the nftables mode).
# CT_FAM=6 runs it all in IPv6 (conntrack-udp-failover-ipv6.sh,
# nftables-conntrack-ipv6.sh): IPv6-only Services, ip6tables for the
# control DNAT, `conntrack -L -f ipv6`.
. "$(dirname "$0")/../lib/common.sh"
[ "$(id -u)" = 0 ] || sy_skip "needs root"

CT_FAM=${CT_FAM:-4}
if [ "$CT_FAM" = 6 ]; then
	VIP=fd00:96::10 VIP_OTHER=fd00:96::11 VIP_EMPTY=fd00:96::12 VIP_CONTROL=fd00:99::1
	NODE_IP=fd00:1::1 CLIENT_IP=fd00:1::2 EP1=fd00:2::2 EP2=fd00:3::2 NP=30053
	PLEN=64 GW1=fd00:2::1 GW2=fd00:3::1 SVC_NET=fd00:96::/64
	IPT=ip6tables-legacy CTF="-f ipv6" AF=AF_INET6 BIND=::
else
	VIP=10.96.0.10 VIP_OTHER=10.96.0.11 VIP_EMPTY=10.96.0.12 VIP_CONTROL=10.99.0.1
	NODE_IP=10.0.1.1 CLIENT_IP=10.0.1.2 EP1=10.0.2.2 EP2=10.0.3.2 NP=30053
	PLEN=24 GW1=10.0.2.1 GW2=10.0.3.1 SVC_NET=10.96.0.0/12
	IPT=iptables-legacy CTF="" AF=AF_INET BIND=0.0.0.0
fi
# hp IP PORT: a DNAT target as iptables takes it ([IPv6]:PORT)
hp() { case $1 in *:*) echo "[$1]:$2" ;; *) echo "$1:$2" ;; esac; }

sy_mkns C client
sy_mkns N node
sy_mkns E1 ep1
sy_mkns E2 ep2
if [ "$CT_FAM" = 6 ]; then
	for ns in "$C" "$N" "$E1" "$E2"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done
	ip netns exec "$N" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.icmp.ratelimit=0
fi
sy_veth "$C" eth0 $CLIENT_IP/$PLEN "$N" ethc $NODE_IP/$PLEN
sy_veth "$E1" eth0 $EP1/$PLEN "$N" eth1 $GW1/$PLEN
sy_veth "$E2" eth0 $EP2/$PLEN "$N" eth2 $GW2/$PLEN
ip -n "$C" route add default via $NODE_IP
ip -n "$E1" route add default via $GW1
ip -n "$E2" route add default via $GW2
ip netns exec "$N" sysctl -qw net.ipv4.ip_forward=1
# the node routes Service addresses somewhere, as a real node's default route does (here: the
# ep2 namespace, which does not forward; not back out of the client's interface, whose ICMP
# redirect would eat the REJECT's rate-limit token)
ip -n "$N" route add $SVC_NET via $EP2

for p in udp tcp; do
	sy_bg "$E1" "$SY_TMP/ep1-$p.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --proto $p --port 5353 \
		--name ep1 --bind $BIND
	sy_bg "$E2" "$SY_TMP/ep2-$p.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --proto $p --port 5353 \
		--name ep2 --bind $BIND
done

M=$SY_TMP/manifests
mkdir -p "$M"
svc() { # name ip [nodeport]
	local type=ClusterIP
	[ -z "${3:-}" ] || type=NodePort
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: t}
spec:
  clusterIP: "$2"
  clusterIPs: ["$2"]
  ipFamilies: [IPv$CT_FAM]
  type: $type
  ports:
  - {name: dns, protocol: UDP, port: 53, targetPort: 5353${3:+, nodePort: $3}}
  - {name: dns-tcp, protocol: TCP, port: 53, targetPort: 5353}
---
EOF
}
slice() { # service endpoint-ips...
	local s=$1
	shift
	printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv%s\n' "$CT_FAM"
	printf 'metadata: {name: %s-1, namespace: t, labels: {kubernetes.io/service-name: %s}}\n' "$s" "$s"
	printf 'ports:\n- {name: dns, protocol: UDP, port: 5353}\n- {name: dns-tcp, protocol: TCP, port: 5353}\n'
	if [ $# = 0 ]; then printf 'endpoints: []\n'; else printf 'endpoints:\n'; fi
	for ip in "$@"; do printf -- '- addresses: ["%s"]\n  conditions: {ready: true}\n' "$ip"; done
	printf -- '---\n'
}
# writes are atomic (rename) so the daemon never reads half a file
put() { cat >"$M/.$1.tmp" && mv "$M/.$1.tmp" "$M/$1"; }
{
	svc dns $VIP $NP
	svc other $VIP_OTHER
	svc empty $VIP_EMPTY
	printf 'apiVersion: v1\nkind: Node\nmetadata: {name: node1}\nstatus:\n  addresses: [{type: InternalIP, address: "%s"}]\n' $NODE_IP
} | put services.yaml
{ slice dns $EP1; slice other $EP1; slice empty; } | put slices.yaml

# the control: a plain DNAT that is no Service (the daemon must not touch its flows)
ipt() { ip netns exec "$N" $IPT -w "$@"; }
ipt -t nat -N SYCT-CONTROL
ipt -t nat -A PREROUTING -j SYCT-CONTROL
ipt -t nat -A SYCT-CONTROL -d $VIP_CONTROL -p udp --dport 53 -j DNAT --to-destination "$(hp $EP1 5353)"

MODE=${SY_CT_MODE:-auto}
LOG=$SY_TMP/daemon.log
start_daemon() {
	sy_bg "$N" "$LOG" "$SWITCHYARD" --proxy-mode="$1" --manifests "$M" --hostname-override node1 \
		--healthz-bind-address= --metrics-bind-address=127.0.0.1:10249 -v 2
	DPID=$SY_LAST_PID
	sy_wait 30 grep -q "First sync complete\|Cannot use the" "$LOG"
}
if [ "$MODE" != none ]; then
	want=iptables
	[ "$MODE" = nftables ] && want=nftables
	start_daemon $want
	if grep -q "Cannot use the $want proxy mode" "$LOG"; then
		[ "$MODE" = $want ] && sy_fail "$want mode unavailable: $(cat "$LOG")"
		sy_log "the $want mode is not usable: --proxy-mode=none with hand-made DNAT rules"
		MODE=none
	else
		MODE=$want
	fi
fi
# What the iptables mode would program, for --proxy-mode=none (services + endpoints).
hand_rules() { # dns-endpoint empty-endpoint|-
	ipt -t nat -F SYCT-SVC
	ipt -t nat -A SYCT-SVC -d $VIP -p udp --dport 53 -j DNAT --to-destination "$(hp "$1" 5353)"
	ipt -t nat -A SYCT-SVC -d $VIP -p tcp --dport 53 -j DNAT --to-destination "$(hp "$1" 5353)"
	ipt -t nat -A SYCT-SVC -d $NODE_IP -p udp --dport $NP -j DNAT --to-destination "$(hp "$1" 5353)"
	ipt -t nat -A SYCT-SVC -d $VIP_OTHER -p udp --dport 53 -j DNAT --to-destination "$(hp $EP1 5353)"
	ipt -F SYCT-REJECT
	if [ "$2" != - ]; then
		ipt -t nat -A SYCT-SVC -d $VIP_EMPTY -p udp --dport 53 -j DNAT --to-destination "$(hp "$2" 5353)"
	else
		ipt -A SYCT-REJECT -d $VIP_EMPTY -p udp --dport 53 -j REJECT
	fi
}
if [ $MODE = none ]; then
	ipt -t nat -N SYCT-SVC
	ipt -t nat -A PREROUTING -j SYCT-SVC
	ipt -N SYCT-REJECT
	ipt -A FORWARD -m conntrack --ctstate NEW -j SYCT-REJECT
	hand_rules $EP1 -
	start_daemon none
fi
sy_log "mode: $MODE"
grep -q "First sync complete" "$LOG" || sy_fail "no first sync: $(cat "$LOG")"
# A Service without endpoints REJECTs; a REJECTed packet's entry is never confirmed, so the
# entry that strands such a flow is one made before the rules existed (a daemon restart, a
# Service created after its clients started): made here with conntrack -I for the very
# 5-tuple the client uses.  Unreplied, it still REJECTs (ctstate NEW); once the Service has
# an endpoint, its packets skip the new DNAT and vanish, unless the entry is deleted.
ip netns exec "$N" conntrack -I -p udp -s $CLIENT_IP -d $VIP_EMPTY --sport 40004 --dport 53 \
	-r $VIP_EMPTY -q $CLIENT_IP --reply-port-src 53 --reply-port-dst 40004 -t 120 2>/dev/null ||
	sy_fail "conntrack -I"

ask() { sy_ask "$C" udp "$1" "$2" "$3" | cut -d' ' -f1; }
# sport → what answered
sy_wait 30 sh -c "[ \"\$(ip netns exec $C $PY $SY_SRC/tests/lib/echo_client.py --proto udp --host $VIP --port 53 --sport 40001 2>/dev/null | cut -d' ' -f1)\" = ep1 ]" ||
	sy_fail "ClusterIP flow never reached ep1 ($MODE mode): $(tail -5 "$LOG")"
[ "$(ask $NODE_IP $NP 40002)" = ep1 ] || sy_fail "NodePort flow does not reach ep1"
[ "$(ask $VIP_OTHER 53 40003)" = ep1 ] || sy_fail "other Service flow does not reach ep1"
[ "$(ask $VIP_CONTROL 53 40005)" = ep1 ] || sy_fail "control flow does not reach ep1"
r=$(ask $VIP_EMPTY 53 40004)
[ "$r" = REFUSED ] || sy_fail "Service without endpoints: expected REFUSED, got '$r': $(ip netns exec "$N" $IPT-save | grep -v -e "^#" -e "^:"; ip netns exec "$N" conntrack -L $CTF -p udp 2>&1)"
# a TCP connection held open to ep1 through the ClusterIP
sy_bg "$C" "$SY_TMP/tcp.log" $PY -c "
import socket, time
s = socket.create_connection(('$VIP', 53)); print(s.recv(100).decode().strip(), flush=True); time.sleep(120)"
sy_wait 20 grep -q ep1 "$SY_TMP/tcp.log" || sy_fail "TCP connection to ep1 failed"
# a client that keeps sending (every 0.1 s, one socket, fixed source port 40011): its entry
# never times out, so only the cleanup can move it; logs "<time> <answer>" per datagram
# (an answer may take long on a loaded machine: 2 s; a lost datagram is never answered)
sy_bg "$C" "$SY_TMP/stream.log" $PY -c "
import socket, time
s = socket.socket(socket.$AF, socket.SOCK_DGRAM)
s.bind(('', 40011)); s.connect(('$VIP', 53)); s.settimeout(2)
while True:
    t = time.time()
    try:
        s.send(b'hi\n'); a = s.recv(100).decode().split()[0]
    except socket.timeout:
        a = 'TIMEOUT'
    except OSError as e:
        a = 'ERROR%d' % e.errno
    print('%.3f %s' % (t, a), flush=True)
    time.sleep(max(0, 0.1 - (time.time() - t)))"
sy_wait 20 grep -q " ep1" "$SY_TMP/stream.log" || sy_fail "streaming client does not reach ep1"

ctl() { ip netns exec "$N" conntrack -L $CTF "$@" 2>/dev/null; }
# id of the entry matching the filter args (conntrack -o id prints id=N)
ctid() { ctl -o id "$@" | sed -n 's/.*id=\([0-9]*\).*/\1/p' | head -1; }
ID_TCP=$(ctid -p tcp --orig-dst $VIP)
ID_OTHER=$(ctid -p udp --orig-dst $VIP_OTHER --orig-port-src 40003)
ID_CONTROL=$(ctid -p udp --orig-dst $VIP_CONTROL --orig-port-src 40005)
[ -n "$ID_TCP" ] && [ -n "$ID_OTHER" ] && [ -n "$ID_CONTROL" ] || sy_fail "missing entries: $(ctl)"
ctl -p udp --orig-dst $VIP --orig-port-src 40001 | grep -q "src=$EP1 " || sy_fail "no ClusterIP entry to ep1"
ctl -p udp --orig-port-dst $NP --orig-port-src 40002 | grep -q "src=$EP1 " || sy_fail "no NodePort entry to ep1"
ctl -p udp --orig-dst $VIP_EMPTY --orig-port-src 40004 | grep -q "src=$VIP_EMPTY " ||
	sy_fail "no cached entry for the refused flow: $(ctl -p udp)"

# --- the change: ep1 replaced by ep2; the empty Service gets ep2 ---
# a sync of the change (changed > 0): not a periodic full sync that came first
syncs=$(grep -c "SyncProxyRules complete" "$LOG")
[ $MODE = none ] && hand_rules $EP2 $EP2
ipt -t nat -R SYCT-CONTROL 1 -d $VIP_CONTROL -p udp --dport 53 -j DNAT --to-destination "$(hp $EP2 5353)"
t0=$(date +%s.%N)
{ slice dns $EP2; slice other $EP1; slice empty $EP2; } | put slices.yaml
sy_wait 20 sh -c "grep 'SyncProxyRules complete' '$LOG' | tail -n +$((syncs + 1)) | grep -q ' changed=[1-9]'" ||
	sy_fail "no sync after the change: $(tail -5 "$LOG")"
# the next datagram of each flow, right after that one sync
r1=$(ask $VIP 53 40001) r2=$(ask $NODE_IP $NP 40002) r4=$(ask $VIP_EMPTY 53 40004)
t1=$(date +%s.%N)
rc=$(ask $VIP_CONTROL 53 40005) ro=$(ask $VIP_OTHER 53 40003)
sy_log "after one sync ($(awk "BEGIN {printf \"%.3f\", $t1 - $t0}") s after the change): ClusterIP→$r1 NodePort→$r2 formerly-empty→$r4 other→$ro control→$rc"
grep "Conntrack cleanup" "$LOG" | tail -2 >&2
[ "$rc" = ep1 ] || sy_fail "control: a changed DNAT should keep its flow on ep1 (got '$rc'): the test cannot see stale entries"
[ "$r1" = ep2 ] || sy_fail "ClusterIP flow still answered by '$r1' after the sync (stale conntrack)"
[ "$r2" = ep2 ] || sy_fail "NodePort flow still answered by '$r2' after the sync (stale conntrack)"
[ "$r4" = ep2 ] || sy_fail "formerly empty Service: flow answered '$r4' after the sync (cached reject)"
[ "$ro" = ep1 ] || sy_fail "other Service flow broken: '$ro'"
# the streaming client: ep1 … ep1 then ep2 … ep2, switched within the sync, nothing lost
# but the datagram in flight at the switch (which blocks the client for its 2 s
# timeout: wait for its first ep2 answer rather than a fixed time)
sy_wait 20 sh -c "awk -v t0=$t0 '\$1 >= t0 && \$2 == \"ep2\"' '$SY_TMP/stream.log' | grep -q ." || true
sleep 0.3
awk -v t0="$t0" '$1 >= t0' "$SY_TMP/stream.log" >"$SY_TMP/stream.after"
first=$(awk '$2 == "ep2" {print $1; exit}' "$SY_TMP/stream.after")
[ -n "$first" ] || sy_fail "streaming client never reached ep2: $(tail -3 "$SY_TMP/stream.after")"
bad=$(awk -v f="$first" '$1 >= f && $2 != "ep2"' "$SY_TMP/stream.after" | head -3)
[ -z "$bad" ] || sy_fail "streaming client left ep2 again: $bad"
lost=$(awk '$2 != "ep1" && $2 != "ep2"' "$SY_TMP/stream.after" | wc -l)
sy_log "streaming client (a datagram every 0.1 s): first ep2 answer $(awk "BEGIN {printf \"%.3f\", $first - $t0}") s after the manifest change; $lost datagrams unanswered; sent $(wc -l <"$SY_TMP/stream.after") since the change"
# the one datagram that ep1 was answering when its entry was deleted loses its
# answer (no entry to reverse the NAT: kube-proxy's too); a loaded machine's
# slow echo server makes that likelier.  Any other loss is a failure.
other=$(awk '$2 == "ep2" && !f { f = NR } { l[NR] = $2 } END {
	for (i = 1; i <= NR; i++) if (l[i] != "ep1" && l[i] != "ep2" && i != f - 1) n++
	print n + 0 }' "$SY_TMP/stream.after")
[ "$lost" -le 1 ] && [ "$other" = 0 ] ||
	sy_fail "streaming client lost $lost datagrams across the switch ($other not right before the first ep2 answer): $(awk '$2 != "ep1" && $2 != "ep2"' "$SY_TMP/stream.after" | head -3)"

# --- the kernel's view ---
ctl -p udp --orig-dst $VIP | grep -q "src=$EP1 " && sy_fail "stale ClusterIP entry left: $(ctl -p udp --orig-dst $VIP)"
ctl -p udp --orig-port-dst $NP | grep -q "src=$EP1 " && sy_fail "stale NodePort entry left"
ctl -p udp --orig-dst $VIP_EMPTY | grep -q "src=$VIP_EMPTY " && sy_fail "cached reject entry left"
[ "$(ctid -p tcp --orig-dst $VIP)" = "$ID_TCP" ] || sy_fail "the TCP entry was touched: $(ctl -p tcp)"
[ "$(ctid -p udp --orig-dst $VIP_OTHER --orig-port-src 40003)" = "$ID_OTHER" ] ||
	sy_fail "the other Service's entry was touched"
[ "$(ctid -p udp --orig-dst $VIP_CONTROL --orig-port-src 40005)" = "$ID_CONTROL" ] ||
	sy_fail "the control entry was touched"
deleted=$(grep "Conntrack cleanup: deleted" "$LOG" | tail -1 | sed -n 's/.*deleted \([0-9]*\) .*/\1/p')
[ "${deleted:-0}" -ge 3 ] || sy_fail "expected >= 3 deletions logged, got '${deleted:-none}'"
total=$(ip netns exec "$N" curl -s http://127.0.0.1:10249/metrics | sed -n 's/^switchyard_conntrack_deleted_total \([0-9]*\).*/\1/p')
sy_log "switchyard_conntrack_deleted_total=${total:-unavailable}"
[ "${total:-0}" -ge 3 ] || sy_fail "metric switchyard_conntrack_deleted_total='${total:-missing}'"
sy_pass "$MODE mode: stale entries deleted within one sync, others untouched"
