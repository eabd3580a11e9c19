# common.bash: loaded by every suite. Paths, and ways to run a program as PID 1.
bats_require_minimum_version 1.5.0
ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
LIB="$ROOT/build/libzreap.so"
H="$ROOT/build/tests"

# as_pid1 [VAR=value ...] CMD [ARGS]: CMD as PID 1 of a fresh PID namespace, shim preloaded.
as_pid1() { unshare --pid --fork --mount-proc env LD_PRELOAD="$LIB" "$@"; }
# bare_pid1 [VAR=value ...] CMD [ARGS]: the same without the shim.
bare_pid1() { unshare --pid --fork --mount-proc env "$@"; }
