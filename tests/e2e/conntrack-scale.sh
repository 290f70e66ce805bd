#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Conntrack cleanup with 10,000 unrelated entries in the node namespace
# (issue 5).  Entries are created with `conntrack -R` (a batch of -I
# commands); the daemon runs in the node namespace; one manifest change
# replaces a UDP and an SCTP Service's endpoint and removes a third
# Service.  Asserts exactly the stale entries are gone (UDP ClusterIP,
# externalIP, LoadBalancer IP, NodePort on a node address and on loopback,
# SCTP, the removed Service) and every other
# one is still there with its conntrack id: unrelated UDP/TCP, TCP to the
# same Service, UDP to the new endpoint, the same NodePort number on a
# remote address, another port of the same ClusterIP.  Prints the cleanup
# time the daemon logged (timing is bench/conntrack-bench.sh's job).
. "$(dirname "$0")/../lib/common.sh"
[ "$(id -u)" = 0 ] || sy_skip "needs root"
N_UNRELATED=${SY_CT_UNRELATED:-10000}

EXT_IP=203.0.113.10 LB_IP=203.0.113.20
VIP=10.96.0.10 VIP_S=10.96.0.30 VIP_GONE=10.96.0.40 NODE_IP=10.0.1.1 EP1=10.244.1.2 EP2=10.244.1.3
sy_mkns N node
ip -n "$N" addr add $NODE_IP/32 dev lo

M=$SY_TMP/manifests
mkdir -p "$M"
put() { cat >"$M/.$1.tmp" && mv "$M/.$1.tmp" "$M/$1"; }
svc() { # name ip proto port [nodeport]: with a NodePort, a LoadBalancer with an externalIP too
	local np=""
	[ -z "${5:-}" ] || np=", nodePort: $5"
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: t}\nspec:\n' "$1"
	printf '  clusterIP: %s\n  type: %s\n' "$2" "$([ -n "$np" ] && echo LoadBalancer || echo ClusterIP)"
	[ -z "$np" ] || printf '  externalIPs: [%s]\n' $EXT_IP
	printf '  ports:\n'
	printf '  - {name: p, protocol: %s, port: %s, targetPort: 5353%s}\n' "$3" "$4" "$np"
	printf '  - {name: t, protocol: TCP, port: %s, targetPort: 5353}\n' "$4"
	[ -z "$np" ] || printf 'status:\n  loadBalancer:\n    ingress: [{ip: %s}]\n' $LB_IP
	printf -- '---\n'
}
slice() { # svc proto ip
	printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\n'
	printf 'metadata: {name: %s-1, namespace: t, labels: {kubernetes.io/service-name: %s}}\n' "$1" "$1"
	printf 'ports:\n- {name: p, protocol: %s, port: 5353}\n- {name: t, protocol: TCP, port: 5353}\n' "$2"
	printf 'endpoints:\n- addresses: [%s]\n  conditions: {ready: true}\n---\n' "$3"
}
# one file, replaced whole by one rename: the change below is one manifest
# event and one sync (the directory reloads each changed file on its own)
{ svc dns $VIP UDP 53 30053; svc sctp $VIP_S SCTP 9; svc gone $VIP_GONE UDP 53
  slice dns UDP $EP1; slice sctp SCTP $EP1; slice gone UDP $EP1; } | put all.yaml

MODE=${SY_CT_MODE:-auto}
LOG=$SY_TMP/daemon.log
start_daemon() {
	sy_bg "$N" "$LOG" "$SWITCHYARD" --proxy-mode="$1" --manifests "$M" --hostname-override node1 \
		--healthz-bind-address= --metrics-bind-address= -v 2
	sy_wait 30 grep -q "First sync complete\|Cannot use the" "$LOG"
}
if [ "$MODE" != none ]; then
	start_daemon iptables
	if grep -q "Cannot use the iptables proxy mode" "$LOG"; then
		[ "$MODE" = iptables ] && sy_fail "iptables mode unavailable"
		MODE=none
		start_daemon none
	else
		MODE=iptables
	fi
else
	start_daemon none
fi
grep -q "First sync complete" "$LOG" || sy_fail "no first sync ($MODE): $(cat "$LOG")"

# entries: 8 "stale" kinds and 7 "kept" kinds, a few of each, plus the unrelated bulk
ent() { # proto src sport dst dport reply-src reply-sport
	local extra="-u SEEN_REPLY"
	case $1 in
	tcp) extra="--state ESTABLISHED" ;;
	sctp) extra="--state ESTABLISHED --orig-vtag 1 --reply-vtag 2" ;;
	esac
	echo "-I -p $1 -s $2 -d $4 --sport $3 --dport $5 -r $6 -q $2 --reply-port-src $7 --reply-port-dst $3 -t 600 $extra"
}
{
	for i in 1 2 3 4 5; do
		c=10.1.0.$i
		ent udp $c 1000 $VIP 53 $EP1 5353            # stale: ClusterIP → old endpoint
		ent udp $c 1001 $NODE_IP 30053 $EP1 5353     # stale: NodePort on a node address
		ent udp $c 1002 127.0.0.1 30053 $EP1 5353    # stale: NodePort on loopback
		ent sctp $c 1003 $VIP_S 9 $EP1 5353          # stale: SCTP
		ent udp $c 1004 $VIP_GONE 53 $EP1 5353       # stale: removed Service
		ent udp $c 1005 $EXT_IP 53 $EP1 5353         # stale: externalIP
		ent udp $c 1006 $LB_IP 53 $EP1 5353          # stale: LoadBalancer IP
	done
} >"$SY_TMP/stale.txt"
{
	for i in 1 2 3 4 5; do
		c=10.2.0.$i
		ent tcp $c 1000 $VIP 53 $EP1 5353            # kept: TCP
		ent udp $c 1001 $VIP 53 $EP2 5353            # kept: the new endpoint
		ent udp $c 1002 $VIP 54 $EP1 5353            # kept: another port of the address
		ent udp $c 1003 192.0.2.1 30053 192.0.2.1 30053  # kept: NodePort number, remote address
		ent tcp $c 1004 $VIP_GONE 53 $EP1 5353       # kept: TCP of the removed Service
		ent udp $c 1005 $LB_IP 53 $EP2 5353          # kept: LoadBalancer IP, new endpoint
	done
	$PY - "$N_UNRELATED" <<'EOF'
import sys
n = int(sys.argv[1])
for i in range(n):
    a, b = divmod(i, 250)
    proto = "tcp" if i % 5 == 4 else "udp"
    st = "--state ESTABLISHED" if proto == "tcp" else "-u SEEN_REPLY"
    c, s = f"10.30.{a % 250}.{b + 1}", f"10.20.{(a // 250) % 250}.{a % 250 + 1}"
    print(f"-I -p {proto} -s {c} -d {s} --sport {1024 + i % 60000} --dport {5000 + i % 7} "
          f"-r {s} -q {c} --reply-port-src {5000 + i % 7} --reply-port-dst {1024 + i % 60000} -t 600 {st}")
EOF
} >"$SY_TMP/kept.txt"
ip netns exec "$N" conntrack -R "$SY_TMP/stale.txt" 2>/dev/null || sy_fail "conntrack -R stale"
ip netns exec "$N" conntrack -R "$SY_TMP/kept.txt" 2>/dev/null || sy_fail "conntrack -R kept"
N_STALE=$(wc -l <"$SY_TMP/stale.txt")
N_KEPT=$(wc -l <"$SY_TMP/kept.txt")
ids() { # "proto osrc:osport>odst:odport id", one line per entry
	ip netns exec "$N" conntrack -L -o id 2>/dev/null | awk '{
		delete f
		for (i = 2; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[2] != "" && !(kv[1] in f)) f[kv[1]] = kv[2]
		}
		if ("id" in f) print $1, f["src"] ":" f["sport"] ">" f["dst"] ":" f["dport"], f["id"]
	}' | sort
}
ids >"$SY_TMP/before"
[ "$(wc -l <"$SY_TMP/before")" = $((N_STALE + N_KEPT)) ] ||
	sy_fail "expected $((N_STALE + N_KEPT)) entries, have $(wc -l <"$SY_TMP/before")"
sy_log "$N_STALE stale + $N_KEPT other entries loaded ($MODE mode)"

# a sync of the change (changed > 0): not a periodic full sync that came first
syncs=$(grep -c "SyncProxyRules complete" "$LOG")
{ svc dns $VIP UDP 53 30053; svc sctp $VIP_S SCTP 9; slice dns UDP $EP2; slice sctp SCTP $EP2; } |
	put all.yaml
sy_wait 30 sh -c "grep 'SyncProxyRules complete' '$LOG' | tail -n +$((syncs + 1)) | grep -q ' changed=[1-9]'" ||
	sy_fail "no sync after the change: $(tail -5 "$LOG")"
line=$(grep "Conntrack cleanup: deleted" "$LOG" | tail -1)
sy_log "daemon: ${line#*] }"
ids >"$SY_TMP/after"
gone=$(comm -23 "$SY_TMP/before" "$SY_TMP/after" | wc -l)
new=$(comm -13 "$SY_TMP/before" "$SY_TMP/after" | wc -l)
[ "$new" = 0 ] || sy_fail "$new entries appeared or changed id: $(comm -13 "$SY_TMP/before" "$SY_TMP/after" | head)"
# exactly the stale ones are gone
comm -23 "$SY_TMP/before" "$SY_TMP/after" | awk '{print $2}' | sort >"$SY_TMP/gone"
sed -n 's/^-I -p [a-z]* -s \([0-9.]*\) -d \([0-9.]*\) --sport \([0-9]*\) --dport \([0-9]*\) .*/\1:\3>\2:\4/p' \
	"$SY_TMP/stale.txt" | sort >"$SY_TMP/want"
diff "$SY_TMP/want" "$SY_TMP/gone" >"$SY_TMP/diff" ||
	sy_fail "deleted set differs from the stale set (< not deleted, > wrongly deleted): $(head -20 "$SY_TMP/diff")"
echo "$line" | grep -q "deleted $N_STALE " || sy_fail "logged count: $line"
sy_pass "$gone stale entries deleted, $N_KEPT others untouched; ${line#*] }"
