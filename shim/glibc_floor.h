/*
 * glibc_floor.h: keeps the shim loadable into glibc 2.17 and newer.
 *
 * Built against a newer glibc, references to these functions would bind to the versions that
 * glibc 2.32/2.34 introduced when it moved them into libc, and the loader of an older image
 * would then refuse to start the app at all ("version `GLIBC_2.34' not found"). Each is pinned
 * to its original version, which every glibc since still exports; the Makefile links
 * libdl.so.2 and libpthread.so.0 as NEEDED so the old versions resolve where they still live
 * there. Included by zreap.h, so by every file; `make check-floor` and tests/build.bats verify.
 */
#ifndef ZREAP_GLIBC_FLOOR_H
#define ZREAP_GLIBC_FLOOR_H

#include <features.h> /* defines __GLIBC__ on glibc only */

#if defined(__GLIBC__)
#if defined(__x86_64__)
#define ZR_FLOOR_BASE "GLIBC_2.2.5"
#define ZR_FLOOR_CANCEL "GLIBC_2.3.3"
#elif defined(__aarch64__)
#define ZR_FLOOR_BASE "GLIBC_2.17"
#define ZR_FLOOR_CANCEL "GLIBC_2.17"
#endif
#endif

#ifdef ZR_FLOOR_BASE
#define ZR_PIN(sym, ver) __asm__(".symver " #sym "," #sym "@" ver)
ZR_PIN(dlsym, ZR_FLOOR_BASE);
ZR_PIN(pthread_create, ZR_FLOOR_BASE);
ZR_PIN(pthread_sigmask, ZR_FLOOR_BASE);
ZR_PIN(pthread_attr_setstacksize, ZR_FLOOR_BASE);
ZR_PIN(__pthread_register_cancel, ZR_FLOOR_CANCEL);
ZR_PIN(__pthread_unregister_cancel, ZR_FLOOR_CANCEL);
ZR_PIN(__pthread_unwind_next, ZR_FLOOR_CANCEL);
#endif

#endif
