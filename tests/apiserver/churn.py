#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Random churn through the API server double's REST API (what kubectl
sends): Services and their EndpointSlices created, changed and deleted.

  churn.py --url http://127.0.0.1:PORT --ops K --seed S [--names N]

Each op picks one of N Service names: an absent one is created (with a
slice most of the time); a present one gets new endpoints, a new port or
type, or is deleted with or without its slice.  Prints a one-line summary.
"""
import argparse
import json
import random
import sys
import urllib.error
import urllib.request

SVC = '/api/v1/namespaces/default/services'
EPS = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices'


def call(url, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, None


def service(name, i, rnd):
    ip = '10.96.%d.%d' % (i // 200, i % 200 + 1)
    ports = [{'name': 'http', 'protocol': 'TCP', 'port': rnd.choice([80, 8080, 443]),
              'targetPort': 8080}]
    if rnd.random() < 0.3:
        ports.append({'name': 'dns', 'protocol': 'UDP', 'port': 53, 'targetPort': 5353})
    spec = {'type': 'ClusterIP', 'clusterIP': ip, 'clusterIPs': [ip], 'ports': ports}
    if rnd.random() < 0.3:
        spec['type'] = 'NodePort'
        for k, p in enumerate(ports):
            p['nodePort'] = 30000 + i * 2 + k
        if rnd.random() < 0.5:
            spec['externalTrafficPolicy'] = 'Local'
    if rnd.random() < 0.2:
        spec['sessionAffinity'] = 'ClientIP'
    return {'apiVersion': 'v1', 'kind': 'Service',
            'metadata': {'name': name, 'namespace': 'default'}, 'spec': spec}


def slice_(name, i, rnd):
    eps = []
    for k in range(rnd.randint(0, 4)):
        eps.append({'addresses': ['10.244.%d.%d' % (i % 250, k + 2)],
                    'conditions': {'ready': rnd.random() < 0.85, 'serving': True,
                                   'terminating': False},
                    'nodeName': rnd.choice(['node-a', 'node-b'])})
    return {'apiVersion': 'discovery.k8s.io/v1', 'kind': 'EndpointSlice',
            'metadata': {'name': name + '-x', 'namespace': 'default',
                         'labels': {'kubernetes.io/service-name': name}},
            'addressType': 'IPv4',
            'ports': [{'name': 'http', 'protocol': 'TCP', 'port': 8080},
                      {'name': 'dns', 'protocol': 'UDP', 'port': 5353}],
            'endpoints': eps}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--url', required=True)
    ap.add_argument('--ops', type=int, default=10)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--names', type=int, default=40)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    st, svcs = call(a.url, 'GET', SVC)
    st2, slices = call(a.url, 'GET', EPS)
    if st != 200 or st2 != 200:
        sys.exit('churn: cannot list (%s, %s)' % (st, st2))
    have = {o['metadata']['name'] for o in svcs['items']}
    have_eps = {o['metadata']['name'] for o in slices['items']}
    done = {'create': 0, 'endpoints': 0, 'service': 0, 'delete': 0, 'failed': 0}
    for _ in range(a.ops):
        i = rnd.randrange(a.names)
        name = 'soak-%d' % i
        if name not in have:
            ok = call(a.url, 'POST', SVC, service(name, i, rnd))[0] == 201
            if ok and rnd.random() < 0.8:
                ok = call(a.url, 'PUT' if name + '-x' in have_eps else 'POST',
                          EPS + ('/' + name + '-x' if name + '-x' in have_eps else ''),
                          slice_(name, i, rnd))[0] in (200, 201)
                have_eps.add(name + '-x')
            have.add(name)
            done['create' if ok else 'failed'] += 1
            continue
        r = rnd.random()
        if r < 0.5:
            if name + '-x' in have_eps:
                ok = call(a.url, 'PUT', EPS + '/' + name + '-x', slice_(name, i, rnd))[0] == 200
            else:
                ok = call(a.url, 'POST', EPS, slice_(name, i, rnd))[0] == 201
                have_eps.add(name + '-x')
            done['endpoints' if ok else 'failed'] += 1
        elif r < 0.7:
            ok = call(a.url, 'PUT', SVC + '/' + name, service(name, i, rnd))[0] == 200
            done['service' if ok else 'failed'] += 1
        else:
            ok = call(a.url, 'DELETE', SVC + '/' + name)[0] == 200
            have.discard(name)
            if r < 0.9 and name + '-x' in have_eps:
                ok = call(a.url, 'DELETE', EPS + '/' + name + '-x')[0] == 200 and ok
                have_eps.discard(name + '-x')
            done['delete' if ok else 'failed'] += 1
    print(' '.join('%s=%d' % kv for kv in done.items()))
    sys.exit(1 if done['failed'] else 0)


if __name__ == '__main__':
    main()
