/* Serves docs/openapi.json (compiled in), which a unit test keeps true to the route table. */
#include "api_int.h"

extern const char kura_openapi_json[];
extern const size_t kura_openapi_json_len;

void
kura_api_openapi(struct kura_req *r)
{
	json_error_t jerr;
	json_t *doc = json_loadb(kura_openapi_json, kura_openapi_json_len, 0, &jerr);

	if (doc == NULL) {
		kura_reply_error(r, KURA_E_INTERNAL, NULL);
		return;
	}
	kura_reply_json(r, 200, doc);
}
