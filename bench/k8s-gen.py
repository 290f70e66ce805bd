#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Generate N Services, each with one EndpointSlice of E endpoints, as a
JSON List for the API server double (--preload).  Objects look like what a
real cluster serves (conditions, nodeName, zone, targetRef, labels).
--dual (first argument): every Service is RequireDualStack (an IPv4 and an
IPv6 ClusterIP) with an IPv4 and an IPv6 EndpointSlice of E endpoints each."""
import json
import sys


def ip(base, k):
    return '%d.%d.%d.%d' % (base[0], base[1] + (k >> 16), (k >> 8) & 255, k & 255)


def main():
    args = sys.argv[1:]
    dual = bool(args) and args[0] == '--dual'
    if dual:
        args = args[1:]
    n = int(args[0]) if len(args) > 0 else 10000
    e = int(args[1]) if len(args) > 1 else 10
    items = [{'apiVersion': 'v1', 'kind': 'Node',
              'metadata': {'name': 'node-a', 'labels': {'topology.kubernetes.io/zone': 'zone-a'}},
              'spec': {'podCIDR': '10.244.0.0/24'},
              'status': {'addresses': [{'type': 'InternalIP', 'address': '10.0.0.1'}]}}]
    for i in range(n):
        name = 'svc-%05d' % i
        cip = ip((10, 96), i + 1)
        cips, fams = [cip], ['IPv4']
        if dual:
            cips, fams = [cip, 'fd00:10:96::%x' % (i + 1)], ['IPv4', 'IPv6']
        items.append({
            'apiVersion': 'v1', 'kind': 'Service',
            'metadata': {'name': name, 'namespace': 'bench', 'labels': {'app': name}},
            'spec': {'type': 'ClusterIP', 'clusterIP': cip, 'clusterIPs': cips,
                     'ipFamilies': fams,
                     'ipFamilyPolicy': 'RequireDualStack' if dual else 'SingleStack',
                     'sessionAffinity': 'None', 'internalTrafficPolicy': 'Cluster',
                     'selector': {'app': name},
                     'ports': [{'name': 'http', 'protocol': 'TCP', 'port': 80,
                                'targetPort': 8080}]},
            'status': {'loadBalancer': {}}})
        for fam in (['IPv4', 'IPv6'] if dual else ['IPv4']):
            eps = []
            for j in range(e):
                k = i * e + j + 1
                addr = ip((10, 128), k) if fam == 'IPv4' else 'fd00:10:128::%x:%x' % (k >> 16, k & 0xffff)
                eps.append({'addresses': [addr],
                            'conditions': {'ready': True, 'serving': True, 'terminating': False},
                            'nodeName': 'node-%c' % (97 + (k % 3)), 'zone': 'zone-%c' % (97 + k % 3),
                            'targetRef': {'kind': 'Pod', 'namespace': 'bench',
                                          'name': '%s-%d' % (name, j),
                                          'uid': '%08x-0000-4000-8000-%012x' % (i, j)}})
            items.append({
                'apiVersion': 'discovery.k8s.io/v1', 'kind': 'EndpointSlice',
                'metadata': {'name': name + ('-abcde' if fam == 'IPv4' else '-v6xyz'),
                             'namespace': 'bench',
                             'labels': {'kubernetes.io/service-name': name,
                                        'endpointslice.kubernetes.io/managed-by':
                                            'endpointslice-controller.k8s.io'},
                             'annotations': {'endpoints.kubernetes.io/last-change-trigger-time':
                                             '2026-01-01T00:00:00Z'}},
                'addressType': fam,
                'ports': [{'name': 'http', 'protocol': 'TCP', 'port': 8080}],
                'endpoints': eps})
    json.dump({'apiVersion': 'v1', 'kind': 'List', 'items': items}, sys.stdout,
              separators=(',', ':'))


if __name__ == '__main__':
    main()
