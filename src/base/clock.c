/*
 * Time for all of Kura. Tests move the clock forward through an offset (in
 * seconds) that kurad reads from a file named by test_clock_offset_file, so
 * session timeouts can be tested without sleeping.
 */
#include "kura/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
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

/*
 * Days since 1970-01-01 to a civil date (H. Hinnant's algorithm): plain
 * arithmetic, because gmtime_r takes glibc's time-zone lock and every
 * request's log line formats a time.
 */
static void
civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t era, yy;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

void
kura_time_rfc3339(int64_t t_us, char *out, size_t n)
{
	int64_t secs = t_us / 1000000;
	long usec = (long)(t_us % 1000000);
	int64_t days, rem;
	unsigned mo, d;
	int y;

	if (usec < 0) {
		usec += 1000000;
		secs -= 1;
	}
	days = secs / 86400;
	rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days -= 1;
	}
	civil_from_days(days, &y, &mo, &d);
	snprintf(out, n, "%04d-%02u-%02uT%02d:%02d:%02dZ", y, mo, d, (int)(rem / 3600),
		 (int)(rem / 60 % 60), (int)(rem % 60));
	/* microseconds go before the Z */
	if (n > 20 && strlen(out) == 20)
		snprintf(out + 19, n - 19, ".%06ldZ", usec);
}

static bool
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

enum kura_err
kura_time_parse_rfc3339(const char *s, int64_t *out)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec, oh = 0, om = 0;
	int64_t frac = 0, scale = 100000, days;
	const char *p;
	struct tm tm;

	*out = 0;
	if (s == NULL || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) || s[13] != ':' ||
	    !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return KURA_E_VALIDATION;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
	    sec > 59)
		return KURA_E_VALIDATION;
	p = s + 19;
	if (*p == '.') {
		int n = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, n++) {
			if (n < 6) {
				frac += (*p - '0') * scale;
				scale /= 10;
			}
		}
		if (n == 0 || n > 9)
			return KURA_E_VALIDATION;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;

		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return KURA_E_VALIDATION;
		oh *= sign;
		om *= sign;
		p += 6;
	} else {
		return KURA_E_VALIDATION;
	}
	if (*p != '\0')
		return KURA_E_VALIDATION;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	days = (int64_t)timegm(&tm);
	/* timegm normalises 31 April to 1 May: refuse instead */
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		return KURA_E_VALIDATION;
	*out = (days - (int64_t)oh * 3600 - (int64_t)om * 60) * 1000000 + frac;
	return KURA_OK;
}

struct timespec
kura_deadline_us(clockid_t id, int64_t us)
{
	struct timespec ts = {0, 0};

	(void)clock_gettime(id, &ts);
	ts.tv_sec += (time_t)(us / 1000000);
	ts.tv_nsec += (long)(us % 1000000) * 1000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
