/*
 * libFuzzer entry point for search requests: the work is in
 * search_target.c, which the unit tests also run over the seed corpus.
 * Build with -Dfuzz=true (clang); tests/fuzz/run.sh does it all.
 */
#include <stddef.h>
#include <stdint.h>

#include "search_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return kura_fuzz_search_one(data, size);
}
