// SPDX-License-Identifier: Apache-2.0
/*
 * --feature-gates and the file's featureGates: kube-proxy's feature gate,
 * as Kubernetes 1.33 defines it (k8s.io/component-base/featuregate and
 * pkg/features/kube_features.go).  Every gate kube-proxy 1.33 knows is
 * accepted; an unknown name, a locked gate set away from its default or a
 * value that is no boolean refuses the start with kube-proxy's words.
 * switchyard reads two of them: MultiCIDRServiceAllocator (GA and on by
 * default in 1.33, still settable; 1.34 locks it on) and
 * PreferSameTrafficDistribution (1.34's spec: beta, on).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "switchyard/config.h"
#include "switchyard/log.h"

/* The stage of a gate at 1.33, its default there, and whether it is locked to it. */
enum { ALPHA, BETA, GA, DEPRECATED };
static const struct gate {
	const char *name;
	unsigned char stage;
	bool def, locked;
} gates[] = {
#define A(n) { n, ALPHA, false, false }
#define B(n, d) { n, BETA, d, false }
#define G(n, l) { n, GA, true, l }
#define D(n, d, l) { n, DEPRECATED, d, l }
	/* component-base: every alpha / every beta gate at once */
	A("AllAlpha"), B("AllBeta", false),
	/* pkg/features and what it relists (apiserver, apiextensions, zpages) */
	D("AllowDNSOnlyNodeCSR", false, false),
	D("AllowInsecureKubeletCertificateSigningRequests", false, false),
	D("AllowOverwriteTerminationGracePeriodSeconds", false, false),
	D("AllowServiceLBStatusOnNonLB", false, true),
	G("AnyVolumeDataSource", true), B("AuthorizeNodeWithSelectors", true),
	A("CloudControllerManagerWebhook"), B("ClusterTrustBundle", false),
	B("ClusterTrustBundleProjection", false), A("ContainerStopSignals"),
	B("ContainerCheckpoint", true), A("CPUCFSQuotaPeriod"), A("CPUManagerPolicyAlphaOptions"),
	B("CPUManagerPolicyBetaOptions", true), G("CPUManagerPolicyOptions", true),
	G("CronJobsScheduledAnnotation", true), G("CRDValidationRatcheting", true),
	A("CrossNamespaceVolumeDataSource"), G("CSIMigrationPortworx", true), A("CSIVolumeHealth"),
	G("CustomResourceFieldSelectors", true), B("DeclarativeValidation", true),
	B("DeclarativeValidationTakeover", false), A("DeploymentReplicaSetTerminatingReplicas"),
	G("DevicePluginCDIDevices", true), B("DisableAllocatorDualWrite", false),
	D("DisableNodeKubeProxyVersion", true, false), A("DRAAdminAccess"), A("DRADeviceTaints"),
	A("DRAPartitionableDevices"), A("DRAPrioritizedList"),
	B("DRAResourceClaimDeviceStatus", true), B("DynamicResourceAllocation", false),
	A("KubeletCrashLoopBackOffMax"), G("ElasticIndexedJob", true), A("EventedPLEG"),
	G("ExecProbeTimeout", false), A("ExternalServiceAccountTokenSigner"),
	D("AggregatedDiscoveryRemoveBetaType", true, false),
	B("AllowParsingUserUIDFromCertAuth", true), A("AllowUnsafeMalformedObjectDeletion"),
	B("AnonymousAuthConfigurableEndpoints", true), B("APIResponseCompression", true),
	B("APIServerIdentity", true), B("APIServerTracing", true), A("APIServingWithRoutine"),
	B("AuthorizeWithSelectors", true), G("BtreeWatchCache", true), A("CBORServingAndStorage"),
	B("ConcurrentWatchObjectDecode", false), B("ConsistentListFromCache", true),
	B("CoordinatedLeaderElection", false), D("KMSv1", false, false), A("ListFromCacheSnapshot"),
	A("MutatingAdmissionPolicy"), B("OpenAPIEnums", true), B("RemoteRequestHeaderUID", true),
	B("ResilientWatchCacheInitialization", true), G("RetryGenerateName", true),
	D("SeparateCacheWatchRPC", false, false), A("StorageVersionAPI"),
	B("StorageVersionHash", true), G("StrictCostEnforcementForVAP", true),
	G("StrictCostEnforcementForWebhooks", true),
	B("StructuredAuthenticationConfiguration", true),
	G("StructuredAuthorizationConfiguration", true),
	B("UnauthenticatedHTTP2DOSMitigation", true),
	B("WatchCacheInitializationPostStartHook", false),
	D("WatchFromStorageWithoutResourceVersion", false, true), B("WatchList", true),
	D("GitRepoVolumeDriver", false, false), B("GracefulNodeShutdown", true),
	B("GracefulNodeShutdownBasedOnPodPriority", true), G("HonorPVReclaimPolicy", true),
	A("HPAConfigurableTolerance"), A("HPAScaleToZero"), B("ImageMaximumGCAge", true),
	B("ImageVolume", false), B("InPlacePodVerticalScaling", true),
	D("InPlacePodVerticalScalingAllocatedStatus", false, false),
	A("InPlacePodVerticalScalingExclusiveCPUs"), A("InTreePluginPortworxUnregister"),
	G("JobBackoffLimitPerIndex", true), B("JobManagedBy", true),
	B("JobPodReplacementPolicy", true), G("JobSuccessPolicy", true),
	B("KubeletCgroupDriverFromCRI", true), A("KubeletEnsureSecretPulledImages"),
	B("KubeletFineGrainedAuthz", true), A("KubeletInUserNamespace"),
	A("KubeletPodResourcesDynamicResources"), A("KubeletPodResourcesGet"), A("KubeletPSI"),
	D("KubeletRegistrationGetOnExistsOnly", false, false), B("KubeletSeparateDiskGC", true),
	A("KubeletServiceAccountTokenForCredentialProviders"), B("KubeletTracing", true),
	D("LegacySidecarContainers", false, false), G("LoadBalancerIPMode", true),
	B("LocalStorageCapacityIsolationFSQuotaMonitoring", false),
	G("LogarithmicScaleDown", true), G("MatchLabelKeysInPodAffinity", true),
	B("MatchLabelKeysInPodTopologySpread", true), A("MaxUnavailableStatefulSet"),
	G("MemoryManager", true), A("MemoryQoS"), G("MultiCIDRServiceAllocator", false),
	A("MutableCSINodeAllocatableCount"), G("NFTablesProxyMode", true),
	G("NodeInclusionPolicyInPodTopologySpread", true), B("NodeLogQuery", false),
	B("NodeSwap", true), B("OrderedNamespaceDeletion", true), A("PodAndContainerStatsFromCRI"),
	B("PodDeletionCost", true), G("PodDisruptionConditions", true), G("PodIndexLabel", true),
	A("PodLevelResources"), B("PodLifecycleSleepAction", true),
	B("PodReadyToStartContainersCondition", true), B("PodLifecycleSleepActionAllowZero", true),
	A("PodObservedGenerationTracking"), G("PodSchedulingReadiness", true),
	A("PodTopologyLabelsAdmission"), B("PortForwardWebsockets", true),
	/*
	 * 1.33: alpha, off; switchyard follows 1.34's spec (beta, on; GA
	 * 1.35): hints.forNodes are used unless it is set to false
	 */
	B("PreferSameTrafficDistribution", true), B("ProcMountType", true), A("QOSReserved"),
	B("RecoverVolumeExpansionFailure", true), G("RecursiveReadOnlyMounts", true),
	A("ReduceDefaultCrashLoopBackOffDecay"), B("RelaxedDNSSearchValidation", true),
	B("RelaxedEnvironmentVariableValidation", true),
	B("ReloadKubeletServerCertificateFile", true), A("ResourceHealthStatus"),
	B("RotateKubeletServerCertificate", true), A("RuntimeClassInImageCriAPI"),
	B("SchedulerAsyncPreemption", true), B("SchedulerPopFromBackoffQ", true),
	B("SchedulerQueueingHints", true), B("SELinuxChangePolicy", true),
	B("SELinuxMount", false), B("SELinuxMountReadWriteOncePod", true),
	B("SeparateTaintEvictionController", true), D("StorageNamespaceIndex", true, false),
	B("ServiceAccountNodeAudienceRestriction", true), G("ServiceAccountTokenJTI", true),
	G("ServiceAccountTokenNodeBinding", true),
	G("ServiceAccountTokenNodeBindingValidation", true),
	G("ServiceAccountTokenPodNodeInfo", true), G("ServiceTrafficDistribution", true),
	G("SidecarContainers", true), G("SizeMemoryBackedVolumes", true),
	A("PodLogsQuerySplitStreams"), G("StatefulSetAutoDeletePVC", true),
	G("StatefulSetStartOrdinal", true), A("StorageCapacityScoring"),
	A("StorageVersionMigrator"), B("StreamingCollectionEncodingToJSON", true),
	B("StreamingCollectionEncodingToProtobuf", true), B("SupplementalGroupsPolicy", true),
	B("SystemdWatchdog", true), A("StrictIPCIDRValidation"), G("TopologyAwareHints", true),
	A("TopologyManagerPolicyAlphaOptions"), B("TopologyManagerPolicyBetaOptions", true),
	G("TopologyManagerPolicyOptions", false), B("TranslateStreamCloseWebsocketRequests", true),
	A("UnknownVersionInteroperabilityProxy"), A("UserNamespacesPodSecurityStandards"),
	B("UserNamespacesSupport", true), B("VolumeAttributesClass", false), B("WinDSR", true),
	A("WindowsGracefulNodeShutdown"), B("WinOverlay", true), A("WindowsCPUAndMemoryAffinity"),
	D("WindowsHostNetwork", false, false), A("ComponentFlagz"), A("ComponentStatusz"),
	B("DisableCPUQuotaWithExclusiveCPUs", true),
	/* client-go's, registered with kube's gate */
	A("ClientsAllowCBOR"), A("ClientsPreferCBOR"), A("InformerResourceVersion"),
	B("WatchListClient", false), B("InOrderInformers", true),
	/* component-base logging (cmd/kube-proxy registers them) */
	B("ContextualLogging", true), A("LoggingAlphaOptions"), B("LoggingBetaOptions", true),
#undef A
#undef B
#undef G
#undef D
};

static const struct gate *gate_find(const char *name)
{
	for (size_t i = 0; i < sizeof(gates) / sizeof(gates[0]); i++)
		if (!strcmp(gates[i].name, name))
			return &gates[i];
	return NULL;
}

bool config_feature_gate_known(const char *name)
{
	return gate_find(name) != NULL;
}

void config_feature_gate_put(struct sy_config *cfg, const char *name, bool on)
{
	for (unsigned i = 0; i < cfg->n_feature_gates; i++)
		if (!strcmp(cfg->feature_gates[i].name, name)) {
			cfg->feature_gates[i].on = on;
			return;
		}
	cfg->feature_gates = xrealloc(cfg->feature_gates,
				      (cfg->n_feature_gates + 1) * sizeof(*cfg->feature_gates));
	cfg->feature_gates[cfg->n_feature_gates].name = xstrdup(name);
	cfg->feature_gates[cfg->n_feature_gates++].on = on;
}

void config_feature_gates_clear(struct sy_config *cfg)
{
	for (unsigned i = 0; i < cfg->n_feature_gates; i++)
		free(cfg->feature_gates[i].name);
	free(cfg->feature_gates);
	cfg->feature_gates = NULL;
	cfg->n_feature_gates = 0;
}

/* Go's strconv.ParseBool: 0, -EINVAL. */
int config_parse_go_bool(const char *s, bool *ret)
{
	static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False" };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!strcmp(s, t[i])) {
			*ret = true;
			return 0;
		}
		if (!strcmp(s, f[i])) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* strings.TrimSpace for the ASCII spaces, into a new string. */
static char *trimmed(const char *s, size_t len)
{
	while (len && strchr(" \t\n\v\f\r", *s)) {
		s++;
		len--;
	}
	while (len && strchr(" \t\n\v\f\r", s[len - 1]))
		len--;
	char *r = xcalloc(1, len + 1);

	memcpy(r, s, len);
	return r;
}

int config_feature_gates_parse(struct sy_config *cfg, const char *arg, char *err, size_t errlen)
{
	const char *p = arg;

	/* cliflag.MapStringBool: the first flag replaces the map (here: the file's) */
	if (!cfg->feature_gates_from_flag) {
		config_feature_gates_clear(cfg);
		cfg->feature_gates_from_flag = true;
	}
	while (*p || p == arg) {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		char *k, *v;
		bool b;
		int r = 0;

		if (len) {
			if (!eq) {
				snprintf(err, errlen, "malformed pair, expect string=bool");
				return -EINVAL;
			}
			k = trimmed(p, (size_t)(eq - p));
			v = trimmed(eq + 1, len - (size_t)(eq + 1 - p));
			if (config_parse_go_bool(v, &b) < 0) {
				snprintf(err, errlen, "invalid value of %s: %s, err: strconv.ParseBool: "
					 "parsing \"%s\": invalid syntax", k, v, v);
				r = -EINVAL;
			} else {
				config_feature_gate_put(cfg, k, b);
			}
			free(k);
			free(v);
			if (r < 0)
				return r;
		}
		if (!p[len])
			break;
		p += len + 1;
	}
	return 0;
}

bool config_feature_gate(const struct sy_config *cfg, const char *name)
{
	const struct gate *g = gate_find(name);

	for (unsigned i = 0; i < cfg->n_feature_gates; i++)
		if (!strcmp(cfg->feature_gates[i].name, name))
			return cfg->feature_gates[i].on;
	return g && g->def;
}

static int by_name(const void *a, const void *b)
{
	const struct sy_feature_gate *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/*
 * featureGate.SetFromMap: an unknown name or a locked gate set away from its
 * default is an error; a GA or deprecated one set is a warning (each).  Then
 * the gates switchyard reads are resolved into cfg.
 */
int config_feature_gates_apply(struct sy_config *cfg, const struct sy_report *rep, char *err,
			       size_t errlen)
{
	if (cfg->n_feature_gates)
		qsort(cfg->feature_gates, cfg->n_feature_gates, sizeof(*cfg->feature_gates),
		      by_name);
	for (unsigned i = 0; i < cfg->n_feature_gates; i++) {
		const struct sy_feature_gate *s = &cfg->feature_gates[i];
		const struct gate *g = gate_find(s->name);

		if (!g) {
			snprintf(err, errlen, "unrecognized feature gate: %s", s->name);
			return -EINVAL;
		}
		if (g->locked && g->def != s->on) {
			snprintf(err, errlen, "cannot set feature gate %s to %s, feature is locked "
				 "to %s", s->name, s->on ? "true" : "false", g->def ? "true" : "false");
			return -EINVAL;
		}
	}
	for (unsigned i = 0; i < cfg->n_feature_gates; i++) {
		const struct sy_feature_gate *s = &cfg->feature_gates[i];
		const struct gate *g = gate_find(s->name);

		if (g->stage == GA || g->stage == DEPRECATED)
			sy_report(rep, 'W', "Setting %s feature gate %s=%s. It will be removed in a "
				  "future release.", g->stage == GA ? "GA" : "deprecated", s->name,
				  s->on ? "true" : "false");
	}
	cfg->service_cidrs_off = !config_feature_gate(cfg, "MultiCIDRServiceAllocator");
	cfg->node_hints_off = !config_feature_gate(cfg, "PreferSameTrafficDistribution");
	return 0;
}

/* Once the verbosity is known: the map at -v 1 (as kube-proxy), the unread ones at -v 2. */
void config_feature_gates_log(const struct sy_config *cfg)
{
	char all[2048] = "";

	if (!cfg->n_feature_gates)
		return;
	for (unsigned i = 0; i < cfg->n_feature_gates; i++) {
		const struct sy_feature_gate *s = &cfg->feature_gates[i];

		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s:%s", i ? " " : "",
			 s->name, s->on ? "true" : "false");
	}
	log_v(1, "feature gates: map[%s]", all);
	for (unsigned i = 0; i < cfg->n_feature_gates; i++)
		if (strcmp(cfg->feature_gates[i].name, "MultiCIDRServiceAllocator") &&
		    strcmp(cfg->feature_gates[i].name, "PreferSameTrafficDistribution"))
			log_v(2, "Feature gate %s=%s is known to kube-proxy; switchyard does not "
			      "read it", cfg->feature_gates[i].name,
			      cfg->feature_gates[i].on ? "true" : "false");
}
