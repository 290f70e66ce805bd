libswitchyard_a_SOURCES += src/ops_stub.c
