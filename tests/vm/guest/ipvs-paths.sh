# SPDX-License-Identifier: Apache-2.0
# Inside the VM: who answers, and which source address the endpoint sees,
# for every kind of Service address (ClusterIP TCP/UDP, NodePort,
# externalIP, LoadBalancer IP with source ranges, eTP=Local, iTP=Local,
# ClientIP affinity) with endpoints local, remote (on a second node),
# both, none and serving-terminating, from three clients: a local pod, the
# node itself and a client outside the node; under three daemon configs:
# no --cluster-cidr, --cluster-cidr, --masquerade-all.
. "$SY_SRC/tests/lib/common.sh"
. "$SY_SRC/tests/vm/guest/lib.sh"

vm_topology
vm_pod_servers
vm_remote_node
echo "# topology and servers up after ${SECONDS}s"

# addresses an endpoint can see
C=10.0.1.2		# the outside client
POD=10.0.2.6		# the client pod (p2)
NODE_P1=10.0.2.1	# the node towards p1 (masqueraded to a local endpoint)
NODE_P3=10.0.2.9	# ... towards p3
NODE_R=10.0.3.1		# ... towards the second node (to a remote endpoint)
P1=${POD_IPS[0]} P3=${POD_IPS[2]} R1IP=10.0.2.130

# mx_svc NAME CLUSTERIP PROTO "EPS" [SPEC-YAML] [NODEPORT] [LB-IP]
# EPS: "IP@NODE" (ready) or "IP@NODE@t" (serving and terminating, not ready)
mx_svc() {
	local name=$1 cip=$2 proto=$3 eps=$4 extra=${5:-} np=${6:-} lb=${7:-}
	local port=80 tport=8080 e ip node t cond
	[ "$proto" = UDP ] && { port=53; tport=5353; }
	{
		echo "apiVersion: v1"
		echo "kind: Service"
		echo "metadata: {name: $name, namespace: default}"
		echo "spec:"
		echo "  clusterIP: $cip"
		if [ -n "$lb" ]; then echo "  type: LoadBalancer"; elif [ -n "$np" ]; then echo "  type: NodePort"; fi
		[ -n "$extra" ] && printf '%s\n' "$extra"
		echo "  ports: [{name: p, port: $port, targetPort: $tport, protocol: $proto${np:+, nodePort: $np}}]"
		[ -n "$lb" ] && echo "status: {loadBalancer: {ingress: [{ip: $lb}]}}"
		echo "---"
		echo "apiVersion: discovery.k8s.io/v1"
		echo "kind: EndpointSlice"
		echo "metadata: {name: $name-1, namespace: default, labels: {kubernetes.io/service-name: $name}}"
		echo "addressType: IPv4"
		echo "ports: [{name: p, port: $tport, protocol: $proto}]"
		echo "endpoints:"
		for e in $eps; do
			IFS=@ read -r ip node t <<<"$e"
			cond="{ready: true}"
			[ "$t" = t ] && cond="{ready: false, serving: true, terminating: true}"
			echo "- {addresses: [$ip], nodeName: $node, conditions: $cond}"
		done
		[ -n "$eps" ] || echo "  []"
	} >"$M/$name.yaml"
}

mx_svc c-local   10.96.1.1 TCP "$P1@node1"
mx_svc c-remote  10.96.1.2 TCP "$R1IP@node2"
mx_svc c-both    10.96.1.3 TCP "$P1@node1 $R1IP@node2"
mx_svc c-none    10.96.1.4 TCP ""
mx_svc c-term    10.96.1.5 TCP "$P1@node1@t"
mx_svc c-term2   10.96.1.6 TCP "$P3@node1 $R1IP@node2@t"
mx_svc u-remote  10.96.1.7 UDP "$R1IP@node2"
mx_svc np        10.96.1.10 TCP "$R1IP@node2" "" 30100
mx_svc npl       10.96.1.11 TCP "$P1@node1 $R1IP@node2" "  externalTrafficPolicy: Local" 30101 192.0.2.72
mx_svc nplr      10.96.1.12 TCP "$R1IP@node2" "  externalTrafficPolicy: Local
  externalIPs: [192.0.2.71]" 30102 192.0.2.70
mx_svc itp-r     10.96.1.13 TCP "$R1IP@node2" "  internalTrafficPolicy: Local"
mx_svc itp-b     10.96.1.14 TCP "$P1@node1 $R1IP@node2" "  internalTrafficPolicy: Local"
mx_svc u-itp     10.96.1.15 UDP "$R1IP@node2" "  internalTrafficPolicy: Local"
mx_svc lb-fw     10.96.1.16 TCP "$R1IP@node2" "  loadBalancerSourceRanges: [$C/32]" "" 192.0.2.60
mx_svc eip       10.96.1.17 TCP "$R1IP@node2" "  externalIPs: [192.0.2.50]"
mx_svc aff       10.96.1.18 TCP "$P1@node1 $R1IP@node2" "  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}"

# The matrix: LABEL PROTO HOST PORT COUNT  POD NODE OUTSIDE
# Expected: the sorted distinct answers "NAME_SOURCE" joined by ",", or
# REFUSED / TIMEOUT; "=" repeats the pod column; ONE: COUNT answers from a
# single endpoint.  ERROR_1: EPERM, the node's own datagram refused on its
# way out (IPVS finds no real server).  In the ClusterIP rows SL / SR / S3 stand for the source
# a local endpoint (p1) / the remote one / p3 sees from that client (it
# depends on the client and the config, see mx_sources); OUTR is what the
# outside client gets from an eTP=Local address without a local endpoint.
MATRIX="
c-local   tcp 10.96.1.1  80    1  p1_SL             =                =
c-remote  tcp 10.96.1.2  80    1  r1_SR             =                =
c-both    tcp 10.96.1.3  80    2  p1_SL,r1_SR       =                =
c-none    tcp 10.96.1.4  80    1  REFUSED           =                =
c-term    tcp 10.96.1.5  80    1  p1_SL             =                =
c-term2   tcp 10.96.1.6  80    2  p3_S3             =                =
u-remote  udp 10.96.1.7  53    1  r1_SR             =                =
np        tcp 10.0.1.1   30100 1  r1_$NODE_R        =                =
npl       tcp 10.0.1.1   30101 1  p1_$POD           p1_10.0.1.1      p1_$C
npl-lb    tcp 192.0.2.72 80    1  p1_$POD           p1_$NODE_P1      p1_$C
nplr      tcp 10.0.1.1   30102 1  r1_$POD           r1_10.0.1.1      OUTR
nplr-lb   tcp 192.0.2.70 80    1  r1_$POD           r1_$NODE_R       OUTR
nplr-eip  tcp 192.0.2.71 80    1  r1_$POD           r1_$NODE_R       OUTR
itp-r     tcp 10.96.1.13 80    1  REFUSED           =                =
itp-b     tcp 10.96.1.14 80    2  p1_SL             =                =
u-itp     udp 10.96.1.15 53    1  REFUSED           ERROR_1          REFUSED
lb-fw     tcp 192.0.2.60 80    1  TIMEOUT           r1_$NODE_R       r1_$NODE_R
eip       tcp 192.0.2.50 80    1  r1_$NODE_R        =                =
aff       tcp 10.96.1.18 80    4  ONE               =                =
"

MX_ROWS=$(awk 'NF' <<<"$MATRIX" | wc -l)

# mx_sources CLIENT CONFIG: sets SL SR S3 OUTR
mx_sources() {
	local masq=0
	case $1/$2 in
	node/*) masq=1 ;;
	pod/masq-all) masq=1 ;;
	outside/masq-all|outside/cidr) masq=1 ;;
	esac
	if [ $masq = 1 ]; then
		SL=$NODE_P1 SR=$NODE_R S3=$NODE_P3
	elif [ "$1" = pod ]; then
		SL=$POD SR=$POD S3=$POD
	else
		SL=$C SR=$C S3=$C
	fi
	# eTP=Local, no local endpoint, from outside: dropped when the pod
	# network is known (--cluster-cidr), else the cluster endpoints answer
	# unmasqueraded (kube-proxy's IPVS fallback)
	if [ "$2" = cidr ]; then OUTR=TIMEOUT; else OUTR=r1_$C; fi
}

# mx_run CONFIG: ask every row from each client, compare (one awk per
# client: process starts are what costs under emulation)
mx_run() {
	local cfg=$1 client ns col label proto host port n e1 e2 e3 exp want res what rows
	for client in pod node outside; do
		case $client in
		pod) ns=$P2 col=1 ;;
		node) ns=$NODE col=2 ;;
		outside) ns=$CLIENT col=3 ;;
		esac
		mx_sources "$client" "$cfg"
		want=
		while read -r label proto host port n e1 e2 e3; do
			[ -n "$label" ] || continue
			case $col in 1) exp=$e1 ;; 2) exp=$e2 ;; 3) exp=$e3 ;; esac
			[ "$exp" = "=" ] && exp=$e1
			exp=${exp//SL/$SL}; exp=${exp//SR/$SR}; exp=${exp//S3/$S3}
			[ "$exp" = OUTR ] && exp=$OUTR
			want+="$label $host:$port $n $exp"$'\n'
		done <<<"$MATRIX"
		awk 'NF { print $1, $2, $3, $4, $5 }' <<<"$MATRIX" |
			ip netns exec "$ns" "$SY_ECHO" ask 1500 >"$SY_TMP/ans-$cfg-$client.txt" 2>&1
		# "ok|not ok <tab> what": answers per label sorted and deduplicated
		# (a file, not <(...): the guest has no /dev/fd)
		printf '%s' "$want" | awk '
			NR == FNR { l = $1; $1 = ""; sub(/^ /, ""); gsub(/ /, "_");
				    n[l]++; if (!((l, $0) in seen)) { seen[l, $0] = 1; got[l] = got[l] "\n" $0 } next }
			{ split(substr(got[$1], 2), a, "\n"); m = 0; for (k in a) m++
			  # sort the distinct answers (few: insertion sort)
			  for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
			  g = ""; for (i = 1; i <= m; i++) g = g (i > 1 ? "," : "") a[i]
			  if ($4 == "ONE") ok = (m == 1 && n[$1] == $3 && g ~ /^[pr][0-9]_/)
			  else ok = (g == $4)
			  printf "%s\t%s (%s): %s%s\n", ok ? "ok" : "not ok", $1, $2, $4 == "ONE" ? $3 " answers from one endpoint" : $4, " (got " g ")" }
			' "$SY_TMP/ans-$cfg-$client.txt" - >"$SY_TMP/res-$cfg-$client.txt"
		rows=0
		while IFS=$'\t' read -r res what; do
			rows=$((rows + 1))
			if [ "$res" = ok ]; then ok "$cfg: $client -> $what"; else notok "$cfg: $client -> $what"; fi
		done <"$SY_TMP/res-$cfg-$client.txt"
		[ "$rows" = "$MX_ROWS" ] || notok "$cfg: $client: $rows of $MX_ROWS rows compared"
	done
}

# One daemon per config over the same Services
for cfg in default cidr masq-all; do
	: >"$DLOG"
	case $cfg in
	default) flags=() ;;
	cidr) flags=(--cluster-cidr 10.0.2.0/24) ;;
	masq-all) flags=(--masquerade-all) ;;
	esac
	echo "# $cfg: daemon start at ${SECONDS}s"
	vm_daemon --sync-period 60s "${flags[@]}" || { notok "$cfg: daemon starts"; continue; }
	check "$cfg: 16 Services programmed" [ "$(ipvs -Ln | grep -c '^TCP  10\.96\.1\.\|^UDP  10\.96\.1\.')" = 16 ]
	mx_run "$cfg"
	if [ "$cfg" = default ]; then
		ip netns exec "$NODE" iptables-legacy-save -t nat | grep -- '-A SY-IPVS-SERVICES' | sed 's/^/#   /'
		check "eTP=Local: the NodePort's real servers are the local endpoint only" \
			[ "$(vm_rs 10.0.1.1:30101 | awk '{print $1}' | tr '\n' ' ')" = "$P1:8080 " ]
		check "eTP=Local: the ClusterIP still has both endpoints" [ "$(vm_rs 10.96.1.11:80 | wc -l)" = 2 ]
		check "eTP=Local: port in SY-NODE-PORT-LOCAL-TCP" \
			ip netns exec "$NODE" ipset -q test SY-NODE-PORT-LOCAL-TCP 30101
		check "eTP=Local, no local endpoint: the NodePort falls back to the cluster endpoints" \
			[ "$(vm_rs 10.0.1.1:30102 | awk '{print $1}' | tr '\n' ' ')" = "$R1IP:8080 " ]
		check "iTP=Local, no local endpoint: a virtual server without real servers" \
			[ -z "$(vm_rs 10.96.1.13:80)" ]
		check "externalIP and LB IPs bound on kube-ipvs0" \
			bash -c "[ \$(ip -n $NODE addr show kube-ipvs0 | grep -c 'inet 192\.0\.2\.') = 5 ]"
		check "LB sets: SY-LOAD-BALANCER-FW and -SOURCE-CIDR filled" \
			bash -c "ip netns exec $NODE ipset -q test SY-LOAD-BALANCER-FW 192.0.2.60,tcp:80 && ip netns exec $NODE ipset -q test SY-LOAD-BALANCER-SOURCE-CIDR 192.0.2.60,tcp:80,$C"
	fi
	if [ "$cfg" = masq-all ]; then
		check "masq-all: the rule is in SY-IPVS-SERVICES" \
			bash -c "ip netns exec $NODE iptables-legacy-save -t nat | grep -q -- '-A SY-IPVS-SERVICES -m set --match-set SY-CLUSTER-IP dst,dst -j SY-IPVS-MARK-MASQ'"
	fi
	if [ "$cfg" = cidr ]; then
		ip netns exec "$NODE" iptables-legacy-save -t filter | grep -- '-A SY-IPVS-FILTER' | sed 's/^/#   /'
		check "cidr: eTP=Local fallback listed in SY-NO-LOCAL-ENDPOINTS" \
			ip netns exec "$NODE" ipset -q test SY-NO-LOCAL-ENDPOINTS 192.0.2.70,tcp:80
		check "cidr: iTP=Local without a local endpoint in SY-NO-ENDPOINTS (refused)" \
			ip netns exec "$NODE" ipset -q test SY-NO-ENDPOINTS 10.96.1.13,tcp:80
	fi
	vm_daemon_stop
done
vm_checks_done
