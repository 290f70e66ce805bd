#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Write N ClusterIP Services x E endpoints as manifests (DIR/svc-NNNNN.yaml,
100 Services per file) and the same virtual servers as an `ipvsadm -R`
rules file.  Service i: 10.100.0.0 + i + 1 port 80 -> endpoints
172.16.0.0 + i*E + k + 1 port 8080.  Endpoints live on other nodes except,
for every --local-every'th Service, its last endpoint, which is on node1 (the
node under test): only those can loop back, so only those get a hairpin
(SY-LOOP-BACK) entry, as in kube-proxy.
--dualstack: every Service is RequireDualStack with a second ClusterIP
fd00:100::<i+1> and an IPv6 EndpointSlice of as many endpoints
(fd00:172:16::<i*E+k+1>, the same nodes), i.e. E endpoints per family."""
import argparse, os

ap = argparse.ArgumentParser()
ap.add_argument("--services", type=int, required=True)
ap.add_argument("--endpoints", type=int, default=10)
ap.add_argument("--local-every", type=int, default=10)
ap.add_argument("--dir", required=True)
ap.add_argument("--ipvsadm", required=True)
ap.add_argument("--dualstack", action="store_true")
ap.add_argument("--ipset", help="also write the same SY-CLUSTER-IP / SY-LOOP-BACK entries "
                "as an `ipset restore` file (the reference for the set part)")
a = ap.parse_args()


def ip(n):
    return "%d.%d.%d.%d" % (n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255)


def cip(i):
    return ip((10 << 24) + (100 << 16) + i + 1)


def is_local(i, k):
    return a.local_every > 0 and i % a.local_every == 0 and k == a.endpoints - 1


def node(i, k):
    return "node1" if is_local(i, k) else "node%d" % (2 + (i + k) % 50)


def ep(i, k):
    return ip((172 << 24) + (16 << 16) + i * a.endpoints + k + 1)


def cip6(i):
    return "fd00:100::%x" % (i + 1)


def ep6(i, k):
    n = i * a.endpoints + k + 1
    return "fd00:172:16::%x:%x" % (n >> 16, n & 0xffff)


os.makedirs(a.dir, exist_ok=True)
rules = []
for f0 in range(0, a.services, 100):
    docs = []
    for i in range(f0, min(f0 + 100, a.services)):
        eps = "".join("- {addresses: [%s], nodeName: %s, conditions: {ready: true}}\n"
                      % (ep(i, k), node(i, k)) for k in range(a.endpoints))
        fam = ""
        if a.dualstack:
            fam = ("  clusterIPs: [%s, \"%s\"]\n  ipFamilies: [IPv4, IPv6]\n"
                   "  ipFamilyPolicy: RequireDualStack\n" % (cip(i), cip6(i)))
        docs.append(
            "apiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: bench}\n"
            "spec:\n  clusterIP: %s\n%s  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]\n"
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            "metadata: {name: s%d-1, namespace: bench, labels: {kubernetes.io/service-name: s%d}}\n"
            "addressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n%s"
            % (i, cip(i), fam, i, i, eps))
        rules.append("-A -t %s:80 -s rr" % cip(i))
        rules.extend("-a -t %s:80 -r %s:8080 -m -w 1" % (cip(i), ep(i, k)) for k in range(a.endpoints))
        if a.dualstack:
            eps6 = "".join("- {addresses: [\"%s\"], nodeName: %s, conditions: {ready: true}}\n"
                           % (ep6(i, k), node(i, k)) for k in range(a.endpoints))
            docs.append(
                "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                "metadata: {name: s%d-6, namespace: bench, labels: {kubernetes.io/service-name: s%d}}\n"
                "addressType: IPv6\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n%s"
                % (i, i, eps6))
            rules.append("-A -t [%s]:80 -s rr" % cip6(i))
            rules.extend("-a -t [%s]:80 -r [%s]:8080 -m -w 1" % (cip6(i), ep6(i, k))
                         for k in range(a.endpoints))
    with open(os.path.join(a.dir, "svc-%05d.yaml" % f0), "w") as f:
        f.write("---\n".join(docs))
with open(a.ipvsadm, "w") as f:
    f.write("\n".join(rules) + "\n")
if a.ipset:
    with open(a.ipset, "w") as f:
        f.write("create REF-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 1048576\n")
        f.write("create REF-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 1048576\n")
        f.write("create REF-NO-ENDPOINTS hash:ip,port family inet hashsize 1024 maxelem 1048576\n")
        for i in range(a.services):
            f.write("add REF-CLUSTER-IP %s,tcp:80\n" % cip(i))
            for k in range(a.endpoints):
                if is_local(i, k):
                    f.write("add REF-LOOP-BACK %s,tcp:8080,%s\n" % (ep(i, k), ep(i, k)))
