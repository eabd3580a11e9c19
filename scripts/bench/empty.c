/* empty.c: a preload library with no code at all, the control of measurement 2: what any
 * LD_PRELOAD costs an exec (one more object to open, map and relocate). scripts/bench/run
 * builds it twice: alone (libempty.so), and as libempty-deps.so, recording libdl.so.2 and
 * libpthread.so.0 as NEEDED the way the Makefile links libzreap.so, so that the report can
 * tell the cost of the extra objects from the cost of the shim's own code. */
int zreap_bench_empty;
