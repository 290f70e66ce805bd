#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables mode, the basics with real packets: a ClusterIP Service (TCP and
# UDP ports) over 3 endpoints is reached on every endpoint with a uniform
# split (chi-square, 300 connections), the client outside the cluster CIDR
# is masqueraded, the NodePort and an externalIP answer from outside the
# node, the NodePort answers on 127.0.0.1 from the node itself, a local
# endpoint reaching its own Service (hairpin) is masqueraded, and every rule reads back through iptables-legacy-save (so each
# match/target blob is one the real tool understands).
. "$(dirname "$0")/iptables-lib.sh"

ipt_lab 3
for k in 1 2 3; do ipt_server $k tcp 8080; ipt_server $k udp 5353; done
ipt_node_manifest
ipt_web_manifest | ipt_write web.yaml
ipt_start --sync-period 30s

save=$(ipt_save nat)
echo "$save" | grep -q -- '-A PREROUTING -m comment --comment "switchyard service portals" -j SY-SERVICES' ||
	sy_fail "no PREROUTING jump: $save"
echo "$save" | grep -q -- '-A SY-POSTROUTING -j MASQUERADE --random-fully' || sy_fail "no MASQUERADE rule"
echo "$save" | grep -q -- '-d 10.96.0.80/32 -p tcp -m tcp --dport 80 -j SY-SVC-' || sy_fail "no TCP ClusterIP rule"
echo "$save" | grep -q -- '-d 10.96.0.80/32 -p sctp -m sctp --dport 99 -j SY-SVC-' || sy_fail "no SCTP ClusterIP rule"
echo "$save" | grep -q -- '-m statistic --mode random --probability 0.33333333349' || sy_fail "no 1/3 statistic rule"
echo "$save" | grep -q -- '-s 10.244.3.2/32 -j SY-MARK-MASQ' || sy_fail "no hairpin rule for the local endpoint"
echo "$save" | grep -q -- '-p tcp -m tcp --dport 30080 -j SY-EXT-' || sy_fail "no NodePort rule"
echo "$save" | grep -q -- '-d 192.168.60.10/32 -p tcp -m tcp --dport 80 -j SY-EXT-' || sy_fail "no externalIP rule"
echo "$save" | grep -q 'unsupported\|unknown' && sy_fail "iptables-legacy-save cannot print a rule: $save"
# the whole table round-trips through the real tools
ipt_save | ip netns exec "$NODE" iptables-legacy-restore --test || sy_fail "iptables-legacy-restore --test rejects the table"

# TCP: every endpoint, uniform split, masqueraded source
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.80 80 300)
c1=$(grep -c '^ep1 ' <<<"$out"); c2=$(grep -c '^ep2 ' <<<"$out"); c3=$(grep -c '^ep3 ' <<<"$out")
sy_log "TCP split over 300: $c1 $c2 $c3"
[ $((c1 + c2 + c3)) -eq 300 ] || sy_fail "only $((c1 + c2 + c3)) of 300 TCP connections answered"
chi=$(ipt_uniform "$c1" "$c2" "$c3") || sy_fail "TCP split not uniform: $chi ($c1 $c2 $c3)"
grep -q '^ep1 10.244.1.1$' <<<"$out" || sy_fail "ep1 did not see the node's (masqueraded) address: $(grep ^ep1 <<<"$out" | head -1)"

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
# localhost NodePort from the node (kube-proxy's route_localnet behaviour)
[ "$(ip netns exec "$NODE" sysctl -n net.ipv4.conf.all.route_localnet)" = 1 ] || sy_fail "route_localnet not set"
ipt_save filter | grep -q -- '-A SY-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT' ||
	sy_fail "no guard against outside traffic to 127.0.0.0/8"
out=$(ipt_ask_many "$NODE" tcp 127.0.0.1 30080 10)
[ "$(grep -c '^ep' <<<"$out")" -eq 10 ] || sy_fail "localhost NodePort: $(sort <<<"$out" | uniq -c)"
# hairpin: endpoint 3 (local) reaching its own Service lands on itself now and then
out=$(ipt_ask_many "${IPT_EP_NS[3]}" tcp 10.96.0.80 80 40)
grep -q '^ep3 10.244.3.1$' <<<"$out" || sy_fail "hairpin: ep3 never reached itself masqueraded: $(sort <<<"$out" | uniq -c)"
[ "$(grep -c '^ep' <<<"$out")" -eq 40 ] || sy_fail "hairpin: lost connections: $(sort <<<"$out" | uniq -c)"
sy_pass "split $c1/$c2/$c3 $chi"
