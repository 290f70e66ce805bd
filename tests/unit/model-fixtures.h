/* SPDX-License-Identifier: Apache-2.0 */
/* A Service and its EndpointSlice, shared by test-decode and test-cache. */
#ifndef SY_TEST_MODEL_FIXTURES_H
#define SY_TEST_MODEL_FIXTURES_H
static const char *const SVC =
	"{\"kind\":\"Service\",\"metadata\":{\"name\":\"web\",\"namespace\":\"apps\",\"resourceVersion\":\"5\"},"
	"\"spec\":{\"type\":\"LoadBalancer\",\"clusterIP\":\"10.96.45.123\",\"ports\":["
	"{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080,\"nodePort\":30080},"
	"{\"name\":\"dns\",\"protocol\":\"UDP\",\"port\":53,\"targetPort\":\"dns-port\"}],"
	"\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":60}},"
	"\"externalTrafficPolicy\":\"Local\",\"healthCheckNodePort\":32000,\"externalIPs\":[\"192.0.2.10\",\"2001:db8::1\"],"
	"\"loadBalancerSourceRanges\":[\"203.0.113.0/24\"],\"internalTrafficPolicy\":\"Local\"},"
	"\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"198.51.100.7\"},{\"hostname\":\"lb.example\"}]}}}";

static const char *const SLICE =
	"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"web-abc\",\"namespace\":\"apps\","
	"\"labels\":{\"kubernetes.io/service-name\":\"web\"},"
	"\"annotations\":{\"endpoints.kubernetes.io/last-change-trigger-time\":\"2024-01-02T03:04:05Z\"}},"
	"\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":8080}],"
	"\"endpoints\":[{\"addresses\":[\"10.244.1.10\"],\"conditions\":{\"ready\":true},\"nodeName\":\"n1\",\"zone\":\"a\","
	"\"hints\":{\"forZones\":[{\"name\":\"a\"}]}},"
	"{\"addresses\":[\"10.244.2.11\"],\"conditions\":{\"ready\":false,\"serving\":true,\"terminating\":true},\"nodeName\":\"n2\"},"
	"{\"addresses\":[]},"
	"{\"addresses\":[\"10.244.3.12\"]}]}";
#endif
