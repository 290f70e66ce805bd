libswitchyard_a_SOURCES += src/k8s_client.c
