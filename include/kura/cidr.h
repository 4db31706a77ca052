/*
 * IP addresses and ranges in CIDR notation (base/cidr.c): the one matcher
 * behind API keys' address restrictions, tenants' IP allow-lists and the
 * server's trusted_proxies. IPv4-mapped IPv6 addresses ("::ffff:10.1.2.3",
 * which a dual-stack listener reports) count as the IPv4 address they are;
 * otherwise families never match each other.
 */
#ifndef KURA_CIDR_H
#define KURA_CIDR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * true when cidr is "address/length" (IPv4 or IPv6, length in range, no
 * bits set past it; "::ffff:a.b.c.d/n" with n >= 96 is the IPv4 range).
 */
bool kura_cidr_valid(const char *cidr);
/*
 * true when ip (text, as in struct kura_req) lies in one of the
 * comma-separated ranges of list. IPv4-mapped IPv6 addresses count as IPv4;
 * malformed entries and addresses match nothing.
 */
bool kura_cidr_list_match(const char *list, const char *ip);
/*
 * Parses the n bytes at s as one IPv4 or IPv6 address (no brackets, port,
 * zone or spaces) and writes its canonical text into out (size outn, at
 * least 46): lower-case, shortest IPv6 form, an IPv4-mapped IPv6 address as
 * plain IPv4. Returns false, with out set to "", when s is not an address or
 * outn is too small.
 */
bool kura_ip_canonical(const char *s, size_t n, char *out, size_t outn);

#endif
