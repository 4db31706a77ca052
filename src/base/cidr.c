/*
 * Address ranges in CIDR notation ("10.0.0.0/8", "2001:db8::/32"), for the
 * API keys' address restrictions, tenants' IP allow-lists and the server's
 * trusted proxies (here in base/ so that the settings can check them). IPv4 addresses written as IPv4-mapped IPv6
 * ("::ffff:10.1.2.3", which a dual-stack listener reports) are compared as
 * the IPv4 address they are, so a key limited to 10.0.0.0/8 works whichever
 * socket the client arrived on. Otherwise families never match each other.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kura/cidr.h"

/* Longest text of an address: full IPv6 with an embedded IPv4 part, plus NUL. */
#define ADDR_TEXT_MAX 46

struct addr {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t b[16];       /* 4 or 16 bytes used */
};

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses an address of n bytes of s; folds IPv4-mapped IPv6 into IPv4. */
static bool
parse_addr(const char *s, size_t n, struct addr *a)
{
	char buf[ADDR_TEXT_MAX];
	bool ok = false;

	memset(a, 0, sizeof(*a));
	if (n == 0 || n >= sizeof(buf))
		goto out;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, a->b) == 1) {
		a->family = AF_INET;
		ok = true;
		goto out;
	}
	if (inet_pton(AF_INET6, buf, a->b) != 1)
		goto out;
	a->family = AF_INET6;
	if (memcmp(a->b, v4_mapped, sizeof(v4_mapped)) == 0) {
		memmove(a->b, a->b + 12, 4);
		memset(a->b + 4, 0, 12);
		a->family = AF_INET;
	}
	ok = true;
out:
	return ok;
}

/* Decimal prefix length of exactly n digits, at most max; -1 when not. */
static int
parse_prefix(const char *s, size_t n, int max)
{
	int v = 0;

	if (n == 0 || n > 3)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	/* "08" is refused: one spelling per range. */
	if (n > 1 && s[0] == '0')
		return -1;
	return v <= max ? v : -1;
}

/* true when the first bits of a and b are equal. */
static bool
prefix_equal(const uint8_t *a, const uint8_t *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;
	uint8_t mask;

	if (memcmp(a, b, (size_t)whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/* Parses "addr/len" of n bytes; host bits must be zero. */
static bool
parse_cidr(const char *s, size_t n, struct addr *net, int *bits)
{
	const char *slash = memchr(s, '/', n);
	bool mapped;
	int max;

	*bits = -1;
	if (slash == NULL)
		return false;
	/* Remember whether the text was IPv6, so "::ffff:10.0.0.0/104" maps to /8. */
	mapped = memchr(s, ':', (size_t)(slash - s)) != NULL;
	if (!parse_addr(s, (size_t)(slash - s), net))
		return false;
	max = mapped ? 128 : 32;
	*bits = parse_prefix(slash + 1, n - (size_t)(slash - s) - 1, max);
	if (*bits < 0)
		return false;
	if (mapped && net->family == AF_INET) {
		/* An IPv4-mapped range must not reach outside ::ffff:0:0/96. */
		if (*bits < 96) {
			*bits = -1;
			return false;
		}
		*bits -= 96;
	}
	/* Bits past the prefix must be zero: "10.1.2.3/8" is more likely a typo than meant. */
	for (int i = *bits; i < (net->family == AF_INET ? 32 : 128); i++) {
		if ((net->b[i / 8] >> (7 - i % 8)) & 1) {
			*bits = -1;
			return false;
		}
	}
	return true;
}

bool
kura_cidr_valid(const char *cidr)
{
	struct addr net;
	int bits;

	if (cidr == NULL)
		return false;
	return parse_cidr(cidr, strlen(cidr), &net, &bits);
}

bool
kura_cidr_list_match(const char *list, const char *ip)
{
	struct addr a, net;
	const char *p, *end;
	int bits;

	if (list == NULL || ip == NULL || !parse_addr(ip, strlen(ip), &a))
		return false;
	p = list;
	while (*p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		if (parse_cidr(p, (size_t)(end - p), &net, &bits) && net.family == a.family &&
		    prefix_equal(net.b, a.b, bits))
			return true;
		p = *end == ',' ? end + 1 : end;
	}
	return false;
}

bool
kura_ip_canonical(const char *s, size_t n, char *out, size_t outn)
{
	struct addr a;
	bool ok = false;

	if (out == NULL || outn == 0)
		return false;
	out[0] = '\0';
	if (s == NULL || outn < ADDR_TEXT_MAX || !parse_addr(s, n, &a))
		goto out;
	ok = inet_ntop(a.family, a.b, out, (socklen_t)outn) != NULL;
	if (!ok)
		out[0] = '\0';
out:
	return ok;
}
