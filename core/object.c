// SPDX-License-Identifier: Apache-2.0
/*
 * The decoded objects' lifetime: what frees a Service, an EndpointSlice, a
 * Node, a ServiceCIDR (model.h), and the references to the refcounted
 * NetworkPolicy kinds (netpol.h), whose shared head (struct np_meta) is
 * counted and freed here once.  The decoders (decode.c, decode_policy.c,
 * decode_servicecidr.c) make the objects; the cache, the policy planner,
 * the tests and the benches let them go.  Every function takes NULL.
 */
#include <stdlib.h>
#include "switchyard/model.h"
#include "switchyard/netpol.h"
#include "switchyard/util.h"
#include "decode_int.h"

void service_free(struct service *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n_ports; i++)
		sy_free_all(s->ports[i].name, s->ports[i].target_port_name);
	/* ns, name and the resourceVersion live in the key's allocation */
	sy_free_all(s->ports, s->external_ips, s->lb_ips, s->lb_source_ranges,
		    s->traffic_distribution, s->key, s);
}

void slice_free(struct endpoint_slice *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n_ports; i++)
		free(s->ports[i].name);
	for (unsigned i = 0; i < s->n_eps; i++)
		free(s->eps[i].hints);	/* its names are interned */
	sy_free_all(s->ports, s->eps, s->key, s->service_key, s);
}

void node_free(struct node *n)
{
	if (!n)
		return;
	for (unsigned i = 0; i < n->n_annotations; i++)
		sy_free_all(n->annotations[i].key, n->annotations[i].value);
	sy_free_all(n->annotations, n->key, n);
}

void service_cidr_free(struct service_cidr *sc)
{
	if (!sc)
		return;
	sy_free_all(sc->key, sc->resource_version, sc);
}

/* ---- the refcounted kinds ---- */

void np_ref(struct np_meta *m)
{
	m->refcnt++;
}

/* Drop m's reference: true when it was the last (m's strings freed, the kind frees the rest). */
static bool np_put(struct np_meta *m)
{
	if (--m->refcnt)
		return false;
	sy_free_all(m->key, m->resource_version);
	return true;
}

void pod_unref(struct pod *p)
{
	if (p && np_put(&p->meta))
		sy_free_all(p->labels.v, p->ports, p);	/* the strings are interned */
}

void namespace_unref(struct k8s_namespace *n)
{
	if (n && np_put(&n->meta))
		sy_free_all(n->labels.v, n);
}

static void selector_free(struct np_selector *s)
{
	for (unsigned i = 0; i < s->n_exprs; i++)
		free(s->exprs[i].values);
	free(s->exprs);
}

static void rule_free(struct np_rule *r)
{
	for (unsigned i = 0; i < r->n_peers; i++) {
		selector_free(&r->peers[i].pod_sel);
		selector_free(&r->peers[i].ns_sel);
		free(r->peers[i].ipblock.except);
	}
	sy_free_all(r->peers, r->ports, r->ipblocks);
}

void netpolicy_unref(struct netpolicy *np)
{
	if (!np || !np_put(&np->meta))
		return;
	for (int d = 0; d < 2; d++) {
		for (unsigned i = 0; i < np->n_rules[d]; i++)
			rule_free(&np->rules[d][i]);
		free(np->rules[d]);
	}
	selector_free(&np->pod_sel);
	free(np);
}
