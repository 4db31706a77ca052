/*
 * Wall-clock time in microseconds since the Unix epoch. All of Kura reads
 * time through here so that tests can move it: with the server option
 * test_clock_offset_file set, kurad re-reads the number of seconds in that
 * file every 100 ms and adds it to the real clock (it logs a warning at
 * start, since that option is for tests only).
 */
#ifndef KURA_CLOCK_H
#define KURA_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kura/err.h"

int64_t kura_now_us(void);
/* Adds off µs to every later kura_now_us() (tests only). */
void kura_clock_set_offset_us(int64_t off);
/* Formats t (µs since epoch) as RFC 3339 UTC with microseconds into out (>= 32 bytes). */
void kura_time_rfc3339(int64_t t_us, char *out, size_t n);
/*
 * Parses RFC 3339 ("2026-11-23T09:00:00Z", optional fraction up to µs, "Z" or
 * "+hh:mm"/"-hh:mm") into µs since the epoch. KURA_E_VALIDATION otherwise.
 */
enum kura_err kura_time_parse_rfc3339(const char *s, int64_t *out);
/* Monotonic clock in microseconds, for durations. */
int64_t kura_mono_us(void);
/* The time us microseconds from now on clock id: a deadline for pthread_cond_timedwait. */
struct timespec kura_deadline_us(clockid_t id, int64_t us);

#endif
