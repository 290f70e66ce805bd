libswitchyard_a_SOURCES += src/podnet.c
