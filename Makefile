# libzreap: see README.md. `make` builds build/libzreap.so; `make test`, `make demo`, `make bench`.
CC      ?= gcc
BUILD   ?= build
CFLAGS  ?= -O2 -g
# The library links nothing but libc (shim/real.c says why).
ZR_CFLAGS := -std=gnu11 -fPIC -fvisibility=hidden -Wall -Wextra -Werror -D_GNU_SOURCE \
             -fno-strict-aliasing -fno-omit-frame-pointer
# Every process in a container loads this: two segments instead of four are fewer mappings to
# make at each exec and to copy at each fork.
ZR_DEFS ?= -Wl,-z,defs
ZR_LDFLAGS := -shared -Wl,-z,now -Wl,-z,relro $(ZR_DEFS) -Wl,-z,noexecstack \
              -Wl,-z,noseparate-code -Wl,--hash-style=gnu -Wl,--as-needed

SRCS := $(wildcard shim/*.c)
ARCH_S := $(wildcard shim/vfork_$(shell $(CC) -dumpmachine | cut -d- -f1).S)
OBJS := $(patsubst shim/%.c,$(BUILD)/obj/%.o,$(SRCS)) $(patsubst shim/%.S,$(BUILD)/obj/%.o,$(ARCH_S))
LIB  := $(BUILD)/libzreap.so

HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPERS := $(patsubst tests/helpers/%.c,$(BUILD)/tests/%,$(HELPER_SRCS))

.PHONY: all test test-container demo bench clean deps-test helpers musl cross
all: $(LIB)

$(BUILD)/obj/%.o: shim/%.c $(wildcard shim/*.h) | $(BUILD)/obj
	$(CC) $(CFLAGS) $(ZR_CFLAGS) $(LIBC_CFLAGS) -c -o $@ $<
$(BUILD)/obj/%.o: shim/%.S | $(BUILD)/obj
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
test: deps-test $(LIB) helpers
	bats $(BATS_FLAGS) tests/

# podman + runc + a debootstrap root filesystem; skips, saying why, when they cannot be had.
test-container: deps-test $(LIB)
	bats $(BATS_FLAGS) tests/container.bats

demo: $(LIB) helpers
	@scripts/demo

bench: $(LIB) helpers
	@scripts/bench/run

# The musl build, for Alpine-style images: build/musl/libzreap.so, with Debian's musl-gcc.
# It records no NEEDED libc at all (musl's loader has its libc in every scope), so that in a
# glibc program, which may inherit LD_PRELOAD from a musl one, it still loads, finds it is in
# the wrong libc and stays inert (activate.c), instead of stopping the program from starting.
musl:
	@scripts/install-deps musl
	$(MAKE) BUILD=$(BUILD)/musl CC=musl-gcc LIBC_CFLAGS=-DZR_LIBC_MUSL ZR_DEFS= \
		LIBC_LDFLAGS="-nodefaultlibs -lgcc" all

# make cross ARCH=aarch64: the glibc build for another architecture, with Debian's cross
# compiler, into build/ARCH/libzreap.so (floor GLIBC_2.17 there too, aarch64's first version).
ARCH ?= aarch64
cross:
	@scripts/install-deps cross-$(ARCH)
	$(MAKE) BUILD=$(BUILD)/$(ARCH) CC=$(ARCH)-linux-gnu-gcc all

clean:
	rm -rf $(BUILD)
