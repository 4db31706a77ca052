/*
 * The client's address behind reverse proxies: X-Forwarded-For, believed
 * only from a socket peer in trusted_proxies and read by the "rightmost
 * untrusted" rule. Each proxy appends the address it received the request
 * from, so the entries a client sends itself are always on the left of
 * the ones our proxies added: walking from the right and skipping our own
 * proxies, the first address that is not one of them is the last hop we
 * can vouch for. A client prepending a made-up address changes nothing.
 *
 * Anything unexpected on the way (an entry that is not a plain IPv4/IPv6
 * address, an empty entry, a chain longer than any real one) fails closed:
 * the socket peer stays the client. Forwarded (RFC 7239) is not read.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kura/cidr.h"
#include "kura/http.h"

/* More hops than any real chain of proxies; past this the header is refused. */
#define MAX_HOPS 64

static bool
blank(const char *a, const char *b)
{
	while (a < b && (*a == ' ' || *a == '\t'))
		a++;
	return a == b;
}

enum kura_client_source
kura_http_forwarded_client(const char *trusted, const char *peer, const char *xff, char *ip,
			   size_t n)
{
	enum kura_client_source src = KURA_CLIENT_PEER;
	char cand[64], last_trusted[64];
	const char *start, *end, *a, *b;
	unsigned hops = 0;

	if (ip == NULL || n == 0)
		return KURA_CLIENT_PEER;
	last_trusted[0] = '\0';
	if (trusted == NULL || trusted[0] == '\0' || peer == NULL || xff == NULL ||
	    blank(xff, xff + strlen(xff)))
		goto out;
	/* A peer we do not trust may say anything: its header is not read. */
	if (!kura_cidr_list_match(trusted, peer))
		goto out;
	end = xff + strlen(xff);
	for (;;) {
		start = end;
		while (start > xff && start[-1] != ',')
			start--;
		a = start;
		b = end;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (++hops > MAX_HOPS || !kura_ip_canonical(a, (size_t)(b - a), cand, sizeof(cand))) {
			src = KURA_CLIENT_BAD_FORWARD;
			goto out;
		}
		if (!kura_cidr_list_match(trusted, cand)) {
			snprintf(ip, n, "%s", cand);
			src = KURA_CLIENT_FORWARDED;
			goto out;
		}
		snprintf(last_trusted, sizeof(last_trusted), "%s", cand);
		if (start == xff)
			break;
		end = start - 1;
	}
	/*
	 * Every hop is one of our proxies: the request began at the leftmost
	 * (a client inside a trusted range); it is still the best we know.
	 */
	snprintf(ip, n, "%s", last_trusted);
	src = KURA_CLIENT_FORWARDED;
out:
	if (src != KURA_CLIENT_FORWARDED)
		snprintf(ip, n, "%s", peer != NULL ? peer : "-");
	return src;
}
