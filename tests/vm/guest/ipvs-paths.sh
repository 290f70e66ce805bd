# SPDX-License-Identifier: Apache-2.0
# Inside the VM: who answers, and which source address the endpoint sees,
# for every kind of Service address (ClusterIP TCP/UDP, NodePort,
# externalIP, LoadBalancer IP with source ranges, eTP=Local, iTP=Local,
# ClientIP affinity) with endpoints local, remote (on a second node),
# both, none and serving-terminating, from three clients: a local pod, the
# node itself and a client outside the node; under three daemon configs:
# no --cluster-cidr, --cluster-cidr, --masquerade-all.  Every Service is
# dual stack (RequireDualStack, an EndpointSlice per family, externalIPs,
# LB ingress IPs and source ranges of both families): each row of the
# matrix is asked over IPv4 and over IPv6 against the same daemon (its two
# IPVS instances), with the same expectations.
. "$SY_SRC/tests/lib/common.sh"
. "$SY_SRC/tests/vm/guest/lib.sh"

vm_topology
vm_topology6
vm_pod_servers
vm_remote_node
echo "# topology and servers up after ${SECONDS}s"

# mx_fam 4|6: the addresses of one family
#   S: ClusterIP prefix  X: externalIP / LB prefix  NIP: the node's address
#   C: the outside client  POD: the client pod (p2)  NODE_P1 / NODE_P3: the
#   node towards p1 / p3 (masqueraded to a local endpoint)  NODE_R: the node
#   towards the second node (to a remote endpoint)  P1F, R1F: endpoints
#   SP: set prefix  SAVE: the rules' save tool  F: label suffix
mx_fam() {
	if [ "$1" = 4 ]; then
		S=10.96.1. X=192.0.2. NIP=10.0.1.1 C=10.0.1.2 POD=10.0.2.6 NODE_P1=10.0.2.1
		NODE_P3=10.0.2.9 NODE_R=10.0.3.1 P1F=${POD_IPS[0]} R1F=10.0.2.130 SP=SY-
		SAVE=iptables-legacy-save F= INET=inet
	else
		S=fd00:96::1: X=2001:db8:: NIP=$NODE6 C=$CLIENT6 POD=${POD6[1]} NODE_P1=fd00:2:1::1
		NODE_P3=fd00:2:3::1 NODE_R=fd00:3::1 P1F=${POD6[0]} R1F=$R1IP6 SP=SY-6-
		SAVE=ip6tables-legacy-save F=6 INET=inet6
	fi
}
# hp ADDR PORT: ipvsadm's "addr:port" / "[addr]:port"
hp() { case $1 in *:*) echo "[$1]:$2" ;; *) echo "$1:$2" ;; esac; }
P1=${POD_IPS[0]} P3=${POD_IPS[2]} R1IP=10.0.2.130

# mx_svc NAME N PROTO "EPS" [SPEC-YAML] [NODEPORT] [LB-N]: a dual-stack
# Service, ClusterIPs 10.96.1.N and fd00:96::1:N, LB ingress 192.0.2.LB-N and
# 2001:db8::LB-N.  EPS: "IP@NODE" (ready) or "IP@NODE@t" (serving and
# terminating, not ready), IPv4 addresses (the IPv6 slice: their twins)
mx_svc() {
	local name=$1 n=$2 proto=$3 eps=$4 extra=${5:-} np=${6:-} lb=${7:-}
	local port=80 tport=8080 e ip node t cond fam
	[ "$proto" = UDP ] && { port=53; tport=5353; }
	{
		echo "apiVersion: v1"
		echo "kind: Service"
		echo "metadata: {name: $name, namespace: default}"
		echo "spec:"
		echo "  clusterIP: 10.96.1.$n"
		echo "  clusterIPs: [10.96.1.$n, \"fd00:96::1:$n\"]"
		echo "  ipFamilies: [IPv4, IPv6]"
		echo "  ipFamilyPolicy: RequireDualStack"
		if [ -n "$lb" ]; then echo "  type: LoadBalancer"; elif [ -n "$np" ]; then echo "  type: NodePort"; fi
		[ -n "$extra" ] && printf '%s\n' "$extra"
		echo "  ports: [{name: p, port: $port, targetPort: $tport, protocol: $proto${np:+, nodePort: $np}}]"
		[ -n "$lb" ] && echo "status: {loadBalancer: {ingress: [{ip: 192.0.2.$lb}, {ip: \"2001:db8::$lb\"}]}}"
		for fam in 4 6; do
			echo "---"
			echo "apiVersion: discovery.k8s.io/v1"
			echo "kind: EndpointSlice"
			echo "metadata: {name: $name-$fam, namespace: default, labels: {kubernetes.io/service-name: $name}}"
			echo "addressType: IPv$fam"
			echo "ports: [{name: p, port: $tport, protocol: $proto}]"
			echo "endpoints:"
			for e in $eps; do
				IFS=@ read -r ip node t <<<"$e"
				[ $fam = 6 ] && ip=\"$(vm_ip6 "$ip")\"
				cond="{ready: true}"
				[ "$t" = t ] && cond="{ready: false, serving: true, terminating: true}"
				echo "- {addresses: [$ip], nodeName: $node, conditions: $cond}"
			done
			[ -n "$eps" ] || echo "  []"
		done
	} >"$M/$name.yaml"
}

mx_svc c-local   1  TCP "$P1@node1"
mx_svc c-remote  2  TCP "$R1IP@node2"
mx_svc c-both    3  TCP "$P1@node1 $R1IP@node2"
mx_svc c-none    4  TCP ""
mx_svc c-term    5  TCP "$P1@node1@t"
mx_svc c-term2   6  TCP "$P3@node1 $R1IP@node2@t"
mx_svc u-remote  7  UDP "$R1IP@node2"
mx_svc np        10 TCP "$R1IP@node2" "" 30100
mx_svc npl       11 TCP "$P1@node1 $R1IP@node2" "  externalTrafficPolicy: Local" 30101 72
mx_svc nplr      12 TCP "$R1IP@node2" "  externalTrafficPolicy: Local
  externalIPs: [192.0.2.71, \"2001:db8::71\"]" 30102 70
mx_svc itp-r     13 TCP "$R1IP@node2" "  internalTrafficPolicy: Local"
mx_svc itp-b     14 TCP "$P1@node1 $R1IP@node2" "  internalTrafficPolicy: Local"
mx_svc u-itp     15 UDP "$R1IP@node2" "  internalTrafficPolicy: Local"
mx_svc lb-fw     16 TCP "$R1IP@node2" "  loadBalancerSourceRanges: [10.0.1.2/32, \"$CLIENT6/128\"]" "" 60
mx_svc eip       17 TCP "$R1IP@node2" "  externalIPs: [192.0.2.50, \"2001:db8::50\"]"
mx_svc aff       18 TCP "$P1@node1 $R1IP@node2" "  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}"

# The matrix (mx_matrix, in the family mx_fam set): LABEL PROTO HOST PORT
# COUNT  POD NODE OUTSIDE; the IPv6 rows' labels end in 6.
# Expected: the sorted distinct answers "NAME_SOURCE" joined by ",", or
# REFUSED / TIMEOUT; "=" repeats the pod column; ONE: COUNT answers from a
# single endpoint.  ERROR_1: EPERM, the node's own datagram refused on its
# way out (IPVS finds no real server).  In the ClusterIP rows SL / SR / S3 stand for the source
# a local endpoint (p1) / the remote one / p3 sees from that client (it
# depends on the client and the config, see mx_sources); OUTR is what the
# outside client gets from an eTP=Local address without a local endpoint.
mx_matrix() {
	cat <<EOF
c-local$F   tcp ${S}1   80    1  p1_SL             =                =
c-remote$F  tcp ${S}2   80    1  r1_SR             =                =
c-both$F    tcp ${S}3   80    2  p1_SL,r1_SR       =                =
c-none$F    tcp ${S}4   80    1  REFUSED           =                =
c-term$F    tcp ${S}5   80    1  p1_SL             =                =
c-term2$F   tcp ${S}6   80    2  p3_S3             =                =
u-remote$F  udp ${S}7   53    1  r1_SR             =                =
np$F        tcp $NIP    30100 1  r1_$NODE_R        =                =
npl$F       tcp $NIP    30101 1  p1_$POD           p1_$NIP          p1_$C
npl-lb$F    tcp ${X}72  80    1  p1_$POD           p1_$NODE_P1      p1_$C
nplr$F      tcp $NIP    30102 1  r1_$POD           r1_$NIP          OUTR
nplr-lb$F   tcp ${X}70  80    1  r1_$POD           r1_$NODE_R       OUTR
nplr-eip$F  tcp ${X}71  80    1  r1_$POD           r1_$NODE_R       OUTR
itp-r$F     tcp ${S}13  80    1  REFUSED           =                =
itp-b$F     tcp ${S}14  80    2  p1_SL             =                =
u-itp$F     udp ${S}15  53    1  REFUSED           ERROR_1          REFUSED
lb-fw$F     tcp ${X}60  80    1  TIMEOUT           r1_$NODE_R       r1_$NODE_R
eip$F       tcp ${X}50  80    1  r1_$NODE_R        =                =
aff$F       tcp ${S}18  80    4  ONE               =                =
EOF
}
MX_ROWS=$(mx_fam 4; mx_matrix | awk 'NF' | wc -l)
MX_ROWS=$((MX_ROWS * 2))

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

# mx_run CONFIG: ask every row of both families from each client, compare
# (one sy-echo and one awk per client: process starts are what costs under
# emulation)
mx_run() {
	local cfg=$1 client ns col label proto host port n e1 e2 e3 exp want asks res what rows fam
	for client in pod node outside; do
		case $client in
		pod) ns=$P2 col=1 ;;
		node) ns=$NODE col=2 ;;
		outside) ns=$CLIENT col=3 ;;
		esac
		want= asks=
		for fam in 4 6; do
			mx_fam $fam
			mx_sources "$client" "$cfg"
			# (a here-string, not <(...): the guest has no /dev/fd)
			while read -r label proto host port n e1 e2 e3; do
				[ -n "$label" ] || continue
				case $col in 1) exp=$e1 ;; 2) exp=$e2 ;; 3) exp=$e3 ;; esac
				[ "$exp" = "=" ] && exp=$e1
				exp=${exp//SL/$SL}; exp=${exp//SR/$SR}; exp=${exp//S3/$S3}
				[ "$exp" = OUTR ] && exp=$OUTR
				want+="$label $host:$port $n $exp"$'\n'
				asks+="$label $proto $host $port $n"$'\n'
			done <<<"$(mx_matrix)"
		done
		printf '%s' "$asks" | ip netns exec "$ns" "$SY_ECHO" ask 1500 >"$SY_TMP/ans-$cfg-$client.txt" 2>&1
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
	cidr) flags=(--cluster-cidr 10.0.2.0/24,fd00:2::/32) ;;
	masq-all) flags=(--masquerade-all) ;;
	esac
	echo "# $cfg: daemon start at ${SECONDS}s"
	vm_daemon --sync-period 60s "${flags[@]}" || { notok "$cfg: daemon starts"; continue; }
	check "$cfg: 16 Services programmed in each family" \
		[ "$(ipvs -Ln | grep -c '^TCP  10\.96\.1\.\|^UDP  10\.96\.1\.')/$(ipvs -Ln | grep -c '^TCP  \[fd00:96::1:\|^UDP  \[fd00:96::1:')" = 16/16 ]
	mx_run "$cfg"
	for fam in 4 6; do
		mx_fam $fam
		if [ "$cfg" = default ]; then
			ip netns exec "$NODE" $SAVE -t nat | grep -- '-A SY-IPVS-SERVICES' | sed 's/^/#   /'
			check "IPv$fam eTP=Local: the NodePort's real servers are the local endpoint only" \
				[ "$(vm_rs "$(hp $NIP 30101)" | awk '{print $1}' | tr '\n' ' ')" = "$(hp $P1F 8080) " ]
			check "IPv$fam eTP=Local: the ClusterIP still has both endpoints" \
				[ "$(vm_rs "$(hp ${S}11 80)" | wc -l)" = 2 ]
			check "IPv$fam eTP=Local: port in ${SP}NODE-PORT-LOCAL-TCP" \
				ip netns exec "$NODE" ipset -q test ${SP}NODE-PORT-LOCAL-TCP 30101
			check "IPv$fam eTP=Local, no local endpoint: the NodePort falls back to the cluster endpoints" \
				[ "$(vm_rs "$(hp $NIP 30102)" | awk '{print $1}' | tr '\n' ' ')" = "$(hp $R1F 8080) " ]
			check "IPv$fam iTP=Local, no local endpoint: a virtual server without real servers" \
				[ -z "$(vm_rs "$(hp ${S}13 80)")" ]
			check "IPv$fam externalIP and LB IPs bound on kube-ipvs0" \
				[ "$(ip -n "$NODE" addr show kube-ipvs0 | grep -c "$INET ${X//./\\.}[0-9]*/")" = 5 ]
			check "IPv$fam LB sets: ${SP}LOAD-BALANCER-FW and -SOURCE-CIDR filled" \
				bash -c "ip netns exec $NODE ipset -q test ${SP}LOAD-BALANCER-FW ${X}60,tcp:80 && ip netns exec $NODE ipset -q test ${SP}LOAD-BALANCER-SOURCE-CIDR ${X}60,tcp:80,$C"
		fi
		if [ "$cfg" = masq-all ]; then
			check "IPv$fam masq-all: the rule is in SY-IPVS-SERVICES" \
				bash -c "ip netns exec $NODE $SAVE -t nat | grep -q -- '-A SY-IPVS-SERVICES -m set --match-set ${SP}CLUSTER-IP dst,dst -j SY-IPVS-MARK-MASQ'"
		fi
		if [ "$cfg" = cidr ]; then
			ip netns exec "$NODE" $SAVE -t filter | grep -- '-A SY-IPVS-FILTER' | sed 's/^/#   /'
			check "IPv$fam cidr: eTP=Local fallback listed in ${SP}NO-LOCAL-ENDPOINTS" \
				ip netns exec "$NODE" ipset -q test ${SP}NO-LOCAL-ENDPOINTS ${X}70,tcp:80
			check "IPv$fam cidr: iTP=Local without a local endpoint in ${SP}NO-ENDPOINTS (refused)" \
				ip netns exec "$NODE" ipset -q test ${SP}NO-ENDPOINTS ${S}13,tcp:80
		fi
	done
	vm_daemon_stop
done
vm_checks_done
