#!/usr/bin/env bats
# release.bats: what a packager and an operator get: `make install` / `make uninstall` with
# PREFIX, LIBDIR, BINDIR and DESTDIR; `make dist`, whose tarball builds and tests on its own;
# and the version a built library carries (ZREAP_LOG=info, zreap-run --version; zreap-doctor's
# report of it is in tools.bats).

load common

setup() {
	[ -f "$LIB" ] || skip "build/libzreap.so missing: run make"
	VERSION=$(cat "$ROOT/VERSION")
}

@test "make install puts the library and both tools under DESTDIR, PREFIX and LIBDIR; uninstall removes exactly them" {
	# Spaces in every path, LIBDIR's included.
	stage="$BATS_TEST_TMPDIR/the stage"
	mkdir -p "$stage/opt/zr/share"
	touch "$stage/opt/zr/share/other" # something that is not ours, left alone by uninstall
	run make -C "$ROOT" install DESTDIR="$stage" PREFIX=/opt/zr LIBDIR="/opt/zr/lib 64"
	echo "$output"
	[ "$status" -eq 0 ]
	cmp "$LIB" "$stage/opt/zr/lib 64/libzreap.so"
	[ "$(stat -c %a "$stage/opt/zr/lib 64/libzreap.so")" = 644 ]
	for t in zreap-run zreap-doctor; do
		[ "$(stat -c %a "$stage/opt/zr/bin/$t")" = 755 ]
	done
	cmp "$ROOT/scripts/zreap-doctor" "$stage/opt/zr/bin/zreap-doctor"
	# The installed zreap-run looks in the LIBDIR it was installed for (not the staging path).
	grep -qx "libdir='/opt/zr/lib 64'" "$stage/opt/zr/bin/zreap-run"
	[ "$(diff "$ROOT/scripts/zreap-run" "$stage/opt/zr/bin/zreap-run" | grep -c '^[<>]')" = 2 ]
	# The musl build goes in beside it when it has been made.
	if [ -f "$ROOT/build/musl/libzreap.so" ]; then
		cmp "$ROOT/build/musl/libzreap.so" "$stage/opt/zr/lib 64/libzreap-musl.so"
	fi

	run make -C "$ROOT" uninstall DESTDIR="$stage" PREFIX=/opt/zr LIBDIR="/opt/zr/lib 64"
	[ "$status" -eq 0 ]
	[ "$(cd "$stage" && find . -type f)" = ./opt/zr/share/other ]
}

@test "an installed zreap-run uses the installed library, and --version names it" {
	p=$BATS_TEST_TMPDIR/p
	make -C "$ROOT" install PREFIX="$p" >/dev/null
	# No build/ beside the installed script: the library found must be the installed one.
	run --separate-stderr env -u ZREAP_LIB "$p/bin/zreap-run" sh -c 'echo "$LD_PRELOAD"'
	[ "$status" -eq 0 ]
	[ "$output" = "$p/lib/libzreap.so" ]
	run env -u ZREAP_LIB "$p/bin/zreap-run" --version
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(sed -n 1p <<<"$output")" = "$p/lib/libzreap.so: libzreap $VERSION (glibc build, $(uname -m))" ]
	make -C "$ROOT" uninstall PREFIX="$p" >/dev/null
	[ ! -e "$p/lib/libzreap.so" ]
	[ ! -e "$p/bin/zreap-run" ]
}

@test "the library names its version: ZREAP_LOG=info when active, zreap-run --version, the bytes of each build" {
	# Active (a subreaper needs no namespace): the first info line names the release.
	run --separate-stderr env ZREAP_SUBREAPER=1 ZREAP_LOG=info LD_PRELOAD="$LIB" /bin/true
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ "$(sed -n 1p <<<"$stderr")" == "zreap["*"]: libzreap $VERSION (glibc build, $(uname -m)) active as subreaper;"* ]]
	# Inert (every other process in a container): not a word, even at info.
	run --separate-stderr env ZREAP_LOG=info LD_PRELOAD="$LIB" /bin/true
	[ -z "$stderr" ]
	# The repository's zreap-run lists what it would use, build/ among it.
	run env -u ZREAP_LIB "$ROOT/scripts/zreap-run" --version
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qxF "$LIB: libzreap $VERSION (glibc build, $(uname -m))" <<<"$output"
	# A file that is not libzreap is said to be so, not given a version.
	run env ZREAP_LIB=/bin/true "$ROOT/scripts/zreap-run" --version
	grep -qxF "/bin/true: not a libzreap library (no version line)" <<<"$output"
	# Builds for another libc or architecture carry it too, readable without loading them.
	for b in musl/libzreap.so:musl:x86_64 aarch64/libzreap.so:glibc:aarch64; do
		f=$ROOT/build/${b%%:*} rest=${b#*:}
		[ -f "$f" ] || continue
		ZREAP_LIB=$f run "$ROOT/scripts/zreap-run" --version
		grep -qxF "$f: libzreap $VERSION (${rest%:*} build, ${rest#*:})" <<<"$output"
	done
}

@test "make dist names the tracked files changed since the last commit, and is silent on a clean tree" {
	command -v git >/dev/null && [ -d "$ROOT/.git" ] || skip "not a git checkout"
	clone=$BATS_TEST_TMPDIR/clone
	git clone -q "$ROOT" "$clone"
	# This tree's Makefile, committed there.
	cp "$ROOT/Makefile" "$clone/Makefile"
	git -C "$clone" -c user.name=t -c user.email=t@t commit -qm t --allow-empty -a
	run --separate-stderr make --no-print-directory -C "$clone" dist
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	echo "changed" >>"$clone/README.md"
	run --separate-stderr make --no-print-directory -C "$clone" dist
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$stderr" = "make dist: these tracked files differ from the last commit, and go in as they are now: README.md" ]
}

@test "make dist: every tracked file under libzreap-VERSION/, the same bytes twice; unpacked, it builds and its tests pass" {
	command -v git >/dev/null && [ -d "$ROOT/.git" ] || skip "not a git checkout: nothing to compare the tarball with"
	run make --no-print-directory -C "$ROOT" dist
	[ "$status" -eq 0 ]
	tarball=$ROOT/build/libzreap-$VERSION.tar.gz
	[ "$(tail -1 <<<"$output")" = "build/libzreap-$VERSION.tar.gz" ]
	diff <(git -C "$ROOT" ls-files | LC_ALL=C sort | sed "s|^|libzreap-$VERSION/|") \
		<(tar -tzf "$tarball" | LC_ALL=C sort)
	sum=$(sha256sum <"$tarball")
	touch "$ROOT/README.md" # a newer file time must not change the tarball
	make -C "$ROOT" dist >/dev/null
	[ "$(sha256sum <"$tarball")" = "$sum" ]

	tar -C "$BATS_TEST_TMPDIR" -xzf "$tarball"
	tree=$BATS_TEST_TMPDIR/libzreap-$VERSION
	# Its own build, helpers and a few suites (the whole of them is what CI runs on a clone).
	run make -C "$tree" test TESTS="tests/build.bats tests/signals.bats" \
		BATS_FLAGS=--print-output-on-failure
	echo "$output" | tail -20
	[ "$status" -eq 0 ]
	cmp <(objdump -T "$LIB" | awk '$4 != "*UND*" {print $NF}' | sort) \
		<(objdump -T "$tree/build/libzreap.so" | awk '$4 != "*UND*" {print $NF}' | sort)
	# And, with no git there, it makes the same file list again.
	make -C "$tree" dist >/dev/null
	diff <(tar -tzf "$tarball" | LC_ALL=C sort) <(tar -tzf "$tree/build/libzreap-$VERSION.tar.gz" | LC_ALL=C sort)
}
