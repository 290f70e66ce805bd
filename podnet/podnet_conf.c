// SPDX-License-Identifier: Apache-2.0
/*
 * net-conf.json (flannel's keys and defaults), subnet checks, VTEP MACs and
 * the node-local files (subnet.env, CNI conflist).  Pure: no I/O except
 * podnet_conf_load reading its file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "switchyard/json_util.h"
#include "switchyard/podnet.h"
#include "podnet_int.h"

const char *podnet_backend_name(enum podnet_backend b)
{
	return b == PODNET_BACKEND_HOST_GW ? "host-gw" : "vxlan";
}

static uint32_t mask_of(unsigned plen)
{
	return plen ? ~0u << (32 - plen) : 0;
}

/* Integer field: present → must be an int in [lo, hi]. */
static int get_int(struct json_object *o, const char *key, long lo, long hi, long *ret,
		   bool *present, char *err, size_t errlen)
{
	struct json_object *v;
	int64_t x;

	*present = false;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int)) {
		snprintf(err, errlen, "%s must be an integer", key);
		return -EINVAL;
	}
	x = json_object_get_int64(v);
	if (x < lo || x > hi) {
		snprintf(err, errlen, "%s %lld out of range [%ld, %ld]", key, (long long)x, lo, hi);
		return -EINVAL;
	}
	*ret = (long)x;
	*present = true;
	return 0;
}

/* String / boolean field: absent or null leaves the default; another type is an error. */
static int get_str(struct json_object *o, const char *key, const char **ret, char *err,
		   size_t errlen)
{
	struct json_object *v = jget(o, key);

	*ret = jstr(v);
	if (!v || *ret)
		return 0;
	snprintf(err, errlen, "%s must be a string", key);
	return -EINVAL;
}

static int get_bool(struct json_object *o, const char *key, bool *ret, char *err, size_t errlen)
{
	if (jbool(jget(o, key), *ret, ret) == 0)
		return 0;
	snprintf(err, errlen, "%s must be true or false", key);
	return -EINVAL;
}

static int parse_backend(struct json_object *b, struct podnet_conf *c, char *err, size_t errlen)
{
	const char *type = NULL;
	long x;
	bool present;
	int r;

	if (!json_object_is_type(b, json_type_object)) {
		snprintf(err, errlen, "Backend must be an object");
		return -EINVAL;
	}
	if ((r = get_str(b, "Type", &type, err, errlen)) < 0)
		return r;
	if (!type || strcmp(type, "vxlan") == 0) {
		c->backend = PODNET_BACKEND_VXLAN;
	} else if (strcmp(type, "host-gw") == 0) {
		c->backend = PODNET_BACKEND_HOST_GW;
	} else {
		snprintf(err, errlen, "unknown Backend.Type \"%s\" (supported: vxlan, host-gw)", type);
		return -EINVAL;
	}
	if (c->backend == PODNET_BACKEND_HOST_GW)
		return 0;
	if ((r = get_int(b, "VNI", 0, 16777215, &x, &present, err, errlen)) < 0)
		return r;
	if (present)
		c->vni = (uint32_t)x;
	if ((r = get_int(b, "Port", 0, 65535, &x, &present, err, errlen)) < 0)
		return r;
	if (present && x)
		c->port = (uint16_t)x;
	if ((r = get_bool(b, "DirectRouting", &c->direct_routing, err, errlen)) < 0)
		return r;
	if ((r = get_int(b, "MTU", 0, 65535, &x, &present, err, errlen)) < 0)
		return r;
	if (present && x) {
		if (x < 576) {
			snprintf(err, errlen, "Backend.MTU %ld is too small (minimum 576)", x);
			return -EINVAL;
		}
		c->mtu = (unsigned)x;
	}
	return 0;
}

/*
 * SubnetMin / SubnetMax (family AF_INET), IPv6SubnetMin / IPv6SubnetMax
 * (AF_INET6): absent keeps *ret; else an address of the family inside
 * Network (IPv6Network), on a subnet boundary.
 */
static int subnet_bound(struct json_object *o, const char *name, int family,
			const struct podnet_conf *c, struct sy_addr *ret, char *err, size_t errlen)
{
	bool six = family == AF_INET6;
	unsigned len = six ? c->subnet_len6 : c->subnet_len;
	struct sy_cidr sub;
	struct sy_addr a;
	const char *s;

	if (get_str(o, name, &s, err, errlen) < 0)
		return -EINVAL;
	if (!s)
		return 0;
	if (sy_addr_parse_family(s, family, &a) < 0)
		return sy_err(err, errlen, -EINVAL, "%s \"%s\" is not an %s address", name, s,
			      six ? "IPv6" : "IPv4");
	if (!sy_cidr_contains(six ? &c->network6 : &c->network, &a))
		return sy_err(err, errlen, -EINVAL, "%s %s is not in %s", name, s,
			      six ? "IPv6Network" : "Network");
	if (sy_cidr_make(&a, len, &sub) < 0 || !sy_addr_eq(&sub.addr, &a))
		return sy_err(err, errlen, -EINVAL, "%s %s is not on a /%u boundary", name, s, len);
	*ret = a;
	return 0;
}

/* ---- IPv6 arithmetic (128-bit numbers from the address bytes) ---- */

typedef unsigned __int128 u128;

static u128 a6_num(const struct sy_addr *a)
{
	u128 v = 0;

	for (int i = 0; i < 16; i++)
		v = (v << 8) | a->b[i];
	return v;
}

static struct sy_addr a6_addr(u128 v)
{
	struct in6_addr b;

	for (int i = 15; i >= 0; i--) {
		b.s6_addr[i] = (uint8_t)v;
		v >>= 8;
	}
	return sy_addr_from_in6(&b);
}

static u128 mask6(unsigned plen)
{
	return plen ? ~(u128)0 << (128 - plen) : 0;
}

/* flannel's IPv6 keys (pkg/subnet/config.go): IPv6Network, IPv6SubnetLen, IPv6SubnetMin/Max. */
static int parse_ipv6(struct json_object *o, struct podnet_conf *c, char *err, size_t errlen)
{
	const char *s;
	bool present;
	long x;
	u128 net, size;

	if (get_str(o, "IPv6Network", &s, err, errlen) < 0)
		return -EINVAL;
	if (!s)
		return sy_err(err, errlen, -EINVAL, "EnableIPv6 is true but IPv6Network is missing");
	if (sy_cidr_parse_family(s, AF_INET6, &c->network6) < 0 || !strchr(s, '/'))
		return sy_err(err, errlen, -EINVAL, "IPv6Network \"%s\" is not an IPv6 CIDR", s);
	if (get_int(o, "IPv6SubnetLen", 0, 128, &x, &present, err, errlen) < 0)
		return -EINVAL;
	if (present && x) {
		if (x > 126)
			return sy_err(err, errlen, -EINVAL,
				      "IPv6SubnetLen /%ld is too long (at most /126)", x);
		if (x < c->network6.plen + 2)
			return sy_err(err, errlen, -EINVAL, "IPv6SubnetLen /%ld must be at least "
				      "the IPv6Network's /%u + 2 (four subnets)", x,
				      c->network6.plen);
		c->subnet_len6 = (uint8_t)x;
	} else if (c->network6.plen > 124) {
		return sy_err(err, errlen, -EINVAL, "IPv6Network %s is too small (the shortest "
			      "useful prefix is /124)", s);
	} else {
		c->subnet_len6 = c->network6.plen <= 62 ? 64 : c->network6.plen + 2;
	}
	net = a6_num(&c->network6.addr);
	size = (u128)1 << (128 - c->subnet_len6);
	c->subnet_min6 = a6_addr(net + size);
	c->subnet_max6 = a6_addr((net | ~mask6(c->network6.plen)) & mask6(c->subnet_len6));
	if (subnet_bound(o, "IPv6SubnetMin", AF_INET6, c, &c->subnet_min6, err, errlen) < 0 ||
	    subnet_bound(o, "IPv6SubnetMax", AF_INET6, c, &c->subnet_max6, err, errlen) < 0)
		return -EINVAL;
	if (a6_num(&c->subnet_min6) > a6_num(&c->subnet_max6))
		return sy_err(err, errlen, -EINVAL, "IPv6SubnetMin %s is above IPv6SubnetMax %s",
			      sy_addr_str(&c->subnet_min6), sy_addr_str(&c->subnet_max6));
	return 0;
}

int podnet_conf_parse(const char *json, struct podnet_conf *ret, char *err, size_t errlen)
{
	struct podnet_conf c = {
		.backend = PODNET_BACKEND_VXLAN,
		.vni = 1,
		.port = PODNET_VXLAN_DEFAULT_PORT,
	};
	struct json_tokener *tok;
	struct json_object *o, *b;
	enum json_tokener_error jerr;
	const char *s;
	bool enable4 = true, enable6 = false, present;
	uint32_t net, mask, size, min, max, last;
	long x;
	int r = -EINVAL;

	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, json, (int)strlen(json));
	jerr = json_tokener_get_error(tok);
	if (!o || jerr != json_tokener_success) {
		snprintf(err, errlen, "not valid JSON: %s",
			 jerr == json_tokener_success ? "empty" : json_tokener_error_desc(jerr));
		json_tokener_free(tok);
		json_object_put(o);
		return -EINVAL;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "not a JSON object");
		goto out;
	}
	if (get_bool(o, "EnableIPv4", &enable4, err, errlen) < 0 ||
	    get_bool(o, "EnableIPv6", &enable6, err, errlen) < 0)
		goto out;
	c.enable4 = enable4;
	c.enable6 = enable6;
	if (!enable4 && !enable6) {
		snprintf(err, errlen, "EnableIPv4 and EnableIPv6 are both false: no family left");
		goto out;
	}
	if (enable6 && parse_ipv6(o, &c, err, errlen) < 0)
		goto out;
	if (!enable4)
		goto backend;
	if (get_str(o, "Network", &s, err, errlen) < 0)
		goto out;
	if (!s) {
		snprintf(err, errlen, "Network is missing");
		goto out;
	}
	if (sy_cidr_parse_family(s, AF_INET, &c.network) < 0 || !strchr(s, '/')) {
		snprintf(err, errlen, "Network \"%s\" is not an IPv4 CIDR", s);
		goto out;
	}
	if (get_int(o, "SubnetLen", 0, 32, &x, &present, err, errlen) < 0)
		goto out;
	if (present && x) {
		if (x > 30) {
			snprintf(err, errlen, "SubnetLen /%ld is too long (at most /30)", x);
			goto out;
		}
		if (x <= c.network.plen) {
			snprintf(err, errlen, "SubnetLen /%ld must be longer than the Network's /%u",
				 x, c.network.plen);
			goto out;
		}
		c.subnet_len = (uint8_t)x;
	} else if (c.network.plen > 28) {
		snprintf(err, errlen, "Network %s is too small (the shortest useful prefix is /28)",
			 s);
		goto out;
	} else {
		c.subnet_len = c.network.plen <= 22 ? 24 : c.network.plen + 2;
	}
	net = ntohl(c.network.addr.v4.s_addr);
	mask = mask_of(c.subnet_len);
	size = 1u << (32 - c.subnet_len);
	last = net | ~mask_of(c.network.plen);	/* last address of the Network */
	min = net + size;
	max = (last & mask);
	{
		struct sy_addr bmin = sy_addr4_host(min), bmax = sy_addr4_host(max);

		if (subnet_bound(o, "SubnetMin", AF_INET, &c, &bmin, err, errlen) < 0 ||
		    subnet_bound(o, "SubnetMax", AF_INET, &c, &bmax, err, errlen) < 0)
			goto out;
		min = ntohl(bmin.v4.s_addr);
		max = ntohl(bmax.v4.s_addr);
	}
	if (min > max) {
		struct in_addr a = { htonl(min) }, b2 = { htonl(max) };

		snprintf(err, errlen, "SubnetMin %s is above SubnetMax %s", sy_ip4_str(a),
			 sy_ip4_str(b2));
		goto out;
	}
	c.subnet_min.s_addr = htonl(min);
	c.subnet_max.s_addr = htonl(max);
backend:
	if (json_object_object_get_ex(o, "Backend", &b) && !json_object_is_type(b, json_type_null)) {
		if (parse_backend(b, &c, err, errlen) < 0)
			goto out;
	}
	*ret = c;
	r = 0;
out:
	json_object_put(o);
	return r;
}

int podnet_conf_load(const char *path, struct podnet_conf *ret, char *err, size_t errlen)
{
	char *buf = NULL, why[200];
	size_t len;
	int r;

	r = sy_read_file(path, &buf, &len);
	if (r < 0) {
		snprintf(err, errlen, "net-conf %s: %s", path, strerror(-r));
		return r;
	}
	r = podnet_conf_parse(buf, ret, why, sizeof(why));
	if (r < 0)
		snprintf(err, errlen, "net-conf %s: %s", path, why);
	free(buf);
	return r;
}

int podnet_conf_check_subnet(const struct podnet_conf *c, const struct sy_cidr *subnet,
			     char *err, size_t errlen)
{
	uint32_t a = ntohl(subnet->addr.v4.s_addr), end;
	uint32_t min = ntohl(c->subnet_min.s_addr);
	uint32_t max = ntohl(c->subnet_max.s_addr) + (1u << (32 - c->subnet_len)) - 1;

	if (subnet->plen <= c->network.plen || !sy_cidr_contains(&c->network, &subnet->addr)) {
		snprintf(err, errlen, "%s/%u is not inside Network %s/%u",
			 sy_addr_str(&subnet->addr), subnet->plen, sy_addr_str(&c->network.addr),
			 c->network.plen);
		return -EINVAL;
	}
	if (subnet->plen > 30) {
		snprintf(err, errlen, "%s/%u is too small for pods", sy_addr_str(&subnet->addr),
			 subnet->plen);
		return -EINVAL;
	}
	end = a + (1u << (32 - subnet->plen)) - 1;
	if (a < min || end > max) {
		struct in_addr lo = { htonl(min) }, hi = { htonl(max) };

		snprintf(err, errlen, "%s/%u is outside [SubnetMin, SubnetMax] = [%s, %s]",
			 sy_addr_str(&subnet->addr), subnet->plen, sy_ip4_str(lo), sy_ip4_str(hi));
		return -EINVAL;
	}
	return 0;
}

int podnet_conf_check_subnet6(const struct podnet_conf *c, const struct sy_cidr *subnet,
			      char *err, size_t errlen)
{
	u128 a = a6_num(&subnet->addr), end, min, max;

	if (!c->enable6 || subnet->addr.family != AF_INET6)
		return sy_err(err, errlen, -EINVAL, "%s: IPv6 is not enabled (EnableIPv6)",
			      sy_cidr_str(subnet));
	if (subnet->plen <= c->network6.plen || !sy_cidr_contains(&c->network6, &subnet->addr))
		return sy_err(err, errlen, -EINVAL, "%s is not inside IPv6Network %s",
			      sy_cidr_str(subnet), sy_cidr_str(&c->network6));
	if (subnet->plen > 126)
		return sy_err(err, errlen, -EINVAL, "%s is too small for pods", sy_cidr_str(subnet));
	min = a6_num(&c->subnet_min6);
	max = a6_num(&c->subnet_max6) + ((u128)1 << (128 - c->subnet_len6)) - 1;
	end = a + (((u128)1 << (128 - subnet->plen)) - 1);
	if (a < min || end > max)
		return sy_err(err, errlen, -EINVAL,
			      "%s is outside [IPv6SubnetMin, IPv6SubnetMax] = [%s, %s]",
			      sy_cidr_str(subnet), sy_addr_str(&c->subnet_min6),
			      sy_addr_str(&c->subnet_max6));
	return 0;
}

void podnet_vxlan_name(uint32_t vni, char *buf, size_t len)
{
	snprintf(buf, len, PODNET_VXLAN_PREFIX "%u", vni);
}

void podnet_vxlan6_name(uint32_t vni, char *buf, size_t len)
{
	snprintf(buf, len, PODNET_VXLAN6_PREFIX "%u", vni);
}

/* 0x5e: locally administered, unicast; tag: 0x79 for IPv4, 0x76 for IPv6. */
static void vtep_mac(uint8_t tag, const uint8_t low4[4], uint8_t mac[6])
{
	mac[0] = 0x5e;
	mac[1] = tag;
	memcpy(mac + 2, low4, 4);
}

void podnet_vtep_mac(struct in_addr ip, uint8_t mac[6])
{
	vtep_mac(0x79, (const uint8_t *)&ip.s_addr, mac);
}

void podnet_vtep_mac6(const struct sy_addr *ip6, uint8_t mac[6])
{
	vtep_mac(0x76, ip6->b + 12, mac);
}

int podnet_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	int i;

	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
			 &v[5], &tail) != 6 || strlen(s) != 17)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	if (mac[0] & 1)		/* multicast */
		return -EINVAL;
	return 0;
}

void podnet_format_mac(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
}

int podnet_parse_backend_data(const char *json, uint32_t *vni, bool *has_vni, uint8_t mac[6],
			      bool *has_mac)
{
	struct json_object *o, *v;
	int r = 0;

	*has_vni = *has_mac = false;
	o = json_tokener_parse(json);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EINVAL;
	}
	if (json_object_object_get_ex(o, "VNI", &v) && json_object_is_type(v, json_type_int)) {
		*vni = (uint32_t)json_object_get_int64(v);
		*has_vni = true;
	}
	if (json_object_object_get_ex(o, "VtepMAC", &v) && json_object_is_type(v, json_type_string)) {
		if (podnet_parse_mac(json_object_get_string(v), mac) < 0)
			r = -EINVAL;
		else
			*has_mac = true;
	}
	json_object_put(o);
	return r;
}

/* The first address of a subnet + 1 (the gateway / FLANNEL_SUBNET address). */
static struct sy_addr first_host(const struct sy_cidr *subnet)
{
	if (subnet->addr.family == AF_INET6)
		return a6_addr(a6_num(&subnet->addr) + 1);
	return sy_addr4_host(sy_addr4_host_order(&subnet->addr) + 1);
}

/* flannel's WriteSubnetFile: each enabled family's network and first address, then MTU, IPMASQ. */
char *podnet_render_subnet_env(const struct podnet_conf *c, const struct sy_cidr *subnet,
			       const struct sy_cidr *subnet6, unsigned mtu)
{
	char *s4 = NULL, *s6 = NULL, *s;

	if (subnet) {
		struct sy_addr first = first_host(subnet);

		if (asprintf(&s4, "FLANNEL_NETWORK=%s\nFLANNEL_SUBNET=%s/%u\n",
			     sy_cidr_str(&c->network), sy_addr_str(&first), subnet->plen) < 0)
			abort();
	}
	if (subnet6) {
		struct sy_addr first = first_host(subnet6);

		if (asprintf(&s6, "FLANNEL_IPV6_NETWORK=%s\nFLANNEL_IPV6_SUBNET=%s/%u\n",
			     sy_cidr_str(&c->network6), sy_addr_str(&first), subnet6->plen) < 0)
			abort();
	}
	if (asprintf(&s, "%s%sFLANNEL_MTU=%u\nFLANNEL_IPMASQ=true\n", s4 ? s4 : "",
		     s6 ? s6 : "", mtu) < 0)
		abort();
	free(s4);
	free(s6);
	return s;
}

static struct json_object *jnew(const char *s)
{
	return json_object_new_string(s);
}

/* One host-local range set [{subnet, gateway}] and its default route. */
static void add_range(struct json_object *ranges, struct json_object *routes,
		      const struct sy_cidr *subnet)
{
	struct json_object *range = json_object_new_array(), *r0 = json_object_new_object(), *rt;
	struct sy_addr gw = first_host(subnet);

	json_object_object_add(r0, "subnet", jnew(sy_cidr_str(subnet)));
	json_object_object_add(r0, "gateway", jnew(sy_addr_str(&gw)));
	json_object_array_add(range, r0);
	json_object_array_add(ranges, range);
	rt = json_object_new_object();
	json_object_object_add(rt, "dst", jnew(subnet->addr.family == AF_INET6 ? "::/0" :
										  "0.0.0.0/0"));
	json_object_array_add(routes, rt);
}

char *podnet_render_cni(const struct podnet_conf *c, const struct sy_cidr *subnet,
			const struct sy_cidr *subnet6, unsigned mtu)
{
	struct json_object *root, *plugins, *br, *ipam, *ranges, *routes, *pm, *caps, *lo;
	char *out;

	root = json_object_new_object();
	json_object_object_add(root, "cniVersion", jnew("1.0.0"));
	json_object_object_add(root, "name", jnew(PODNET_CNI_NAME));
	plugins = json_object_new_array();

	br = json_object_new_object();
	json_object_object_add(br, "type", jnew("bridge"));
	json_object_object_add(br, "bridge", jnew("cni0"));
	json_object_object_add(br, "isGateway", json_object_new_boolean(1));
	json_object_object_add(br, "hairpinMode", json_object_new_boolean(1));
	json_object_object_add(br, "ipMasq", json_object_new_boolean(0));
	json_object_object_add(br, "mtu", json_object_new_int((int)mtu));
	ipam = json_object_new_object();
	json_object_object_add(ipam, "type", jnew("host-local"));
	/* one range set per family: a pod gets one address of each (CNI host-local) */
	ranges = json_object_new_array();
	routes = json_object_new_array();
	if (subnet)
		add_range(ranges, routes, subnet);
	if (subnet6)
		add_range(ranges, routes, subnet6);
	json_object_object_add(ipam, "ranges", ranges);
	json_object_object_add(ipam, "routes", routes);
	json_object_object_add(br, "ipam", ipam);
	json_object_array_add(plugins, br);

	pm = json_object_new_object();
	json_object_object_add(pm, "type", jnew("portmap"));
	caps = json_object_new_object();
	json_object_object_add(caps, "portMappings", json_object_new_boolean(1));
	json_object_object_add(pm, "capabilities", caps);
	json_object_array_add(plugins, pm);
	/* brings up the pod's lo; passes the bridge's result on unchanged */
	lo = json_object_new_object();
	json_object_object_add(lo, "type", jnew("loopback"));
	json_object_array_add(plugins, lo);
	json_object_object_add(root, "plugins", plugins);

	(void)c;
	if (asprintf(&out, "%s\n", json_object_to_json_string_ext(root,
			JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE |
			JSON_C_TO_STRING_SPACED)) < 0)
		abort();
	json_object_put(root);
	return out;
}
