# SPDX-License-Identifier: Apache-2.0
# Inside the VM: schedulers (and a clear error for a missing one), session
# affinity, hairpin, SCTP, --ipvs-strict-arp and IPVS timeouts.  The
# Services are dual stack: schedulers, affinity, SCTP and hairpin are
# checked over IPv4 and IPv6 (each family's IPVS instance).  Who answers
# which client with which source address, per Service kind and config, is
# tests/vm/guest/ipvs-paths.sh.
. "$SY_SRC/tests/lib/common.sh"
. "$SY_SRC/tests/vm/guest/lib.sh"

vm_topology
vm_topology6
vm_pod_servers
# SCTP servers on both families (Python: a slow start under emulation;
# started side by side, then waited for)
SCTP=()
for i in 0 1 2; do
	SY_BG_NOWAIT=1 sy_bg "${PODS[$i]}" "$SY_TMP/sctp-$i.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" \
		--proto sctp --port 9000 --name "p$((i + 1))" --bind ::
	SCTP+=("$SY_LAST_PID")
done
sy_wait_servers "${SCTP[@]}"
CIP6=fd00:96::10 vm_svc "$M/web.yaml" web 10.96.0.10 "http:80:8080:TCP" "${POD_IPS[*]}"
CIP6=fd00:96::11 vm_svc "$M/sticky.yaml" sticky 10.96.0.11 "http:80:8080:TCP" "${POD_IPS[*]}" \
"  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}"
CIP6=fd00:96::12 vm_svc "$M/sctp.yaml" sctp 10.96.0.12 "s:90:9000:SCTP" "${POD_IPS[*]}"
# the address of a Service in family 4|6: vip 4 10.96.0.10 -> fd00:96::10 in 6
vip() { if [ "$1" = 4 ]; then echo "$2"; else echo "fd00:96::${2##*.}"; fi; }
hp() { case $1 in *:*) echo "[$1]:$2" ;; *) echo "$1:$2" ;; esac; }

# --- a scheduler the kernel lacks: exit 2 and a message naming it
ip netns exec "$NODE" "$SWITCHYARD" --proxy-mode=ipvs --manifests "$M" --hostname-override node1 \
	--healthz-bind-address= --metrics-bind-address= --ipvs-scheduler=nosuch >"$SY_TMP/bad.log" 2>&1
rc=$?
sed 's/^/#   /' "$SY_TMP/bad.log" | tail -n 3
check "unknown scheduler: exit 2 ($rc)" [ $rc = 2 ]
check "unknown scheduler: the error names it" grep -q 'scheduler "nosuch" is not available' "$SY_TMP/bad.log"
check "unknown scheduler: nothing left behind" bash -c "[ -z \"\$(ip netns exec $NODE ipvsadm -Sn)\" ]"

# --- schedulers: each one programmed, balancing sensibly, in both families
for s in rr wrr lc wlc sh dh sed nq mh; do
	: >"$DLOG"
	vm_daemon --ipvs-scheduler=$s --sync-period 30s || { notok "daemon with --ipvs-scheduler=$s"; continue; }
	printf 'v4 tcp 10.96.0.10 80 6\nv6 tcp fd00:96::10 80 6\n' |
		ip netns exec "$CLIENT" "$SY_ECHO" ask 2000 >"$SY_TMP/s-$s.txt"
	for f in 4 6; do
		check "scheduler $s: ipvsadm shows it (IPv$f)" \
			bash -c "ip netns exec $NODE ipvsadm -Ln -t '$(hp "$(vip $f 10.96.0.10)" 80)' | grep -qF 'TCP  $(hp "$(vip $f 10.96.0.10)" 80) $s'"
		distinct=$(awk -v l=v$f '$1 == l {print $2}' "$SY_TMP/s-$s.txt" | sort -u | wc -l)
		answers=$(grep -c "^v$f p[123] " "$SY_TMP/s-$s.txt")
		case $s in
		sh|dh|mh) # hashing on the source (sh, mh) or destination (dh): one pod for one client
			check "scheduler $s: IPv$f 6/6 answers ($answers), all from one pod ($distinct)" \
				[ "$answers" = 6 ] && [ "$distinct" = 1 ] ;;
		rr|wrr|lc|wlc|sed|nq) # equal weights, sequential connections: every pod used
			check "scheduler $s: IPv$f 6/6 answers ($answers), spread over the 3 pods ($distinct)" \
				[ "$answers" = 6 ] && [ "$distinct" = 3 ] ;;
		esac
	done
	vm_daemon_stop
done

# --- everything else with rr, strict ARP, timeouts
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

for f in 4 6; do
	sticky=$(hp "$(vip $f 10.96.0.11)" 80)
	# affinity
	ipvs -Ln -t "$sticky" | sed 's/^/#   /'
	check "IPv$f sessionAffinity ClientIP: persistent 60" \
		bash -c "ip netns exec $NODE ipvsadm -Ln -t '$sticky' | grep -qF 'TCP  $sticky rr persistent 60'"
	vm_ask "$CLIENT" tcp "$(vip $f 10.96.0.11)" 80 6 >"$SY_TMP/aff.txt"
	check "IPv$f sessionAffinity: 6 connections, one pod ($(cut -d' ' -f1 "$SY_TMP/aff.txt" | sort -u | tr '\n' ' '))" \
		bash -c "[ \$(grep -c '^p[123] ' $SY_TMP/aff.txt) = 6 ] && [ \$(cut -d' ' -f1 $SY_TMP/aff.txt | sort -u | wc -l) = 1 ]"
	vm_ask "$P3" tcp "$(vip $f 10.96.0.11)" 80 6 >"$SY_TMP/aff2.txt"
	check "IPv$f sessionAffinity: another client sticks too" \
		bash -c "[ \$(grep -c '^p[123] ' $SY_TMP/aff2.txt) = 6 ] && [ \$(cut -d' ' -f1 $SY_TMP/aff2.txt | sort -u | wc -l) = 1 ]"

	# SCTP
	ipvs -Ln --sctp-service "$(hp "$(vip $f 10.96.0.12)" 90)" | sed 's/^/#   /'
	vm_ask "$CLIENT" sctp "$(vip $f 10.96.0.12)" 90 3 >"$SY_TMP/sctp.txt"
	sed 's/^/#   /' "$SY_TMP/sctp.txt"
	check "IPv$f SCTP ClusterIP: 3 pods answer" \
		[ "$(grep '^p[123] ' "$SY_TMP/sctp.txt" | cut -d' ' -f1 | sort -u | wc -l)" = 3 ]

	# hairpin: a pod reaching itself through its Service is masqueraded
	self=${POD_IPS[0]}; [ $f = 6 ] && self=${POD6[0]}
	vm_ask "$P1" tcp "$(vip $f 10.96.0.10)" 80 3 >"$SY_TMP/hair.txt"
	sed 's/^/#   /' "$SY_TMP/hair.txt"
	check "IPv$f hairpin: 3/3 answers from p1 through the ClusterIP, including p1 itself" \
		bash -c "[ \$(grep -c '^p[123] ' $SY_TMP/hair.txt) = 3 ] && grep -q '^p1 ' $SY_TMP/hair.txt"
	check "IPv$f hairpin: p1 reaching itself sees the node address, not its own" \
		bash -c "grep '^p1 ' $SY_TMP/hair.txt | grep -qv ' $self\$'"
done
vm_daemon_stop

vm_checks_done
