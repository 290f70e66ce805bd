#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables mode, the basics with real packets: a ClusterIP Service (TCP and
# UDP ports) over 3 endpoints is reached on every endpoint with a uniform
# split (chi-square, 300 connections), the client outside the cluster CIDR
# is masqueraded, the NodePort and an externalIP answer from outside the
# node, the NodePort answers on 127.0.0.1 from the node itself, a local
# endpoint reaching its own Service (hairpin) is masqueraded, a pod (ep3,
# inside the cluster CIDR) is masqueraded to the externalIP and the
# NodePort but not to the ClusterIP, and every rule reads back through
# iptables-legacy-save (so each match/target blob is one the real tool
# understands).  IPT_FAM=6 (iptables-basic-ipv6.sh): the same over IPv6
# (ip6tables-legacy-save), but no NodePort on [::1] (kube-proxy: none in
# IPv6) instead of the 127.0.0.1 one.
. "$(dirname "$0")/iptables-lib.sh"

ipt_lab 3
for k in 1 2 3; do ipt_server $k tcp 8080; ipt_server $k udp 5353; done
ipt_node_manifest
ipt_web_manifest | ipt_yaml | ipt_write web.yaml
ipt_start --sync-period 30s

save=$(ipt_save nat)
cip=$(ipt_host 10.96.0.80)
echo "$save" | grep -q -- '-A PREROUTING -m comment --comment "switchyard service portals" -j SY-SERVICES' ||
	sy_fail "no PREROUTING jump: $save"
echo "$save" | grep -q -- '-A SY-POSTROUTING -j MASQUERADE --random-fully' || sy_fail "no MASQUERADE rule"
echo "$save" | grep -q -- "-d $cip -p tcp -m tcp --dport 80 -j SY-SVC-" || sy_fail "no TCP ClusterIP rule"
echo "$save" | grep -q -- "-d $cip -p sctp -m sctp --dport 99 -j SY-SVC-" || sy_fail "no SCTP ClusterIP rule"
echo "$save" | grep -q -- '-m statistic --mode random --probability 0.33333333349' || sy_fail "no 1/3 statistic rule"
echo "$save" | grep -q -- "! -s $(ipt_ip 10.244.0.0/16) -d $cip -p tcp -m tcp --dport 80 -j SY-MARK-MASQ" ||
	sy_fail "no ClusterIP masquerade rule for sources outside the cluster CIDR"
echo "$save" | grep -q -- "-s $(ipt_host 10.244.3.2) -j SY-MARK-MASQ" || sy_fail "no hairpin rule for the local endpoint"
echo "$save" | grep -q -- '-p tcp -m tcp --dport 30080 -j SY-EXT-' || sy_fail "no NodePort rule"
echo "$save" | grep -q -- "-d $(ipt_host 192.168.60.10) -p tcp -m tcp --dport 80 -j SY-EXT-" || sy_fail "no externalIP rule"
echo "$save" | grep -q 'unsupported\|unknown' && sy_fail "$IPT-save cannot print a rule: $save"
# the whole table round-trips through the real tools
ipt_save | ip netns exec "$NODE" $IPT-restore --test || sy_fail "$IPT-restore --test rejects the table"

# TCP: every endpoint, uniform split, masqueraded source
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.80 80 300)
c1=$(grep -c '^ep1 ' <<<"$out"); c2=$(grep -c '^ep2 ' <<<"$out"); c3=$(grep -c '^ep3 ' <<<"$out")
sy_log "TCP split over 300: $c1 $c2 $c3"
[ $((c1 + c2 + c3)) -eq 300 ] || sy_fail "only $((c1 + c2 + c3)) of 300 TCP connections answered"
chi=$(ipt_uniform "$c1" "$c2" "$c3") || sy_fail "TCP split not uniform: $chi ($c1 $c2 $c3)"
grep -qx "ep1 $(ipt_ip 10.244.1.1)" <<<"$out" || sy_fail "ep1 did not see the node's (masqueraded) address: $(grep ^ep1 <<<"$out" | head -1)"

# UDP
out=$(ipt_ask_many "$CLIENT" udp 10.96.0.80 53 150)
u1=$(grep -c '^ep1 ' <<<"$out"); u2=$(grep -c '^ep2 ' <<<"$out"); u3=$(grep -c '^ep3 ' <<<"$out")
sy_log "UDP split over 150: $u1 $u2 $u3"
[ "$u1" -gt 0 ] && [ "$u2" -gt 0 ] && [ "$u3" -gt 0 ] || sy_fail "UDP did not reach every endpoint ($u1 $u2 $u3)"

# NodePort and externalIP from outside the node
out=$(ipt_ask_many "$CLIENT" tcp 192.168.50.1 30080 30)
[ "$(grep -c '^ep' <<<"$out")" -eq 30 ] || sy_fail "NodePort TCP: $(sort <<<"$out" | uniq -c)"
out=$(ipt_ask_many "$CLIENT" udp 192.168.50.1 30053 10)
[ "$(grep -c '^ep' <<<"$out")" -eq 10 ] || sy_fail "NodePort UDP: $(sort <<<"$out" | uniq -c)"
out=$(ipt_ask_many "$CLIENT" tcp 192.168.60.10 80 30)
[ "$(grep -c '^ep' <<<"$out")" -eq 30 ] || sy_fail "externalIP: $(sort <<<"$out" | uniq -c)"
# from the node itself (OUTPUT chain)
out=$(ipt_ask_many "$NODE" tcp 10.96.0.80 80 10)
[ "$(grep -c '^ep' <<<"$out")" -eq 10 ] || sy_fail "ClusterIP from the node: $out"
if [ "$IPT_FAM" = 4 ]; then
	# localhost NodePort from the node (kube-proxy's route_localnet behaviour)
	[ "$(ip netns exec "$NODE" sysctl -n net.ipv4.conf.all.route_localnet)" = 1 ] || sy_fail "route_localnet not set"
	ipt_save filter | grep -q -- '-A SY-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT' ||
		sy_fail "no guard against outside traffic to 127.0.0.0/8"
	out=$(ipt_ask_many "$NODE" tcp 127.0.0.1 30080 10)
	[ "$(grep -c '^ep' <<<"$out")" -eq 10 ] || sy_fail "localhost NodePort: $(sort <<<"$out" | uniq -c)"
else
	# no NodePort on [::1] (kube-proxy: never in IPv6), no 127/8 guard
	grep -q -- '-A SY-SERVICES ! -d ::1/128 -m addrtype --dst-type LOCAL -j SY-NODEPORTS' <<<"$save" ||
		sy_fail "the IPv6 NodePort jump does not exclude ::1: $(grep NODEPORTS <<<"$save")"
	out=$(ipt_ask_many "$NODE" tcp ::1 30080 2)
	grep -q '^ep' <<<"$out" && sy_fail "a NodePort answered on [::1]: $out"
fi
# hairpin: endpoint 3 (local) reaching its own Service lands on itself now and then
out=$(ipt_ask_many "${IPT_EP_NS[3]}" tcp 10.96.0.80 80 40)
grep -qx "ep3 $(ipt_ip 10.244.3.1)" <<<"$out" || sy_fail "hairpin: ep3 never reached itself masqueraded: $(sort <<<"$out" | uniq -c)"
[ "$(grep -c '^ep' <<<"$out")" -eq 40 ] || sy_fail "hairpin: lost connections: $(sort <<<"$out" | uniq -c)"
# a pod (ep3, inside the cluster CIDR; a local endpoint, its answers to
# itself not counted): to the ClusterIP not masqueraded (ep1 and ep2 see
# 10.244.3.2), to the externalIP and the NodePort masqueraded
IPT_POD=3 ipt_pod_masq "" 10.96.0.80 80 192.168.60.10 80 192.168.50.1 30080
sy_pass "split $c1/$c2/$c3 $chi"
