/*
 * Time for all of Kura. Tests move the clock forward through an offset (in
 * seconds) that kurad reads from a file named by test_clock_offset_file, so
 * session timeouts can be tested without sleeping.
 */
#include "kura/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static atomic_llong clock_offset_us;

void
kura_clock_set_offset_us(int64_t off)
{
	atomic_store(&clock_offset_us, (long long)off);
}

int64_t
kura_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + atomic_load(&clock_offset_us);
}

int64_t
kura_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
kura_time_rfc3339(int64_t t_us, char *out, size_t n)
{
	time_t secs = (time_t)(t_us / 1000000);
	long usec = (long)(t_us % 1000000);
	struct tm tm;

	if (usec < 0) {
		usec += 1000000;
		secs -= 1;
	}
	gmtime_r(&secs, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
}
