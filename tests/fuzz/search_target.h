/*
 * The body of the search-request fuzz target (tests/fuzz/search_target.c),
 * shared by the libFuzzer entry point (fuzz_search.c) and the unit test that
 * replays the seed corpus in every build (tests/unit/core/test_search.c).
 */
#ifndef KURA_TESTS_FUZZ_SEARCH_TARGET_H
#define KURA_TESTS_FUZZ_SEARCH_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "kura/core.h"

/*
 * Parses data as a request body (Kura's JSON limits), then as a search
 * request for the fixed object below, in both modes (full and filters
 * only); the bytes are also tried as a paging cursor. Aborts, after a line
 * on stderr, when a result breaks one of the parser's promises. Returns 0.
 */
int kura_fuzz_search_one(const uint8_t *data, size_t size);

/*
 * "contacts" (id 3): one property of each type, one sensitive ("taxNumber")
 * and one not indexed ("nickname"). Built on first use; read-only.
 */
const struct kura_object *kura_fuzz_search_object(void);
/* Frees the object (for leak checkers); the next use builds it again. */
void kura_fuzz_search_object_free(void);

#endif
