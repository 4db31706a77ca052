/*
 * Linked whole into every program of a -Dbench_no_audit=true build (see
 * meson.build), whose audit appends write nothing: bench/audit.sh runs such
 * a kurad beside a normal one to measure what the audit chain costs a
 * record update. So that such a binary never runs by accident, it refuses
 * to start unless KURA_BENCH_ALLOW_NO_AUDIT=1, and says loudly that it is
 * not auditing when it does start. The variable is removed again before
 * main(): kurad refuses KURA_* variables it does not know.
 */
#include <stdlib.h>
#include <string.h>

#include "kura/log.h"

#ifndef KURA_BENCH_NO_AUDIT
#error "bench/no_audit_guard.c belongs to -Dbench_no_audit=true builds only"
#endif

__attribute__((constructor)) static void
no_audit_guard(void)
{
	const char *v = getenv("KURA_BENCH_ALLOW_NO_AUDIT");

	if (v == NULL || strcmp(v, "1") != 0) {
		kura_log(KURA_LOG_ERROR, "audit_disabled_build",
			 "msg=\"this binary was built with -Dbench_no_audit=true and writes NO audit "
			 "log; it is for bench/audit.sh only. Refusing to start (set "
			 "KURA_BENCH_ALLOW_NO_AUDIT=1 to run it for a benchmark)\"");
		exit(1);
	}
	kura_log(KURA_LOG_WARN, "audit_disabled_build",
		 "msg=\"WARNING: built with -Dbench_no_audit=true: NO AUDIT LOG IS WRITTEN. "
		 "Benchmarks only; never run this binary with real data\"");
	unsetenv("KURA_BENCH_ALLOW_NO_AUDIT");
}
