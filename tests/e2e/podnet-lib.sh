#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The pod network lab, sourced by tests/e2e/podnet-*.sh (run on its own it
# only says so and skips).
#
#   underlay namespace "ul": bridge br0 (10.10.100.0/24, MTU 1500)
#   node namespaces kube01 10.10.100.133, kube02 .134, kube03 .135 (eth0 on br0),
#     each running switchyard --pod-network with its own subnet.env / CNI dir
#   pods: namespaces attached by Debian's /usr/lib/cni/bridge + host-local
#     (+ portmap) exactly as a container runtime calls them, DEL on teardown
#   "internet": a namespace on br0 at 10.10.100.250, outside Network
# Node objects live in one manifest directory shared by every node.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "podnet-lib.sh: the lab library of tests/e2e/podnet-*.sh (not a test)" >&2
	exit 77
fi
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] ||
	sy_skip "containernetworking-plugins not installed"
command -v iperf3 >/dev/null || sy_skip "iperf3 not installed"

PN_NET=10.111.0.0/16
PN_M=$SY_TMP/manifests
PN_VX=sy-vx.1
mkdir -p "$PN_M"
declare -A PN_NS PN_IP PN_SUBNET PN_DEV PN_PID PN_LOG
declare -A POD_NS POD_IP POD_NODE POD_ID
PN_PODS=()

pn_teardown() {
	local p
	for p in "${PN_PODS[@]}"; do pn_pod_del "$p" 2>/dev/null; done
	PN_PODS=()
	sy_cleanup
}
trap pn_teardown EXIT

# pn_underlay: the shared L2 segment
pn_underlay() {
	sy_mkns PN_UL ul
	ip -n "$PN_UL" link add br0 type bridge
	ip -n "$PN_UL" link set br0 up
}

# pn_netconf JSON: the net-conf.json every node reads
pn_netconf() {
	printf '%s\n' "$1" >"$SY_TMP/net-conf.json"
}

# pn_node NAME IP/PLEN SUBNET [GATEWAY [ATTACH_NS]]: a node namespace on br0
# (or, with ATTACH_NS, on a veth to that namespace, which gets GATEWAY/PLEN).
pn_node() {
	local name=$1 ipp=$2 subnet=$3 gw=${4:-} attach=${5:-} nodens port
	sy_mkns nodens "$name"
	PN_NS[$name]=$nodens
	PN_IP[$name]=${ipp%/*}
	PN_SUBNET[$name]=$subnet
	if [ -z "$attach" ]; then
		port="p$name"
		sy_veth "$nodens" eth0 "$ipp" "$PN_UL" "$port" -
		ip -n "$PN_UL" link set "$port" master br0
	else
		sy_veth "$nodens" eth0 "$ipp" "$attach" "e$name" "$gw/${ipp#*/}"
	fi
	[ -n "$gw" ] && ip -n "$nodens" route add default via "$gw"
	ip netns exec "$nodens" sysctl -qw net.ipv4.ip_forward=1
	mkdir -p "$SY_TMP/$name"
	pn_node_manifest "$name"
}

# pn_node_manifest NAME [EXTRA_ANNOTATIONS_YAML]: write/refresh its Node object
# (PN_SUBNET[NAME]=- leaves spec.podCIDR unassigned)
pn_node_manifest() {
	local name=$1 ann=${2:-} spec="{podCIDR: ${PN_SUBNET[$1]}, podCIDRs: [${PN_SUBNET[$1]}]}"
	[ "${PN_SUBNET[$name]}" = - ] && spec="{}"
	cat >"$PN_M/.node-$name.tmp" <<Y
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations: {${ann}}
spec: $spec
status:
  addresses:
  - {type: InternalIP, address: ${PN_IP[$name]}}
  - {type: Hostname, address: $name}
Y
	mv "$PN_M/.node-$name.tmp" "$PN_M/node-$name.yaml"
}

# pn_node6_manifest NAME [EXTRA_ANNOTATIONS_YAML]: its Node object with the
# IPv6 podCIDR PN_SUBNET6[NAME] and InternalIP PN_IP6[NAME], next to the
# IPv4 ones (PN_SUBNET[NAME]=-: IPv6 only)
declare -A PN_IP6 PN_SUBNET6
pn_node6_manifest() {
	local name=$1 cidrs="\"${PN_SUBNET6[$1]}\"" v4=""
	[ "${PN_SUBNET[$name]}" = - ] || {
		cidrs="${PN_SUBNET[$name]}, $cidrs"
		v4="  - {type: InternalIP, address: ${PN_IP[$name]}}"
	}
	printf '%s\n' "apiVersion: v1" "kind: Node" "metadata:" "  name: $name" \
		"  annotations: {${2:-}}" "spec: {podCIDRs: [$cidrs]}" "status:" "  addresses:" \
		${v4:+"$v4"} "  - {type: InternalIP, address: \"${PN_IP6[$name]}\"}" \
		>"$PN_M/.node-$name.tmp"
	mv "$PN_M/.node-$name.tmp" "$PN_M/node-$name.yaml"
}

# pn_start NAME [EXTRA FLAGS]: switchyard inside the node namespace
pn_start() {
	local name=$1; shift
	PN_LOG[$name]=$SY_TMP/$name/switchyard.log
	sy_bg "${PN_NS[$name]}" "${PN_LOG[$name]}" "$SWITCHYARD" --pod-network \
		--net-conf "$SY_TMP/net-conf.json" --manifests "$PN_M" \
		--hostname-override "$name" --proxy-mode="${PN_PROXY_MODE:-iptables}" \
		--subnet-file "$SY_TMP/$name/subnet.env" --cni-conf-dir "$SY_TMP/$name/cni" \
		--healthz-bind-address= --metrics-bind-address=127.0.0.1:10249 -v 2 "$@"
	PN_PID[$name]=$SY_LAST_PID
}

pn_wait_ready() {
	local name=$1
	sy_wait 60 test -s "$SY_TMP/$name/cni/10-switchyard.conflist" ||
		sy_fail "$name: no conflist written: $(tail -n 20 "${PN_LOG[$name]}")"
}

# The CNI "runtime": call every plugin of the conflist in order (ADD) or in
# reverse (DEL) with the plugin config on stdin, exactly as libcni does.
# host-local gets a per-node dataDir so the lab's nodes do not share leases.
cat >"$SY_TMP/cni-run.py" <<'PY'
import json, os, subprocess, sys
cmd, conflist, datadir, netns, cid, result_file = sys.argv[1:7]
conf = json.load(open(conflist))
plugins = conf["plugins"]
if cmd == "DEL":
    plugins = list(reversed(plugins))
prev = None
if cmd == "DEL" and os.path.exists(result_file):
    prev = json.load(open(result_file))
for p in plugins:
    p = dict(p)
    p["name"] = conf["name"]
    p["cniVersion"] = conf["cniVersion"]
    if "ipam" in p:
        p["ipam"] = dict(p["ipam"], dataDir=datadir)
    if prev is not None:
        p["prevResult"] = prev
    env = dict(os.environ, CNI_COMMAND=cmd, CNI_CONTAINERID=cid, CNI_NETNS=netns,
               CNI_IFNAME="eth0", CNI_PATH="/usr/lib/cni")
    r = subprocess.run(["/usr/lib/cni/" + p["type"]], input=json.dumps(p).encode(),
                       env=env, capture_output=True)
    if r.returncode != 0:
        sys.stderr.write("%s %s: %s %s\n" % (cmd, p["type"], r.stdout.decode(), r.stderr.decode()))
        sys.exit(1)
    if cmd == "ADD":
        prev = json.loads(r.stdout)
if cmd == "ADD":
    json.dump(prev, open(result_file, "w"))
    print(prev["ips"][0]["address"].split("/")[0])
PY

# pn_pod NODE POD: a pod namespace attached through CNI ADD; sets POD_IP[POD]
pn_pod() {
	local node=$1 pod=$2 podns ip
	sy_mkns podns "$pod"
	POD_NS[$pod]=$podns
	POD_NODE[$pod]=$node
	POD_ID[$pod]=$podns
	ip=$(ip netns exec "${PN_NS[$node]}" /usr/bin/python3 "$SY_TMP/cni-run.py" ADD \
		"$SY_TMP/$node/cni/10-switchyard.conflist" "$SY_TMP/$node/ipam" \
		"/var/run/netns/$podns" "${POD_ID[$pod]}" "$SY_TMP/$node/$pod.result" \
		2>"$SY_TMP/$node/$pod.err") || sy_fail "CNI ADD $pod on $node: $(cat "$SY_TMP/$node/$pod.err")"
	POD_IP[$pod]=$ip
	PN_PODS+=("$pod")
}

pn_pod_del() {
	local pod=$1 node=${POD_NODE[$1]}
	ip netns exec "${PN_NS[$node]}" /usr/bin/python3 "$SY_TMP/cni-run.py" DEL \
		"$SY_TMP/$node/cni/10-switchyard.conflist" "$SY_TMP/$node/ipam" \
		"/var/run/netns/${POD_NS[$pod]}" "${POD_ID[$pod]}" "$SY_TMP/$node/$pod.result" \
		>/dev/null 2>&1
}

pn_mac() { # IP → the VTEP MAC switchyard derives
	local a b c d
	IFS=. read -r a b c d <<<"$1"
	printf '5e:79:%02x:%02x:%02x:%02x' "$a" "$b" "$c" "$d"
}

# Kernel state of NODE, normalised and sorted
pn_routes() { ip -n "${PN_NS[$1]}" route show proto 94 | awk '{$1=$1};1' | sort; }
pn_neighs() { ip -n "${PN_NS[$1]}" -4 neigh show dev "$PN_VX" 2>/dev/null | awk '{$1=$1};1' | sort; }
pn_fdbs() { bridge -n "${PN_NS[$1]}" fdb show dev "$PN_VX" 2>/dev/null | awk '{$1=$1};1' | sort; }

# pn_expected NODE KIND PEER...: what NODE must hold; KIND per peer as PEER:vxlan | PEER:direct
pn_expected() {
	local node=$1 p name kind sub; shift
	: >"$SY_TMP/exp.routes"; : >"$SY_TMP/exp.neighs"; : >"$SY_TMP/exp.fdbs"
	for p in "$@"; do
		name=${p%%:*}; kind=${p#*:}; sub=${PN_SUBNET[$name]}
		if [ "$kind" = vxlan ]; then
			echo "$sub via ${sub%/*} dev $PN_VX onlink" >>"$SY_TMP/exp.routes"
			echo "${sub%/*} lladdr $(pn_mac "${PN_IP[$name]}") PERMANENT" >>"$SY_TMP/exp.neighs"
			echo "$(pn_mac "${PN_IP[$name]}") dst ${PN_IP[$name]} self permanent" >>"$SY_TMP/exp.fdbs"
		else
			echo "$sub via ${PN_IP[$name]} dev eth0" >>"$SY_TMP/exp.routes"
		fi
	done
	sort -o "$SY_TMP/exp.routes" "$SY_TMP/exp.routes"
	sort -o "$SY_TMP/exp.neighs" "$SY_TMP/exp.neighs"
	sort -o "$SY_TMP/exp.fdbs" "$SY_TMP/exp.fdbs"
}

_pn_matches() {
	local node=$1
	[ "$(pn_routes "$node")" = "$(cat "$SY_TMP/exp.routes")" ] &&
	[ "$(pn_neighs "$node")" = "$(cat "$SY_TMP/exp.neighs")" ] &&
	[ "$(pn_fdbs "$node")" = "$(cat "$SY_TMP/exp.fdbs")" ]
}

# pn_check NODE PEER:KIND...: wait until NODE's routes/neigh/FDB are exactly these
pn_check() {
	local node=$1; shift
	pn_expected "$node" "$@"
	sy_wait 30 _pn_matches "$node" || {
		echo "--- $node routes (proto 94):"; pn_routes "$node"
		echo "--- expected:"; cat "$SY_TMP/exp.routes"
		echo "--- $node neigh dev $PN_VX:"; pn_neighs "$node"
		echo "--- expected:"; cat "$SY_TMP/exp.neighs"
		echo "--- $node fdb dev $PN_VX:"; pn_fdbs "$node"
		echo "--- expected:"; cat "$SY_TMP/exp.fdbs"
		echo "--- log:"; tail -n 20 "${PN_LOG[$node]}"
		sy_fail "$node: kernel entries do not match the peers"
	} >&2
	sy_log "$node: routes/neigh/fdb match $*"
}

# pn_mon_ready NODE FILE: an `ip monitor` started in NODE's namespace, writing
# FILE, sees events now (a marker route on lo, added and deleted until it
# shows): before that, a change would go unseen
pn_mon_ready() {
	local i
	for i in $(seq 1 300); do
		ip -n "${PN_NS[$1]}" route add 192.0.2.99/32 dev lo
		ip -n "${PN_NS[$1]}" route del 192.0.2.99/32 dev lo
		grep -q 192.0.2.99 "$2" && return 0
		sleep 0.1
	done
	sy_fail "ip monitor in $1 shows no events: $(cat "$2")"
}

# pn_ping FROM_POD TO_POD
pn_ping() {
	ip netns exec "${POD_NS[$1]}" ping -c 2 -i 0.2 -W 2 "${POD_IP[$2]}" >/dev/null ||
		sy_fail "ping ${1} (${POD_IP[$1]}) → ${2} (${POD_IP[$2]}) failed"
}

# pn_ping6 FROM_POD TO_POD: ping -6 between pods (POD_IP6, else POD_IP in an
# IPv6-only network); a few tries, the pod's IPv6 address may still be settling (DAD)
declare -A POD_IP6
pn_ping6() {
	local i to=${POD_IP6[$2]:-${POD_IP[$2]}}
	for i in 1 2 3 4 5 6 7 8 9 10; do
		ip netns exec "${POD_NS[$1]}" ping -6 -c 2 -i 0.2 -W 2 "$to" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	sy_fail "ping -6 $1 (${POD_IP6[$1]:-${POD_IP[$1]}}) → $2 ($to) failed"
}

# pn_tcp6 FROM_POD TO_POD: a TCP echo server in TO_POD (port 8080) answers
# FROM_POD over IPv6 and sees FROM_POD's own address
pn_tcp6() {
	local from=$1 to=$2 ans f6=${POD_IP6[$1]:-${POD_IP[$1]}} t6=${POD_IP6[$2]:-${POD_IP[$2]}}
	sy_bg "${POD_NS[$to]}" "$SY_TMP/echo-$to.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" \
		--proto tcp --port 8080 --name "$to" --bind ::
	sy_wait 20 sh -c "ip netns exec ${POD_NS[$to]} ss -ltn | grep -q :8080" || sy_fail "echo server in $to"
	ans=$(sy_ask "${POD_NS[$from]}" tcp "$t6" 8080)
	[ "$ans" = "$to $f6" ] || sy_fail "pod-to-pod TCP over IPv6 $from → $to: \"$ans\", want \"$to $f6\""
	sy_log "IPv6 TCP $from → $to answered, source $f6 kept"
}

# pn_tx NODE DEV → the packets DEV has sent
pn_tx() { ip -n "${PN_NS[$1]}" -s link show "$2" | awk '/TX:/{getline; print $2}'; }

# pn_mac6 IPv6 → the IPv6 VTEP MAC switchyard derives (5e:76 + its last 4 bytes)
pn_mac6() {
	/usr/bin/python3 -c 'import ipaddress,sys; b=ipaddress.IPv6Address(sys.argv[1]).packed[12:]; print("5e:76:" + ":".join("%02x" % x for x in b))' "$1"
}

# pn_state6 NODE DEV: NODE's IPv6 routes (proto 94) and DEV's permanent
# neighbours and FDB remotes, normalised
pn_state6() {
	ip -n "${PN_NS[$1]}" -6 route show proto 94 | sed -E 's/ metric [0-9]+| pref [a-z]+//g' | awk '{$1=$1};1'
	ip -n "${PN_NS[$1]}" -6 neigh show dev "$2" nud permanent | awk '{print "neigh", $1, $2, $3}'
	bridge -n "${PN_NS[$1]}" fdb show dev "$2" | grep ' dst ' | awk '{$1=$1; print "fdb", $0}'
}

# pn_wait_state6 NODE CMD...: wait until CMD's output, sorted, is $SY_TMP/exp6
pn_wait_state6() {
	local node=$1 i; shift
	for i in $(seq 1 120); do
		if [ "$("$@" | sort)" = "$(cat "$SY_TMP/exp6")" ]; then
			sy_log "$node: $(tr '\n' ';' <"$SY_TMP/exp6")"
			return 0
		fi
		sleep 0.25
	done
	{
		echo "--- $node:"; "$@" | sort; echo "--- expected:"; cat "$SY_TMP/exp6"
		echo "--- log:"; tail -n 20 "${PN_LOG[$node]}"
	} >&2
	sy_fail "$node: IPv6 entries do not match"
}

# pn_iperf FROM_POD TO_POD [BYTES]: TCP transfer; prints bits/s
pn_iperf() {
	local from=$1 to=$2 bytes=${3:-4M} out
	ip netns exec "${POD_NS[$to]}" iperf3 -s -1 -D -p 5201 -B "${POD_IP[$to]}" \
		--logfile "$SY_TMP/iperf-$to.log" || sy_fail "iperf3 server in $to"
	sy_wait 20 sh -c "ip netns exec ${POD_NS[$to]} ss -ltn | grep -q :5201" || sy_fail "iperf3 listen"
	out=$(ip netns exec "${POD_NS[$from]}" iperf3 -c "${POD_IP[$to]}" -p 5201 -n "$bytes" -J \
		2>&1) || sy_fail "iperf3 $from → $to: $(echo "$out" | tail -n 5)"
	echo "$out" | /usr/bin/python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))'
}

# pn_pod_mtu POD → the MTU of its eth0
pn_pod_mtu() { ip -n "${POD_NS[$1]}" -o link show eth0 | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'; }

# pn_service CLUSTER_IP FROM_POD EP_POD...: a Service (port 80 → 8080) whose
# endpoints are the EP_PODs (each runs an echo server on 8080); FROM_POD must
# reach every one of them through the proxy, with its own pod IP kept.
pn_service() {
	local cip=$1 from=$2 p ans seen="" last="" want i n=0 name
	shift 2
	name=svc-${cip//./-}
	{
		cat <<Y
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: default}
spec:
  clusterIP: $cip
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $name-1, namespace: default, labels: {kubernetes.io/service-name: $name}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
Y
		for p in "$@"; do
			echo "- {addresses: [${POD_IP[$p]}], nodeName: ${POD_NODE[$p]}, conditions: {ready: true}}"
		done
	} >"$SY_TMP/.$name.tmp"
	mv "$SY_TMP/.$name.tmp" "$PN_M/$name.yaml"
	for i in $(seq 1 80); do
		ans=$(sy_ask "${POD_NS[$from]}" tcp "$cip" 80)
		for p in "$@"; do
			[ "$ans" = "$p ${POD_IP[$from]}" ] && case " $seen " in *" $p "*) ;; *) seen="$seen $p" ;; esac
		done
		case $ans in "") ;; *" ${POD_IP[$from]}") ;; *) last=$ans ;; esac
		[ "$(echo $seen | wc -w)" = $# ] && break
		sleep 0.1
	done
	[ "$(echo $seen | wc -w)" = $# ] ||
		sy_fail "Service $cip:80 from $from reached only:$seen of $* (last other answer: $last)"
	sy_log "Service $cip reached$seen from $from (${POD_IP[$from]} kept)"
}
