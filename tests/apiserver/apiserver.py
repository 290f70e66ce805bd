#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A Kubernetes API server double for tests (Python 3 standard library only).

Serves v1 Services, discovery.k8s.io/v1 EndpointSlices, v1 Nodes, v1 Pods
(with the status subresource), v1 Namespaces and networking.k8s.io/v1
NetworkPolicies with the real list/watch semantics: a global, monotonically increasing
resourceVersion and an event history; LIST with limit/continue (tokens expire
after a compaction: HTTP 410 Expired), labelSelector and fieldSelector;
WATCH as chunked newline-delimited JSON events with bookmarks, timeoutSeconds
and, for a too-old resourceVersion, HTTP 200 + an in-stream ERROR Status 410.
Enough discovery for the real kubectl to create/replace/delete/get/patch.

As the real API server does: the namespaces default, kube-system,
kube-public and kube-node-lease exist from the start; a Namespace gets the
label kubernetes.io/metadata.name=<name>; deleting a Namespace deletes the
objects in it (at once: no Terminating phase); a Pod is created with
status {phase: Pending} whatever the request says, and only the status
subresource (PUT/PATCH .../pods/NAME/status, kubectl --subresource=status)
changes its status (Nodes have that subresource too); container ports
default to protocol TCP; a
NetworkPolicy is validated (422 Invalid naming the field) and defaulted
(policyTypes, protocol TCP).  networking.k8s.io/v1 ServiceCIDRs (cluster-scoped)
are validated as the real server does (spec.cidrs: one or two CIDRs, two
only of different families; immutable) and get the finalizer
networking.k8s.io/service-cidr-finalizer and the Ready condition (the
servicecidrs controller's work, done at once); DELETE sets their
deletionTimestamp and the object goes only once no Service's ClusterIP in
it is left without another ServiceCIDR covering it (until then: Ready
False, reason Terminating), re-checked whenever a Service changes or goes.  /_control/load writes objects as given
(status included, no validation): the kubelet's and a broken server's way.
Objects in a namespace that does not exist are accepted (unlike the real
server), so tests need not create namespaces.

With --service-cluster-ip-range CIDR[,CIDR] (the real flag; its first CIDR's
family is the primary one, two CIDRs of different families make the
cluster dual-stack), Services get the real server's IP family defaulting,
validation and ClusterIP allocation: ipFamilyPolicy (SingleStack by
default, RequireDualStack when two ipFamilies or clusterIPs are given),
ipFamilies (from the clusterIPs given, else the primary family; a
PreferDualStack / RequireDualStack Service gets the other family too on a
dual-stack cluster), clusterIPs allocated from each family's range (the
lowest free address), clusterIP = clusterIPs[0]; 422 Invalid for a family
the cluster lacks, RequireDualStack on a single-stack cluster, an address
out of range or already allocated, a changed primary ClusterIP.  On an
update the allocated addresses stay when the new object omits them.
Headless and ExternalName Services get no address.  Without the flag
Services are stored as given.  With it the default ServiceCIDR "kubernetes"
holds the flag's CIDRs (the real server creates it at start and again
within 10 s whenever it is gone: --default-service-cidr-interval), and a
ClusterIP asked for may lie in any ServiceCIDR of its family that is not
being deleted (MultiCIDRServiceAllocator, GA in 1.33); addresses are
handed out from the flag's ranges.

Fault injection and test helpers live under /_control/ (no authentication):
  POST /_control/fail?n=N&code=500[&ua=S][&resource=R] next N API requests (whose
                                          User-Agent contains S, on R) answer CODE
  POST /_control/drop?resource=R          watch streams: send half an event, then cut
  POST /_control/truncate?resource=R      watch streams: half an event, then a clean end
  POST /_control/inject?resource=R        body = one raw line sent to watch streams
  POST /_control/expire-continue?n=N[&resource=R]  the next N continue tokens are expired (410)
  POST /_control/stall?seconds=S          API answers and watch streams pause S seconds
  POST /_control/compact[?expire=1]       forget history (old RVs/continue tokens → 410);
                                          expire=1 also sends ERROR 410 to open watches
  POST /_control/load                     body = JSON array/List of objects: create or replace
  POST /_control/unserve?resource=R       R answers 404 as on a server without its API
                                          (servicecidrs before 1.33); serve undoes it
  POST /_control/token?token=T            accept bearer token T from now on
  POST /_control/bookmarks?seconds=S      bookmark interval (0 = none)
  GET  /_control/requests                 the request log (method, path, query, status, auth)
  GET  /_control/state                    rv, compacted rv, open watches, object counts

--state-file F keeps the objects and the resourceVersion across restarts (as
etcd does for a real API server): written after every change, read at
start.  The event history is not kept: after a restart, a watch from a
resourceVersion older than the current one gets ERROR 410 "too old resource
version", as from a real API server whose watch cache started afresh.
"""
import argparse
import base64
import bisect
import copy
import datetime
import gzip
import ipaddress
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCES = {
    # plural: (group-version prefix, kind, namespaced, api group/version, short names)
    'services': ('/api/v1', 'Service', True, 'v1', ['svc']),
    'endpointslices': ('/apis/discovery.k8s.io/v1', 'EndpointSlice', True,
                       'discovery.k8s.io/v1', []),
    'nodes': ('/api/v1', 'Node', False, 'v1', ['no']),
    'namespaces': ('/api/v1', 'Namespace', False, 'v1', ['ns']),
    'pods': ('/api/v1', 'Pod', True, 'v1', ['po']),
    'networkpolicies': ('/apis/networking.k8s.io/v1', 'NetworkPolicy', True,
                        'networking.k8s.io/v1', ['netpol']),
    'servicecidrs': ('/apis/networking.k8s.io/v1', 'ServiceCIDR', False,
                     'networking.k8s.io/v1', []),
    # what switchyard's own manifests hold (etc/switchyard.yaml, etc/kustomize),
    # so kubectl apply can be pointed at the double
    'configmaps': ('/api/v1', 'ConfigMap', True, 'v1', ['cm']),
    'serviceaccounts': ('/api/v1', 'ServiceAccount', True, 'v1', ['sa']),
    'daemonsets': ('/apis/apps/v1', 'DaemonSet', True, 'apps/v1', ['ds']),
    'clusterroles': ('/apis/rbac.authorization.k8s.io/v1', 'ClusterRole', False,
                     'rbac.authorization.k8s.io/v1', []),
    'clusterrolebindings': ('/apis/rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', False,
                            'rbac.authorization.k8s.io/v1', []),
}
GROUP_VERSIONS = sorted({r[3] for r in RESOURCES.values() if '/' in r[3]})
VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']
SUBRESOURCES = {'pods': ['status'], 'servicecidrs': ['status'],
                'nodes': ['status']}	# get, patch, update
SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease']
# field selectors beyond metadata.name/namespace, per resource (the real server's set for pods)
FIELD_SELECTORS = {'pods': ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName',
                            'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase',
                            'status.podIP', 'status.nominatedNodeName']}


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def status(code, reason, message, details=None):
    st = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
          'message': message, 'reason': reason, 'code': code}
    if details:
        st['details'] = details
    return st


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.status = status(code, reason, message, details)
        self.code = code


# ---- selectors ----

def split_terms(s):
    terms, depth, cur = [], 0, ''
    for ch in s:
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
        if ch == ',' and depth == 0:
            terms.append(cur.strip())
            cur = ''
        else:
            cur += ch
    if cur.strip():
        terms.append(cur.strip())
    return terms


def parse_label_selector(s):
    """→ list of predicates over a labels dict."""
    preds = []
    for t in split_terms(s or ''):
        if t.startswith('!'):
            k = t[1:].strip()
            preds.append(lambda l, k=k: k not in l)
        elif ' notin ' in t or ' in ' in t:
            neg = ' notin ' in t
            k, vals = t.split(' notin ' if neg else ' in ', 1)
            vs = {v.strip() for v in vals.strip().strip('()').split(',')}
            k = k.strip()
            if neg:
                preds.append(lambda l, k=k, vs=vs: l.get(k) not in vs)
            else:
                preds.append(lambda l, k=k, vs=vs: k in l and l[k] in vs)
        elif '!=' in t:
            k, v = t.split('!=', 1)
            preds.append(lambda l, k=k.strip(), v=v.strip(): l.get(k) != v)
        elif '=' in t:
            k, v = t.replace('==', '=').split('=', 1)
            preds.append(lambda l, k=k.strip(), v=v.strip(): l.get(k) == v)
        else:
            preds.append(lambda l, k=t: k in l)
    return preds


def field_value(obj, path):
    cur = obj
    for part in path.split('.'):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if isinstance(cur, bool):
        return 'true' if cur else 'false'
    return '' if cur is None else str(cur)


def parse_field_selector(s, resource=None):
    preds = []
    known = ['metadata.name', 'metadata.namespace'] + FIELD_SELECTORS.get(resource, [])
    for t in split_terms(s or ''):
        neg = '!=' in t
        k, v = t.replace('==', '=').replace('!=', '=').split('=', 1)
        k, v = k.strip(), v.strip()
        if k not in known:
            raise ApiError(400, 'BadRequest',
                           f'"{k}" is not a known field selector: only ' +
                           ', '.join(f'"{x}"' for x in known))
        if neg:
            preds.append(lambda o, k=k, v=v: field_value(o, k) != v)
        else:
            preds.append(lambda o, k=k, v=v: field_value(o, k) == v)
    return preds


# ---- what the real API server defaults and validates ----

DNS1123_LABEL = __import__('re').compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')
SUBDOMAIN = __import__('re').compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
IANA_SVC_NAME = __import__('re').compile(r'^[a-z0-9]([a-z0-9-]*[a-z0-9])?$')


def port_name_ok(n):
    return (isinstance(n, str) and 0 < len(n) <= 15 and IANA_SVC_NAME.match(n) is not None
            and '--' not in n and any(c.isalpha() for c in n))


def cidr_parse(s):
    import ipaddress
    return ipaddress.ip_network(s, strict=False)


def validate_netpol(obj):
    """→ the field errors the real server reports for a NetworkPolicy."""
    errs = []
    spec = obj.get('spec') or {}

    def selector(sel, path):
        if sel is None:
            return
        if not isinstance(sel, dict):
            errs.append(f'{path}: Invalid value: must be an object')
            return
        for i, e in enumerate(sel.get('matchExpressions') or []):
            op, vals = e.get('operator'), e.get('values') or []
            p = f'{path}.matchExpressions[{i}]'
            if op not in ('In', 'NotIn', 'Exists', 'DoesNotExist'):
                errs.append(f'{p}.operator: Invalid value: "{op}": not a valid selector operator')
            elif op in ('In', 'NotIn') and not vals:
                errs.append(f"{p}.values: Required value: must be specified when `operator` is "
                            f"'In' or 'NotIn'")
            elif op in ('Exists', 'DoesNotExist') and vals:
                errs.append(f"{p}.values: Forbidden: may not be specified when `operator` is "
                            f"'Exists' or 'DoesNotExist'")

    selector(spec.get('podSelector'), 'spec.podSelector')
    for d, peers_key in (('ingress', 'from'), ('egress', 'to')):
        for i, rule in enumerate(spec.get(d) or []):
            for k, port in enumerate(rule.get('ports') or []):
                p = f'spec.{d}[{i}].ports[{k}]'
                proto = port.get('protocol', 'TCP')
                if proto not in ('TCP', 'UDP', 'SCTP'):
                    errs.append(f'{p}.protocol: Unsupported value: "{proto}": supported values: '
                                f'"SCTP", "TCP", "UDP"')
                pv, ev = port.get('port'), port.get('endPort')
                if isinstance(pv, int) and not 1 <= pv <= 65535:
                    errs.append(f'{p}.port: Invalid value: {pv}: must be between 1 and 65535, '
                                f'inclusive')
                if isinstance(pv, str) and not port_name_ok(pv):
                    errs.append(f'{p}.port: Invalid value: "{pv}": must be a valid port name')
                if ev is not None:
                    if pv is None:
                        errs.append(f'{p}.endPort: Required value: may not be specified when '
                                    f'`port` is not specified')
                    elif isinstance(pv, str):
                        errs.append(f'{p}.endPort: Required value: may not be specified when '
                                    f'`port` is non-numeric')
                    elif ev < pv:
                        errs.append(f'{p}.endPort: Invalid value: {ev}: must be greater than or '
                                    f'equal to `port`')
            for k, peer in enumerate(rule.get(peers_key) or []):
                p = f'spec.{d}[{i}].{peers_key}[{k}]'
                n = sum(1 for f in ('podSelector', 'namespaceSelector', 'ipBlock')
                        if peer.get(f) is not None)
                if n == 0:
                    errs.append(f'{p}: Required value: must specify a peer')
                elif peer.get('ipBlock') is not None and n > 1:
                    errs.append(f'{p}: Forbidden: may not specify more than 1 peer')
                selector(peer.get('podSelector'), p + '.podSelector')
                selector(peer.get('namespaceSelector'), p + '.namespaceSelector')
                ib = peer.get('ipBlock')
                if ib is not None:
                    try:
                        net = cidr_parse(ib.get('cidr') or '')
                    except ValueError:
                        errs.append(f'{p}.ipBlock.cidr: Invalid value: "{ib.get("cidr")}": '
                                    f'must be a valid CIDR')
                        continue
                    for j, ex in enumerate(ib.get('except') or []):
                        try:
                            en = cidr_parse(ex)
                            ok = (en.version == net.version and en.prefixlen > net.prefixlen
                                  and en.subnet_of(net))
                        except ValueError:
                            ok = False
                        if not ok:
                            errs.append(f'{p}.ipBlock.except[{j}]: Invalid value: "{ex}": must '
                                        f'be a strict subset of `cidr`')
    types = spec.get('policyTypes') or []
    for i, t in enumerate(types):
        if t not in ('Ingress', 'Egress') or types.index(t) != i:
            errs.append(f'spec.policyTypes[{i}]: Unsupported value: "{t}": supported values: '
                        f'"Egress", "Ingress"')
    return errs


SERVICE_CIDR_FINALIZER = 'networking.k8s.io/service-cidr-finalizer'


def validate_service_cidr(obj, old):
    """pkg/apis/networking/validation ValidateServiceCIDR / ValidateServiceCIDRUpdate."""
    name = obj['metadata']['name']
    spec = obj.get('spec') or {}
    cidrs = spec.get('cidrs')

    def invalid(msg):
        raise ApiError(422, 'Invalid', f'ServiceCIDR.networking.k8s.io "{name}" is invalid: {msg}')
    if not SUBDOMAIN.match(name) or len(name) > 253:
        invalid(f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must '
                f'consist of lower case alphanumeric characters, \'-\' or \'.\', and must '
                f'start and end with an alphanumeric character')
    if old is not None and (old.get('spec') or {}).get('cidrs') != cidrs:
        invalid(f'spec.cidrs: Invalid value: {json.dumps(cidrs)}: field is immutable')
    if not cidrs:
        invalid('spec.cidrs: Required value: at least one CIDR required')
    if not isinstance(cidrs, list) or len(cidrs) > 2:
        invalid(f'spec.cidrs: Invalid value: {json.dumps(spec)}: may only hold up to 2 values')
    nets = []
    for i, c in enumerate(cidrs):
        try:
            if not isinstance(c, str) or '/' not in c:
                raise ValueError
            nets.append(ipaddress.ip_network(c, strict=False))
        except ValueError:
            invalid(f'spec.cidrs[{i}]: Invalid value: {json.dumps(c)}: must be a valid CIDR value, '
                    f'(e.g. 10.9.8.0/24 or 2001:db8::/64)')
    if len(nets) == 2 and nets[0].version == nets[1].version:
        invalid(f'spec.cidrs: Invalid value: {json.dumps(spec)}: may specify no more than one IP '
                f'for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64')


def ready_condition(status_, reason='', message=''):
    return {'type': 'Ready', 'status': status_, 'reason': reason, 'message': message,
            'lastTransitionTime': now_rfc3339()}


def apply_defaults(resource, obj, old, trusted, subresource=None):
    """The real server's defaulting and validation; obj is a private copy."""
    md = obj['metadata']
    if resource == 'nodes' and subresource == 'status' and not trusted:
        # the status subresource changes the status only (kubectl --subresource=status)
        obj['spec'] = copy.deepcopy(old.get('spec', {}))
    if resource == 'servicecidrs' and not trusted:
        if subresource == 'status':
            obj['spec'] = copy.deepcopy(old.get('spec', {}))
        else:
            validate_service_cidr(obj, old)
            if old is not None:
                obj['status'] = copy.deepcopy(old.get('status', {}))
                if old['metadata'].get('deletionTimestamp'):
                    md['deletionTimestamp'] = old['metadata']['deletionTimestamp']
            else:
                md.setdefault('finalizers', [SERVICE_CIDR_FINALIZER])
                obj['status'] = {'conditions': [ready_condition('True')]}
    if resource == 'namespaces':
        if not DNS1123_LABEL.match(md['name']) or len(md['name']) > 63:
            raise ApiError(422, 'Invalid', f'Namespace "{md["name"]}" is invalid: metadata.name: '
                           f'Invalid value: "{md["name"]}": a lowercase RFC 1123 label must '
                           f'consist of lower case alphanumeric characters or \'-\'')
        md.setdefault('labels', {})['kubernetes.io/metadata.name'] = md['name']
        obj.setdefault('spec', {}).setdefault('finalizers', ['kubernetes'])
        obj.setdefault('status', {}).setdefault('phase', 'Active')
    elif resource == 'pods':
        spec = obj.setdefault('spec', {})
        for c in spec.get('containers') or []:
            for port in c.get('ports') or []:
                port.setdefault('protocol', 'TCP')
        if not trusted:
            if subresource == 'status':
                # only the status changes
                obj['spec'] = copy.deepcopy(old.get('spec', {}))
            elif old is not None:
                obj['status'] = copy.deepcopy(old.get('status', {}))
            else:
                obj['status'] = {'phase': 'Pending'}
    elif resource == 'networkpolicies':
        if not trusted:
            errs = validate_netpol(obj)
            if errs:
                raise ApiError(422, 'Invalid',
                               f'NetworkPolicy.networking.k8s.io "{md["name"]}" is invalid: ' +
                               ', '.join(errs))
        spec = obj.setdefault('spec', {})
        spec.setdefault('podSelector', {})
        for d in ('ingress', 'egress'):
            for rule in spec.get(d) or []:
                for port in rule.get('ports') or []:
                    if isinstance(port, dict):
                        port.setdefault('protocol', 'TCP')
        if not spec.get('policyTypes'):
            spec['policyTypes'] = ['Ingress'] + (['Egress'] if spec.get('egress') else [])


class Filter:
    def __init__(self, namespace=None, label=None, field=None, resource=None):
        self.namespace = namespace
        self.label = parse_label_selector(label)
        self.field = parse_field_selector(field, resource)

    def match(self, obj):
        if obj is None:
            return False
        md = obj['metadata']
        if self.namespace is not None and md.get('namespace') != self.namespace:
            return False
        labels = md.get('labels') or {}
        return all(p(labels) for p in self.label) and all(p(obj) for p in self.field)


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith('$'):
            continue	# strategic-merge directives
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---- the store ----

class Watch:
    def __init__(self, resource):
        self.resource = resource
        self.actions = []	# ('drop'|'truncate'|'inject'|'expire', arg)


SERVICE_CIDRS = []	# --service-cluster-ip-range: ipaddress networks, the primary first


def ip_family(ip):
    try:
        return 'IPv6' if ipaddress.ip_address(ip).version == 6 else 'IPv4'
    except ValueError:
        return None


def service_ips(obj, old, in_use, ranges=None):
    """The real registry's IP family defaulting, validation and allocation
    (pkg/registry/core/service: initIPFamilyFields, the ipallocator).
    ranges: the networks of the ServiceCIDRs not being deleted (an address
    asked for may be in any of its family); allocation uses the flag's."""
    name = obj['metadata']['name']
    spec = obj.setdefault('spec', {})

    def invalid(field, value, msg):
        raise ApiError(422, 'Invalid', f'Service "{name}" is invalid: {field}: Invalid value: '
                       f'{json.dumps(value)}: {msg}')
    spec.setdefault('type', 'ClusterIP')
    if spec['type'] == 'ExternalName':
        for k in ('clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy'):
            spec.pop(k, None)
        return
    by_family = {('IPv6' if n.version == 6 else 'IPv4'): n for n in SERVICE_CIDRS}
    primary = 'IPv6' if SERVICE_CIDRS[0].version == 6 else 'IPv4'
    dual = len(by_family) == 2
    ospec = (old or {}).get('spec', {})
    if old is not None and ospec.get('clusterIPs') and not spec.get('clusterIP') \
            and not spec.get('clusterIPs'):
        # the addresses allocated before stay (patchAllocatedValues)
        spec['clusterIP'] = ospec.get('clusterIP')
        spec['clusterIPs'] = list(ospec['clusterIPs'])
        spec.setdefault('ipFamilies', list(ospec.get('ipFamilies') or []))
        if 'ipFamilyPolicy' not in spec and ospec.get('ipFamilyPolicy'):
            spec['ipFamilyPolicy'] = ospec['ipFamilyPolicy']
    cip = spec.get('clusterIP') or ''
    cips = list(spec.get('clusterIPs') or [])
    if cip and not cips:
        cips = [cip]
    if cips and not cip:
        cip = cips[0]
    if cip and cips[0] != cip:
        invalid('spec.clusterIPs', cips, 'first value must match `clusterIP`')
    fams = list(spec.get('ipFamilies') or [])
    policy = spec.get('ipFamilyPolicy')
    if policy not in (None, 'SingleStack', 'PreferDualStack', 'RequireDualStack'):
        raise ApiError(422, 'Invalid', f'Service "{name}" is invalid: spec.ipFamilyPolicy: '
                       f'Unsupported value: "{policy}": supported values: "PreferDualStack", '
                       f'"RequireDualStack", "SingleStack"')
    for i, f in enumerate(fams):
        if f not in ('IPv4', 'IPv6'):
            raise ApiError(422, 'Invalid', f'Service "{name}" is invalid: spec.ipFamilies[{i}]: '
                           f'Unsupported value: "{f}": supported values: "IPv4", "IPv6"')
        if f in fams[:i]:
            raise ApiError(422, 'Invalid', f'Service "{name}" is invalid: spec.ipFamilies[{i}]: '
                           f'Duplicate value: "{f}"')
    if cip == 'None':		# headless: no address
        spec['clusterIP'], spec['clusterIPs'] = 'None', ['None']
        if policy is None:
            policy = 'RequireDualStack' if not spec.get('selector') and dual else 'SingleStack'
        if not fams:
            fams = [primary] + ([f for f in by_family if f != primary]
                                if policy != 'SingleStack' and dual else [])
        spec['ipFamilyPolicy'], spec['ipFamilies'] = policy, fams
        return
    for i, ip in enumerate(cips):
        if not ip_family(ip):
            invalid(f'spec.clusterIPs[{i}]', ip, 'must be a valid IP address, (e.g. 10.9.8.7 '
                    'or 2001:db8::ffff)')
    if len(cips) > 2 or len(fams) > 2:
        invalid('spec.clusterIPs' if len(cips) > 2 else 'spec.ipFamilies', cips if len(cips) > 2
                else fams, 'may only hold up to 2 values')
    if len(cips) == 2 and ip_family(cips[0]) == ip_family(cips[1]):
        invalid('spec.clusterIPs[1]', cips[1], 'may specify no more than one IP for each IP family')
    if policy is None:
        policy = 'RequireDualStack' if len(fams) == 2 or len(cips) == 2 else 'SingleStack'
    if policy == 'SingleStack' and (len(fams) > 1 or len(cips) > 1):
        invalid('spec.ipFamilyPolicy', policy, "must be 'RequireDualStack' or 'PreferDualStack' "
                "when multiple IP families are specified")
    if policy == 'RequireDualStack' and not dual:
        invalid('spec.ipFamilyPolicy', policy, 'this cluster is not configured for dual-stack '
                'services')
    for i, ip in enumerate(cips):
        if i < len(fams) and fams[i] != ip_family(ip):
            invalid(f'spec.clusterIPs[{i}]', ip, f'expected an {fams[i]} value as indicated by '
                    f'`ipFamilies[{i}]`')
        if i >= len(fams):
            fams.append(ip_family(ip))
    for i, f in enumerate(fams):
        if f not in by_family:
            invalid(f'spec.ipFamilies[{i}]', f, 'not configured on this cluster')
    if not fams:
        fams = [primary]
    if policy != 'SingleStack' and len(fams) == 1 and dual:
        fams.append('IPv6' if fams[0] == 'IPv4' else 'IPv4')
    ocips = ospec.get('clusterIPs') or []
    if old is not None and ocips and ocips[0] not in ('', 'None') and cips and cips[0] != ocips[0]:
        invalid('spec.clusterIPs[0]', cips[0], 'may not change once set')
    for i, f in enumerate(fams):
        net = by_family[f]
        if i < len(cips):
            ip = ipaddress.ip_address(cips[i])
            if ip not in net and not any(ip in r for r in ranges or []
                                         if r.version == ip.version):
                invalid('spec.clusterIPs', cips, f'failed to allocate IP {cips[i]}: provided IP is '
                        f'not in the valid range. The range of valid IPs is {net}')
            if str(ip) in in_use:
                invalid('spec.clusterIPs', cips, f'failed to allocate IP {cips[i]}: provided IP is '
                        f'already allocated')
            cips[i] = str(ip)
            continue
        for ip in net.hosts():	# the network (and IPv4 broadcast) address is never handed out
            if str(ip) not in in_use:
                cips.append(str(ip))
                break
        else:
            raise ApiError(500, 'InternalError', f'Internal error occurred: failed to allocate a '
                           f'serviceIP: range is full')
    spec['clusterIP'], spec['clusterIPs'] = cips[0], cips
    spec['ipFamilies'], spec['ipFamilyPolicy'] = fams, policy


class Store:
    def __init__(self, bookmark_interval):
        self.lock = threading.Condition()
        self.rv = 1
        self.compacted = 0	# watches from an RV below this get 410
        self.objects = {r: {} for r in RESOURCES}	# resource → {(ns, name): obj}
        self.history = []	# (rv, resource, type, obj, old)
        self.history_rvs = []
        self.snapshots = {}	# id → (rv, sorted list of objs)
        self.watches = []
        self.fail = []		# [count, code, user-agent substring]
        self.expire_continue = 0
        self.expire_continue_res = None
        self.unserved = set()	# resources answered 404 (a server without that API)
        self.stall_until = 0.0
        self.token = None
        self.bookmark_interval = bookmark_interval
        self.requests = []
        self.state_file = None
        for n in SYSTEM_NAMESPACES:	# as a new cluster has them (no watch events)
            self.objects['namespaces'][('', n)] = {
                'metadata': {'name': n, 'uid': str(uuid.uuid4()), 'resourceVersion': '1',
                             'creationTimestamp': now_rfc3339(),
                             'labels': {'kubernetes.io/metadata.name': n}},
                'spec': {'finalizers': ['kubernetes']}, 'status': {'phase': 'Active'}}

    def restore(self, path):
        """Read the objects and resourceVersion a previous run saved (if any)."""
        self.state_file = path
        try:
            with open(path) as fh:
                st = json.load(fh)
        except FileNotFoundError:
            return
        with self.lock:
            self.rv = int(st['resourceVersion'])
            self.compacted = self.rv	# no history survives a restart
            for res, objs in st['objects'].items():
                self.objects[res] = {(o['metadata'].get('namespace', ''), o['metadata']['name']): o
                                     for o in objs}

    def _save(self):
        if not self.state_file:
            return
        tmp = self.state_file + '.tmp'
        with open(tmp, 'w') as fh:
            json.dump({'resourceVersion': str(self.rv),
                       'objects': {r: list(o.values()) for r, o in self.objects.items()}}, fh)
        os.rename(tmp, self.state_file)

    # all under self.lock
    def _record(self, resource, etype, obj, old):
        self.history.append((self.rv, resource, etype, obj, old))
        self.history_rvs.append(self.rv)
        self._save()
        self.lock.notify_all()

    def _next_rv(self):
        self.rv += 1
        return str(self.rv)

    def write(self, resource, obj, mode, namespace=None, name=None, trusted=False,
              subresource=None):
        """mode: create | replace | upsert.  Returns the stored object.
        trusted: written as given (/_control/load); subresource: 'status'."""
        kind = RESOURCES[resource][1]
        if obj.get('kind') not in (None, kind):
            raise ApiError(400, 'BadRequest',
                           f'the API version in the data does not match the expected '
                           f'kind: got {obj.get("kind")}, want {kind}')
        obj = copy.deepcopy(obj)
        md = obj.setdefault('metadata', {})
        if not md.get('name') and md.get('generateName'):
            md['name'] = md['generateName'] + uuid.uuid4().hex[:5]
        if name and md.get('name') and md['name'] != name:
            raise ApiError(400, 'BadRequest', 'the name of the object does not match the URL')
        if name and not md.get('name'):
            md['name'] = name
        if not md.get('name'):
            raise ApiError(422, 'Invalid', f'{kind} "" is invalid: metadata.name: Required value')
        if RESOURCES[resource][2]:
            ns = md.get('namespace') or namespace or 'default'
            if namespace and ns != namespace:
                raise ApiError(400, 'BadRequest',
                               'the namespace of the provided object does not match the '
                               'namespace sent on the request')
            md['namespace'] = ns
        else:
            md.pop('namespace', None)
            ns = ''
        key = (ns, md['name'])
        with self.lock:
            old = self.objects[resource].get(key)
            if mode == 'create' and old is not None:
                raise ApiError(409, 'AlreadyExists',
                               f'{resource} "{md["name"]}" already exists',
                               {'name': md['name'], 'kind': resource})
            if mode == 'replace':
                if old is None:
                    raise ApiError(404, 'NotFound', f'{resource} "{md["name"]}" not found',
                                   {'name': md['name'], 'kind': resource})
                want = md.get('resourceVersion')
                if want and want != old['metadata']['resourceVersion']:
                    raise ApiError(409, 'Conflict',
                                   f'Operation cannot be fulfilled on {resource} '
                                   f'"{md["name"]}": the object has been modified; please '
                                   f'apply your changes to the latest version and try again')
            if subresource and old is None:
                raise ApiError(404, 'NotFound', f'{resource} "{md["name"]}" not found',
                               {'name': md['name'], 'kind': resource})
            obj.pop('kind', None)
            obj.pop('apiVersion', None)
            apply_defaults(resource, obj, old, trusted, subresource)
            if resource == 'services' and SERVICE_CIDRS and not trusted and not subresource:
                in_use = {ip for k, o in self.objects['services'].items() if k != key
                          for ip in (o.get('spec') or {}).get('clusterIPs') or []}
                ranges = [ipaddress.ip_network(c, strict=False)
                          for o in self.objects['servicecidrs'].values()
                          if not o['metadata'].get('deletionTimestamp')
                          for c in (o.get('spec') or {}).get('cidrs') or []]
                service_ips(obj, old, in_use, ranges)
            if old is not None:
                md['uid'] = old['metadata']['uid']
                md['creationTimestamp'] = old['metadata']['creationTimestamp']
            else:
                md.setdefault('uid', str(uuid.uuid4()))
                md.setdefault('creationTimestamp', now_rfc3339())
            md['resourceVersion'] = self._next_rv()
            self.objects[resource][key] = obj
            self._record(resource, 'MODIFIED' if old is not None else 'ADDED', obj, old)
            if resource == 'services' and not trusted:
                self._service_cidrs_controller()
            return obj

    def _service_cidrs_controller(self):
        """pkg/controller/servicecidrs: a ServiceCIDR being deleted goes once no
        ClusterIP in it is left uncovered by another ServiceCIDR (its finalizer
        removed); until then its Ready condition is False, reason Terminating."""
        objs = self.objects['servicecidrs']
        for key, sc in list(objs.items()):
            md = sc['metadata']
            if not md.get('deletionTimestamp'):
                continue
            mine = [ipaddress.ip_network(c, strict=False) for c in sc['spec'].get('cidrs', [])]
            others = [ipaddress.ip_network(c, strict=False) for k, o in objs.items()
                      if k != key and not o['metadata'].get('deletionTimestamp')
                      for c in (o.get('spec') or {}).get('cidrs') or []]
            orphans = []
            for svc in self.objects['services'].values():
                for ip in (svc.get('spec') or {}).get('clusterIPs') or []:
                    try:
                        a = ipaddress.ip_address(ip)
                    except ValueError:
                        continue
                    if any(a in n for n in mine if n.version == a.version) and \
                            not any(a in n for n in others if n.version == a.version):
                        orphans.append(ip)
            if not orphans:
                old = sc
                gone = copy.deepcopy(sc)
                gone['metadata']['finalizers'] = [f for f in md.get('finalizers', [])
                                                  if f != SERVICE_CIDR_FINALIZER]
                del objs[key]
                gone['metadata']['resourceVersion'] = self._next_rv()
                self._record('servicecidrs', 'DELETED', gone, old)
                continue
            conds = (sc.get('status') or {}).get('conditions') or []
            if any(c.get('type') == 'Ready' and c.get('reason') == 'Terminating' for c in conds):
                continue
            old = sc
            sc = copy.deepcopy(sc)
            sc.setdefault('status', {})['conditions'] = [ready_condition(
                'False', 'Terminating', 'There are still IPAddresses referencing the ServiceCIDR, '
                'please remove them or create a new ServiceCIDR')]
            sc['metadata']['resourceVersion'] = self._next_rv()
            objs[key] = sc
            self._record('servicecidrs', 'MODIFIED', sc, old)

    def delete(self, resource, ns, name):
        with self.lock:
            if resource == 'servicecidrs':
                return self._delete_service_cidr(name)
            old = self.objects[resource].pop((ns, name), None)
            if old is None:
                raise ApiError(404, 'NotFound', f'{resource} "{name}" not found',
                               {'name': name, 'kind': resource})
            gone = copy.deepcopy(old)
            gone['metadata']['resourceVersion'] = self._next_rv()
            self._record(resource, 'DELETED', gone, old)
            if resource == 'services':
                self._service_cidrs_controller()
            if resource == 'namespaces':
                # the namespace controller's work, done at once
                for r, (_, _, namespaced, _, _) in RESOURCES.items():
                    if namespaced:
                        for key in [k for k in self.objects[r] if k[0] == name]:
                            self.delete(r, key[0], key[1])
            return gone

    def _delete_service_cidr(self, name):
        """With a finalizer: deletionTimestamp set (MODIFIED), then the controller."""
        key = ('', name)
        old = self.objects['servicecidrs'].get(key)
        if old is None:
            raise ApiError(404, 'NotFound', f'servicecidrs.networking.k8s.io "{name}" not found',
                           {'name': name, 'group': 'networking.k8s.io', 'kind': 'servicecidrs'})
        if not old['metadata'].get('finalizers'):
            del self.objects['servicecidrs'][key]
            gone = copy.deepcopy(old)
            gone['metadata']['resourceVersion'] = self._next_rv()
            self._record('servicecidrs', 'DELETED', gone, old)
            return gone
        if old['metadata'].get('deletionTimestamp'):
            return old
        obj = copy.deepcopy(old)
        obj['metadata']['deletionTimestamp'] = now_rfc3339()
        obj['metadata']['deletionGracePeriodSeconds'] = 0
        obj['metadata']['resourceVersion'] = self._next_rv()
        self.objects['servicecidrs'][key] = obj
        self._record('servicecidrs', 'MODIFIED', obj, old)
        self._service_cidrs_controller()
        return obj

    def default_service_cidr(self):
        """The ServiceCIDR "kubernetes" from --service-cluster-ip-range: created at
        start and again whenever it is gone (pkg/controlplane/controller/
        defaultservicecidr, every 10 s; never changed when it differs)."""
        with self.lock:
            if not SERVICE_CIDRS or ('', 'kubernetes') in self.objects['servicecidrs']:
                return
            self.write('servicecidrs', {'metadata': {'name': 'kubernetes'},
                                        'spec': {'cidrs': [str(n) for n in SERVICE_CIDRS]}},
                       'create')

    def compact(self, expire):
        with self.lock:
            self.compacted = self.rv
            self.history = []
            self.history_rvs = []
            self.snapshots = {}
            if expire:
                for w in self.watches:
                    w.actions.append(('expire', None))
            self.lock.notify_all()

    def act(self, action, resource, arg=None):
        with self.lock:
            n = 0
            for w in self.watches:
                if resource in (None, '', w.resource):
                    w.actions.append((action, arg))
                    n += 1
            self.lock.notify_all()
            return n


def wire(resource, obj):
    """The object as sent on its own (GET, events): with kind and apiVersion."""
    _, kind, _, gv, _ = RESOURCES[resource]
    out = {'kind': kind, 'apiVersion': gv}
    out.update(obj)
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'apiserver-double/1'

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write('%s %s\n' % (self.address_string(), fmt % args))

    # ---- plumbing ----
    def send_json(self, code, body, ctype='application/json', headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        # like kube-apiserver (APIResponseCompression): gzip bodies over 128 KiB
        if len(data) > 128 * 1024 and 'gzip' in (self.headers.get('Accept-Encoding') or '') \
                and not self.server.no_gzip:
            data = gzip.compress(data, compresslevel=1)
            self.send_header('Content-Encoding', 'gzip')
            self.send_header('Vary', 'Accept-Encoding')
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Cache-Control', 'no-cache, private')
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)
        self.log_status = code

    def read_body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n else b''

    def authenticated(self):
        store = self.server.store
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                cert = self.connection.getpeercert()
            except ValueError:
                cert = None
            if cert:
                self.auth = 'cert'
                return True
        tok = store.token
        if tok is None:
            self.auth = 'none'
            return True
        h = self.headers.get('Authorization', '')
        if h == 'Bearer ' + tok:
            self.auth = 'token'
            return True
        self.auth = 'bad-token' if h else 'anonymous'
        return False

    def handle_one(self):
        u = urllib.parse.urlsplit(self.path)
        self.url_path = u.path.rstrip('/') or '/'
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query,
                                                                  keep_blank_values=True).items()}
        self.log_status = 0
        self.auth = ''
        self.entry = None
        store = self.server.store
        try:
            if self.url_path.startswith('/_control/'):
                return self.control()
            ua = self.headers.get('User-Agent') or ''
            entry = {'method': self.command, 'path': self.url_path, 'query': self.query,
                     'ua': ua, 'auth': '', 'status': 0}
            self.entry = entry
            with store.lock:
                store.requests.append(entry)
            try:
                stall = store.stall_until - time.time()
                if stall > 0:
                    time.sleep(stall)
                ok = self.authenticated()
                entry['auth'] = self.auth
                if not ok:
                    raise ApiError(401, 'Unauthorized', 'Unauthorized')
                with store.lock:
                    if store.fail and store.fail[0] > 0 and store.fail[2] in ua and \
                            (not store.fail[3] or
                             store.fail[3] in self.url_path.strip('/').split('/')):
                        store.fail[0] -= 1
                        code = store.fail[1]
                        raise ApiError(code, 'InternalError' if code >= 500 else 'TooManyRequests',
                                       'injected failure')
                self.route()
            finally:
                entry['status'] = self.log_status
                entry['auth'] = self.auth
        except ApiError as e:
            # kube-apiserver's max-in-flight filter asks clients to come back later
            self.send_json(e.code, e.status,
                           headers={'Retry-After': '1'} if e.code == 429 else None)
            if self.entry is not None:
                self.entry['status'] = e.code
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_one

    # ---- routing ----
    def route(self):
        p = self.url_path
        m = self.command
        if p == '/version':
            return self.send_json(200, {'major': '1', 'minor': '32', 'gitVersion': 'v1.32.0-double',
                                        'platform': 'linux/amd64'})
        if p == '/api':
            return self.send_json(200, {'kind': 'APIVersions', 'versions': ['v1'],
                                        'serverAddressByClientCIDRs': [
                                            {'clientCIDR': '0.0.0.0/0',
                                             'serverAddress': self.server.address_str}]})
        if p == '/apis':
            groups = []
            for g in GROUP_VERSIONS:
                gv = {'groupVersion': g, 'version': g.split('/')[1]}
                groups.append({'name': g.split('/')[0], 'versions': [gv], 'preferredVersion': gv})
            return self.send_json(200, {'kind': 'APIGroupList', 'apiVersion': 'v1',
                                        'groups': groups})
        if p == '/api/v1' or (p.startswith('/apis/') and p[6:] in GROUP_VERSIONS):
            gv = 'v1' if p == '/api/v1' else p[6:]
            res = []
            for plural, (prefix, kind, namespaced, rgv, short) in RESOURCES.items():
                if rgv != gv:
                    continue
                r = {'name': plural, 'singularName': kind.lower(), 'namespaced': namespaced,
                     'kind': kind, 'verbs': VERBS}
                if short:
                    r['shortNames'] = short
                res.append(r)
                for sub in SUBRESOURCES.get(plural, []):
                    res.append({'name': f'{plural}/{sub}', 'singularName': '',
                                'namespaced': namespaced, 'kind': kind,
                                'verbs': ['get', 'patch', 'update']})
            return self.send_json(200, {'kind': 'APIResourceList', 'apiVersion': 'v1',
                                        'groupVersion': gv, 'resources': res})
        if p in ('/openapi/v2', '/openapi/v3') or p.startswith('/openapi/'):
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        if p in ('/healthz', '/readyz', '/livez'):
            self.log_status = 200
            return self.send_json(200, b'ok', 'text/plain')
        # /api/v1[/namespaces/NS]/RES[/NAME]  or  /apis/G/V[/namespaces/NS]/RES[/NAME]
        parts = p.strip('/').split('/')
        if parts[0] == 'api' and len(parts) >= 3:
            prefix, rest = '/api/v1', parts[2:]
        elif parts[0] == 'apis' and len(parts) >= 4:
            prefix, rest = '/' + '/'.join(parts[:3]), parts[3:]
        else:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        ns = None
        if len(rest) >= 3 and rest[0] == 'namespaces' and rest[2] in RESOURCES:
            ns, rest = rest[1], rest[2:]
        resource = rest[0]
        subresource = None
        if len(rest) == 3 and rest[2] in SUBRESOURCES.get(resource, []):
            subresource = rest[2]
            rest = rest[:2]
        if resource not in RESOURCES or RESOURCES[resource][0] != prefix or len(rest) > 2 or \
                resource in self.server.store.unserved:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        namespaced = RESOURCES[resource][2]
        if ns is not None and not namespaced:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        name = rest[1] if len(rest) == 2 else None
        if subresource and m not in ('GET', 'PUT', 'PATCH'):
            raise ApiError(405, 'MethodNotAllowed', 'method not allowed')
        if name is None:
            if m == 'GET':
                if self.query.get('watch') in ('1', 'true'):
                    return self.watch(resource, ns)
                return self.list(resource, ns)
            if m == 'POST':
                obj = self.json_body()
                stored = self.server.store.write(resource, obj, 'create', ns if namespaced else None)
                return self.send_json(201, wire(resource, stored))
            raise ApiError(405, 'MethodNotAllowed', 'method not allowed')
        key = (ns or 'default' if namespaced else '', name)
        store = self.server.store
        if m == 'GET':
            with store.lock:
                obj = store.objects[resource].get(key)
            if obj is None:
                raise ApiError(404, 'NotFound', f'{resource} "{name}" not found',
                               {'name': name, 'kind': resource})
            return self.send_json(200, wire(resource, obj))
        if m == 'PUT':
            stored = store.write(resource, self.json_body(), 'replace',
                                 key[0] if namespaced else None, name, subresource=subresource)
            return self.send_json(200, wire(resource, stored))
        if m == 'DELETE':
            self.read_body()
            gone = store.delete(resource, key[0], name)
            return self.send_json(200, wire(resource, gone))
        if m == 'PATCH':
            ctype = (self.headers.get('Content-Type') or '').split(';')[0].strip()
            if ctype not in ('application/merge-patch+json',
                             'application/strategic-merge-patch+json'):
                raise ApiError(415, 'UnsupportedMediaType',
                               f'the body of the request was in an unknown format - accepted '
                               f'media types include: application/merge-patch+json, '
                               f'application/strategic-merge-patch+json')
            patch = self.json_body()
            with store.lock:
                cur = store.objects[resource].get(key)
                if cur is None:
                    raise ApiError(404, 'NotFound', f'{resource} "{name}" not found',
                                   {'name': name, 'kind': resource})
                new = merge_patch(copy.deepcopy(cur), patch)
                new['metadata']['name'] = name
                new['metadata'].pop('resourceVersion', None)
                stored = store.write(resource, new, 'upsert', key[0] if namespaced else None,
                                     name, subresource=subresource)
            return self.send_json(200, wire(resource, stored))
        raise ApiError(405, 'MethodNotAllowed', 'method not allowed')

    def json_body(self):
        raw = self.read_body()
        ctype = (self.headers.get('Content-Type') or '').split(';')[0].strip()
        if ctype == 'application/vnd.kubernetes.protobuf':
            # kubectl create namespace sends protobuf: decode what a Namespace carries
            obj = protobuf_object(raw)
            if obj is None:
                raise ApiError(415, 'UnsupportedMediaType',
                               'the body of the request was in an unknown format - accepted '
                               'media types include: application/json, application/yaml')
            return obj
        try:
            obj = json.loads(raw)
        except ValueError as e:
            raise ApiError(400, 'BadRequest', f'invalid JSON body: {e}')
        if not isinstance(obj, dict):
            raise ApiError(400, 'BadRequest', 'the body is not a JSON object')
        return obj

    # ---- LIST ----
    def list(self, resource, ns):
        store = self.server.store
        q = self.query
        flt = Filter(ns, q.get('labelSelector'), q.get('fieldSelector'), resource)
        limit = int(q.get('limit') or 0)
        cont = q.get('continue')
        kind = RESOURCES[resource][1]
        with store.lock:
            if cont:
                if q.get('resourceVersion'):
                    raise ApiError(400, 'BadRequest',
                                   'specifying resource version is not allowed when using '
                                   'continue')
                try:
                    tok = json.loads(base64.urlsafe_b64decode(cont + '=' * (-len(cont) % 4)))
                    snap_id, start = tok['snap'], tok['start']
                except (ValueError, KeyError, TypeError):
                    raise ApiError(400, 'BadRequest', 'continue key is not valid')
                snap = store.snapshots.get(snap_id)
                if store.expire_continue > 0 and \
                        store.expire_continue_res in (None, resource):
                    store.expire_continue -= 1
                    snap = None		# as if compacted between two pages
                if snap is None:
                    raise ApiError(410, 'Expired',
                                   'The provided continue parameter is too old to display a '
                                   'consistent list result. You can start a new list without '
                                   'the continue parameter, or use the continue token in this '
                                   'response to retrieve the remainder of the results. '
                                   'Continuing with the provided token results in an '
                                   'inconsistent list - objects that were created, modified, '
                                   'or deleted between the time the first chunk was returned '
                                   'and now may show up in the list.')
                rv, items = snap
            else:
                rv = store.rv
                objs = store.objects[resource]
                items = [objs[k] for k in sorted(objs) if flt.match(objs[k])]
                start = 0
            page = items[start:start + limit] if limit else items[start:]
            nxt = start + len(page)
            md = {'resourceVersion': str(rv)}
            if limit and nxt < len(items):
                if not cont:
                    snap_id = uuid.uuid4().hex
                    store.snapshots[snap_id] = (rv, items)
                md['continue'] = base64.urlsafe_b64encode(json.dumps(
                    {'v': 'meta.k8s.io/v1', 'rv': rv, 'snap': snap_id, 'start': nxt}).encode()
                ).decode().rstrip('=')
                md['remainingItemCount'] = len(items) - nxt
            body = ('{"kind":"%sList","apiVersion":"%s","metadata":%s,"items":[' % (
                kind, RESOURCES[resource][3], json.dumps(md))).encode()
            body += b','.join(self.server.item_bytes(o) for o in page) + b']}'
        return self.send_json(200, body)

    # ---- WATCH ----
    def chunk(self, data):
        self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
        self.wfile.flush()

    def watch(self, resource, ns):
        store = self.server.store
        q = self.query
        flt = Filter(ns, q.get('labelSelector'), q.get('fieldSelector'), resource)
        timeout = float(q.get('timeoutSeconds') or 1800)
        bookmarks = q.get('allowWatchBookmarks') in ('1', 'true')
        rv_s = q.get('resourceVersion')
        kind, gv = RESOURCES[resource][1], RESOURCES[resource][3]
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Transfer-Encoding', 'chunked')
        self.send_header('Cache-Control', 'no-cache, private')
        self.end_headers()
        self.log_status = self.entry['status'] = 200
        w = Watch(resource)
        end = time.time() + timeout
        out = []
        with store.lock:
            if not rv_s or rv_s == '0':
                objs = store.objects[resource]
                for k in sorted(objs):
                    if flt.match(objs[k]):
                        out.append({'type': 'ADDED', 'object': wire(resource, objs[k])})
                pos = len(store.history)
            else:
                try:
                    rv = int(rv_s)
                except ValueError:
                    rv = -1
                if rv < store.compacted:
                    out.append({'type': 'ERROR', 'object': status(
                        410, 'Expired',
                        f'too old resource version: {rv_s} ({store.compacted})')})
                    end = 0
                pos = bisect.bisect_right(store.history_rvs, rv)
            store.watches.append(w)
        last_bookmark = time.time()
        try:
            for ev in out:
                self.chunk(json.dumps(ev).encode() + b'\n')
            while time.time() < end:
                lines = []
                closing = None
                with store.lock:
                    wait = end - time.time()
                    if store.bookmark_interval > 0 and bookmarks:
                        wait = min(wait, last_bookmark + store.bookmark_interval - time.time())
                    if pos >= len(store.history) and not w.actions and wait > 0:
                        store.lock.wait(wait)
                    if pos > len(store.history):
                        pos = len(store.history)	# compacted under us
                    for (erv, eres, etype, obj, old) in store.history[pos:]:
                        if eres != resource:
                            continue
                        now_m, old_m = flt.match(obj), flt.match(old)
                        if etype == 'DELETED':
                            t = 'DELETED' if old_m else None
                        elif now_m and old_m:
                            t = 'MODIFIED'
                        elif now_m:
                            t = 'ADDED'
                        elif old_m:
                            t = 'DELETED'	# left the selection
                        else:
                            t = None
                        if t:
                            lines.append(b'{"type":"%s","object":%s}\n' % (
                                t.encode(), json.dumps(wire(resource, obj)).encode()))
                    pos = len(store.history)
                    cur_rv = store.rv
                    actions, w.actions = w.actions, []
                    stall = store.stall_until - time.time()
                for a, arg in actions:
                    if a == 'inject':
                        lines.append(arg if arg.endswith(b'\n') else arg + b'\n')
                    elif a == 'expire':
                        lines.append(json.dumps({'type': 'ERROR', 'object': status(
                            410, 'Expired', f'too old resource version: {cur_rv}')}).encode()
                            + b'\n')
                        closing = 'clean'
                    elif a in ('drop', 'truncate'):
                        closing = a
                if stall > 0:
                    time.sleep(stall)
                if closing in ('drop', 'truncate'):
                    half = b'{"type":"MODIFIED","object":{"kind":"%s","apiVersion":"%s",' \
                           b'"metadata":{"name":"half' % (kind.encode(), gv.encode())
                    data = b''.join(lines) + half
                    if closing == 'drop':
                        # cut the connection mid-chunk: no terminating chunk
                        self.wfile.write(b'%x\r\n%s' % (len(data) + 100, data))
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self.chunk(data)
                    break
                for line in lines:
                    self.chunk(line)
                if closing:
                    break
                if bookmarks and store.bookmark_interval > 0 and \
                        time.time() - last_bookmark >= store.bookmark_interval:
                    last_bookmark = time.time()
                    self.chunk(b'{"type":"BOOKMARK","object":{"kind":"%s","apiVersion":"%s",'
                               b'"metadata":{"resourceVersion":"%d"}}}\n' % (
                                   kind.encode(), gv.encode(), cur_rv))
            self.wfile.write(b'0\r\n\r\n')
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with store.lock:
                store.watches.remove(w)

    # ---- control ----
    def control(self):
        store = self.server.store
        q = self.query
        what = self.url_path[len('/_control/'):]
        res = q.get('resource') or None
        if what == 'fail':
            with store.lock:
                store.fail = [int(q.get('n', '1')), int(q.get('code', '500')), q.get('ua', ''),
                              res]
            return self.send_json(200, {'ok': True})
        if what in ('drop', 'truncate'):
            return self.send_json(200, {'watches': store.act(what, res)})
        if what == 'inject':
            return self.send_json(200, {'watches': store.act('inject', res, self.read_body())})
        if what == 'expire-continue':
            with store.lock:
                store.expire_continue = int(q.get('n', '1'))
                store.expire_continue_res = res
            return self.send_json(200, {'ok': True})
        if what == 'stall':
            with store.lock:
                store.stall_until = time.time() + float(q.get('seconds', '5'))
                store.lock.notify_all()
            return self.send_json(200, {'ok': True})
        if what == 'compact':
            store.compact(q.get('expire') in ('1', 'true'))
            return self.send_json(200, {'compacted': store.compacted})
        if what in ('unserve', 'serve'):
            with store.lock:
                if what == 'unserve':
                    store.unserved.add(res)
                else:
                    store.unserved.discard(res)
            return self.send_json(200, {'unserved': sorted(store.unserved)})
        if what == 'token':
            with store.lock:
                store.token = q.get('token') or None
            return self.send_json(200, {'ok': True})
        if what == 'bookmarks':
            with store.lock:
                store.bookmark_interval = float(q.get('seconds', '1'))
                store.lock.notify_all()
            return self.send_json(200, {'ok': True})
        if what == 'load':
            n = load_objects(store, json.loads(self.read_body()))
            return self.send_json(200, {'loaded': n, 'resourceVersion': str(store.rv)})
        if what == 'requests':
            with store.lock:
                reqs = list(store.requests)
                if q.get('clear'):
                    store.requests = []
            return self.send_json(200, reqs)
        if what == 'state':
            with store.lock:
                return self.send_json(200, {
                    'resourceVersion': store.rv, 'compacted': store.compacted,
                    'watches': [w.resource for w in store.watches],
                    'counts': {r: len(o) for r, o in store.objects.items()}})
        raise ApiError(404, 'NotFound', 'unknown control ' + what)


PLURAL = {v[1]: k for k, v in RESOURCES.items()}


def pb_fields(buf):
    """Protocol buffers wire format → [(field, wiretype, value)] (varints and bytes only)."""
    out, i = [], 0
    while i < len(buf):
        key, i = pb_varint(buf, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = pb_varint(buf, i)
        elif wt == 2:
            n, i = pb_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        else:
            raise ValueError('wire type %d' % wt)
        out.append((f, wt, v))
    return out


def pb_varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def protobuf_object(raw):
    """The k8s protobuf envelope (magic k8s\\0 + runtime.Unknown) of a v1 Namespace → JSON
    (metadata name, generateName, labels, annotations); None for anything else."""
    try:
        if raw[:4] != b'k8s\x00':
            return None
        unk = {f: v for f, _, v in pb_fields(raw[4:])}
        tm = {f: v.decode() for f, _, v in pb_fields(unk.get(1, b''))}
        if tm.get(2) != 'Namespace' or tm.get(1) != 'v1':
            return None
        md = {}
        for f, _, v in pb_fields(unk.get(2, b'')):
            if f != 1:
                continue
            for mf, _, mv in pb_fields(v):
                if mf == 1:
                    md['name'] = mv.decode()
                elif mf == 2:
                    md['generateName'] = mv.decode()
                elif mf in (11, 12):
                    e = {ef: ev.decode() for ef, _, ev in pb_fields(mv)}
                    md.setdefault('labels' if mf == 11 else 'annotations', {})[e.get(1, '')] = \
                        e.get(2, '')
        return {'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': md}
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def load_objects(store, data):
    """Create or replace as given (status too, no validation): the kubelet's way."""
    if isinstance(data, dict):
        data = data.get('items', [data]) if data.get('kind', '').endswith('List') else [data]
    n = 0
    for obj in data:
        resource = PLURAL.get(obj.get('kind'))
        if not resource:
            raise ApiError(400, 'BadRequest', f'unknown kind {obj.get("kind")!r}')
        store.write(resource, obj, 'upsert', trusted=True)
        n += 1
    return n


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, store, verbose):
        self.store = store
        self.verbose = verbose
        self._item_cache = {}
        super().__init__(addr, Handler)

    def item_bytes(self, obj):
        """Serialized list item (no kind/apiVersion), cached per stored version."""
        key = id(obj)
        hit = self._item_cache.get(key)
        if hit is not None and hit[0] is obj:
            return hit[1]
        data = json.dumps(obj, separators=(',', ':')).encode()
        if len(self._item_cache) > 100000:
            self._item_cache.clear()
        self._item_cache[key] = (obj, data)
        return data


class TLSServer(Server):
    def __init__(self, addr, store, verbose, ctx):
        self.ctx = ctx
        super().__init__(addr, store, verbose)

    def finish_request(self, request, client_address):
        # the TLS handshake runs in the request's own thread
        try:
            request = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            if self.verbose:
                sys.stderr.write(f'TLS handshake with {client_address}: {e}\n')
            return
        super().finish_request(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--listen', default='127.0.0.1:0', help='HOST:PORT (port 0 = any)')
    ap.add_argument('--port-file', help='write the chosen port here once listening')
    ap.add_argument('--tls-cert')
    ap.add_argument('--tls-key')
    ap.add_argument('--client-ca', help='CA for client certificates (optional client auth)')
    ap.add_argument('--token', help='required bearer token (unless a client cert is shown)')
    ap.add_argument('--bookmark-interval', type=float, default=1.0)
    ap.add_argument('--preload', action='append', default=[],
                    help='JSON file (array or List) of objects to create at start')
    ap.add_argument('--state-file', help='keep objects and resourceVersion across restarts')
    ap.add_argument('--no-gzip', action='store_true',
                    help='never compress responses (the real server gzips > 128 KiB)')
    ap.add_argument('--service-cluster-ip-range',
                    help='CIDR[,CIDR]: allocate Service ClusterIPs (the first is the primary family)')
    ap.add_argument('--default-service-cidr-interval', type=float, default=10.0,
                    help='how often the default ServiceCIDR "kubernetes" is recreated when gone '
                         '(the real controller: 10 s)')
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()
    if args.service_cluster_ip_range:
        SERVICE_CIDRS.extend(ipaddress.ip_network(c.strip())
                             for c in args.service_cluster_ip_range.split(','))
        if len(SERVICE_CIDRS) > 2 or (len(SERVICE_CIDRS) == 2 and
                                      SERVICE_CIDRS[0].version == SERVICE_CIDRS[1].version):
            ap.error('--service-cluster-ip-range: one CIDR, or two of different families')

    store = Store(args.bookmark_interval)
    store.token = args.token
    if args.state_file:
        store.restore(args.state_file)
    for f in args.preload:
        with open(f) as fh:
            load_objects(store, json.load(fh))
    store.default_service_cidr()

    def default_service_cidr_loop():
        while True:
            time.sleep(args.default_service_cidr_interval)
            store.default_service_cidr()
    if SERVICE_CIDRS:
        threading.Thread(target=default_service_cidr_loop, daemon=True).start()
    host, port = args.listen.rsplit(':', 1)
    addr = (host.strip('[]'), int(port))
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(args.client_ca)
        srv = TLSServer(addr, store, args.verbose, ctx)
    else:
        srv = Server(addr, store, args.verbose)
    srv.address_str = '%s:%d' % (host, srv.server_address[1])
    srv.no_gzip = args.no_gzip
    if args.port_file:
        tmp = args.port_file + '.tmp'
        with open(tmp, 'w') as fh:
            fh.write('%d\n' % srv.server_address[1])
        os.rename(tmp, args.port_file)
    sys.stderr.write('apiserver double listening on %s (%s), resourceVersion %d\n' % (
        srv.address_str, 'https' if args.tls_cert else 'http', store.rv))
    sys.stderr.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
