/*
 * Property values: JSON in, stored form out, and back. Each type has one
 * stored form, so that equality, ranges, sorting and unique indexes work
 * on what is stored:
 *   string, text, url, enumeration, phone  text as given
 *   email                                  text, lower-cased
 *   number                                 integer when integral (|x| < 2^53), else real
 *   bool                                   integer 0 / 1
 *   date                                   text YYYY-MM-DD
 *   datetime                               integer, microseconds since the epoch (UTC)
 * With rules, a property's validation applies as well: length in
 * characters, a POSIX extended pattern, allowed character classes,
 * numeric range, enumeration options.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/clock.h"
#include "kura/core.h"
#include "kura/text.h"

void
kura_strpool_free(struct kura_strpool *sp)
{
	for (size_t i = 0; i < sp->n; i++)
		free(sp->s[i]);
	free(sp->s);
	memset(sp, 0, sizeof(*sp));
}

char *
kura_strpool_dup(struct kura_strpool *sp, const char *s, size_t n)
{
	char *d;

	if (sp->n == sp->cap) {
		size_t cap = sp->cap ? sp->cap * 2 : 16;
		char **ns = realloc(sp->s, cap * sizeof(*ns));

		if (ns == NULL)
			return NULL;
		sp->s = ns;
		sp->cap = cap;
	}
	d = malloc(n + 1);
	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	sp->s[sp->n++] = d;
	return d;
}

static bool
fail(json_t *details, const struct kura_prop *p, const char *code, const char *msg)
{
	if (details != NULL)
		json_array_append_new(details, json_pack("{s:s, s:s, s:s}", "field", p->row.name,
							 "code", code, "message", msg));
	return false;
}

static unsigned
char_class(uint32_t c)
{
	if (c >= '0' && c <= '9')
		return KURA_CC_DIGITS;
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7))
		return KURA_CC_LATIN;
	if (c == ' ' || c == 0x3000)
		return KURA_CC_SPACE;
	if (c == 0x30FC) /* the long-vowel mark is written in both kana */
		return KURA_CC_HIRAGANA | KURA_CC_KATAKANA;
	if (c >= 0x3041 && c <= 0x309F)
		return KURA_CC_HIRAGANA;
	if ((c >= 0x30A0 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF))
		return KURA_CC_KATAKANA;
	if ((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
	    (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FFFF) || c == 0x3005 ||
	    c == 0x3006)
		return KURA_CC_KANJI;
	if (c >= 0xFF01 && c <= 0xFF5E)
		return KURA_CC_FULLWIDTH;
	if (c >= 0xFF61 && c <= 0xFF9F)
		return KURA_CC_HALFWIDTH_KATAKANA;
	if ((c >= 0x21 && c <= 0x7E) || (c >= 0x3001 && c <= 0x303F))
		return KURA_CC_SYMBOLS;
	return 0;
}

static bool
has_control(const char *s, size_t n, bool allow_newlines)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == 0x7F || (c < 0x20 && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r'))))
			return true;
	}
	return false;
}

static bool
date_valid(const char *s, size_t n)
{
	int y, m, d;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (n != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	}
	y = atoi(s);
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

static bool
phone_valid(const char *s, size_t n)
{
	size_t digits = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			digits++;
		else if (!(c == '+' && i == 0) && c != ' ' && c != '-' && c != '(' && c != ')')
			return false;
	}
	return digits >= 3 && digits <= 20;
}

static bool
url_valid(const char *s, size_t n)
{
	const char *host;
	size_t skip;

	if (n > 8 && strncmp(s, "https://", 8) == 0)
		skip = 8;
	else if (n > 7 && strncmp(s, "http://", 7) == 0)
		skip = 7;
	else
		return false;
	host = s + skip;
	if (*host == '/' || *host == '?' || *host == '#' || *host == ':')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7F || c == '"' || c == '<' || c == '>' || c == '\\')
			return false;
	}
	return true;
}

static bool
option_valid(const struct kura_prop *p, const char *s)
{
	size_t i;
	json_t *o;

	json_array_foreach(p->options, i, o) {
		const char *v = json_string_value(json_object_get(o, "value"));

		if (v != NULL && strcmp(v, s) == 0)
			return true;
	}
	return false;
}

/* Length, classes and pattern for text values. */
static bool
text_rules(const struct kura_prop *p, const char *s, size_t n, json_t *details)
{
	size_t chars = kura_utf8_chars(s, n);
	char msg[96];

	if (p->min_len > 0 && chars < (size_t)p->min_len) {
		snprintf(msg, sizeof(msg), "at least %lld characters", (long long)p->min_len);
		return fail(details, p, "too_short", msg);
	}
	if (p->max_len > 0 && chars > (size_t)p->max_len) {
		snprintf(msg, sizeof(msg), "at most %lld characters", (long long)p->max_len);
		return fail(details, p, "too_long", msg);
	}
	if (p->classes != 0) {
		size_t i = 0;
		uint32_t cp;

		while (i < n) {
			i = kura_utf8_next(s, n, i, &cp);
			if ((char_class(cp) & p->classes) == 0)
				return fail(details, p, "invalid_characters",
					    "holds characters outside the allowed classes");
		}
	}
	if (p->has_pattern && regexec(&p->pattern, s, 0, NULL, 0) != 0)
		return fail(details, p, "pattern_mismatch", "does not match the required pattern");
	return true;
}

static bool
text_value(const struct kura_prop *p, json_t *in, bool rules, struct kura_strpool *sp,
	   struct kura_val *out, json_t *details)
{
	const char *s = json_string_value(in);
	size_t n = json_string_length(in);
	size_t max = p->type == KURA_PT_TEXT ? KURA_TEXT_MAX_CHARS : KURA_STRING_MAX_CHARS;
	char *copy = NULL;

	if (s == NULL)
		return fail(details, p, "invalid_type", "must be a string");
	if (strlen(s) != n || has_control(s, n, p->type == KURA_PT_TEXT))
		return fail(details, p, "invalid_characters", "holds control characters");
	if (kura_utf8_chars(s, n) > max)
		return fail(details, p, "too_long",
			    p->type == KURA_PT_TEXT ? "at most 65536 characters"
						    : "at most 1024 characters");
	switch (p->type) {
	case KURA_PT_EMAIL:
		copy = kura_strpool_dup(sp, s, n);
		if (copy == NULL)
			return fail(details, p, "internal", "out of memory");
		for (char *c = copy; *c != '\0'; c++) {
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		}
		if (!kura_email_valid(copy))
			return fail(details, p, "invalid_email", "not an e-mail address");
		s = copy;
		break;
	case KURA_PT_PHONE:
		if (!phone_valid(s, n))
			return fail(details, p, "invalid_phone",
				    "a phone number: digits, spaces, '-', '(', ')' and a leading '+'");
		break;
	case KURA_PT_URL:
		if (!url_valid(s, n))
			return fail(details, p, "invalid_url", "an http:// or https:// URL");
		break;
	case KURA_PT_DATE:
		if (!date_valid(s, n))
			return fail(details, p, "invalid_date", "a date as YYYY-MM-DD");
		break;
	case KURA_PT_ENUM:
		if (!option_valid(p, s))
			return fail(details, p, "invalid_option", "not one of the property's options");
		break;
	default:
		break;
	}
	if (rules && p->type != KURA_PT_ENUM && p->type != KURA_PT_DATE &&
	    !text_rules(p, s, n, details))
		return false;
	out->kind = KURA_V_TEXT;
	out->s = s;
	out->n = n;
	return true;
}

bool
kura_value_from_json(const struct kura_prop *p, json_t *in, bool rules, struct kura_strpool *sp,
		     struct kura_val *out, json_t *details)
{
	char msg[96];

	memset(out, 0, sizeof(*out));
	if (in == NULL || json_is_null(in)) {
		out->kind = KURA_V_NULL;
		return true;
	}
	switch (p->type) {
	case KURA_PT_NUMBER: {
		double d;

		if (!json_is_number(in))
			return fail(details, p, "invalid_type", "must be a number");
		d = json_number_value(in);
		if (!isfinite(d))
			return fail(details, p, "invalid_type", "must be a finite number");
		if (rules && ((p->has_min && d < p->min) || (p->has_max && d > p->max))) {
			if (p->has_min && p->has_max)
				snprintf(msg, sizeof(msg), "must lie between %g and %g", p->min, p->max);
			else if (p->has_min)
				snprintf(msg, sizeof(msg), "must be at least %g", p->min);
			else
				snprintf(msg, sizeof(msg), "must be at most %g", p->max);
			return fail(details, p, "out_of_range", msg);
		}
		if (json_is_integer(in)) {
			out->kind = KURA_V_INT;
			out->i = json_integer_value(in);
		} else if (d == floor(d) && fabs(d) < 9007199254740992.0) {
			out->kind = KURA_V_INT;
			out->i = (int64_t)d;
		} else {
			out->kind = KURA_V_REAL;
			out->d = d;
		}
		return true;
	}
	case KURA_PT_BOOL:
		if (!json_is_boolean(in))
			return fail(details, p, "invalid_type", "must be true or false");
		out->kind = KURA_V_INT;
		out->i = json_is_true(in) ? 1 : 0;
		return true;
	case KURA_PT_DATETIME: {
		int64_t t;

		if (!json_is_string(in))
			return fail(details, p, "invalid_type", "must be a string");
		if (kura_time_parse_rfc3339(json_string_value(in), &t) != KURA_OK)
			return fail(details, p, "invalid_datetime",
				    "an RFC 3339 time such as 2026-11-23T09:00:00Z");
		out->kind = KURA_V_INT;
		out->i = t;
		return true;
	}
	default:
		return text_value(p, in, rules, sp, out, details);
	}
}

json_t *
kura_value_to_json(const struct kura_prop *p, const struct kura_val *v)
{
	char buf[40];

	switch (v->kind) {
	case KURA_V_NULL:
		return json_null();
	case KURA_V_INT:
		if (p != NULL && p->type == KURA_PT_BOOL)
			return json_boolean(v->i != 0);
		if (p != NULL && p->type == KURA_PT_DATETIME) {
			kura_time_rfc3339(v->i, buf, sizeof(buf));
			return json_string(buf);
		}
		if (p != NULL && p->type != KURA_PT_NUMBER) {
			snprintf(buf, sizeof(buf), "%lld", (long long)v->i);
			return json_string(buf);
		}
		return json_integer(v->i);
	case KURA_V_REAL:
		if (p != NULL && p->type != KURA_PT_NUMBER) {
			snprintf(buf, sizeof(buf), "%.15g", v->d);
			return json_string(buf);
		}
		return json_real(v->d);
	default:
		return json_stringn(v->s, v->n);
	}
}

bool
kura_val_equal(const struct kura_val *a, const struct kura_val *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case KURA_V_NULL:
		return true;
	case KURA_V_INT:
		return a->i == b->i;
	case KURA_V_REAL:
		return a->d == b->d;
	default:
		return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
	}
}
