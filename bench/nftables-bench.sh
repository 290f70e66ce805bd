#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/nftables-bench.sh — the nftables mode against the reference:
# kube-proxy's own approach (its nftables ruleset for the same Services,
# written by bench/nft-gen.py after pkg/proxy/nftables/proxier.go and
# applied with `nft -f`), each in a fresh network namespace.  Prints
# tables; never passes or fails on a number.
#   1. reference: kube-proxy's first (full) sync of N Services x 10 endpoints
#      (a tenth with NodePorts) with `nft -f`: wall time, CPU time, peak RSS
#      of nft, kernel time; then one endpoint change as kube-proxy does it on
#      every sync: `nft --json --terse list table ip kube-proxy` plus the
#      partial transaction (the changed Service's chains, the stale chain
#      flushed) — each timed, medians of SY_BENCH_REPEAT runs
#   2. the kernel's time for one big transaction and anonymous sets:
#      SY_BENCH_ANON Services (2000) with the `numgen random mod N vmap {…}`
#      rules, without them (a plain `goto` to the first endpoint instead:
#      the same rule count), and as two transactions of half the Services;
#      then small transactions (a set element, a rule with and without a goto,
#      a verdict-map element) into that table: what a commit costs beyond
#      its content
#   3. switchyard --proxy-mode=nftables --manifests DIR with the same
#      Services: the first sync (the daemon's log) and peak RSS, then one
#      endpoint change (one file rewritten): the daemon's sync (sync start
#      → kernel acknowledgement) and file write → sync done; the kernel
#      time of its batches from a second run under strace
#   4. side by side: time, peak RSS, ratios
# Kernel time = the time nft (or the daemon) spends inside sendmsg/sendto on
# its NETFILTER netlink socket (strace -T, --seccomp-bpf so that no other
# syscall stops): nfnetlink processes a batch, commit included, inside the
# sendmsg that carries it.
#   5. (BENCH_PARTS="… 5") data plane: new connections/s with wrk
#      (Connection: close) through the measure Service's ClusterIP, its
#      externalIP and its NodePort on the node's address (SY_BENCH_DP_PATHS,
#      default "cluster external nodeport"; one line each) and iperf3 through
#      the ClusterIP, vs straight to the pod, with 0 and SY_BENCH_DP (10000)
#      Services, kube-proxy's ruleset and switchyard's (SY_BENCH_DP_REF=0:
#      switchyard's labs only), then per path and round the paired ratio
#      (path ÷ direct at N) ÷ (the same at 0) with a bootstrap 95 % interval
#   6. (BENCH_PARTS="… 6") endpoint-selection layouts (nft-gen.py layout):
#      kernel time of one transaction of SY_BENCH_LAYOUT_N (10000) Services
#      with no per-Service set, a hash map or an interval map per Service,
#      then three small transactions into the interval table (3 times each)
#   7. (BENCH_PARTS="7") dual stack: the daemon with N dual-stack Services
#      (nft-gen.py manifests --dual-stack: both ClusterIPs, 10 endpoints per
#      family) against the same N IPv4-only: first sync, peak RSS, one IPv4
#      endpoint change; medians and ratios (issue 17: ≤ 2.2×)
# Environment: SY_BUILD (./build), SY_BENCH_SIZES (default "1000 5000"; the
# full set is "1000 5000 10000", 50000 optional: the reference takes minutes
# from 10000 on), SY_BENCH_REPEAT (full syncs per size, default 1), the
# reference's one change (list + partial) SY_BENCH_REF_CHANGES times (default 3;
# 0: not measured), SY_BENCH_CHANGES (switchyard's endpoint changes per size,
# back and forth, default 1; medians; each one alters the endpoint count 10 <-> 9
# unless SY_BENCH_COUNT_CHANGE=0), SY_BENCH_ANON (2000), BENCH_PARTS
# (default "1 2 3"); part 5: BENCH_ROUNDS, DUR, SY_BENCH_DP_REF=0 (switchyard's labs
# only), SY_BENCH_DP_PATHS (any of cluster external nodeport; default all three),
# SY_BENCH_DP_ABBA=K (K A-B-B-A blocks per path, DUR_ABBA s each); part 7 (dual stack against IPv4-only): SY_BENCH_DS_SIZES (10000),
# SY_BENCH_DS_REPEAT (3).
set -u
SY_SRC=$(cd "$(dirname "$0")/.." && pwd)
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
. "$SY_SRC/tests/lib/common.sh"
GEN="/usr/bin/python3 $SY_SRC/bench/nft-gen.py"
SIZES=${SY_BENCH_SIZES:-1000 5000}
REPEAT=${SY_BENCH_REPEAT:-1}
ANON=${SY_BENCH_ANON:-2000}
MODE=${SY_BENCH_MODE:-nftables}   # another mode only to try the plumbing of part 3
for t in nft strace /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "missing: $t (tools/lib.sh SY_PACKAGES)" >&2; exit 2; }
done

calc() { awk "BEGIN { print $1 }"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "nan" }'; }
part() { case " ${BENCH_PARTS:-1 2 3} " in *" $1 "*) return 0 ;; esac; return 1; }
gone() { ip netns del "$1" 2>/dev/null; }
# ktime FILE: seconds spent in sendmsg/sendto on NETFILTER sockets (strace -T -yy output)
ktime() { awk -F'<' '/(sendmsg|sendto)\([0-9]+<NETLINK:\[NETFILTER/ { t = $NF; sub(/>.*/, "", t); s += t } END { printf "%.6f\n", s }' "$1"; }
# ktime_msg FILE: the same for sendmsg only (the batches; dump requests go by sendto)
ktime_msg() { awk -F'<' '/sendmsg\([0-9]+<NETLINK:\[NETFILTER/ { t = $NF; sub(/>.*/, "", t); s += t } END { printf "%.6f\n", s }' "$1"; }
# nftrun NS TAG ARGS...: nft ARGS in NS under strace and /usr/bin/time;
# sets R_WALL R_CPU R_KB R_KERN (seconds, seconds, kB, seconds); 1 on failure
nftrun() {
	local ns=$1 tag=$2
	shift 2
	ip netns exec "$ns" strace -f -T -yy --seccomp-bpf -e trace=sendmsg,sendto -o "$SY_TMP/st-$tag" \
		/usr/bin/time -f "TIME %e %U %S %M" -o "$SY_TMP/tm-$tag" nft "$@" >"$SY_TMP/out-$tag" 2>"$SY_TMP/err-$tag" ||
		{ echo "   nft $* failed:"; head -3 "$SY_TMP/err-$tag"; return 1; }
	read -r _ R_WALL u s R_KB < <(grep '^TIME' "$SY_TMP/tm-$tag")
	R_CPU=$(calc "$u + $s")
	R_KERN=$(ktime "$SY_TMP/st-$tag")
}

declare -A REF_T REF_CPU REF_RSS REF_K REF_LIST REF_LISTMB REF_PART REF_CHG SY_T SY_RSS SY_CHG SY_W2S SY_K SY_KC
if part 1; then
echo "== 1. reference: kube-proxy's nftables sync with nft -f ($(nft --version)), N Services x 10 endpoints"
printf '%-6s %8s | %9s %8s %9s %8s | %9s %8s %9s %8s %9s\n' N objects full_s cpu_s rss_MB kern_s \
	list_s list_MB partial_s kern_s change_s
for n in $SIZES; do
	$GEN full "$n" >"$SY_TMP/full-$n.nft"
	$GEN partial "$n" >"$SY_TMP/partial-$n.nft"
	: >"$SY_TMP/rf-$n"
	for r in $(seq 1 "$REPEAT"); do
		sy_mkns R "r$n-$r"
		nftrun "$R" "full-$n-$r" -f "$SY_TMP/full-$n.nft" || continue
		echo "$R_WALL $R_CPU $R_KB $R_KERN" >>"$SY_TMP/rf-$n"
		if [ "$r" -lt "$REPEAT" ]; then gone "$R"; continue; fi
		objs=$(ip netns exec "$R" nft list table ip kube-proxy | grep -c .)
		: >"$SY_TMP/rc-$n"
		for c in $(seq 1 "${SY_BENCH_REF_CHANGES:-3}"); do
			nftrun "$R" "list-$n-$c" --json --terse list table ip kube-proxy || continue
			lw=$R_WALL
			lmb=$(calc "$(stat -c %s "$SY_TMP/out-list-$n-$c") / 1048576")
			nftrun "$R" "part-$n-$c" -f "$SY_TMP/partial-$n.nft" || continue
			echo "$lw $lmb $R_WALL $R_KERN $(calc "$lw + $R_WALL")" >>"$SY_TMP/rc-$n"
		done
		seen=$(ip netns exec "$R" nft list table ip kube-proxy | grep -c 'dnat to 10.250.0.1:8080')
		gone "$R"
	done
	col() { awk -v c="$2" '{ print $c }' "$1" | median; }
	REF_T[$n]=$(col "$SY_TMP/rf-$n" 1); REF_CPU[$n]=$(col "$SY_TMP/rf-$n" 2)
	REF_RSS[$n]=$(printf "%.1f" "$(calc "$(col "$SY_TMP/rf-$n" 3) / 1024")"); REF_K[$n]=$(col "$SY_TMP/rf-$n" 4)
	REF_LIST[$n]=$(col "$SY_TMP/rc-$n" 1); REF_LISTMB[$n]=$(col "$SY_TMP/rc-$n" 2)
	REF_PART[$n]=$(col "$SY_TMP/rc-$n" 3); REF_CHG[$n]=$(col "$SY_TMP/rc-$n" 5)
	printf '%-6s %8s | %9s %8s %9.1f %8s | %9s %8.1f %9s %8s %9s   (new endpoint in the kernel: %s)\n' \
		"$n" "${objs:-?}" "${REF_T[$n]}" "${REF_CPU[$n]}" "${REF_RSS[$n]}" "${REF_K[$n]}" \
		"${REF_LIST[$n]}" "${REF_LISTMB[$n]}" "${REF_PART[$n]}" "$(col "$SY_TMP/rc-$n" 4)" \
		"${REF_CHG[$n]}" "${seen:-?}"
done
echo "   (objects: lines of \`nft list table\`; full_s/cpu_s/rss_MB: wall, user+sys and peak RSS of"
echo "    \`nft -f\`; kern_s: its time inside sendmsg (s); list: \`nft --json --terse list table\` and its"
echo "    output; change_s = list_s + partial_s, what one kube-proxy sync costs; medians of"
echo "    $REPEAT full sync(s) and ${SY_BENCH_REF_CHANGES:-3} change(s); kube-proxy @b0f823e lists the table twice per sync)"
fi

if part 2; then
echo
h=$((ANON / 2))
echo "== 2. kernel time of one transaction: $ANON Services with / without the per-Service anonymous vmap"
$GEN full "$ANON" >"$SY_TMP/anon-a.nft"
$GEN full "$ANON" --no-numgen >"$SY_TMP/anon-b.nft"
$GEN full "$ANON" --range 0:$h >"$SY_TMP/anon-c1.nft"
$GEN full "$ANON" --range $h:"$ANON" --no-setup >"$SY_TMP/anon-c2.nft"
printf '   %-44s %9s %9s %8s\n' layout kernel_s nft_wall cpu_s
anon() { # LABEL FILES...
	local label=$1 k=0 w=0 c=0 f
	shift
	sy_mkns A "anon$RANDOM"
	for f in "$@"; do
		nftrun "$A" "anon-$(basename "$f")" -f "$f" || return
		k=$(calc "$k + $R_KERN"); w=$(calc "$w + $R_WALL"); c=$(calc "$c + $R_CPU")
		[ $# -gt 1 ] && printf '   %-44s %9s %9s %8s\n' "  $(basename "$f" .nft)" "$R_KERN" "$R_WALL" "$R_CPU"
	done
	printf '   %-44s %9s %9s %8s\n' "$label" "$k" "$w" "$c"
	gone "$A"
}
anon "one transaction, numgen vmap per Service" "$SY_TMP/anon-a.nft"
anon "one transaction, goto instead (no anon sets)" "$SY_TMP/anon-b.nft"
anon "two transactions of $h, numgen vmap" "$SY_TMP/anon-c1.nft" "$SY_TMP/anon-c2.nft"
echo "   one small transaction into that table ($ANON Services, no anonymous sets), kernel time,"
echo "   medians of 3: what a commit costs beyond its own content"
sy_mkns V "valid"
ip netns exec "$V" nft -f "$SY_TMP/anon-b.nft"
small() { # LABEL: $SY_TMP/small.nft with @I@ = 1, 2, 3
	local i
	for i in 1 2 3; do
		sed "s/@I@/$i/g" "$SY_TMP/small.nft" >"$SY_TMP/small-$i.nft"
		nftrun "$V" "small-$i" -f "$SY_TMP/small-$i.nft" >/dev/null && echo "$R_KERN"
	done | median | awk -v l="$1" '{ printf "   %-44s %9.4f\n", l, $1 }'
}
echo "add element ip kube-proxy cluster-ips { 10.200.0.@I@ }" >"$SY_TMP/small.nft"
small "  a set element"
printf 'add chain ip kube-proxy x@I@\nadd rule ip kube-proxy x@I@ ip saddr 1.2.3.4 counter\n' >"$SY_TMP/small.nft"
small "  a new chain and a rule without jump/goto"
echo "add rule ip kube-proxy x@I@ goto mark-for-masquerade" >"$SY_TMP/small.nft"
small "  a rule with a goto"
echo "add element ip kube-proxy service-ips { 10.200.0.@I@ . tcp . 80 : goto x@I@ }" >"$SY_TMP/small.nft"
small "  a verdict-map element with a goto"
gone "$V"
fi

if part 3 || part 7; then
part 3 && echo && echo "== 3. switchyard --proxy-mode=$MODE --manifests, the same Services"
[ -x "$SWITCHYARD" ] || SWITCHYARD=$SY_BUILD/switchyard
# daemon_run N STRACE: one daemon in a fresh namespace; sets D_FIRST D_HWM D_CHG D_W2S D_SEEN
# (and with STRACE=1, D_KF D_KC: kernel seconds of the first sync / of the change)
daemon_run() {
	local n=$1 st=$2 d=$SY_TMP/man-$1 log=$SY_TMP/daemon-$1-$2.log pid t0 t1 before lines
	rm -rf "$d"
	# every change alters the endpoint count (10 <-> 9) unless SY_BENCH_COUNT_CHANGE=0
	$GEN manifests "$n" "$d" ${D_GEN_FLAGS:-} $([ "${SY_BENCH_COUNT_CHANGE:-1}" = 0 ] || echo --count-change)
	sy_mkns D "d$n-$st"
	local pre=()
	[ "$st" = 1 ] && pre=(strace -f -T -yy --seccomp-bpf -e trace=sendmsg,sendto -o "$SY_TMP/st-d$n")
	sy_bg "$D" "$log" "${pre[@]}" "$SWITCHYARD" --proxy-mode="$MODE" --manifests "$d" \
		--hostname-override node1 --cluster-cidr "${D_CCIDR:-10.244.0.0/16}" --metrics-bind-address "" \
		--healthz-bind-address "" --min-sync-period 0s --sync-period 1h -v "${D_VERB:-2}"
	pid=$SY_LAST_PID
	D_LOG=$log
	up() { grep -q "First sync complete" "$log" || ! kill -0 "$pid"; }
	sy_wait 600 up
	if ! grep -q "First sync complete" "$log"; then
		kill -0 "$pid" 2>/dev/null && { echo "   daemon: no first sync in 600 s, stopped"; kill "$pid"; }
		wait "$pid" 2>/dev/null
		local rc=$?
		if [ "$rc" = 2 ] && grep -qi 'proxy mode "nftables"\|nftables.*\(unknown\|not\)' "$log"; then
			echo "   switchyard: nftables mode not available ($(grep -i nftables "$log" | tail -1 | sed 's/^[^]]*] //'))"
			return 2
		fi
		echo "   daemon: no first sync (exit $rc):"; tail -3 "$log"; return 1
	fi
	D_FIRST=$(sed -n 's/.*First sync complete: .* in \([0-9.]*\) s.*/\1/p' "$log")
	local dpid=$pid
	[ "$st" = 1 ] && dpid=$(pgrep -P "$pid" -n)
	D_HWM=$(awk '/VmHWM/ { print $2 / 1024 }' /proc/"$dpid"/status)
	[ "$st" = 1 ] && { D_KF=$(ktime "$SY_TMP/st-d$n"); lines=$(wc -l <"$SY_TMP/st-d$n"); }
	before=$(grep -c "SyncProxyRules complete" "$log")
	t0=$(date +%s.%N)
	cp "$d/change.json" "$d/change.json.orig"
	cp "$d/change.next" "$d/.change.tmp" && mv "$d/.change.tmp" "$d/change.json"
	synced() { [ "$(grep -c 'SyncProxyRules complete' "$log")" -gt "$before" ]; }
	sy_wait 60 synced
	t1=$(date +%s.%N)
	D_W2S=$(calc "$t1 - $t0")
	local last
	last=$(grep "SyncProxyRules complete" "$log" | sed -n "$((before + 1))p")
	D_CHG=$(echo "$last" | sed -n 's/.*elapsed=\([0-9.]*\)ms.*/\1/p')
	D_WR=$(echo "$last" | sed -n 's/.* writes=\([0-9]*\).*/\1/p')
	# read back the new endpoint: the nftables mode's @service-ranges-N element
	# (a port with per-port logic: @endpoint-ranges-K; the iptables modes: its
	# chain's DNAT rule)
	D_SEEN=0
	if [ "$MODE" = nftables ]; then
		D_SEEN=$(ip netns exec "$D" nft -j list maps ip | grep -o '"\(endpoint\|service\)-ranges-[0-9]*"' | tr -d '"' |
			while read -r mp; do ip netns exec "$D" nft list map ip switchyard "$mp"; done |
			grep -c '10.250.0.1 . 8080')
	else
		local ch
		ch=$(ip netns exec "$D" nft list chains | awk '$1 == "table" { f = $2; t = $3 }
			$1 == "chain" && $2 ~ /__10\.250\.0\.1\/8080$/ { print f, t, $2; exit }')
		[ -n "$ch" ] && D_SEEN=$(ip netns exec "$D" nft list chain $ch | grep -c 'dnat to 10.250.0.1:8080')
	fi
	# more changes, back and forth (SY_BENCH_CHANGES, default 1): the medians
	# of the syncs' elapsed= and kernel_write= (the daemon's own timing)
	local k
	for k in $(seq 2 "${SY_BENCH_CHANGES:-1}"); do
		before=$(grep -c "SyncProxyRules complete" "$log")
		if [ $((k % 2)) = 0 ]; then cp "$d/change.json.orig" "$d/.change.tmp"
		else cp "$d/change.next" "$d/.change.tmp"; fi
		mv "$d/.change.tmp" "$d/change.json"
		sy_wait 60 synced
		sleep 0.3
	done
	D_CHGM=$(grep "SyncProxyRules complete.* changed=1 " "$log" | sed -n 's/.*elapsed=\([0-9.]*\)ms.*/\1/p' | median)
	D_KWM=$(grep "SyncProxyRules complete.* changed=1 " "$log" | sed -n 's/.*kernel_write=\([0-9.]*\)ms.*/\1/p' | median)
	D_NCHG=$(grep -c "SyncProxyRules complete.* changed=1 " "$log")
	if [ "$st" = 1 ]; then
		sleep 0.2
		# the change sync's own batches (a later sync may delete stale chains)
		tail -n +"$((lines + 1))" "$SY_TMP/st-d$n" | grep 'NETLINK:\[NETFILTER' |
			head -n "${D_WR:-1}" >"$SY_TMP/st-d$n-chg"
		D_KC=$(ktime "$SY_TMP/st-d$n-chg")
	fi
	kill "$dpid" 2>/dev/null; sleep 0.5
	kill "$pid" 2>/dev/null
	gone "$D"
}
fi
if part 3; then
for n in $SIZES; do
	daemon_run "$n" 0
	rc=$?
	[ $rc = 2 ] && break
	[ $rc = 0 ] || continue
	SY_T[$n]=$D_FIRST; SY_RSS[$n]=$(printf "%.1f" "$D_HWM"); SY_CHG[$n]=$D_CHG; SY_W2S[$n]=$D_W2S
	printf '   %6s Services: first sync %ss, peak RSS %.1f MB; endpoint change: sync %sms, file write → synced %.3fs, kernel shows it: %s\n' \
		"$n" "$D_FIRST" "$D_HWM" "$D_CHG" "$D_W2S" "$D_SEEN"
	printf '          %s endpoint changes back and forth: median sync %sms, of which in sendmsg %sms\n' \
		"$D_NCHG" "$D_CHGM" "$D_KWM"
	if daemon_run "$n" 1; then
		SY_K[$n]=$D_KF; SY_KC[$n]=$D_KC
		printf '          under strace: first sync %ss of which kernel %ss (sync ÷ kernel %.2f); change sync %sms (%s batch(es)) of which kernel %.3fms\n' \
			"$D_FIRST" "$D_KF" "$(calc "$D_FIRST / ($D_KF + 1e-9)")" "$D_CHG" "$D_WR" "$(calc "$D_KC * 1000")"
	fi
done
echo "   (first sync / change sync: the daemon's own timing, its log's \"First sync complete\" and"
echo "    \"SyncProxyRules complete … elapsed=\", from the sync's start to the kernel's acknowledgement;"
echo "    file write → synced includes the manifest directory's debounce and re-read)"
fi

if part 1 || part 3; then
echo
echo "== 4. side by side (reference = kube-proxy's nftables ruleset through nft)"
printf '%-6s | %9s %9s %8s | %9s %9s %8s | %9s %9s %9s\n' N ref_full_s sy_full_s t_ratio \
	ref_rss_MB sy_rss_MB rss_ratio ref_chg_s sy_chg_ms t_ratio
for n in $SIZES; do
	rt=${REF_T[$n]:-} st=${SY_T[$n]:-} rr=${REF_RSS[$n]:-} sr=${SY_RSS[$n]:-} rc=${REF_CHG[$n]:-} sc=${SY_CHG[$n]:-}
	r1=-; r2=-; r3=-
	[ -n "$rt" ] && [ -n "$st" ] && r1=$(calc "$st / $rt")
	[ -n "$rr" ] && [ -n "$sr" ] && r2=$(calc "$sr / $rr")
	[ -n "$rc" ] && [ -n "$sc" ] && r3=$(calc "$sc / 1000 / $rc")
	printf '%-6s | %9s %9s %8s | %9s %9s %8s | %9s %9s %9s\n' "$n" "${rt:--}" "${st:--}" "$r1" \
		"${rr:--}" "${sr:--}" "$r2" "${rc:--}" "${sc:--}" "$r3"
done
echo "   (goals at 10000: time ≤ 0.01×, RSS ≤ 0.05× the reference; one change < 5 ms at every N;"
echo "    ref RSS is nft's, sy RSS the whole daemon's; - = not measured or mode not available)"
fi

if part 5; then
echo
echo "== 5. data plane: new connections/s (wrk -t2 -c32, Connection: close) and iperf3 Gbit/s"
# One lab per configuration (pod client ↔ router with the rules ↔ server),
# all built first, then measured round-robin; medians over the rounds.  The
# router is the node: 10.0.0.1 (nft-gen.py's node IP, the Node's InternalIP
# in the manifests) is its address, the measure Service's NodePort answers
# there; the externalIP is routed to it by the client's default route.
HTTPD=$SY_BUILD/tests/lib/sy-httpd
[ -x "$HTTPD" ] || { echo "   build first: $HTTPD"; exit 0; }
ROUNDS=${BENCH_ROUNDS:-5}
DP_N=${SY_BENCH_DP:-10000}
DP_EXT=10.255.255.250 DP_NODE=10.0.0.1 DP_NP=32767
declare -A DP_URL=([cluster]=http://10.255.255.254/ [external]=http://$DP_EXT/
	[nodeport]=http://$DP_NODE:$DP_NP/ [pod]=http://10.1.2.2/)
DP_PATHS=
for p in ${SY_BENCH_DP_PATHS:-cluster external nodeport}; do
	case $p in
	cluster | external) DP_PATHS="$DP_PATHS $p" ;;
	nodeport)	# nft-gen.py gives NodePorts 30000 + i/10 to the first 27680 Services
		if [ "$DP_N" -lt 27670 ]; then DP_PATHS="$DP_PATHS $p"
		else echo "   nodeport: not measured (NodePort $DP_NP taken at $DP_N Services)"; fi ;;
	*) echo "SY_BENCH_DP_PATHS: $p? (cluster external nodeport)" >&2; exit 2 ;;
	esac
done
[ -n "$DP_PATHS" ] || { echo "   SY_BENCH_DP_PATHS: no path"; exit 0; }
DP_GEN=(--external-ip "$DP_EXT" --node-port "$DP_NP")
LABS=(kube-proxy:0 "kube-proxy:$DP_N")
[ "${SY_BENCH_DP_REF:-1}" = 0 ] && LABS=()	# switchyard's labs only
[ -x "$SWITCHYARD" ] || SWITCHYARD=$SY_BUILD/switchyard
declare -A LC LRT
dp_lab() { # MODE COUNT
	local c rt sv
	sy_mkns c "dc$2$1"; sy_mkns rt "dr$2$1"; sy_mkns sv "ds$2$1"
	ip netns exec "$rt" sysctl -qw net.ipv4.ip_forward=1
	sy_veth "$c" eth0 10.244.1.2/24 "$rt" eth-c 10.244.1.1/24
	sy_veth "$rt" eth-s 10.1.2.1/24 "$sv" eth0 10.1.2.2/24
	ip -n "$rt" addr add "$DP_NODE/32" dev eth-c
	ip -n "$c" route add default via 10.244.1.1
	ip -n "$sv" route add default via 10.1.2.1
	ip netns exec "$sv" sysctl -qw net.ipv4.tcp_max_tw_buckets=0
	sy_bg "$sv" "$SY_TMP/httpd-$1-$2.log" "$HTTPD" 80 pod
	sy_bg "$sv" "$SY_TMP/iperf-$1-$2.log" iperf3 -s -p 5201
	if [ "$1" = switchyard ]; then
		$GEN manifests "$2" "$SY_TMP/dpman-$2" --measure-svc "${DP_GEN[@]}" --node-ip "$DP_NODE"
		sy_bg "$rt" "$SY_TMP/dpd-$2.log" "$SWITCHYARD" --proxy-mode=nftables \
			--manifests "$SY_TMP/dpman-$2" --hostname-override node1 --cluster-cidr 10.244.0.0/16 \
			--metrics-bind-address "" --healthz-bind-address "" --sync-period 1h
		local pid=$SY_LAST_PID dlog=$SY_TMP/dpd-$2.log
		dpup() { grep -q "First sync complete" "$dlog" || ! kill -0 "$pid"; }
		sy_wait 600 dpup
		grep -q "First sync complete" "$SY_TMP/dpd-$2.log" || return 1
	else
		$GEN measure-svc "$2" "${DP_GEN[@]}" >"$SY_TMP/dp-$2.nft"
		ip netns exec "$rt" nft -f "$SY_TMP/dp-$2.nft" || return 1
	fi
	LC[$1:$2]=$c
	LRT[$1:$2]=$rt
}
# rps LAB URL: conn/s, 0 when wrk gave no rate (left out of the medians and ratios)
rps() {
	local v
	ip netns exec "${LRT[$1]}" conntrack -F >/dev/null 2>&1
	v=$(ip netns exec "${LC[$1]}" wrk -t2 -c32 -d"${DUR:-3}"s -H 'Connection: close' "$2" 2>/dev/null |
		sed -n 's/^Requests\/sec: *//p')
	echo "${v:-0}"
}
gbps() {
	local v
	v=$(ip netns exec "${LC[$1]}" iperf3 -c "$2" -p 5201 -t 2 -f g 2>/dev/null | awk '/receiver/ { print $(NF-2) }')
	echo "${v:-0}"
}
pmedian() { awk '$1 > 0' "$@" 2>/dev/null | median; }
if dp_lab switchyard 0; then
	LABS=(switchyard:0 "switchyard:$DP_N" "${LABS[@]}")
	dp_lab switchyard "$DP_N" || LABS=(switchyard:0 "${LABS[@]}")
else
	echo "   switchyard: nftables mode not available (data plane of the reference only)"
fi
for l in "${LABS[@]}"; do [ "${l%%:*}" = switchyard ] || dp_lab "${l%%:*}" "${l##*:}"; done
sleep 1
# every path once before the rounds (a failing path shows here, not as zeros)
for l in "${LABS[@]}"; do
	for p in $DP_PATHS pod; do
		ip netns exec "${LC[$l]}" curl -s -m 2 -o /dev/null "${DP_URL[$p]}" ||
			echo "   $l: $p (${DP_URL[$p]}) does not answer"
	done
done
for r in $(seq 1 "$ROUNDS"); do
	for l in "${LABS[@]}"; do
		for p in $DP_PATHS; do rps "$l" "${DP_URL[$p]}" >>"$SY_TMP/r-$p-$l"; done
		rps "$l" "${DP_URL[pod]}" >>"$SY_TMP/r-pod-$l"
		case " $DP_PATHS " in *" cluster "*)
			gbps "$l" 10.255.255.253 >>"$SY_TMP/g-cluster-$l"
			gbps "$l" 10.1.2.2 >>"$SY_TMP/g-pod-$l" ;;
		esac
	done
done
# ABBA blocks (SY_BENCH_DP_ABBA=K, default 0: off): per path, switchyard's rate
# at DP_N (A) and at 0 Services (B) in K blocks of A B B A, DUR_ABBA (1) s each,
# wrk pinned to CPU 0 (taskset) in both labs; a block's ratio (A1+A2)/(B1+B2)
# cancels a load that drifts linearly over its 4 s, the direct path is not
# needed as a control.  The median with a bootstrap 95 % interval.
if [ "${SY_BENCH_DP_ABBA:-0}" -gt 0 ] && [ -n "${LC[switchyard:$DP_N]:-}" ] && [ -n "${LC[switchyard:0]:-}" ]; then
	rps1() {
		ip netns exec "${LRT[$1]}" conntrack -F >/dev/null 2>&1
		ip netns exec "${LC[$1]}" taskset -c 0 wrk -t1 -c16 -d"${DUR_ABBA:-1}"s -H 'Connection: close' \
			"$2" 2>/dev/null | sed -n 's/^Requests\/sec: *//p'
	}
	for p in $DP_PATHS; do
		: >"$SY_TMP/abba-$p"
		u=${DP_URL[$p]}
		for k in $(seq 1 "$SY_BENCH_DP_ABBA"); do
			a1=$(rps1 "switchyard:$DP_N" "$u"); b1=$(rps1 switchyard:0 "$u")
			b2=$(rps1 switchyard:0 "$u"); a2=$(rps1 "switchyard:$DP_N" "$u")
			echo "$a1 $b1 $b2 $a2" >>"$SY_TMP/abba-$p"
		done
		"$PY" - "$SY_TMP/abba-$p" "$DP_N" "${DUR_ABBA:-1}" "$p" <<'PYEOF'
import random, statistics, sys
rows = [[float(x) for x in l.split()] for l in open(sys.argv[1]) if len(l.split()) == 4]
r = [(a1 + a2) / (b1 + b2) for a1, b1, b2, a2 in rows if b1 + b2 > 0]
if r:
    rnd = random.Random(1)
    meds = sorted(statistics.median(rnd.choices(r, k=len(r))) for _ in range(2000))
    lo, hi = meds[49], meds[1949]
    print("   ABBA, %-8s conn/s at %s ÷ at 0 (wrk -t1 -c16 on CPU 0, %s s each): %.3f [%.3f, %.3f] over %d blocks"
          " (rates %.0f / %.0f): within 5 %% %s" % (sys.argv[4], sys.argv[2], sys.argv[3], statistics.median(r), lo, hi,
          len(r), statistics.median([x[0] for x in rows] + [x[3] for x in rows]),
          statistics.median([x[1] for x in rows] + [x[2] for x in rows]),
          "shown" if lo >= 0.95 else "not shown (the interval reaches below 0.95)"))
PYEOF
	done
fi
printf '%-11s %6s %-8s | %9s %9s %6s %9s | %8s %8s %6s\n' mode svcs path svc_rps pod_rps ratio vs_0svc \
	svc_gbps pod_gbps ratio
for l in "${LABS[@]}"; do
	rp=$(pmedian "$SY_TMP/r-pod-$l")
	for p in $DP_PATHS; do
		base=$(pmedian "$SY_TMP/r-$p-${l%%:*}:0")
		rc=$(pmedian "$SY_TMP/r-$p-$l")
		g='        -        -      -'
		if [ "$p" = cluster ]; then
			gc=$(pmedian "$SY_TMP/g-cluster-$l"); gp=$(pmedian "$SY_TMP/g-pod-$l")
			g=$(printf '%8s %8s %6.3f' "$gc" "$gp" "$(calc "$gc / $gp")")
		fi
		printf '%-11s %6s %-8s | %9.0f %9.0f %6.3f %9.3f | %s\n' "${l%%:*}" "${l##*:}" "$p" "$rc" "$rp" \
			"$(calc "$rc / $rp")" "$(calc "$rc / $base")" "$g"
	done
done
echo "   (medians of $ROUNDS round-robin rounds; path: cluster = the ClusterIP 10.255.255.254:80,"
echo "    external = the externalIP $DP_EXT:80, nodeport = the node's $DP_NODE:$DP_NP (both masqueraded),"
echo "    pod = straight to the pod; ratio = svc ÷ pod; vs_0svc = the path's rate relative to the same"
echo "    mode with 0 Services (goal ≥ 0.95 at $DP_N); iperf3 through the ClusterIP only; kube-proxy ="
echo "    its nftables ruleset loaded with nft -f)"
# Paired per round: (path ÷ direct at N) ÷ (path ÷ direct at 0), each lab's
# direct path measured in the same round as its control for the machine's
# load; the median over the rounds with a bootstrap 95 % interval.  The goal
# (the rate at N within 5 % of the rate at 0) counts as shown only when the
# interval's lower end is ≥ 0.95.
echo "   paired per round, (svc ÷ pod at $DP_N) ÷ (svc ÷ pod at 0): median [95 % bootstrap interval]"
for mode in switchyard kube-proxy; do
	for what in $(for p in $DP_PATHS; do echo "r-$p"; done) g-cluster; do
		[ -s "$SY_TMP/$what-$mode:0" ] && [ -s "$SY_TMP/$what-$mode:$DP_N" ] || continue
		ctl=${what%%-*}-pod
		"$PY" - "$what" "$mode" "$SY_TMP/$what-$mode:$DP_N" "$SY_TMP/$ctl-$mode:$DP_N" \
			"$SY_TMP/$what-$mode:0" "$SY_TMP/$ctl-$mode:0" <<'PYEOF'
import random, statistics, sys
what, mode = sys.argv[1:3]
c1, p1, c0, p0 = ([float(x) for x in open(f) if x.strip()] for f in sys.argv[3:7])
r = [(a / b) / (c / d) for a, b, c, d in zip(c1, p1, c0, p0) if a and b and c and d]
if not r:
    sys.exit()
rnd = random.Random(1)
meds = sorted(statistics.median(rnd.choices(r, k=len(r))) for _ in range(2000))
lo, hi = meds[49], meds[1949]
verdict = "shown" if lo >= 0.95 else "not shown (the interval reaches below 0.95)"
print("   %-10s %-8s %-7s %.3f [%.3f, %.3f] over %d rounds: within 5 %% %s"
      % (mode, what[2:], "conn/s" if what[0] == "r" else "iperf3", statistics.median(r), lo, hi, len(r), verdict))
PYEOF
	done
done
fi

if part 7; then
echo
DS_SIZES=${SY_BENCH_DS_SIZES:-10000}
DS_REPEAT=${SY_BENCH_DS_REPEAT:-3}
echo "== 7. dual stack (issue 17): N dual-stack Services (10 endpoints per family; tables ip and ip6"
echo "   switchyard) against the same N IPv4-only, the daemon's first sync, peak RSS and one IPv4"
echo "   endpoint change; medians of $DS_REPEAT runs each, alternating.  first_s: the first sync's wall"
echo "   time (the log's First sync complete); cpu_s: its CPU time (user + system of the syncing"
echo "   thread, the kernel's work in sendmsg included: what the load of this machine moves least),"
echo "   summed over the instances; kern_s: time in sendmsg; change_ms: the median of"
echo "   ${SY_BENCH_CHANGES:-5} endpoint changes back and forth (sync start -> kernel ack)"
export SY_BENCH_CHANGES=${SY_BENCH_CHANGES:-5}
printf '%-6s %-6s | %9s %9s %9s %9s %9s\n' N kind first_s cpu_s kern_s rss_MB change_ms
for n in $DS_SIZES; do
	declare -A DF DU DK DH DC
	for kind in v4 dual; do DF[$kind]=; DU[$kind]=; DK[$kind]=; DH[$kind]=; DC[$kind]=; done
	for r in $(seq 1 "$DS_REPEAT"); do
		for kind in v4 dual; do
			if [ $kind = dual ]; then D_GEN_FLAGS=--dual-stack D_CCIDR=10.244.0.0/16,fd00:244::/48
			else D_GEN_FLAGS= D_CCIDR=10.244.0.0/16; fi
			D_VERB=3 daemon_run "$n" 0 || continue
			# the first full sync of each instance (-v 3: "nftables ip[6] switchyard: full sync ...")
			fl=$(for t in ip ip6; do grep -m1 "nftables $t switchyard: full sync" "$D_LOG"; done)
			cpu=$(sed -n 's/.* sync in [0-9.]* ms (cpu \([0-9.]*\) ms).*/\1/p' <<<"$fl" | awk '{ s += $1 } END { printf "%.3f", s / 1000 }')
			kern=$(sed -n 's/.*, \([0-9.]*\) ms in the kernel.*/\1/p' <<<"$fl" | awk '{ s += $1 } END { printf "%.3f", s / 1000 }')
			DF[$kind]+="$D_FIRST "; DU[$kind]+="$cpu "; DK[$kind]+="$kern "; DH[$kind]+="$D_HWM "
			DC[$kind]+="$D_CHGM "
			printf '%-6s %-6s | %9s %9s %9s %9.1f %9s   (run %s)\n' "$n" "$kind" "$D_FIRST" "$cpu" "$kern" \
				"$D_HWM" "$D_CHGM" "$r"
		done
	done
	D_GEN_FLAGS= D_CCIDR=
	med() { tr ' ' '\n' <<<"$1" | grep . | median; }
	f4=$(med "${DF[v4]}") f6=$(med "${DF[dual]}") u4=$(med "${DU[v4]}") u6=$(med "${DU[dual]}")
	k4=$(med "${DK[v4]}") k6=$(med "${DK[dual]}") h4=$(med "${DH[v4]}") h6=$(med "${DH[dual]}")
	c4=$(med "${DC[v4]}") c6=$(med "${DC[dual]}")
	printf '%-6s %-6s | %9s %9s %9s %9.1f %9s\n' "$n" "v4 med" "$f4" "$u4" "$k4" "$h4" "$c4"
	printf '%-6s %-6s | %9s %9s %9s %9.1f %9s\n' "$n" "ds med" "$f6" "$u6" "$k6" "$h6" "$c6"
	printf '   dual ÷ IPv4-only at %s: first sync %.2f× (wall), %.2f× (cpu); peak RSS %.2f×; one endpoint change %.2f×\n' \
		"$n" "$(calc "$f6 / $f4")" "$(calc "$u6 / $u4")" "$(calc "$h6 / $h4")" "$(calc "$c6 / $c4")"
	echo "   (goal: sync and RSS ≤ 2.2×, one endpoint change unchanged)"
done
fi

if part 6; then
echo
LN=${SY_BENCH_LAYOUT_N:-10000}
echo "== 6. endpoint-selection layouts, $LN Services x 10 endpoints (nft -f, kernel time in sendmsg)"
for mode in noset hash interval; do
	$GEN layout "$LN" "$mode" >"$SY_TMP/lay-$mode.nft"
	sy_mkns L "lay$mode"
	nftrun "$L" "lay-$mode" -f "$SY_TMP/lay-$mode.nft" || { gone "$L"; continue; }
	printf '   %-8s one transaction: kernel %ss (nft wall %ss, peak RSS %d MB)\n' "$mode" "$R_KERN" \
		"$R_WALL" "$((R_KB / 1024))"
	if [ "$mode" = interval ]; then
		for kind in elem rule dnat; do
			$GEN layout-change "$LN" "$kind" >"$SY_TMP/lc-$kind.nft"
			: >"$SY_TMP/lc-$kind"
			for c in 1 2 3; do
				# the batch's sendmsg only: for an interval set nft first dumps
				# every set's elements (sendto; the kernel fills a dump's first
				# part inside that call), which is nft's cache, not the transaction
				nftrun "$L" "lc-$kind-$c" -f "$SY_TMP/lc-$kind.nft" &&
					ktime_msg "$SY_TMP/st-lc-$kind-$c" >>"$SY_TMP/lc-$kind"
			done
			printf '     then %-4s (%s): kernel %.2f ms in the batch'"'"'s sendmsg (median of 3)\n' "$kind" \
				"$(case $kind in elem) echo 'an endpoint replaced: map element delete + add, hairpin element' ;;
				rule) echo 'the chain flushed and refilled, with its jump' ;;
				dnat) echo 'the chain flushed, only the dnat rule added' ;; esac)" \
				"$(calc "$(median <"$SY_TMP/lc-$kind") * 1000")"
		done
	fi
	gone "$L"
done
fi
