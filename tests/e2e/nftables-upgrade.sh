#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables mode: a restart of a daemon whose table has a previous layout of
# the shared load-balancing chains converts it to this one (16 chains
# lb-group-G over the maps service-ranges-S, S a key's shard: the
# address's last byte, the NodePort's low byte) without dropping
# established connections.  The previous daemon is the real one, built
# once from git into $SY_BUILD/prev-$PREV (the first run takes a minute or
# two for each), for each PREV (default: both):
#   ea60c75  one chain lb-N per shard, N a hash of the port's name
#   6d46f96  three chains per shard (cluster-lb-N, external-lb-N,
#            nodeport-lb-N; the externalIP ranges keyed ip . proto . port)
# Connections through the ClusterIP, the externalIP and the NodePort held
# across the restart keep their endpoint; new ones reach every address, a
# pod is masqueraded to the externalIP and the NodePort and not to the
# ClusterIP; the elements go to lb-group-G of each key's shard, whose map
# holds the key's ranges; the old chains are flushed at once and deleted
# >= 1 s later, the old-layout ranges are gone, the table holds the 16
# global chains and the groups in use, and the next restart writes
# nothing.  IPT_FAM=6 (nftables-upgrade-ipv6.sh): the same over IPv6, the
# table ip6 switchyard.
if [ -z "${PREV:-}" ]; then
	ran=0
	for p in ea60c75 6d46f96; do
		PREV=$p bash "$0"
		r=$?
		[ $r = 0 ] && ran=1
		[ $r = 0 ] || [ $r = 77 ] || exit $r
	done
	[ $ran = 1 ] || exit 77
	exit 0
fi
. "$(dirname "$0")/nftables-lib.sh"
command -v git >/dev/null || sy_skip "git missing"

sy_log "from $PREV"
PREV_BIN=$SY_BUILD/prev-$PREV/build/switchyard
if [ ! -x "$PREV_BIN" ]; then
	git -C "$SY_SRC" cat-file -e "$PREV^{commit}" 2>/dev/null || sy_skip "commit $PREV is not in $SY_SRC's history"
	tmp=$SY_BUILD/prev-$PREV.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	sy_log "building the previous daemon ($PREV) once into $SY_BUILD/prev-$PREV"
	git -C "$SY_SRC" archive "$PREV" | tar -x -C "$tmp" || sy_fail "git archive $PREV"
	(cd "$tmp" && ./autogen.sh >/dev/null 2>&1 && mkdir build && cd build && ../configure -q >/dev/null &&
		make -s -j2 switchyard >/dev/null 2>&1) || sy_fail "building $PREV failed"
	rm -rf "$SY_BUILD/prev-$PREV"
	mv "$tmp" "$SY_BUILD/prev-$PREV"
fi
NEW_BIN=$SWITCHYARD
# the family's table and the lab's addresses in it
NF=ip BIND=() ANY=0.0.0.0
[ "$IPT_FAM" = 6 ] && NF=ip6 BIND=(--bind ::) ANY=::
CIP=$(ipt_ip 10.96.0.80) EIP=$(ipt_ip 192.168.60.10)

ipt_lab 3
for k in 1 2 3; do
	sy_bg "${IPT_EP_NS[$k]}" "$SY_TMP/hold$k.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --port 8080 --name "ep$k" --hold "${BIND[@]}"
done
ipt_node_manifest
{
	IPT_NODEPORT=", nodePort: 30080" ipt_svc web 10.96.0.80 80 8080 TCP "type: NodePort" "externalIPs: [\"$EIP\"]"
	echo ---
	ipt_slice web TCP 8080 10.244.1.2 10.244.2.2 10.244.3.2
	echo ---
	ipt_svc web2 10.96.0.81 80 8080 TCP
	echo ---
	ipt_slice web2 TCP 8080 10.244.1.2 10.244.2.2
} | ipt_write web.yaml

SWITCHYARD=$PREV_BIN ipt_start --sync-period 60s
# the previous layout: its chains, the shard of web's port, its externalIP key
case $PREV in
6d46f96) OLD_RE='\(cluster\|external\|nodeport\)-lb-[0-9]*' OLD_CIP=cluster-lb ;;
*) OLD_RE='lb-[0-9]*' OLD_CIP=lb ;;
esac
old_chains() { nftn -j list chains $NF | grep -o '"name": "'"$OLD_RE"'"' | grep -o '[a-z-]*-[0-9]*' | sort -u; }
if [ "$PREV" = 6d46f96 ]; then
	[ "$(old_chains | grep -c 'cluster-lb')" -ge 1 ] && [ "$(old_chains | grep -c 'external-lb')" -ge 1 ] &&
		[ "$(old_chains | grep -c 'nodeport-lb')" -ge 1 ] || sy_fail "the previous daemon's table has no old layout: $(nftn list chains $NF)"
else
	[ "$(old_chains | wc -l)" -ge 1 ] || sy_fail "the previous daemon's table has no old layout: $(nftn list chains $NF)"
fi
oshard=$(nftn -j list map $NF switchyard service-ips | grep -o '"'"$CIP"'", "tcp", 80\]}, {"goto": {"target": "'"$OLD_CIP"'-[0-9]*"' |
	grep -o '[0-9]*"$' | tr -d '"')
[ -n "$oshard" ] || sy_fail "no ClusterIP element to $OLD_CIP-N: $(nftn list map $NF switchyard service-ips)"
omap=service-ranges-$oshard
n_ranges() { # n_ranges MAP KEY: ranges of the key space KEY (svc_key's integer) in MAP (0: no MAP)
	nftn list map $NF switchyard "$1" >/dev/null 2>&1 || { echo 0; return; }
	nft_map_q $NF "$1" 'len([1 for a, b, v in elems if a >> 32 == off >> 32])' "$2"
}
shard() { "$PY" -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]).packed[-1])' "$1"; }
cs=$(shard "$CIP") es=$(shard "$EIP") ns=$((30080 & 255))
cip_key=$(svc_key "$CIP" 6 80) np_key=$(svc_key "$ANY" 6 30080)
ext_old=$(svc_key "$EIP" 6 80)
ext_new=$("$PY" -c 'import ipaddress, sys
print(int.from_bytes(ipaddress.ip_address(sys.argv[1]).packed + (80).to_bytes(2, "big") + bytes(2) + bytes([6, 0, 0, 0]) + bytes(4), "big"))' "$EIP")
[ "$PREV" = 6d46f96 ] || ext_old=$ext_new
[ "$(n_ranges "$omap" "$ext_old")" = 3 ] || sy_fail "the previous layout's externalIP ranges: $(n_ranges "$omap" "$ext_old")"

# connections held across the restart: ClusterIP, externalIP, NodePort
fd=7
for t in "10.96.0.80 80" "192.168.60.10 80" "192.168.50.1 30080"; do
	set -- $t
	mkfifo "$SY_TMP/in$fd"
	sy_bg "$CLIENT" "$SY_TMP/conn$fd.log" "$PY" "$SY_SRC/tests/lib/held_client.py" "$(ipt_ip "$1")" "$2" "$SY_TMP/in$fd" 60
	eval "exec $fd>\"\$SY_TMP/in$fd\""
	sy_wait 20 grep -q "^greeting ep" "$SY_TMP/conn$fd.log" || sy_fail "no greeting through $t: $(cat "$SY_TMP/conn$fd.log")"
	fd=$((fd + 1))
done
echo_all() { # echo_all WORD: each held connection echoes WORD from its first endpoint
	local fd ep
	for fd in 7 8 9; do
		echo "$1" >&$fd
		ep=$(sed -n 's/^greeting \(ep[0-9]\).*/\1/p' "$SY_TMP/conn$fd.log")
		sy_wait 20 grep -q "^reply $ep $1" "$SY_TMP/conn$fd.log" ||
			sy_fail "held connection $fd ($ep) did not echo '$1': $(cat "$SY_TMP/conn$fd.log")"
	done
}
echo_all one

# the restart with this daemon
ipt_stop
SWITCHYARD=$NEW_BIN ipt_start --sync-period 60s
echo_all two
grep -q "Failed to sync proxy rules\|skipped" "$IPT_LOG" && sy_fail "the conversion failed: $(grep -E 'Failed|skipped' "$IPT_LOG" | head -3)"
svc=$(nftn -j list map $NF switchyard service-ips)
grep -q '"'"$CIP"'", "tcp", 80\]}, {"goto": {"target": "lb-group-'$((cs >> 4))'"' <<<"$svc" &&
	grep -q '"'"$EIP"'", "tcp", 80\]}, {"goto": {"target": "lb-group-'$((es >> 4))'"' <<<"$svc" ||
	sy_fail "service-ips does not go to lb-group-$((cs >> 4)) / lb-group-$((es >> 4)): $svc"
nftn -j list map $NF switchyard service-nodeports | grep -q '"tcp", 30080\]}, {"goto": {"target": "lb-group-'$((ns >> 4))'"' ||
	sy_fail "service-nodeports does not go to lb-group-$((ns >> 4)): $(nftn list map $NF switchyard service-nodeports)"
for t in "10.96.0.80 80" "10.96.0.81 80" "192.168.60.10 80" "192.168.50.1 30080"; do
	out=$(ipt_ask_many "$CLIENT" tcp $t 30)
	[ "$(grep -c '^ep' <<<"$out")" -eq 30 ] || sy_fail "after the conversion $t: $(sort <<<"$out" | uniq -c)"
done
# a pod (ep1): the ClusterIP not masqueraded, the externalIP and NodePort masqueraded
ipt_pod_masq " after the conversion" 10.96.0.80 80 192.168.60.10 80 192.168.50.1 30080
# the old-layout ranges gone (unless the key's shard is the same), the new ones there
[ "$omap" = "service-ranges-$es" ] && [ "$ext_old" = "$ext_new" ] ||
	[ "$(n_ranges "$omap" "$ext_old")" = 0 ] || sy_fail "old-layout externalIP ranges stayed in $omap"
[ "$omap" = "service-ranges-$cs" ] || [ "$(n_ranges "$omap" "$cip_key")" = 0 ] ||
	sy_fail "old-layout ClusterIP ranges stayed in $omap"
[ "$(n_ranges "service-ranges-$cs" "$cip_key")" = 3 ] || sy_fail "no ClusterIP ranges in service-ranges-$cs"
[ "$(n_ranges "service-ranges-$es" "$ext_new")" = 3 ] || sy_fail "no externalIP ranges in service-ranges-$es"
[ "$(n_ranges "service-ranges-$ns" "$np_key")" = 3 ] || sy_fail "no NodePort ranges in service-ranges-$ns"
# the old chains flushed, then deleted
for c in $(old_chains); do
	[ -z "$(nftn list chain $NF switchyard "$c" 2>/dev/null | grep -E 'dnat|jump')" ] || sy_fail "old chain $c not flushed: $(nftn list chain $NF switchyard "$c")"
done
no_old() { [ -z "$(old_chains)" ]; }
sy_wait 10 no_old || sy_fail "stale chains of the old layout stayed: $(old_chains)"
# the 16 global chains and one per group in use
groups=$(nftn -j list chains $NF | grep -o '"name": "lb-group-[0-9]*"' | sort -u | wc -l)
want=$("$PY" -c 'import sys; print(len(set(int(a) >> 4 for a in sys.argv[1:])))' "$cs" "$es" "$ns" "$(shard "$(ipt_ip 10.96.0.81)")")
[ "$groups" = "$want" ] || sy_fail "$groups lb-group chains, want $want: $(nftn list chains $NF)"
nchains=$(nftn -j list chains $NF | grep -o '"chain": {' | wc -l)
[ "$nchains" = $((16 + groups)) ] || sy_fail "$nchains chains, want 16 + $groups: $(nftn list chains $NF)"
echo_all three
# an unchanged restart writes nothing
ipt_stop
ipt_start --sync-period 60s
grep "First sync complete" -B1 "$IPT_LOG" | grep -q "writes=0" ||
	sy_fail "an unchanged restart after the conversion wrote the kernel: $(grep 'SyncProxyRules' "$IPT_LOG" | head -2)"
echo_all four
sy_pass "old layout ($PREV) converted to lb-group-G ($groups chains); 3 held connections kept their endpoints; no stale chain"
