/*
 * The full-text form of records and queries (SQLite FTS5 with its
 * unicode61 tokenizer, which folds case and diacritics).
 *
 * Japanese is written without spaces, and a name such as 田中太郎 must be
 * found by 田中, by 太郎 and by 中太. unicode61 would make one token of the
 * whole run, and FTS5's trigram tokenizer cannot match anything shorter
 * than three characters (most Japanese family names are two). So before
 * indexing, each run of CJK characters (kanji, kana, Hangul) is written as
 * its overlapping pairs followed by its last character alone:
 *     田中太郎  ->  田中 中太 太郎 郎
 * A query's CJK run of two or more characters becomes the phrase of its
 * pairs (中太 -> "中太"; 田中太 -> "田中" "中太"), which matches exactly
 * where the characters stand together; a single character becomes the
 * prefix query 田*, which matches the pair or the lone last character that
 * starts with it. Other words match by prefix (tan* finds Tanaka).
 * Full-width ASCII (Ｔａｎａｋａ, ０９０) is folded to ASCII on both sides.
 */
#include <string.h>

#include "kura/core.h"
#include "kura/text.h"

#define QUERY_TERMS_MAX 16

static bool
is_cjk(uint32_t c)
{
	return (c >= 0x3041 && c <= 0x30FF && c != 0x30FB) || /* kana (with ー; ・ separates) */
	       (c >= 0x31F0 && c <= 0x31FF) ||   /* katakana extensions */
	       (c >= 0x3400 && c <= 0x4DBF) ||   /* CJK extension A */
	       (c >= 0x4E00 && c <= 0x9FFF) ||   /* CJK unified ideographs */
	       (c >= 0xF900 && c <= 0xFAFF) ||   /* compatibility ideographs */
	       (c >= 0xFF66 && c <= 0xFF9F) ||   /* half-width katakana */
	       (c >= 0xAC00 && c <= 0xD7AF) ||   /* Hangul syllables */
	       (c >= 0x20000 && c <= 0x2FFFF) || /* CJK extensions B.. */
	       c == 0x3005 || c == 0x3006;       /* 々 〆 */
}

/* Full-width ASCII and the ideographic space, folded to ASCII. */
static uint32_t
fold(uint32_t c)
{
	if (c >= 0xFF01 && c <= 0xFF5E)
		return c - 0xFEE0;
	if (c == 0x3000)
		return ' ';
	return c;
}

static enum kura_err
put_cp(struct kura_buf *b, uint32_t c)
{
	char u[4];
	size_t n;

	if (c < 0x80) {
		u[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (char)(0xC0 | (c >> 6));
		u[1] = (char)(0x80 | (c & 0x3F));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (char)(0xE0 | (c >> 12));
		u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		u[2] = (char)(0x80 | (c & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (c >> 18));
		u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((c >> 6) & 0x3F));
		u[3] = (char)(0x80 | (c & 0x3F));
		n = 4;
	}
	return kura_buf_append(b, u, n);
}

/* Writes a CJK run as pairs and its last character. */
static enum kura_err
put_run(struct kura_buf *b, const uint32_t *run, size_t n)
{
	enum kura_err e = KURA_OK;

	for (size_t i = 0; e == KURA_OK && i < n; i++) {
		e = kura_buf_append(b, " ", 1);
		if (e == KURA_OK)
			e = put_cp(b, run[i]);
		if (e == KURA_OK && i + 1 < n)
			e = put_cp(b, run[i + 1]);
	}
	return kura_buf_append(b, " ", 1) == KURA_OK ? e : KURA_E_NOMEM;
}

#define RUN_MAX 256

/* Appends the indexable form of s[0..n). */
static enum kura_err
put_text(struct kura_buf *b, const char *s, size_t n)
{
	uint32_t run[RUN_MAX];
	size_t nrun = 0, i = 0;
	enum kura_err e = KURA_OK;
	uint32_t c;

	while (e == KURA_OK && i < n) {
		i = kura_utf8_next(s, n, i, &c);
		c = fold(c);
		if (is_cjk(c)) {
			if (nrun == RUN_MAX) {
				e = put_run(b, run, nrun);
				/* keep the pair across the cut */
				run[0] = run[RUN_MAX - 1];
				nrun = 1;
			}
			run[nrun++] = c;
			continue;
		}
		if (nrun > 0) {
			e = put_run(b, run, nrun);
			nrun = 0;
		}
		if (e == KURA_OK)
			e = put_cp(b, c);
	}
	if (e == KURA_OK && nrun > 0)
		e = put_run(b, run, nrun);
	return e;
}

enum kura_err
kura_fts_body(const struct kura_object *o, const struct kura_colval *cols, size_t n,
	      struct kura_buf *out)
{
	enum kura_err e = KURA_OK;

	for (size_t i = 0; e == KURA_OK && i < n; i++) {
		const struct kura_prop *p = NULL;

		if (cols[i].v.kind != KURA_V_TEXT)
			continue;
		for (size_t j = 0; j < o->nprops; j++) {
			if (o->props[j]->row.id == cols[i].prop_id) {
				p = o->props[j];
				break;
			}
		}
		if (p == NULL || !p->searchable)
			continue;
		if (out->len > 0)
			e = kura_buf_append(out, "\n", 1);
		if (e == KURA_OK)
			e = put_text(out, cols[i].v.s, cols[i].v.n);
	}
	return e;
}

/* A phrase or prefix term, quoted for FTS5 (a '"' inside is doubled). */
static enum kura_err
put_quoted(struct kura_buf *b, const uint32_t *cps, size_t n, bool prefix)
{
	enum kura_err e = kura_buf_append(b, "\"", 1);

	for (size_t i = 0; e == KURA_OK && i < n; i++) {
		e = cps[i] == '"' ? kura_buf_append(b, "\"\"", 2) : put_cp(b, cps[i]);
	}
	if (e == KURA_OK)
		e = kura_buf_append(b, prefix ? "\"*" : "\"", prefix ? 2 : 1);
	return e;
}

/* Word characters outside CJK: letters, digits and anything not ASCII punctuation. */
static bool
is_word(uint32_t c)
{
	if (c < 0x80)
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	return !is_cjk(c) && !(c >= 0x3000 && c <= 0x303F);
}

enum kura_err
kura_fts_query(const char *q, struct kura_buf *out)
{
	uint32_t term[RUN_MAX], pairs[RUN_MAX * 3];
	size_t n = strlen(q), i = 0, nterm = 0, terms = 0;
	enum kura_err e = KURA_OK;
	bool cjk = false;
	uint32_t c;

	while (e == KURA_OK && i <= n) {
		bool end = i == n;
		bool w = false, k = false;

		c = 0;
		if (!end) {
			i = kura_utf8_next(q, n, i, &c);
			c = fold(c);
			k = is_cjk(c);
			w = !k && is_word(c);
		} else {
			i++;
		}
		/* A term ends at a separator or where CJK and other words meet. */
		if (nterm > 0 && ((!k && !w) || k != cjk || nterm == RUN_MAX)) {
			if (terms++ == QUERY_TERMS_MAX)
				return KURA_E_VALIDATION;
			if (out->len > 0)
				e = kura_buf_append(out, " AND ", 5);
			if (e == KURA_OK && cjk && nterm >= 2) {
				/* the phrase of pairs: "田中 中太" */
				size_t np = 0;

				for (size_t j = 0; j + 1 < nterm; j++) {
					if (j > 0)
						pairs[np++] = ' ';
					pairs[np++] = term[j];
					pairs[np++] = term[j + 1];
				}
				e = put_quoted(out, pairs, np, false);
			} else if (e == KURA_OK) {
				e = put_quoted(out, term, nterm, true);
			}
			nterm = 0;
		}
		if (k || w) {
			cjk = k;
			term[nterm++] = c;
		}
	}
	if (e == KURA_OK && out->len == 0)
		e = KURA_E_VALIDATION;
	return e;
}
