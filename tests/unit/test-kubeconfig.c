// SPDX-License-Identifier: Apache-2.0
/* kubeconfig and in-cluster configuration loading. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "switchyard/k8s.h"

static char dir[64];

static void put(const char *name, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int load(const char *name, struct k8s_conn *c, char *err, size_t errlen)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	memset(c, 0, sizeof(*c));
	return kubeconfig_load(p, c, err, errlen);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/sy-kubeconfig.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#define HEAD \
	"apiVersion: v1\nkind: Config\n" \
	"current-context: ctx\n" \
	"contexts:\n- name: other\n  context: {cluster: nope, user: nope}\n" \
	"- name: ctx\n  context:\n    cluster: c1\n    user: u1\n    namespace: default\n"

static void test_token_inline_ca(void **state)
{
	struct k8s_conn c;
	char err[256] = "";

	/* "-----BEGIN CERTIFICATE-----\nabc\n" base64 */
	put("k1", HEAD
	    "clusters:\n- name: c1\n  cluster:\n    server: https://10.0.0.1:6443/\n"
	    "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmFiYwo=\n"
	    "    tls-server-name: kubernetes.default\n"
	    "users:\n- name: u1\n  user:\n    token: s3cr3t\n");
	assert_int_equal(load("k1", &c, err, sizeof(err)), 0);
	assert_string_equal(c.server, "https://10.0.0.1:6443");
	assert_string_equal(c.ca_data, "-----BEGIN CERTIFICATE-----\nabc\n");
	assert_null(c.ca_file);
	assert_string_equal(c.tls_server_name, "kubernetes.default");
	assert_string_equal(c.token, "s3cr3t");
	assert_null(c.token_file);
	assert_false(c.insecure);
	k8s_conn_free(&c);
}

static void test_relative_paths(void **state)
{
	struct k8s_conn c;
	char err[256] = "", want[256];

	put("k2", HEAD
	    "clusters:\n- name: c1\n  cluster:\n    server: https://h:1\n"
	    "    certificate-authority: pki/ca.crt\n"
	    "users:\n- name: u1\n  user:\n    tokenFile: tok\n"
	    "    client-certificate: /abs/cert.pem\n    client-key: ../key.pem\n");
	assert_int_equal(load("k2", &c, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/pki/ca.crt", dir);
	assert_string_equal(c.ca_file, want);
	snprintf(want, sizeof(want), "%s/tok", dir);
	assert_string_equal(c.token_file, want);
	assert_string_equal(c.client_cert_file, "/abs/cert.pem");
	snprintf(want, sizeof(want), "%s/../key.pem", dir);
	assert_string_equal(c.client_key_file, want);
	assert_null(c.token);
	k8s_conn_free(&c);
}

static void test_inline_client_cert_insecure(void **state)
{
	struct k8s_conn c;
	char err[256] = "";

	/* "CERT" / "KEY\n", unpadded base64 and a line break inside */
	put("k3", HEAD
	    "clusters:\n- name: c1\n  cluster:\n    server: http://127.0.0.1:8080\n"
	    "    insecure-skip-tls-verify: true\n"
	    "users:\n- name: u1\n  user:\n    client-certificate-data: Q0VS\n      VA\n"
	    "    client-key-data: S0VZCg==\n");
	assert_int_equal(load("k3", &c, err, sizeof(err)), 0);
	assert_true(c.insecure);
	assert_string_equal(c.client_cert_data, "CERT");
	assert_string_equal(c.client_key_data, "KEY\n");
	assert_null(c.token);
	k8s_conn_free(&c);
}

static void test_json_kubeconfig(void **state)
{
	struct k8s_conn c;
	char err[256] = "";

	put("k4", "{\"current-context\":\"x\",\"contexts\":[{\"name\":\"x\",\"context\":"
	    "{\"cluster\":\"c\",\"user\":\"u\"}}],\"clusters\":[{\"name\":\"c\",\"cluster\":"
	    "{\"server\":\"https://[fd00::1]:6443\"}}],\"users\":[{\"name\":\"u\",\"user\":"
	    "{\"token\":\"t\"}}]}\n");
	assert_int_equal(load("k4", &c, err, sizeof(err)), 0);
	assert_string_equal(c.server, "https://[fd00::1]:6443");
	assert_string_equal(c.token, "t");
	k8s_conn_free(&c);
}

static void expect_error(const char *text, int want, const char *substr)
{
	struct k8s_conn c;
	char err[256] = "";

	put("bad", text);
	assert_int_equal(load("bad", &c, err, sizeof(err)), want);
	if (!strstr(err, substr))
		fail_msg("error \"%s\" does not contain \"%s\"", err, substr);
	assert_null(c.server);
}

static void test_errors(void **state)
{
	struct k8s_conn c;
	char err[256] = "";

	expect_error("apiVersion: v1\nclusters: []\n", -EINVAL, "current-context is not set");
	expect_error("current-context: nope\ncontexts: []\n", -ENOENT, "context \"nope\" not found");
	expect_error(HEAD "clusters: []\n", -ENOENT, "cluster \"c1\" not found");
	expect_error(HEAD "clusters:\n- name: c1\n  cluster: {}\n", -EINVAL, "has no server");
	expect_error(HEAD "clusters:\n- name: c1\n  cluster: {server: 'https://h'}\n"
		     "users:\n- name: u1\n  user:\n    exec:\n      command: aws\n"
		     "      apiVersion: client.authentication.k8s.io/v1\n",
		     -EOPNOTSUPP, "exec credential plugins are not supported");
	expect_error(HEAD "clusters:\n- name: c1\n  cluster: {server: 'https://h'}\n"
		     "users: []\n", -ENOENT, "user \"u1\" not found");
	expect_error(HEAD "clusters:\n- name: c1\n  cluster: {server: 'https://h'}\n"
		     "users:\n- name: u1\n  user: {client-certificate: c.pem}\n",
		     -EINVAL, "needs both a certificate and a key");
	expect_error(HEAD "clusters:\n- name: c1\n  cluster:\n    server: https://h\n"
		     "    certificate-authority-data: '!!notbase64'\n", -EINVAL, "not valid base64");
	expect_error("key: [unclosed\n", -EINVAL, "YAML error");
	expect_error("- a\n- b\n", -EINVAL, "not a kubeconfig");
	memset(&c, 0, sizeof(c));
	assert_int_equal(kubeconfig_load("/nonexistent/kubeconfig", &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/kubeconfig"));
}

static void test_incluster(void **state)
{
	struct k8s_conn c = {0};
	char err[256] = "", want[256];

	unsetenv("KUBERNETES_SERVICE_HOST");
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(k8s_incluster_load(dir, &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT"));

	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	put("ca.crt", "PEM");
	/* no token file yet */
	assert_true(k8s_incluster_load(dir, &c, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "token"));
	put("token", "abc\n");
	assert_int_equal(k8s_incluster_load(dir, &c, err, sizeof(err)), 0);
	assert_string_equal(c.server, "https://[fd00::1]:443");
	snprintf(want, sizeof(want), "%s/token", dir);
	assert_string_equal(c.token_file, want);
	snprintf(want, sizeof(want), "%s/ca.crt", dir);
	assert_string_equal(c.ca_file, want);
	k8s_conn_free(&c);

	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	assert_int_equal(k8s_incluster_load(dir, &c, err, sizeof(err)), 0);
	assert_string_equal(c.server, "https://10.96.0.1:443");
	k8s_conn_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_inline_ca),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_inline_client_cert_insecure),
		cmocka_unit_test(test_json_kubeconfig),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_incluster),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
