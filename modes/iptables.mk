libswitchyard_a_SOURCES += modes/iptables.c
