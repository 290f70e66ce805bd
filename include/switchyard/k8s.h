/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_K8S_H
#define SWITCHYARD_K8S_H
/*
 * The Kubernetes client (sources/k8s_client.c, sources/kubeconfig.c,
 * sources/watch_decoder.c): list/watch of Services, EndpointSlices and Nodes
 * over libcurl's multi interface on the libev loop, feeding the cache.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "switchyard/log.h"

struct ev_loop;
struct cache;
struct sy_config;
struct sy_metrics;
struct json_object;

/* Where and how to connect (from kubeconfig, in-cluster config, or --master). */
struct k8s_conn {
	char *server;		/* "https://host:port" */
	char *ca_file;		/* PEM path, or NULL */
	char *ca_data;		/* PEM bytes (decoded), or NULL */
	bool insecure;		/* insecure-skip-tls-verify */
	char *tls_server_name;
	char *token;		/* bearer token, or NULL */
	char *token_file;	/* re-read on every request (rotation) */
	char *client_cert_file, *client_key_file;
	char *client_cert_data, *client_key_data;	/* PEM bytes */
};
void k8s_conn_free(struct k8s_conn *c);
/* kubeconfig (YAML) → conn, using current-context.  -errno + err. */
int kubeconfig_load(const char *path, struct k8s_conn *ret, char *err, size_t errlen);
/* In-cluster: KUBERNETES_SERVICE_HOST/PORT + service-account files under dir
 * (NULL = /var/run/secrets/kubernetes.io/serviceaccount). */
int k8s_incluster_load(const char *sa_dir, struct k8s_conn *ret, char *err, size_t errlen);

/*
 * Incremental watch-stream decoder: feed bytes in any chunking; it calls
 * fn for each complete newline-delimited JSON event.  A line that is not a
 * JSON object or exceeds max_line is reported via fn with obj == NULL and
 * an error string.
 */
typedef void (*watch_event_fn)(void *arg, const char *type, struct json_object *obj,
			       const char *error);
struct watch_decoder;
struct watch_decoder *watch_decoder_new(size_t max_line, watch_event_fn fn, void *arg);
void watch_decoder_free(struct watch_decoder *d);
/* Returns 0, or -E2BIG when a line exceeded max_line (the line is skipped). */
int watch_decoder_feed(struct watch_decoder *d, const char *buf, size_t len);
/* Bytes held of an incomplete event (a truncated stream leaves some). */
size_t watch_decoder_pending(const struct watch_decoder *d);
void watch_decoder_reset(struct watch_decoder *d);
/* A line exceeded max_line since the last reset (its update is lost: relist). */
bool watch_decoder_oversized(const struct watch_decoder *d);

struct k8s_client;
struct k8s_client_args {
	struct ev_loop *loop;
	const struct k8s_conn *conn;	/* copied */
	struct cache *cache;		/* fed by the informers */
	struct sy_metrics *metrics;	/* relists, reconnects, decode errors */
	const char *node_name;		/* the Node to watch (fieldSelector=metadata.name) */
	bool all_nodes;			/* every Node instead (the pod network needs them) */
	bool network_policy;		/* also Pods, Namespaces, NetworkPolicies (all of them) */
	bool service_cidrs;		/* also networking.k8s.io/v1 ServiceCIDRs (the mode reads them) */
	/*
	 * What the client meets on the loop, for the owner to log: a list or
	 * watch that failed, is retried or redone, a malformed or oversized
	 * event, an unreadable token file, a PATCH's outcome.  The texts name
	 * the kind's plural ("Services watch: ...") or the request.
	 */
	struct sy_report report;
};
/*
 * Start informers for Services, EndpointSlices (label selector
 * !service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name)
 * and Nodes: only node_name unless all_nodes; with network_policy also
 * Pods (of every node), Namespaces and networking.k8s.io/v1
 * NetworkPolicies; with service_cidrs networking.k8s.io/v1 ServiceCIDRs.
 * Returns 0, or -errno with
 * the reason in err (-EINVAL: unusable conn, e.g. no server or not an
 * http(s) URL; no node_name without all_nodes).
 */
int k8s_client_new(struct k8s_client **ret, const struct k8s_client_args *args, char *err,
		   size_t errlen);
void k8s_client_free(struct k8s_client *k);
/*
 * PATCH (merge patch) annotations on a Node (NULL value: remove).  Async:
 * -EINVAL for no node, else 0 and the outcome (retries, failure) goes to
 * the report.
 */
int k8s_client_patch_node_annotations(struct k8s_client *k, const char *node,
				      const char *const *keys, const char *const *values, unsigned n);

#endif
