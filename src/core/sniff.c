/*
 * What an uploaded file is, from its first bytes, never from its name or
 * the type its sender declared: attachments are accepted only for the
 * types of an allow-list (documents, images, plain text), and the declared
 * type, when one is given, must agree with what the content is.
 */
#include <string.h>

#include "kura/core.h"
#include "kura/text.h"

#define OOXML_DOCX "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
#define OOXML_XLSX "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#define OOXML_PPTX "application/vnd.openxmlformats-officedocument.presentationml.presentation"

static bool
starts(const uint8_t *d, size_t n, const void *magic, size_t m)
{
	return n >= m && memcmp(d, magic, m) == 0;
}

/* UTF-8 text without NUL or control characters other than tab and line ends. */
static bool
is_text(const uint8_t *d, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp = 0;
		size_t next = kura_utf8_next((const char *)d, n, i, &cp);

		if (cp == 0xFFFD && next - i != 3)
			return false;
		if (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r')
			return false;
		if (cp == 0x7F)
			return false;
		i = next;
	}
	return true;
}

static bool
utf8_ok(const uint8_t *d, size_t n)
{
	/* kura_utf8_next trusts its input: check the encoding first. */
	for (size_t i = 0; i < n;) {
		uint8_t c = d[i];
		size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
			   : (c & 0xF8) == 0xF0 ? 4 : 0;

		if (len == 0 || (len == 2 && c < 0xC2) || i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((d[i + k] & 0xC0) != 0x80)
				return false;
		}
		i += len;
	}
	return true;
}

const char *
kura_sniff(const uint8_t *d, size_t n, const char *declared)
{
	static const uint8_t png[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
	static const uint8_t jpeg[] = {0xFF, 0xD8, 0xFF};
	static const uint8_t zip[] = {'P', 'K', 0x03, 0x04};
	bool any = declared == NULL || declared[0] == '\0' ||
		   strcmp(declared, "application/octet-stream") == 0;

	if (starts(d, n, "%PDF-", 5))
		return "application/pdf";
	if (starts(d, n, png, sizeof(png)))
		return "image/png";
	if (starts(d, n, jpeg, sizeof(jpeg)))
		return "image/jpeg";
	if (starts(d, n, "GIF87a", 6) || starts(d, n, "GIF89a", 6))
		return "image/gif";
	if (n >= 12 && starts(d, n, "RIFF", 4) && memcmp(d + 8, "WEBP", 4) == 0)
		return "image/webp";
	/* An Office Open XML file is a zip whose type only its sender can tell. */
	if (starts(d, n, zip, sizeof(zip)) && !any &&
	    memmem(d, n < 4096 ? n : 4096, "[Content_Types].xml", 19) != NULL &&
	    (strcmp(declared, OOXML_DOCX) == 0 || strcmp(declared, OOXML_XLSX) == 0 ||
	     strcmp(declared, OOXML_PPTX) == 0))
		return declared;
	if (n > 0 && utf8_ok(d, n) && is_text(d, n))
		return !any && strcmp(declared, "text/csv") == 0 ? "text/csv" : "text/plain";
	return NULL;
}
