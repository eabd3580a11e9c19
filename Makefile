# libzreap: see README.md. `make` builds build/libzreap.so; `make test`, `make demo`, `make bench`.
CC      ?= gcc
BUILD   ?= build
# -Os: every process LD_PRELOAD reaches maps the whole text (the kernel faults it in 16 pages at
# a time), and none of it is hot: 12 pages instead of 15 at -O2, 56 KiB of RSS instead of 68
# (scripts/bench/spawntime maps), the exec time the same.
CFLAGS  ?= -Os -g
# The release, from VERSION: built into the library (activate.c's version tag) and the tarball name.
VERSION := $(shell cat VERSION)
# The library links nothing but libc (shim/real.c says why). No stack protector: its canary is
# read from thread-local storage, which the reaper thread must not touch (shim/reaper.c).
ZR_CFLAGS := -std=gnu11 -fPIC -fvisibility=hidden -Wall -Wextra -Werror -D_GNU_SOURCE \
             -fno-strict-aliasing -fno-omit-frame-pointer -fno-stack-protector
# Every process in a container loads this: two segments instead of four are fewer mappings to
# make at each exec and to copy at each fork. No library at all, not even libc, and no imports
# (shim/str.c, shim/real.c): -z defs makes any import a link error. No RELRO: it costs every
# exec an mprotect and a split mapping (1.5 points of an exec of /bin/true, scripts/bench's
# spawntime), and would guard nothing an attacker who can write our memory could not reach
# anyway: with no imports there is no GOT, and the pointers to libc's functions that the shim
# uses are filled in at their first call, so they live in writable memory whatever the flags.
ZR_DEFS ?= -Wl,-z,defs
LIBC_LDFLAGS ?= -nodefaultlibs -lgcc
ZR_LDFLAGS := -shared -Wl,-z,now -Wl,-z,norelro $(ZR_DEFS) -Wl,-z,noexecstack \
              -Wl,-z,noseparate-code -Wl,--hash-style=gnu -Wl,--as-needed \
              -nostartfiles -Wl,-Bsymbolic-functions

# aarch64: gcc's outline atomics call into libgcc, whose constructor imports getauxval; inline
# ones (load/store-exclusive, ARMv8.0) keep the library free of imports.
ZR_CFLAGS += $(if $(filter aarch64%,$(shell $(CC) -dumpmachine)),-mno-outline-atomics)

SRCS := $(wildcard shim/*.c)
ARCH_S := $(wildcard shim/*_$(shell $(CC) -dumpmachine | cut -d- -f1).S)
OBJS := $(patsubst shim/%.c,$(BUILD)/obj/%.o,$(SRCS)) $(patsubst shim/%.S,$(BUILD)/obj/%.o,$(ARCH_S))
LIB  := $(BUILD)/libzreap.so

HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPERS := $(patsubst tests/helpers/%.c,$(BUILD)/tests/%,$(HELPER_SRCS))

.PHONY: all test test-container demo bench clean deps-test helpers musl cross install uninstall dist
all: $(LIB)

# str.c defines memcpy, strlen and the like: as builtins, or with its loops turned back into
# calls, they would call themselves.
$(BUILD)/obj/str.o: ZR_CFLAGS += -fno-builtin -fno-tree-loop-distribute-patterns
# Only activate.c carries the version: a new VERSION rebuilds it alone.
$(BUILD)/obj/activate.o: ZR_CFLAGS += -DZR_VERSION='"$(VERSION)"'
$(BUILD)/obj/activate.o: VERSION
# Objects depend on this file too: a change of flags rebuilds them all.
$(BUILD)/obj/%.o: shim/%.c $(wildcard shim/*.h) Makefile | $(BUILD)/obj
	$(CC) $(CFLAGS) $(ZR_CFLAGS) $(LIBC_CFLAGS) -c -o $@ $<
$(BUILD)/obj/%.o: shim/%.S Makefile | $(BUILD)/obj
	$(CC) $(CFLAGS) $(ZR_CFLAGS) -c -o $@ $<
$(LIB): $(OBJS) $(LIBC_LINK_DEPS)
	$(CC) $(CFLAGS) -o $@ $(OBJS) $(ZR_LDFLAGS) $(LIBC_LDFLAGS)

# A fresh machine may lack the compiler: the first directory made installs it.
$(BUILD)/obj $(BUILD)/tests:
	@scripts/install-deps build
	mkdir -p $@

helpers: $(HELPERS)
$(BUILD)/tests/%: tests/helpers/%.c $(wildcard tests/helpers/*.h) | $(BUILD)/tests
	$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $< -lpthread

# Installs what the tests run with from Debian's packages, once.
deps-test:
	@scripts/install-deps test


BATS_FLAGS ?= --print-output-on-failure
TESTS ?= tests/
test: deps-test $(LIB) helpers
	bats $(BATS_FLAGS) $(TESTS)

# podman + runc + a debootstrap root filesystem; skips, saying why, when they cannot be had.
test-container: deps-test $(LIB)
	bats $(BATS_FLAGS) tests/container.bats

demo: $(LIB) helpers
	@scripts/demo

bench: $(LIB) helpers
	@ZR_LDFLAGS="$(ZR_LDFLAGS)" scripts/bench/run

# The musl build, for Alpine-style images: build/musl/libzreap.so, with Debian's musl-gcc.
# It records no NEEDED libc at all (musl's loader has its libc in every scope), so that in a
# glibc program, which may inherit LD_PRELOAD from a musl one, it still loads, finds it is in
# the wrong libc and stays inert (activate.c), instead of stopping the program from starting.
musl:
	@scripts/install-deps musl
	$(MAKE) BUILD=$(BUILD)/musl CC=musl-gcc LIBC_CFLAGS=-DZR_LIBC_MUSL ZR_DEFS= all

# make cross ARCH=aarch64: the glibc build for another architecture, with Debian's cross
# compiler, into build/ARCH/libzreap.so (no import and no symbol version there either).
ARCH ?= aarch64
cross:
	@scripts/install-deps cross-$(ARCH)
	$(MAKE) BUILD=$(BUILD)/$(ARCH) CC=$(ARCH)-linux-gnu-gcc all

# make install [PREFIX=/usr/local] [LIBDIR=PREFIX/lib] [BINDIR=PREFIX/bin] [DESTDIR=staging]:
# the library as LIBDIR/libzreap.so (and the musl build, when made, as libzreap-musl.so), and
# zreap-run and zreap-doctor in BINDIR. The installed zreap-run looks in LIBDIR first.
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
BINDIR ?= $(PREFIX)/bin
# Every path quoted, and LIBDIR written into zreap-run quoted: a directory may hold spaces.
L := "$(DESTDIR)$(LIBDIR)"
BIN := "$(DESTDIR)$(BINDIR)"
install: $(LIB)
	install -d $(L) $(BIN)
	install -m 0644 $(LIB) $(L)/libzreap.so
	if [ -f $(BUILD)/musl/libzreap.so ]; then \
		install -m 0644 $(BUILD)/musl/libzreap.so $(L)/libzreap-musl.so; fi
	sed "s|^libdir=.*|libdir='$(LIBDIR)'|" scripts/zreap-run >$(BIN)/zreap-run
	chmod 0755 $(BIN)/zreap-run
	install -m 0755 scripts/zreap-doctor $(BIN)/zreap-doctor
uninstall:
	rm -f $(L)/libzreap.so $(L)/libzreap-musl.so $(BIN)/zreap-run $(BIN)/zreap-doctor

# make dist: build/libzreap-VERSION.tar.gz, the files git tracks (every file but build/ when
# there is no git), under libzreap-VERSION/, with fixed owners, order and times, so that the
# same tree gives the same bytes. Tracked files changed since the last commit are named on
# stderr: they go in as they are, under the version of a release that does not have them. Its
# own `make` and `make test` work unpacked (tests/release.bats).
DIST := libzreap-$(VERSION)
IN_GIT = $(filter $(CURDIR),$(shell git rev-parse --show-toplevel 2>/dev/null))
DIST_MTIME = $(if $(IN_GIT),$(shell git log -1 --format=%ct),$(shell stat -c %Y VERSION))
dist:
	mkdir -p $(BUILD)
	@if [ -n "$(IN_GIT)" ] && ! git diff --quiet HEAD --; then \
		echo "make dist: these tracked files differ from the last commit, and go in as they" \
			"are now: $$(git diff --name-only HEAD -- | xargs)" >&2; fi
	$(if $(IN_GIT),git ls-files,find . \( -path ./$(BUILD) -o -path ./.git \) -prune -o -type f -print | sed 's|^\./||') \
		| LC_ALL=C sort >$(BUILD)/$(DIST).files
	tar --create --gzip --file=$(BUILD)/$(DIST).tar.gz --transform='s|^|$(DIST)/|' \
		--owner=0 --group=0 --numeric-owner --mtime=@$(DIST_MTIME) --no-recursion \
		--files-from=$(BUILD)/$(DIST).files
	@echo "$(BUILD)/$(DIST).tar.gz"

clean:
	rm -rf $(BUILD)
