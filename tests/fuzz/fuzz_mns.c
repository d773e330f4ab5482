/*
 * fuzz_mns.c - the XML request bodies of the MNS-compatible queue API (src/api/mns.c):
 * SendMessage / BatchSendMessage, BatchDeleteMessage receipt handles and queue attributes,
 * plus the RFC 1123 date parser on the first line. The whole input is each body in turn.
 */
#include <string.h>

#include "api/mns.h"
#include "fuzz.h"

int fuzz_mns(const uint8_t *data, size_t size)
{
    fl_log_level = FL_LOG_ERROR + 1;
    char *xml = malloc(size ? size : 1); /* exact size: no terminator to lean on */
    if (size)
        memcpy(xml, data, size);
    fl_arena_t a;
    fl_arena_init(&a);
    char err[256];

    fl_mns_send_t *m = NULL;
    size_t n = 0;
    bool batch = false;
    err[0] = 0;
    int rc = fl_mns_parse_send(&a, xml, size, &m, &n, &batch, err, sizeof err);
    if (rc == FL_MNS_OK) {
        FUZZ_CHECK(n >= 1 && n <= FL_MNS_BATCH_MAX && (batch || n == 1), "%zu messages", n);
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(m[i].body != NULL, "message %zu has no body", i);
            FUZZ_CHECK(m[i].delay >= -1 && m[i].priority >= -1, "message %zu values", i);
        }
    } else {
        FUZZ_CHECK(rc == FL_MNS_EMALFORMED_XML || rc == FL_MNS_EINVALID_ARGUMENT, "rc %d", rc);
        FUZZ_CHECK(err[0] != 0, "send refused without a message");
    }

    char **handles = NULL;
    err[0] = 0;
    rc = fl_mns_parse_receipts(&a, xml, size, &handles, &n, err, sizeof err);
    if (rc == FL_MNS_OK) {
        FUZZ_CHECK(n >= 1 && n <= FL_MNS_BATCH_MAX, "%zu receipt handles", n);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(handles[i] != NULL, "receipt %zu is NULL", i);
    } else {
        FUZZ_CHECK(err[0] != 0, "receipts refused without a message");
    }

    fl_mns_attrs_t at;
    fl_mns_attrs_default(&at);
    err[0] = 0;
    rc = fl_mns_parse_attrs(xml, size, &at, err, sizeof err);
    if (rc == FL_MNS_OK)
        FUZZ_CHECK(at.polling_wait >= 0 && at.polling_wait <= FL_MNS_WAIT_MAX &&
                       at.visibility >= 1 && at.max_size >= 1024 && at.max_size <= 65536,
                   "attributes out of range");
    else
        FUZZ_CHECK(err[0] != 0, "attributes refused without a message");

    const uint8_t *nl = memchr(data, '\n', size);
    size_t dl = nl ? (size_t)(nl - data) : size;
    char *date = fl_arena_strndup(&a, (const char *)data, dl);
    int64_t ms;
    (void)fl_mns_parse_date(date, &ms);

    fl_arena_close(&a);
    free(xml);
    return 0;
}

#ifdef FL_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    return fuzz_mns(d, n);
}
#endif
