#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stale UDP conntrack cleanup in the IPVS mode (issue 5: "works in both
# modes").  This host has no IPVS, so the file boots the test VM
# (tests/vm/lib.sh: Debian's stock kernel, host / over 9p, -nic none) and
# runs itself inside it (SY_IN_VM=1), with the topology of tests/vm/guest:
# a client, the node running `switchyard --proxy-mode=ipvs`, pods p1, p2.
# UDP clients with fixed source ports talk to a ClusterIP and a NodePort
# (answered by p1); p1 is replaced by p2 in the manifest; after one sync
# the next datagram of each flow must reach p2, `conntrack -L` must show
# no entry answered by p1 for the Service, and another Service's flow to
# p1 must keep its entry (same id).  IPVS itself (kernel >= 5.9,
# expire_nodest_conn=1) drops the conntrack entries of the connections to
# a deleted real server, so the cleanup usually finds those gone; what only
# the cleanup handles is a flow IPVS never saw: an entry cached before the
# rules existed for a Service that had no endpoints and gets one (made with
# conntrack -I for the client's exact 5-tuple, as in conntrack-udp-failover).
# The same over IPv6 at once (dual-stack Services, `conntrack -L -f ipv6`).
# Exit 77 when the VM cannot be prepared.
set -u
if [ "${SY_IN_VM:-}" != 1 ]; then
	SY_SRC=${SY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
	SY_BUILD=${SY_BUILD:-$SY_SRC/build}
	SWITCHYARD=${SWITCHYARD:-$SY_BUILD/switchyard}
	. "$SY_SRC/tests/vm/lib.sh"
	[ -x "$SWITCHYARD" ] || { echo "SKIP: $SWITCHYARD not built"; exit 77; }
	[ -x "$SY_BUILD/tests/lib/sy-echo" ] || { echo "SKIP: $SY_BUILD/tests/lib/sy-echo not built"; exit 77; }
	vm_prepare || { echo "SKIP: cannot prepare the VM"; exit 77; }
	vm_run tests/e2e/conntrack-ipvs.sh
	exit $?
fi

# ---- inside the VM ----
# Both families at once: the Services are dual stack (tests/vm/guest/lib.sh
# vm_svc with CIP6), each flow is asked over IPv4 and over IPv6 (the IPv6
# IPVS instance, `conntrack -L -f ipv6`).
. "$SY_SRC/tests/lib/common.sh"
. "$SY_SRC/tests/vm/guest/lib.sh"
NP=30053 EP1=${POD_IPS[0]} EP2=${POD_IPS[1]}
vm_topology
vm_topology6
# the C echo server (tests/lib/sy-echo): under emulation each Python start costs seconds
vm_echo_server "$P1" udp 5353 p1
vm_echo_server "$P2" udp 5353 p2
CIP6=fd00:96::10 vm_svc "$M/dns.yaml" dns 10.96.0.10 "dns:53:5353:UDP:$NP" "$EP1" "  type: NodePort"
CIP6=fd00:96::11 vm_svc "$M/other.yaml" other 10.96.0.11 "dns:53:5353:UDP" "$EP1"
CIP6=fd00:96::20 vm_svc "$M/empty.yaml" empty 10.96.0.20 "dns:53:5353:UDP" ""
# no periodic full sync during the test: the deletions must be a partial
# sync's (a loaded run that reached the 30 s full sync hid the 6.1 kernel's
# inverted IPv6 dump filter, doc/conntrack.md)
vm_daemon --sync-period 1h || { notok "daemon starts and syncs"; vm_checks_done; }
ok "daemon starts and syncs (ipvs mode)"

# fam 4|6: the addresses of one family
fam() {
	if [ "$1" = 4 ]; then
		VIP=10.96.0.10 VIP_OTHER=10.96.0.11 VIP_EMPTY=10.96.0.20 NIP=$NODE_IP CIP=$CLIENT_IP
		F1=$EP1 CTF=ipv4
	else
		VIP=fd00:96::10 VIP_OTHER=fd00:96::11 VIP_EMPTY=fd00:96::20 NIP=$NODE6 CIP=$CLIENT6
		F1=$(vm_ip6 "$EP1") CTF=ipv6
	fi
}
ask() { # host port sport → first word of the answer (the C client: no Python start per ask)
	echo "x udp $1 $2 1 $3" | ip netns exec "$CLIENT" "$SY_ECHO" ask 2000 | cut -d' ' -f2
}
# change_synced N: a sync after the first N that took a change (not a periodic one that came first)
change_synced() {
	sy_wait 40 bash -c "grep 'SyncProxyRules complete' '$DLOG' | tail -n +$(($1 + 1)) | grep -q ' changed=[1-9]'"
}
first() { # want host port sport: poll until the flow answers want (the pods' servers start)
	for _ in $(seq 50); do [ "$(ask "$2" "$3" "$4")" = "$1" ] && return 0; sleep 0.2; done
	return 1
}
ctl() { ip netns exec "$NODE" conntrack -L -f "$CTF" "$@" 2>/dev/null; }
ctid() { ctl -o id "$@" | sed -n 's/.*id=\([0-9]*\).*/\1/p' | head -1; }

declare -A ID_OTHER
for f in 4 6; do
	fam $f
	check "IPv$f ClusterIP flow (sport 40001) reaches p1" first p1 $VIP 53 40001
	check "IPv$f NodePort flow (sport 40002) reaches p1" first p1 $NIP $NP 40002
	check "IPv$f other Service flow (sport 40003) reaches p1" first p1 $VIP_OTHER 53 40003
	ctl -p udp | sed 's/^/#   /'
	check "IPv$f conntrack: ClusterIP entry answered by p1" \
		bash -c "ip netns exec $NODE conntrack -L -f $CTF -p udp --orig-dst $VIP --orig-port-src 40001 2>/dev/null | grep -q 'src=$F1 '"
	ID_OTHER[$f]=$(ctid -p udp --orig-dst $VIP_OTHER --orig-port-src 40003)
	ip netns exec "$NODE" conntrack -I -p udp -s $CIP -d $VIP_EMPTY --sport 40004 --dport 53 \
		-r $VIP_EMPTY -q $CIP --reply-port-src 53 --reply-port-dst 40004 -t 120 2>/dev/null
	check "IPv$f conntrack: the cached entry of a flow to the Service without endpoints (sport 40004)" \
		bash -c "ip netns exec $NODE conntrack -L -f $CTF -p udp --orig-port-src 40004 2>/dev/null | grep -q 'dst=$VIP_EMPTY .*src=$VIP_EMPTY '"
	r4=$(ask $VIP_EMPTY 53 40004)
	check "IPv$f Service without endpoints: flow refused or dropped (got '$r4')" [ "$r4" != p1 ] && [ "$r4" != p2 ]
done

n=$(vm_syncs)
CIP6=fd00:96::10 vm_svc "$M/dns.yaml" dns 10.96.0.10 "dns:53:5353:UDP:$NP" "$EP2" "  type: NodePort"
change_synced "$n" || notok "a sync after the endpoint change"
declare -A R1 R2 R3 R4
for f in 4 6; do
	fam $f
	R1[$f]=$(ask $VIP 53 40001) R2[$f]=$(ask $NIP $NP 40002) R3[$f]=$(ask $VIP_OTHER 53 40003)
done
n=$(vm_syncs)
CIP6=fd00:96::20 vm_svc "$M/empty.yaml" empty 10.96.0.20 "dns:53:5353:UDP" "$EP2"
change_synced "$n" || notok "a sync after the empty Service got an endpoint"
for f in 4 6; do
	fam $f
	R4[$f]=$(ask $VIP_EMPTY 53 40004)
done
grep "Conntrack cleanup\|Stale conntrack" "$DLOG" | sed 's/^/#   /'
for f in 4 6; do
	fam $f
	echo "# IPv$f after one sync: ClusterIP→${R1[$f]} NodePort→${R2[$f]} formerly-empty→${R4[$f]} other→${R3[$f]}"
	ctl -p udp | sed 's/^/#   /'
	check "IPv$f ClusterIP flow reaches p2 right after the sync" [ "${R1[$f]}" = p2 ]
	check "IPv$f NodePort flow reaches p2 right after the sync" [ "${R2[$f]}" = p2 ]
	check "IPv$f formerly empty Service: the cached flow reaches p2 right after the sync" [ "${R4[$f]}" = p2 ]
	check "IPv$f other Service flow still reaches p1" [ "${R3[$f]}" = p1 ]
	check "IPv$f conntrack: no ClusterIP entry answered by p1 left" \
		bash -c "! ip netns exec $NODE conntrack -L -f $CTF -p udp --orig-dst $VIP 2>/dev/null | grep -q 'src=$F1 '"
	# (IPVS alone lets this IPv6 flow through too: the cleanup's deletion
	# is what shows the IPv6 entries are cleaned)
	check "IPv$f the cleanup deleted the cached entry answered by the Service address" \
		grep -Eq "Stale conntrack entry: IPv$f UDP .*40004 -> \[?$VIP_EMPTY\]?:53 answered by \[?$VIP_EMPTY\]?:53" "$DLOG"
	check "IPv$f conntrack: the other Service's entry untouched (same id)" \
		[ -n "${ID_OTHER[$f]}" ] && [ "$(ctid -p udp --orig-dst $VIP_OTHER --orig-port-src 40003)" = "${ID_OTHER[$f]}" ]
done
check "the cleanup logged its deletions" grep -q "Conntrack cleanup: deleted [1-9]" "$DLOG"
check "only the first sync's cleanup was a full one (the deletions were partial syncs')" \
	[ "$(grep -c 'Conntrack cleanup: .*full=true' "$DLOG")" = 1 ]
vm_checks_done
