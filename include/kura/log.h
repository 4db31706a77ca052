/*
 * Operational log: one line per event, key=value pairs, to stderr by
 * default. Never pass bodies, passwords, tokens or sensitive values.
 * The audit log is a different thing (audit/).
 */
#ifndef KURA_LOG_H
#define KURA_LOG_H

#include <stddef.h>
#include <stdio.h>

enum kura_log_level {
	KURA_LOG_DEBUG = 0,
	KURA_LOG_INFO,
	KURA_LOG_WARN,
	KURA_LOG_ERROR,
};

void kura_log_set_level(enum kura_log_level lvl);
/* Where lines go; NULL means stderr. The stream is not closed by the log. */
void kura_log_set_stream(FILE *f);

/*
 * Writes "ts=<rfc3339> level=<lvl> event=<event> <fmt...>\n" as one write.
 * fmt should produce further key=value pairs; quote untrusted values with
 * kura_log_quote(). Thread-safe.
 */
void kura_log(enum kura_log_level lvl, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Copies s into dst (size n) as a log-safe token: wrapped in double quotes
 * when it contains spaces, quotes, '=' or control bytes, which become '\xNN'.
 * Truncates to fit. Returns dst.
 */
const char *kura_log_quote(char *dst, size_t n, const char *s);

/* Parses "debug|info|warn|error"; returns -1 when unknown. */
int kura_log_level_parse(const char *s);

#endif
