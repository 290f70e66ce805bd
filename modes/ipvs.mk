libswitchyard_a_SOURCES += modes/ipvs.c
