#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The reference for bench/nftables-bench.sh: kube-proxy's nftables-mode
transactions (pkg/proxy/nftables/proxier.go, as knftables writes them for
`nft -f`) for N Services x 10 endpoints, a tenth with NodePorts, and the
same Services as a --manifests directory for switchyard.

  nft-gen.py full N [--no-numgen] [--range A:B] [--no-setup]
      kube-proxy's first (full) sync: table, base chains, sets/maps, then per
      Service its chains, map elements and rules.  --range A:B emits only
      Services A..B-1 (--no-setup leaves out the table/base part: the second
      of two transactions); --no-numgen writes `goto <first endpoint>` in
      place of the `numgen random mod N vmap { ... }` rule (the same number
      of rules without one anonymous set per Service).
  nft-gen.py partial N
      kube-proxy's partial sync after one endpoint of Service N/2 changed
      (its first endpoint becomes 10.250.0.1): that Service's chains re-added,
      flushed and refilled, the stale endpoint chain flushed.
  nft-gen.py measure-svc N [--external-ip IP] [--node-port PORT]
      as `full` plus one Service (10.255.255.254:80 and :5201 -> 10.1.2.2)
      written last, for the data-plane part.  --external-ip / --node-port:
      its port 80 also has that externalIP and NodePort (Cluster policies:
      kube-proxy's `external-` chain, `jump mark-for-masquerade` then `goto`
      the service chain, from `service-ips` and `service-nodeports`).
  nft-gen.py layout N MODE
      a candidate endpoint-selection layout for table `ip t` (the measurement
      behind switchyard's nftables layout, doc/nftables.md): N Services x 10
      endpoints, each a chain with the ClusterIP masquerade rule and
      `meta l4proto tcp dnat ...`, dispatched by `service-ips`, hairpin pairs
      in `@hairpin`.  MODE: noset (a plain dnat to the first endpoint: the
      floor), hash (one named `numgen random mod 10 map` per Service),
      interval (one named interval map over numgen random mod 65536 per
      Service).
  nft-gen.py layout-change N KIND
      one small transaction into the `interval` layout, for Service N/2:
      KIND elem (an endpoint replaced: map element delete + add and a
      hairpin element), rule (the chain flushed and refilled, with its
      jump), dnat (the chain flushed, only the dnat rule added back).
  nft-gen.py manifests N DIR [--measure-svc] [--dual-stack]
      DIR/all.json (a v1 List of the Services and EndpointSlices),
      DIR/change.json (Service N/2's slice) and DIR/change.next (the same
      slice with the changed endpoint; --count-change: and one endpoint
      fewer, so that every change alters the endpoint count, 10 <-> 9);
      --measure-svc adds the two Services
      of measure-svc.  --dual-stack: every Service RequireDualStack with an
      IPv6 ClusterIP too (fd00:96::X for 10.96.0.0/12's X) and a second
      slice of 10 IPv6 endpoints (fd00:244::X for 10.244.0.0/16's X); the
      change is still one IPv4 endpoint.  With --measure-svc:
      --external-ip IP / --node-port PORT as for measure-svc (the measure
      Service becomes type NodePort with spec.externalIPs), --node-ip IP
      adds the Node node1 with that InternalIP (NodePorts on the node IP
      only, the nftables mode's `primary`, as kube-proxy's @nodeport-ips).
      Environment CHANGE_AT (N/2): the index of the changed Service (N/2
      has a NodePort; N/2 + 1 has not).

Differences from kube-proxy's text, both forced by nft 1.0.6 (Debian 12):
base-chain priorities are written as numbers (dstnat-10 = -110, dstnat =
-100, dstnat+10 = -90, srcnat = 100): nft 1.0.6 refuses the name `dstnat`
outside the prerouting hook.  Everything else follows proxier.go: names
(prefix + base32(sha256(ns/svc/proto/port))[:8] + "-" + ns/svc/proto/port,
endpoint chains ...__ip/port), the order of operations, the comments.
"""
import base64
import hashlib
import json
import os
import random
import sys

T = 'ip kube-proxy'
MASQ = '0x004000'          # fmt "%#08x" of 1 << 14
CLUSTER_CIDR = '10.244.0.0/16'
SERVICE_CIDR = '10.96.0.0/12'
NODE_IP = '10.0.0.1'
NEW_EP = '10.250.0.1'
NODEPORT_MAX = 2768        # 30000..32767


def services(n):
    """The N Services: (name, cluster IP, node port or 0, [endpoint IPs])."""
    rnd = random.Random(1)
    used, out = set(), []
    for i in range(n):
        while True:
            a = rnd.randrange(1, 1 << 20)
            if a not in used and a & 255 and a != 0xfffff:
                used.add(a)
                break
        cip = '10.%d.%d.%d' % (96 + (a >> 16), (a >> 8) & 255, a & 255)
        np = 0
        if i % 10 == 0 and i // 10 < NODEPORT_MAX:
            np = 30000 + i // 10
        eps = set()
        while len(eps) < 10:
            eps.add('10.244.%d.%d' % (rnd.randrange(256), rnd.randrange(1, 255)))
        out.append(('s%d' % i, cip, np, sorted(eps)))
    return out


def hashed(prefix, name):
    h = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()
    base = h[:8] + '-' + name
    if len(base) > 240:
        base = base[:237] + '...'
    return prefix + base


class Svc:
    def __init__(self, name, cip, np, eps, port=80, target=8080, pname='http', ext_ips=()):
        self.name, self.cip, self.np, self.eps = name, cip, np, eps
        self.ext_ips = list(ext_ips)
        self.has_ext = bool(np or self.ext_ips)      # usesExternalChain
        self.port, self.target = port, target
        base = 'bench/%s/tcp/%s' % (name, pname)
        self.svc_chain = hashed('service-', base)
        self.ext_chain = hashed('external-', base)
        self.ep_chains = [hashed('endpoint-', '%s__%s/%d' % (base, e, target)) for e in eps]


def setup(w):
    """setupNFTables() on the first sync."""
    w('add table %s { comment "rules for kube-proxy" ; }' % T)
    base = [('filter-prerouting', 'filter', 'prerouting', -110),
            ('filter-input', 'filter', 'input', -110),
            ('filter-forward', 'filter', 'forward', -110),
            ('filter-output', 'filter', 'output', -110),
            ('filter-output-post-dnat', 'filter', 'output', -90),
            ('nat-prerouting', 'nat', 'prerouting', -100),
            ('nat-output', 'nat', 'output', -100),
            ('nat-postrouting', 'nat', 'postrouting', 100)]
    for c, _, _, _ in base:          # add+delete once: a priority change cannot fail
        w('add chain %s %s' % (T, c))
        w('delete chain %s %s' % (T, c))
    for c, typ, hook, prio in base:
        w('add chain %s %s { type %s hook %s priority %d ; }' % (T, c, typ, hook, prio))
        w('flush chain %s %s' % (T, c))
    created = set()

    def ensure(c):
        if c not in created:
            created.add(c)
            w('add chain %s %s' % (T, c))
            w('flush chain %s %s' % (T, c))
    jumps = [('nodeport-endpoints-check', 'filter-input', 'ct state new '),
             ('service-endpoints-check', 'filter-input', 'ct state new '),
             ('service-endpoints-check', 'filter-forward', 'ct state new '),
             ('service-endpoints-check', 'filter-output', 'ct state new '),
             ('firewall-check', 'filter-prerouting', 'ct state new '),
             ('firewall-check', 'filter-output', 'ct state new '),
             ('services', 'nat-output', ''),
             ('services', 'nat-prerouting', ''),
             ('masquerading', 'nat-postrouting', ''),
             ('cluster-ips-check', 'filter-forward', 'ct state new '),
             ('cluster-ips-check', 'filter-output-post-dnat', 'ct state new ')]
    for dst, src, extra in jumps:
        ensure(dst)
        w('add rule %s %s %sjump %s' % (T, src, extra, dst))
    for c in ('services', 'cluster-ips-check', 'masquerading', 'mark-for-masquerade'):
        ensure(c)
    w('add rule %s mark-for-masquerade mark set mark or %s' % (T, MASQ))
    w('add rule %s masquerading mark and %s == 0 return' % (T, MASQ))
    w('add rule %s masquerading mark set mark xor %s' % (T, MASQ))
    w('add rule %s masquerading masquerade fully-random' % T)
    w('add set %s cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }' % T)
    w('add rule %s cluster-ips-check ip daddr @cluster-ips reject comment '
      '"Reject traffic to invalid ports of ClusterIPs"' % T)
    w('add rule %s cluster-ips-check ip daddr { %s } drop comment '
      '"Drop traffic to unallocated ClusterIPs"' % (T, SERVICE_CIDR))
    # --nodeport-addresses primary (the nftables mode's default): the node IP only
    w('add set %s nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }' % T)
    w('flush set %s nodeport-ips' % T)
    w('add element %s nodeport-ips { %s }' % (T, NODE_IP))
    w('add map %s no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; '
      'comment "vmap to drop or reject packets to services with no endpoints" ; }' % T)
    w('add map %s no-endpoint-nodeports { type inet_proto . inet_service : verdict ; '
      'comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }' % T)
    w('add chain %s reject-chain { comment "helper for @no-endpoint-services / '
      '@no-endpoint-nodeports" ; }' % T)
    w('flush chain %s reject-chain' % T)
    w('add rule %s reject-chain reject' % T)
    w('add rule %s service-endpoints-check ip daddr . meta l4proto . th dport '
      'vmap @no-endpoint-services' % T)
    w('add rule %s nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport '
      'vmap @no-endpoint-nodeports' % T)
    w('add map %s firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; '
      'comment "destinations that are subject to LoadBalancerSourceRanges" ; }' % T)
    w('add rule %s firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips' % T)
    w('add map %s service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; '
      'comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }' % T)
    w('add map %s service-nodeports { type inet_proto . inet_service : verdict ; '
      'comment "NodePort traffic" ; }' % T)
    w('add rule %s services ip daddr . meta l4proto . th dport vmap @service-ips' % T)
    w('add rule %s services ip daddr @nodeport-ips meta l4proto . th dport '
      'vmap @service-nodeports' % T)
    for s in ('cluster-ips', 'nodeport-ips'):
        w('flush set %s %s' % (T, s))
    for m in ('service-ips', 'firewall-ips', 'no-endpoint-services', 'no-endpoint-nodeports',
              'service-nodeports'):
        w('flush map %s %s' % (T, m))
    w('add element %s nodeport-ips { %s }' % (T, NODE_IP))


def service(w, s, numgen=True, elements=True, chains=True):
    """One Service port with Cluster policies, as syncProxyRules() writes it."""
    if chains:
        for c in s.ep_chains:                  # ensureChain: add + flush
            w('add chain %s %s' % (T, c))
            w('flush chain %s %s' % (T, c))
        w('add chain %s %s' % (T, s.svc_chain))
        w('flush chain %s %s' % (T, s.svc_chain))
        if s.has_ext:
            w('add chain %s %s' % (T, s.ext_chain))
            w('flush chain %s %s' % (T, s.ext_chain))
    if elements:
        w('add element %s cluster-ips { %s }' % (T, s.cip))
        w('add element %s service-ips { %s . tcp . %d : goto %s }' % (T, s.cip, s.port, s.svc_chain))
        for e in s.ext_ips:
            w('add element %s service-ips { %s . tcp . %d : goto %s }' % (T, e, s.port, s.ext_chain))
        if s.np:
            w('add element %s service-nodeports { tcp . %d : goto %s }' % (T, s.np, s.ext_chain))
    if not chains:
        return
    w('add rule %s %s ip daddr %s tcp dport %d ip saddr != %s jump mark-for-masquerade'
      % (T, s.svc_chain, s.cip, s.port, CLUSTER_CIDR))
    if s.has_ext:
        w('add rule %s %s jump mark-for-masquerade' % (T, s.ext_chain))
        w('add rule %s %s goto %s' % (T, s.ext_chain, s.svc_chain))
    if numgen:
        w('add rule %s %s numgen random mod %d vmap { %s }' % (
            T, s.svc_chain, len(s.eps),
            ' , '.join('%d : goto %s' % (i, c) for i, c in enumerate(s.ep_chains))))
    else:
        w('add rule %s %s goto %s' % (T, s.svc_chain, s.ep_chains[0]))
    for e, c in zip(s.eps, s.ep_chains):
        w('add rule %s %s ip saddr %s jump mark-for-masquerade' % (T, c, e))
        w('add rule %s %s meta l4proto tcp dnat to %s:%d' % (T, c, e, s.target))


LAYOUT_M = 65536


def layout_svc(i):
    rnd = random.Random(1000 + i)
    cip = '10.%d.%d.%d' % (96 + i // 65536, (i // 256) % 256, i % 256)
    eps = ['10.244.%d.%d' % (rnd.randrange(256), rnd.randrange(1, 255)) for _ in range(10)]
    return cip, eps


def layout(w, n, mode):
    w('table ip t {')
    w(' map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }')
    w(' set hairpin { type ipv4_addr . ipv4_addr; }')
    w(' chain mark-for-masquerade { meta mark set mark or 0x4000; }')
    w(' chain masquerading { type nat hook postrouting priority 100; '
      'ct status dnat ip saddr . ip daddr @hairpin jump mark-for-masquerade; '
      'meta mark & 0x4000 == 0 return; meta mark set mark xor 0x4000; masquerade fully-random; }')
    w(' chain services { type nat hook prerouting priority -100; '
      'ip daddr . meta l4proto . th dport vmap @service-ips; }')
    w('}')
    seen = set()
    for i in range(n):
        cip, eps = layout_svc(i)
        if mode == 'noset':
            rule = 'meta l4proto tcp dnat ip to %s:8080' % eps[0]
        elif mode == 'interval':
            w('add map ip t eps-%d { typeof numgen random mod %d : ip daddr . tcp dport; '
              'flags interval; }' % (i, LAYOUT_M))
            w('add element ip t eps-%d { %s }' % (i, ', '.join(
                '%d-%d : %s . 8080' % (k * LAYOUT_M // 10, (k + 1) * LAYOUT_M // 10 - 1, e)
                for k, e in enumerate(eps))))
            rule = 'meta l4proto tcp dnat ip to numgen random mod %d map @eps-%d' % (LAYOUT_M, i)
        elif mode == 'hash':
            w('add map ip t eps-%d { typeof numgen random mod 10 : ip daddr . tcp dport; }' % i)
            w('add element ip t eps-%d { %s }' % (i, ', '.join(
                '%d : %s . 8080' % (k, e) for k, e in enumerate(eps))))
            rule = 'meta l4proto tcp dnat ip to numgen random mod 10 map @eps-%d' % i
        else:
            sys.exit('layout: MODE noset, hash or interval')
        w('add chain ip t service-%d' % i)
        w('add rule ip t service-%d ip daddr %s tcp dport 80 ip saddr != %s '
          'jump mark-for-masquerade' % (i, cip, CLUSTER_CIDR))
        w('add rule ip t service-%d %s' % (i, rule))
        w('add element ip t service-ips { %s . tcp . 80 : goto service-%d }' % (cip, i))
        for e in eps:
            if e not in seen:
                seen.add(e)
                w('add element ip t hairpin { %s . %s }' % (e, e))


def layout_change(w, n, kind):
    i = n // 2
    cip, eps = layout_svc(i)
    if kind == 'elem':
        w('delete element ip t eps-%d { 0-%d }' % (i, LAYOUT_M // 10 - 1))
        w('add element ip t eps-%d { 0-%d : %s . 8080 }' % (i, LAYOUT_M // 10 - 1, NEW_EP))
        w('add element ip t hairpin { %s . %s }' % (NEW_EP, NEW_EP))
        return
    w('flush chain ip t service-%d' % i)
    if kind == 'rule':
        w('add rule ip t service-%d ip daddr %s tcp dport 80 ip saddr != %s '
          'jump mark-for-masquerade' % (i, cip, CLUSTER_CIDR))
    elif kind != 'dnat':
        sys.exit('layout-change: KIND elem, rule or dnat')
    w('add rule ip t service-%d meta l4proto tcp dnat ip to numgen random mod %d map @eps-%d'
      % (i, LAYOUT_M, i))


def main():
    a = sys.argv[1:]
    if len(a) < 2:
        sys.exit(__doc__)
    cmd, n = a[0], int(a[1])
    out = []
    w = out.append
    if cmd == 'layout' and len(a) > 2:
        layout(w, n, a[2])
        sys.stdout.write('\n'.join(out) + '\n')
        return
    if cmd == 'layout-change' and len(a) > 2:
        layout_change(w, n, a[2])
        sys.stdout.write('\n'.join(out) + '\n')
        return
    svcs = services(n)

    def opt(name):
        return a[a.index(name) + 1] if name in a else None

    def opt_int(name):
        return int(opt(name)) if opt(name) else 0
    if cmd in ('full', 'measure-svc'):
        lo, hi = 0, n
        if '--range' in a:
            r = a[a.index('--range') + 1].split(':')
            lo, hi = int(r[0]), int(r[1])
        if '--no-setup' not in a:
            setup(w)
        for t in svcs[lo:hi]:
            service(w, Svc(*t), numgen='--no-numgen' not in a)
        if cmd == 'measure-svc':
            service(w, Svc('measure', '10.255.255.254', opt_int('--node-port'), ['10.1.2.2'], 80, 80,
                           'http', [opt('--external-ip')] if opt('--external-ip') else []))
            service(w, Svc('iperf', '10.255.255.253', 0, ['10.1.2.2'], 5201, 5201, 'iperf'))
    elif cmd == 'partial':
        name, cip, np, eps = svcs[n // 2]
        old = Svc(name, cip, np, eps)
        new = Svc(name, cip, np, [NEW_EP] + eps[1:])
        # the elements are unchanged (nftElementStorage: no operation); the
        # Service's chains are rewritten; the endpoint chain no longer in use
        # is flushed (deleted by a later sync, after 1 s)
        service(w, new, elements=False)
        w('flush chain %s %s' % (T, old.ep_chains[0]))
    elif cmd == 'manifests':
        d = a[2]
        os.makedirs(d, exist_ok=True)
        items = []

        dual = '--dual-stack' in a

        def v6(ip4, prefix):
            o = [int(x) for x in ip4.split('.')]
            return '%s%x:%x' % (prefix, o[1] << 8 | o[2], o[3]) if prefix == 'fd00:96::' else \
                '%s%x:%x' % (prefix, o[2], o[3])

        def slice_(name, eps, target=8080, pname='http', fam='IPv4'):
            return {'apiVersion': 'discovery.k8s.io/v1', 'kind': 'EndpointSlice',
                    'metadata': {'name': name + ('-x' if fam == 'IPv4' else '-y'),
                                 'namespace': 'bench',
                                 'labels': {'kubernetes.io/service-name': name}},
                    'addressType': fam,
                    'ports': [{'name': pname, 'protocol': 'TCP', 'port': target}],
                    'endpoints': [{'addresses': [e], 'conditions': {'ready': True},
                                   'nodeName': 'node2'} for e in eps]}
        for i, (name, cip, np, eps) in enumerate(svcs):
            port = {'name': 'http', 'protocol': 'TCP', 'port': 80, 'targetPort': 8080}
            spec = {'clusterIP': cip, 'ports': [port]}
            if dual:
                spec.update({'ipFamilyPolicy': 'RequireDualStack', 'ipFamilies': ['IPv4', 'IPv6'],
                             'clusterIPs': [cip, v6(cip, 'fd00:96::')]})
                items.append(slice_(name, [v6(e, 'fd00:244::') for e in eps], fam='IPv6'))
            if np:
                spec['type'] = 'NodePort'
                port['nodePort'] = np
            items.append({'apiVersion': 'v1', 'kind': 'Service',
                          'metadata': {'name': name, 'namespace': 'bench'}, 'spec': spec})
            if i == int(os.environ.get('CHANGE_AT', n // 2)):
                with open(os.path.join(d, 'change.json'), 'w') as f:
                    json.dump(slice_(name, eps), f)
                with open(os.path.join(d, 'change.next'), 'w') as f:
                    # --count-change: one endpoint replaced and one gone (10 <-> 9)
                    json.dump(slice_(name, [NEW_EP] + eps[2 if '--count-change' in a else 1:]), f)
            else:
                items.append(slice_(name, eps))
        if '--measure-svc' in a:
            for name, cip, port, pname in (('measure', '10.255.255.254', 80, 'http'),
                                           ('iperf', '10.255.255.253', 5201, 'iperf')):
                sp = {'name': pname, 'protocol': 'TCP', 'port': port, 'targetPort': port}
                spec = {'clusterIP': cip, 'ports': [sp]}
                if name == 'measure' and opt('--external-ip'):
                    spec['externalIPs'] = [opt('--external-ip')]
                if name == 'measure' and opt_int('--node-port'):
                    spec['type'] = 'NodePort'
                    sp['nodePort'] = opt_int('--node-port')
                items.append({'apiVersion': 'v1', 'kind': 'Service',
                              'metadata': {'name': name, 'namespace': 'bench'}, 'spec': spec})
                items.append(slice_(name, ['10.1.2.2'], port, pname))
            if opt('--node-ip'):
                items.append({'apiVersion': 'v1', 'kind': 'Node', 'metadata': {'name': 'node1'},
                              'status': {'addresses': [{'type': 'InternalIP',
                                                        'address': opt('--node-ip')}]}})
        with open(os.path.join(d, 'all.json'), 'w') as f:
            json.dump({'apiVersion': 'v1', 'kind': 'List', 'items': items}, f)
        return
    else:
        sys.exit(__doc__)
    sys.stdout.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
