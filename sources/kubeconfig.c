// SPDX-License-Identifier: Apache-2.0
/*
 * Connection settings: kubeconfig files (YAML, via libyaml) and the
 * in-cluster service-account configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>
#include <json-c/json.h>
#include "switchyard/json_util.h"
#include "switchyard/k8s.h"
#include "switchyard/util.h"

void k8s_conn_free(struct k8s_conn *c)
{
	if (!c)
		return;
	sy_free_all(c->server, c->ca_file, c->ca_data, c->tls_server_name, c->token, c->token_file,
		    c->client_cert_file, c->client_key_file, c->client_cert_data,
		    c->client_key_data);
	memset(c, 0, sizeof(*c));
}

/* YAML node → json-c; scalars become strings (callers interpret them). */
static struct json_object *yaml_to_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	struct json_object *o;

	if (!n || depth > 64)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return json_object_new_string_len((const char *)n->data.scalar.value,
						  (int)n->data.scalar.length);
	case YAML_SEQUENCE_NODE:
		o = json_object_new_array();
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++) {
			struct json_object *v = yaml_to_json(doc, yaml_document_get_node(doc, *i),
							     depth + 1);
			json_object_array_add(o, v);
		}
		return o;
	case YAML_MAPPING_NODE:
		o = json_object_new_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);

			if (!k || k->type != YAML_SCALAR_NODE)
				continue;
			json_object_object_add(o, (const char *)k->data.scalar.value,
					       yaml_to_json(doc, yaml_document_get_node(doc, p->value),
							    depth + 1));
		}
		return o;
	default:
		return NULL;
	}
}

static int parse_yaml(const char *text, size_t len, struct json_object **ret, char *err,
		      size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int r = 0;

	if (!yaml_parser_initialize(&parser))
		return sy_err(err, errlen, -ENOMEM, "cannot initialise the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = sy_err(err, errlen, -EINVAL, "YAML error at line %zu: %s",
			   parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
		yaml_parser_delete(&parser);
		return r;
	}
	root = yaml_document_get_root_node(&doc);
	*ret = root ? yaml_to_json(&doc, root, 0) : NULL;
	if (!*ret || !json_object_is_type(*ret, json_type_object)) {
		json_object_put(*ret);
		*ret = NULL;
		r = sy_err(err, errlen, -EINVAL, "not a kubeconfig (top level is not a mapping)");
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return r;
}

static bool str_true(struct json_object *o, const char *key)
{
	const char *s = jget_str(o, key);

	return s && (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1"));
}

/* Find {name: N, <field>: {...}} in the list `list` and return the inner object. */
static struct json_object *named(struct json_object *root, const char *list, const char *field,
				 const char *name)
{
	struct json_object *arr, *v;

	if (!json_object_object_get_ex(root, list, &arr) || !json_object_is_type(arr, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *n = jget_str(e, "name");

		if (n && !strcmp(n, name)) {
			if (json_object_object_get_ex(e, field, &v) &&
			    json_object_is_type(v, json_type_object))
				return v;
			/* an entry without the inner mapping ("user:" left empty):
			 * the entry itself has none of the fields either */
			return e;
		}
	}
	return NULL;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Standard base64 (whitespace ignored, padding optional) → NUL-terminated bytes. */
static int b64_decode(const char *in, char **ret)
{
	size_t n = strlen(in), o = 0;
	char *out = malloc(n / 4 * 3 + 4);
	unsigned acc = 0, bits = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)in[i], v;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=')
			break;
		v = b64val(c);
		if (v < 0) {
			free(out);
			return -EINVAL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = 0;
	*ret = out;
	return 0;
}

/* path relative to the kubeconfig's directory (absolute paths unchanged). */
static char *resolve(const char *dir, const char *p)
{
	char *r;

	if (p[0] == '/' || !dir)
		return xstrdup(p);
	if (asprintf(&r, "%s/%s", dir, p) < 0)
		abort();
	return r;
}

static int take_data(struct json_object *o, const char *key, char **ret, const char *what,
		     char *err, size_t errlen)
{
	const char *s = jget_str(o, key);

	if (!s || !*s)
		return 0;
	if (b64_decode(s, ret) < 0)
		return sy_err(err, errlen, -EINVAL, "%s: %s is not valid base64", what, key);
	return 0;
}

/*
 * The kind's entry ("context", "cluster", "user": in root's list of kinds)
 * called name, which whose (the entry that names it, NULL for root's
 * current-context) gives: *ret, or the error of a name not given or not
 * found.
 */
static int follow(struct json_object *root, const char *kind, const char *name, const char *whose,
		  struct json_object **ret, char *err, size_t errlen)
{
	char list[16];

	if ((!name || !*name) && !whose)
		return sy_err(err, errlen, -EINVAL, "current-%s is not set", kind);
	if (!name || !*name)
		return sy_err(err, errlen, -EINVAL, "%s names no %s", whose, kind);
	snprintf(list, sizeof(list), "%ss", kind);
	*ret = named(root, list, kind, name);
	if (!*ret)
		return sy_err(err, errlen, -ENOENT, "%s \"%s\" not found", kind, name);
	return 0;
}

static int conn_from_kubeconfig(struct json_object *root, const char *dir, struct k8s_conn *c,
				char *err, size_t errlen)
{
	struct json_object *ctx, *cluster, *user = NULL, *tmp;
	const char *cur, *cname, *uname, *s;
	char what[300];
	int r;

	cur = jget_str(root, "current-context");
	r = follow(root, "context", cur, NULL, &ctx, err, errlen);
	if (r < 0)
		return r;
	snprintf(what, sizeof(what), "context \"%s\"", cur);
	cname = jget_str(ctx, "cluster");
	r = follow(root, "cluster", cname, what, &cluster, err, errlen);
	if (r < 0)
		return r;
	s = jget_str(cluster, "server");
	if (!s || !*s)
		return sy_err(err, errlen, -EINVAL, "cluster \"%s\" has no server", cname);
	c->server = xstrdup(s);
	while (strlen(c->server) > 1 && c->server[strlen(c->server) - 1] == '/')
		c->server[strlen(c->server) - 1] = 0;
	snprintf(what, sizeof(what), "cluster \"%s\"", cname);
	if ((s = jget_str(cluster, "certificate-authority")) && *s)
		c->ca_file = resolve(dir, s);
	r = take_data(cluster, "certificate-authority-data", &c->ca_data, what, err, errlen);
	if (r < 0)
		return r;
	c->insecure = str_true(cluster, "insecure-skip-tls-verify");
	if ((s = jget_str(cluster, "tls-server-name")) && *s)
		c->tls_server_name = xstrdup(s);

	uname = jget_str(ctx, "user");
	if (uname && *uname) {
		r = follow(root, "user", uname, NULL, &user, err, errlen);	/* uname is set */
		if (r < 0)
			return r;
		snprintf(what, sizeof(what), "user \"%s\"", uname);
		if (json_object_object_get_ex(user, "exec", &tmp) && tmp)
			return sy_err(err, errlen, -EOPNOTSUPP,
				      "user \"%s\": exec credential plugins are not supported "
				      "(use a token, tokenFile or client certificate)", uname);
		if (json_object_object_get_ex(user, "auth-provider", &tmp) && tmp)
			return sy_err(err, errlen, -EOPNOTSUPP,
				      "user \"%s\": auth-provider is not supported "
				      "(use a token, tokenFile or client certificate)", uname);
		if (jget_str(user, "username") || jget_str(user, "password"))
			return sy_err(err, errlen, -EOPNOTSUPP,
				      "user \"%s\": basic authentication is not supported", uname);
		if ((s = jget_str(user, "token")) && *s)
			c->token = xstrdup(s);
		if ((s = jget_str(user, "tokenFile")) && *s)
			c->token_file = resolve(dir, s);
		if ((s = jget_str(user, "client-certificate")) && *s)
			c->client_cert_file = resolve(dir, s);
		if ((s = jget_str(user, "client-key")) && *s)
			c->client_key_file = resolve(dir, s);
		r = take_data(user, "client-certificate-data", &c->client_cert_data, what, err, errlen);
		if (r < 0)
			return r;
		r = take_data(user, "client-key-data", &c->client_key_data, what, err, errlen);
		if (r < 0)
			return r;
		if (!!(c->client_cert_file || c->client_cert_data) !=
		    !!(c->client_key_file || c->client_key_data))
			return sy_err(err, errlen, -EINVAL,
				      "user \"%s\": a client certificate needs both a certificate "
				      "and a key", uname);
	}
	return 0;
}

int kubeconfig_load(const char *path, struct k8s_conn *ret, char *err, size_t errlen)
{
	struct json_object *root = NULL;
	struct k8s_conn c = {0};
	char *text = NULL, *dir, *slash;
	size_t len;
	int r;

	r = sy_read_file(path, &text, &len);
	if (r < 0)
		return sy_err(err, errlen, r, "%s: %s", path, strerror(-r));
	r = parse_yaml(text, len, &root, err, errlen);
	free(text);
	if (r < 0)
		return r;
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash)
		slash == dir ? (void)(slash[1] = 0) : (void)(*slash = 0);
	else
		strcpy(dir, ".");
	r = conn_from_kubeconfig(root, dir, &c, err, errlen);
	free(dir);
	json_object_put(root);
	if (r < 0) {
		k8s_conn_free(&c);
		return r;
	}
	*ret = c;
	return 0;
}

/* The service account's file name under dir, readable, into *ret (malloc'd path). */
static int sa_file(const char *dir, const char *name, const char *what, char **ret, char *err,
		   size_t errlen)
{
	char *p;
	int r;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	if (access(p, R_OK) < 0) {
		r = -errno;
		sy_err(err, errlen, r, "%s %s: %s", what, p, strerror(-r));
		free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int k8s_incluster_load(const char *sa_dir, struct k8s_conn *ret, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct k8s_conn c = {0};
	int r;

	if (!sa_dir)
		sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
	if (!host || !*host || !port || !*port)
		return sy_err(err, errlen, -ENOENT,
			      "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
			      "KUBERNETES_SERVICE_PORT must be defined");
	if (asprintf(&c.server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		     host, port) < 0)
		abort();
	r = sa_file(sa_dir, "token", "in-cluster token", &c.token_file, err, errlen);
	if (r == 0)
		r = sa_file(sa_dir, "ca.crt", "in-cluster CA", &c.ca_file, err, errlen);
	if (r < 0) {
		k8s_conn_free(&c);
		return r;
	}
	*ret = c;
	return 0;
}
