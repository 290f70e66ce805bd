# SPDX-License-Identifier: Apache-2.0
# Operations files (issue 6): the systemd unit, the man page, the cluster
# manifests, the example config and manifests, the Grafana dashboard, and
# `make image` (tools/image: the OCI image from Debian's packages).
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = etc/switchyard.service
CLEANFILES += etc/switchyard.service
etc/switchyard.service: $(top_srcdir)/etc/switchyard.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) etc && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
		$(top_srcdir)/etc/switchyard.service.in >$@.tmp && mv $@.tmp $@

dist_man8_MANS = man/switchyard.8

examplesdir = $(docdir)/examples
dist_examples_DATA = etc/config.yaml etc/switchyard.yaml etc/grafana-dashboard.json
examplesmanifestsdir = $(docdir)/examples/manifests
dist_examplesmanifests_DATA = etc/manifests/web.yaml

EXTRA_DIST += etc/switchyard.service.in etc/kustomize \
	tools/check-manifests doc/operations.md

# The container image: $(builddir)/switchyard-$(VERSION).oci.tar (as root;
# see tools/image and doc/operations.md).
image: switchyard$(EXEEXT)
	$(top_srcdir)/tools/image --build $(abs_builddir)
.PHONY: image
CLEANFILES += switchyard-$(VERSION).oci.tar switchyard-$(VERSION).oci.tar.digest \
	switchyard-$(VERSION).oci.tar.inputs
