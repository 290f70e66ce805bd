# SPDX-License-Identifier: Apache-2.0
# Inside the VM: schedulers (and a clear error for a missing one), session
# affinity, externalTrafficPolicy=Local (source IP kept), --masquerade-all,
# hairpin, SCTP, externalIPs, LoadBalancer IPs with source ranges,
# --ipvs-strict-arp and IPVS timeouts.
. "$SY_SRC/tests/lib/common.sh"
. "$SY_SRC/tests/vm/guest/lib.sh"

vm_topology
vm_pod_servers
for i in 0 1 2; do
	sy_echo_server "${PODS[$i]}" sctp 9000 "p$((i + 1))"
done
vm_svc "$M/web.yaml" web 10.96.0.10 "http:80:8080:TCP" "${POD_IPS[*]}"
vm_svc "$M/sticky.yaml" sticky 10.96.0.11 "http:80:8080:TCP" "${POD_IPS[*]}" \
"  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}"
vm_svc "$M/sctp.yaml" sctp 10.96.0.12 "s:90:9000:SCTP" "${POD_IPS[*]}"
# eTP=Local: only p1 is on this node
cat >"$M/local.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: local, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.13
  externalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP, nodePort: 30090}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: local-1, namespace: default, labels: {kubernetes.io/service-name: local}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: [10.0.2.2], nodeName: node1, conditions: {ready: true}}
- {addresses: [10.0.2.6], nodeName: node2, conditions: {ready: true}}
- {addresses: [10.0.2.10], nodeName: node2, conditions: {ready: true}}
Y
# externalIP and a LoadBalancer IP open only to the client's address
cat >"$M/ext.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.14
  externalIPs: [192.0.2.50]
  loadBalancerSourceRanges: [10.0.1.2/32]
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP, nodePort: 30091}]
status:
  loadBalancer: {ingress: [{ip: 192.0.2.60}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, namespace: default, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: [10.0.2.2], nodeName: node1, conditions: {ready: true}}
- {addresses: [10.0.2.6], nodeName: node1, conditions: {ready: true}}
Y

# --- a scheduler the kernel lacks: exit 2 and a message naming it
ip netns exec "$NODE" "$SWITCHYARD" --proxy-mode=ipvs --manifests "$M" --hostname-override node1 \
	--healthz-bind-address= --metrics-bind-address= --ipvs-scheduler=nosuch >"$SY_TMP/bad.log" 2>&1
rc=$?
sed 's/^/#   /' "$SY_TMP/bad.log" | tail -n 3
check "unknown scheduler: exit 2 ($rc)" [ $rc = 2 ]
check "unknown scheduler: the error names it" grep -q 'scheduler "nosuch" is not available' "$SY_TMP/bad.log"
check "unknown scheduler: nothing left behind" bash -c "[ -z \"\$(ip netns exec $NODE ipvsadm -Sn)\" ]"

# --- schedulers: each one programmed, balancing sensibly
for s in rr wrr lc wlc sh dh sed nq mh; do
	: >"$DLOG"
	vm_daemon --ipvs-scheduler=$s --sync-period 30s || { notok "daemon with --ipvs-scheduler=$s"; continue; }
	check "scheduler $s: ipvsadm shows it" \
		bash -c "ip netns exec $NODE ipvsadm -Ln -t 10.96.0.10:80 | grep -q '^TCP  10.96.0.10:80 $s'"
	vm_ask "$CLIENT" tcp 10.96.0.10 80 6 >"$SY_TMP/s-$s.txt"
	distinct=$(cut -d' ' -f1 "$SY_TMP/s-$s.txt" | sort -u | wc -l)
	answers=$(grep -c '^p[123] ' "$SY_TMP/s-$s.txt")
	case $s in
	sh|dh|mh) # hashing on the source (sh, mh) or destination (dh): one pod for one client
		check "scheduler $s: 6/6 answers ($answers), all from one pod ($distinct)" \
			[ "$answers" = 6 ] && [ "$distinct" = 1 ] ;;
	rr|wrr|lc|wlc|sed|nq) # equal weights, sequential connections: every pod used
		check "scheduler $s: 6/6 answers ($answers), spread over the 3 pods ($distinct)" \
			[ "$answers" = 6 ] && [ "$distinct" = 3 ] ;;
	esac
	vm_daemon_stop
done

# --- everything else with rr, strict ARP, timeouts, masquerade-all off
: >"$DLOG"
vm_daemon --sync-period 30s --ipvs-strict-arp --ipvs-tcp-timeout 900s --ipvs-tcpfin-timeout 30s \
	--ipvs-udp-timeout 45s || { notok "daemon starts"; vm_checks_done; }
check "strict ARP: arp_ignore=1 arp_announce=2" \
	bash -c "[ \$(ip netns exec $NODE sysctl -n net.ipv4.conf.all.arp_ignore) = 1 ] && [ \$(ip netns exec $NODE sysctl -n net.ipv4.conf.all.arp_announce) = 2 ]"
check "sysctls: vs/conntrack=1 expire_nodest_conn=1 expire_quiescent_template=1" \
	bash -c "[ \"\$(ip netns exec $NODE sysctl -n net.ipv4.vs.conntrack net.ipv4.vs.expire_nodest_conn net.ipv4.vs.expire_quiescent_template | tr '\n' ' ')\" = '1 1 1 ' ]"
ip netns exec "$NODE" ipvsadm -L --timeout | sed 's/^/#   /'
check "IPVS timeouts set to 900/30/45" \
	bash -c "ip netns exec $NODE ipvsadm -L --timeout | grep -q 'Timeout (tcp tcpfin udp): 900 30 45'"

# affinity
ipvs -Ln -t 10.96.0.11:80 | sed 's/^/#   /'
check "sessionAffinity ClientIP: persistent 60" \
	bash -c "ip netns exec $NODE ipvsadm -Ln -t 10.96.0.11:80 | grep -q '^TCP  10.96.0.11:80 rr persistent 60'"
vm_ask "$CLIENT" tcp 10.96.0.11 80 6 >"$SY_TMP/aff.txt"
check "sessionAffinity: 6 connections, one pod ($(cut -d' ' -f1 "$SY_TMP/aff.txt" | sort -u | tr '\n' ' '))" \
	bash -c "[ \$(grep -c '^p[123] ' $SY_TMP/aff.txt) = 6 ] && [ \$(cut -d' ' -f1 $SY_TMP/aff.txt | sort -u | wc -l) = 1 ]"
vm_ask "$P3" tcp 10.96.0.11 80 6 >"$SY_TMP/aff2.txt"
check "sessionAffinity: another client sticks too" \
	bash -c "[ \$(grep -c '^p[123] ' $SY_TMP/aff2.txt) = 6 ] && [ \$(cut -d' ' -f1 $SY_TMP/aff2.txt | sort -u | wc -l) = 1 ]"

# SCTP
ipvs -Ln --sctp-service 10.96.0.12:90 | sed 's/^/#   /'
vm_ask "$CLIENT" sctp 10.96.0.12 90 3 >"$SY_TMP/sctp.txt"
sed 's/^/#   /' "$SY_TMP/sctp.txt"
check "SCTP ClusterIP: 3 pods answer" [ "$(grep '^p[123] ' "$SY_TMP/sctp.txt" | cut -d' ' -f1 | sort -u | wc -l)" = 3 ]

# eTP=Local: NodePort VS only has the local endpoint, the source IP is kept
vm_rs $NODE_IP:30090 | sed 's/^/#   /'
check "eTP=Local: NodePort real servers = the local endpoint only" \
	[ "$(vm_rs $NODE_IP:30090 | awk '{print $1}' | tr '\n' ' ')" = "10.0.2.2:8080 " ]
check "eTP=Local: the ClusterIP still balances over all 3" [ "$(vm_rs 10.96.0.13:80 | wc -l)" = 3 ]
check "eTP=Local: port in SY-NODE-PORT-LOCAL-TCP" ip netns exec "$NODE" ipset -q test SY-NODE-PORT-LOCAL-TCP 30090
vm_ask "$CLIENT" tcp $NODE_IP 30090 3 >"$SY_TMP/loc.txt"
sed 's/^/#   /' "$SY_TMP/loc.txt"
check "eTP=Local: NodePort answers from p1 with the client's source IP" \
	[ "$(sort -u "$SY_TMP/loc.txt")" = "p1 $CLIENT_IP" ]

# externalIP (masqueraded) and LB IP with source ranges
vm_ask "$CLIENT" tcp 192.0.2.50 80 2 >"$SY_TMP/eip.txt"
sed 's/^/#   /' "$SY_TMP/eip.txt"
check "externalIP 192.0.2.50 answers" [ "$(grep -c '^p[12] ' "$SY_TMP/eip.txt")" = 2 ]
check "externalIP traffic is masqueraded" bash -c "! grep -q '$CLIENT_IP' $SY_TMP/eip.txt"
check "externalIP bound on kube-ipvs0" bash -c "ip -n $NODE addr show kube-ipvs0 | grep -q 'inet 192.0.2.50/32'"
vm_ask "$CLIENT" tcp 192.0.2.60 80 2 >"$SY_TMP/lb.txt"
check "LB IP 192.0.2.60 answers an allowed source" [ "$(grep -c '^p[12] ' "$SY_TMP/lb.txt")" = 2 ]
vm_ask "$P3" tcp 192.0.2.60 80 1 >"$SY_TMP/lb2.txt"
check "LB IP drops a source outside loadBalancerSourceRanges ($(cat "$SY_TMP/lb2.txt"))" \
	grep -q TIMEOUT "$SY_TMP/lb2.txt"
check "LB sets: SY-LOAD-BALANCER-FW and -SOURCE-CIDR filled" \
	bash -c "ip netns exec $NODE ipset -q test SY-LOAD-BALANCER-FW 192.0.2.60,tcp:80 && ip netns exec $NODE ipset -q test SY-LOAD-BALANCER-SOURCE-CIDR 192.0.2.60,tcp:80,10.0.1.2"

# hairpin: a pod reaching itself through its Service is masqueraded
vm_ask "$P1" tcp 10.96.0.10 80 3 >"$SY_TMP/hair.txt"
sed 's/^/#   /' "$SY_TMP/hair.txt"
check "hairpin: 3/3 answers from p1 through the ClusterIP, including p1 itself" \
	bash -c "[ \$(grep -c '^p[123] ' $SY_TMP/hair.txt) = 3 ] && grep -q '^p1 ' $SY_TMP/hair.txt"
check "hairpin: p1 reaching itself sees the node address, not its own" \
	bash -c "grep '^p1 ' $SY_TMP/hair.txt | grep -qv ' 10.0.2.2\$'"
vm_daemon_stop

# --masquerade-all: the pod sees the node's address for ClusterIP traffic
: >"$DLOG"
vm_daemon --masquerade-all --sync-period 30s || notok "daemon with --masquerade-all"
vm_ask "$CLIENT" tcp 10.96.0.10 80 3 >"$SY_TMP/ma.txt"
sed 's/^/#   /' "$SY_TMP/ma.txt"
check "--masquerade-all: answers, none with the client's address" \
	bash -c "[ \$(grep -c '^p[123] 10\.0\.2\.' $SY_TMP/ma.txt) = 3 ]"
check "--masquerade-all: the rule is in SY-IPVS-SERVICES" \
	bash -c "ip netns exec $NODE iptables-legacy-save -t nat | grep -q -- '-A SY-IPVS-SERVICES -m set --match-set SY-CLUSTER-IP dst,dst -j SY-IPVS-MARK-MASQ'"
vm_daemon_stop

# --cluster-cidr: traffic from outside the pod CIDR to a ClusterIP is masqueraded
: >"$DLOG"
vm_daemon --cluster-cidr 10.0.2.0/24 --sync-period 30s || notok "daemon with --cluster-cidr"
vm_ask "$CLIENT" tcp 10.96.0.10 80 3 >"$SY_TMP/cc.txt"
vm_ask "$P2" tcp 10.96.0.13 80 3 >"$SY_TMP/cc2.txt"
sed 's/^/#   /' "$SY_TMP/cc.txt" "$SY_TMP/cc2.txt"
check "--cluster-cidr: client outside the CIDR is masqueraded" \
	bash -c "[ \$(grep -c '^p[123] 10\.0\.2\.' $SY_TMP/cc.txt) = 3 ]"
check "--cluster-cidr: a pod inside the CIDR keeps its address (unless hairpin)" \
	bash -c "grep -v '^p2 ' $SY_TMP/cc2.txt | grep -q ' 10.0.2.6\$'"
vm_daemon_stop
vm_checks_done
