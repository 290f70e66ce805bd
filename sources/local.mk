# SPDX-License-Identifier: Apache-2.0
# The sources of objects: the Kubernetes client (list/watch over libcurl
# multi on libev, kubeconfig, the watch-stream decoder) and the manifest
# directory; their unit tests and fuzzers.
libswitchyard_a_SOURCES += sources/k8s_client.c sources/kubeconfig.c sources/watch_decoder.c \
	sources/manifest.c

UNIT_TESTS += tests/unit/test-watch-decoder tests/unit/test-kubeconfig tests/unit/test-manifest

# libFuzzer harnesses (clang): the watch-stream decoder and manifest_parse()
# with the object decoders.  `make fuzz` builds both and runs each for
# FUZZ_TIME seconds on a copy of the seed corpus; crashes land in tests/fuzz/.
FUZZ_CC = clang
FUZZ_TIME = 60
FUZZ_CFLAGS = -fsanitize=fuzzer,address,undefined $(FUZZ_COMMON)
FUZZ_OBJ_CFLAGS = -fsanitize=fuzzer-no-link,address,undefined $(FUZZ_COMMON)
FUZZ_COMMON = -g -O1 -fno-omit-frame-pointer \
	$(DEFS) $(AM_CPPFLAGS) $(CURL_CFLAGS) $(JSONC_CFLAGS) $(YAML_CFLAGS) $(NL_CFLAGS) \
	$(IPSET_CFLAGS) $(IPTC_CFLAGS) $(NFCT_CFLAGS)
EXTRA_DIST += tests/fuzz
CLEANFILES += tests/fuzz/fuzz-watch-decoder tests/fuzz/fuzz-manifest

tests/fuzz/fuzz-watch-decoder: $(srcdir)/tests/fuzz/fuzz-watch-decoder.c $(srcdir)/sources/watch_decoder.c
	@mkdir -p tests/fuzz
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(srcdir)/tests/fuzz/fuzz-watch-decoder.c \
		$(srcdir)/sources/watch_decoder.c $(JSONC_LIBS)

tests/fuzz/fuzz-manifest: $(srcdir)/tests/fuzz/fuzz-manifest.c $(libswitchyard_a_SOURCES)
	@mkdir -p tests/fuzz/obj
	$(AM_V_CC)objs=; for f in $(libswitchyard_a_SOURCES); do \
		case $$f in *.c) ;; *) continue ;; esac; \
		o=tests/fuzz/obj/`echo $$f | tr / _`.o; \
		$(FUZZ_CC) $(FUZZ_OBJ_CFLAGS) -c -o $$o $(srcdir)/$$f || exit 1; \
		objs="$$objs $$o"; \
	done; \
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(srcdir)/tests/fuzz/fuzz-manifest.c $$objs $(SY_LIBS)

fuzz: tests/fuzz/fuzz-watch-decoder tests/fuzz/fuzz-manifest
	@for h in watch manifest; do \
		mkdir -p tests/fuzz/work-$$h; \
		cp $(srcdir)/tests/fuzz/corpus-$$h/* tests/fuzz/work-$$h/; \
	done
	tests/fuzz/fuzz-watch-decoder -max_total_time=$(FUZZ_TIME) -max_len=8192 \
		-artifact_prefix=tests/fuzz/ tests/fuzz/work-watch
	tests/fuzz/fuzz-manifest -max_total_time=$(FUZZ_TIME) -max_len=16384 -timeout=10 \
		-artifact_prefix=tests/fuzz/ tests/fuzz/work-manifest

.PHONY: fuzz

# The client in-process against the API double on 127.0.0.1 (python3).
UNIT_TESTS += tests/apiserver/test-k8s-client
tests_apiserver_test_k8s_client_CPPFLAGS = $(AM_CPPFLAGS) -DSRCDIR='"$(abs_top_srcdir)"'
