/*
 * The operational log: "ts=... level=... event=... k=v ..." lines, each
 * written with a single fwrite under a lock so lines from threads never
 * interleave.
 */
#include "kura/log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

#include "kura/clock.h"

static atomic_int min_level = KURA_LOG_INFO;
static FILE *out_stream;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
kura_log_set_level(enum kura_log_level lvl)
{
	atomic_store(&min_level, (int)lvl);
}

void
kura_log_set_stream(FILE *f)
{
	pthread_mutex_lock(&out_lock);
	out_stream = f;
	pthread_mutex_unlock(&out_lock);
}

int
kura_log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

void
kura_log(enum kura_log_level lvl, const char *event, const char *fmt, ...)
{
	char line[2048];
	char ts[40];
	int off;
	va_list ap;

	if ((int)lvl < atomic_load(&min_level))
		return;
	if ((int)lvl < 0 || (int)lvl > KURA_LOG_ERROR)
		lvl = KURA_LOG_ERROR;
	kura_time_rfc3339(kura_now_us(), ts, sizeof(ts));
	off = snprintf(line, sizeof(line), "ts=%s level=%s event=%s", ts, level_names[lvl], event);
	if (off < 0)
		return;
	if (fmt != NULL && fmt[0] != '\0' && (size_t)off < sizeof(line) - 2) {
		int m;

		line[off++] = ' ';
		va_start(ap, fmt);
		m = vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
		va_end(ap);
		if (m > 0)
			off += m;
	}
	/* A line longer than the buffer is cut, never split across two. */
	if ((size_t)off >= sizeof(line) - 1)
		off = (int)sizeof(line) - 2;
	line[off++] = '\n';
	pthread_mutex_lock(&out_lock);
	fwrite(line, 1, (size_t)off, out_stream != NULL ? out_stream : stderr);
	fflush(out_stream != NULL ? out_stream : stderr);
	pthread_mutex_unlock(&out_lock);
}

const char *
kura_log_quote(char *dst, size_t n, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	bool quote = false;
	size_t o = 0;

	if (n == 0)
		return dst;
	if (s == NULL)
		s = "";
	if (s[0] == '\0')
		quote = true;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
			quote = true;
	}
	if (quote && o + 1 < n)
		dst[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		/* room for an escape, the closing quote and the NUL */
		if (o + 6 >= n)
			break;
		if (*p < ' ' || *p == '"' || *p == '\\' || *p == 0x7f) {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[*p >> 4];
			dst[o++] = hex[*p & 15];
		} else {
			dst[o++] = (char)*p;
		}
	}
	if (quote && o + 1 < n)
		dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}
