/*
 * test_mns.c - the MNS-compatible queue API (src/api/mns.c): the string-to-sign and
 * signature against a vector computed independently (Python hmac, recorded below), RFC 1123
 * dates, the XML body parsers with hostile input (DTDs, entities, external references, deep
 * nesting, malformed text), the receipt-handle lifecycle against a temporary SQLite store,
 * and whole requests through fl_mns_handle() with a fake connection.
 */
#include <dirent.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api/mns.h"
#include "fixture.h"
#include "test.h"

/* ---------------------------------------------------------------------------------------- */
/* Signatures                                                                               */
/* ---------------------------------------------------------------------------------------- */

/* Computed once with Python:
 *   sts = "POST\nZThk...ZDY=\ntext/xml\nThu, 17 Mar 2016 08:44:25 GMT\n"
 *         "x-mns-date:Thu, 17 Mar 2016 08:44:25 GMT\nx-mns-prefix:ab\nx-mns-version:2015-06-06\n"
 *         "/queues/q-1/messages?waitseconds=3"
 *   base64.b64encode(hmac.new(b"sEcReT+/=key", sts.encode(), hashlib.sha1).digest())
 *   -> "pYunpfL/E+wtz8WFmEeENrZJdsk=" */
TEST(mns_string_to_sign_vector)
{
    /* Unsorted, mixed-case names; non-x-mns headers must not count. */
    fl_kv_t h[] = {
        {"X-MNS-Version", "2015-06-06"},
        {"Host", "123.mns.cn-hangzhou.aliyuncs.com"},
        {"x-mns-prefix", "ab"},
        {"Content-Length", "120"},
        {"x-mns-date", "Thu, 17 Mar 2016 08:44:25 GMT"},
        {"x-acs-version", "2019-03-15"},
    };
    fl_buf_t b;
    fl_buf_init(&b);
    fl_mns_string_to_sign("POST", "ZThkYzFmMmQ2ZjE4ZjVmZmU2ZTk0MzEzNzI0YmRkZDY=", "text/xml",
                          "Thu, 17 Mar 2016 08:44:25 GMT", h, FL_ARRAY_LEN(h),
                          "/queues/q-1/messages?waitseconds=3", &b);
    ASSERT_STR_EQ(b.data, "POST\nZThkYzFmMmQ2ZjE4ZjVmZmU2ZTk0MzEzNzI0YmRkZDY=\ntext/xml\n"
                          "Thu, 17 Mar 2016 08:44:25 GMT\n"
                          "x-mns-date:Thu, 17 Mar 2016 08:44:25 GMT\nx-mns-prefix:ab\n"
                          "x-mns-version:2015-06-06\n/queues/q-1/messages?waitseconds=3");
    char sig[29];
    fl_mns_sign("sEcReT+/=key", b.data, b.len, sig);
    ASSERT_STR_EQ(sig, "pYunpfL/E+wtz8WFmEeENrZJdsk=");
    fl_mns_sign("sEcReT+/=kez", b.data, b.len, sig);
    ASSERT(strcmp(sig, "pYunpfL/E+wtz8WFmEeENrZJdsk=") != 0);
    fl_buf_free(&b);

    /* A GET has empty Content-MD5 and Content-Type lines, and no x-mns headers is fine. */
    fl_buf_init(&b);
    fl_mns_string_to_sign("GET", NULL, NULL, "D", NULL, 0, "/queues", &b);
    ASSERT_STR_EQ(b.data, "GET\n\n\nD\n/queues");
    fl_buf_free(&b);
    LEAK_CHECK();
}

TEST(mns_parse_date)
{
    int64_t ms = 0;
    ASSERT_OK(fl_mns_parse_date("Thu, 17 Mar 2016 08:44:25 GMT", &ms));
    ASSERT_EQ(ms, 1458204265000LL);
    ASSERT_OK(fl_mns_parse_date("Sat, 01 Jan 2000 00:00:00 GMT", &ms));
    ASSERT_EQ(ms, 946684800000LL);
    const char *bad[] = {"", "2016-03-17T08:44:25Z", "Thu, 17 Mar 2016 08:44:25",
                         "Thu, 17 Foo 2016 08:44:25 GMT", "Thu, 17 Mar 2016 25:44:25 GMT",
                         "Thu, 17 Mar 2016 08:44:25 GMT extra", "Thu, 32 Mar 2016 08:44:25 GMT"};
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++)
        ASSERT(fl_mns_parse_date(bad[i], &ms) != FL_OK);
    ASSERT(fl_mns_parse_date(NULL, &ms) != FL_OK);
}

TEST(mns_error_table)
{
    ASSERT_STR_EQ(fl_mns_err_code(FL_MNS_EQUEUE_NOT_EXIST), "QueueNotExist");
    ASSERT_EQ(fl_mns_err_status(FL_MNS_EQUEUE_NOT_EXIST), 404);
    ASSERT_EQ(fl_mns_err_status(FL_MNS_EMESSAGE_NOT_EXIST), 404);
    ASSERT_EQ(fl_mns_err_status(FL_MNS_ERECEIPT_HANDLE_ERROR), 400);
    ASSERT_EQ(fl_mns_err_status(FL_MNS_ESIGNATURE_DOES_NOT_MATCH), 403);
    ASSERT_EQ(fl_mns_err_status(FL_MNS_EQUEUE_ALREADY_EXIST), 409);
    ASSERT_STR_EQ(fl_mns_err_code(-5), "InternalError");
    ASSERT_EQ(fl_mns_err_status(9999), 500);
}

/* ---------------------------------------------------------------------------------------- */
/* XML parsing                                                                              */
/* ---------------------------------------------------------------------------------------- */

static int parse_send(fl_arena_t *a, const char *xml, fl_mns_send_t **m, size_t *n, bool *batch,
                      char *err)
{
    return fl_mns_parse_send(a, xml, strlen(xml), m, n, batch, err, 256);
}

TEST(mns_parse_send_one)
{
    fl_arena_t a;
    fl_arena_init(&a);
    fl_mns_send_t *m;
    size_t n;
    bool batch;
    char err[256] = "";
    ASSERT_OK(parse_send(&a,
                         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                         "<Message xmlns=\"http://mns.aliyuncs.com/doc/v1/\">"
                         "<MessageBody>a &lt;b&gt; &amp; &#x4E2D; <![CDATA[<raw>]]>\r\nz</MessageBody>"
                         "<DelaySeconds> 5 </DelaySeconds><Priority>1</Priority>"
                         "<!-- note --><Unknown>ignored</Unknown></Message>",
                         &m, &n, &batch, err));
    ASSERT_EQ(n, 1);
    ASSERT(!batch);
    ASSERT_STR_EQ(m[0].body, "a <b> & \xE4\xB8\xAD <raw>\nz");
    ASSERT_EQ(m[0].body_len, strlen(m[0].body));
    ASSERT_EQ(m[0].delay, 5);
    ASSERT_EQ(m[0].priority, 1);

    /* Without a namespace and without the optional elements. */
    ASSERT_OK(parse_send(&a, "<Message><MessageBody>x</MessageBody></Message>", &m, &n, &batch,
                         err));
    ASSERT_EQ(m[0].delay, -1);
    ASSERT_EQ(m[0].priority, -1);
    fl_arena_close(&a);
    LEAK_CHECK();
}

TEST(mns_parse_send_batch)
{
    fl_arena_t a;
    fl_arena_init(&a);
    fl_mns_send_t *m;
    size_t n;
    bool batch;
    char err[256] = "";
    ASSERT_OK(parse_send(&a,
                         "<Messages xmlns=\"http://mns.aliyuncs.com/doc/v1/\">\n"
                         "  <Message><MessageBody>one</MessageBody></Message>\n"
                         "  <Message><MessageBody>two</MessageBody><Priority>16</Priority>"
                         "</Message>\n</Messages>",
                         &m, &n, &batch, err));
    ASSERT(batch);
    ASSERT_EQ(n, 2);
    ASSERT_STR_EQ(m[0].body, "one");
    ASSERT_STR_EQ(m[1].body, "two");
    ASSERT_EQ(m[1].priority, 16);

    fl_buf_t b;
    fl_buf_init(&b);
    fl_buf_puts(&b, "<Messages>");
    for (int i = 0; i < 17; i++)
        fl_buf_puts(&b, "<Message><MessageBody>m</MessageBody></Message>");
    fl_buf_puts(&b, "</Messages>");
    ASSERT_EQ(parse_send(&a, b.data, &m, &n, &batch, err), FL_MNS_EINVALID_ARGUMENT);
    ASSERT_CONTAINS(err, "between 1 and 16");
    fl_buf_free(&b);
    ASSERT_EQ(parse_send(&a, "<Messages></Messages>", &m, &n, &batch, err),
              FL_MNS_EINVALID_ARGUMENT);
    ASSERT_EQ(parse_send(&a, "<Messages><Msg/></Messages>", &m, &n, &batch, err),
              FL_MNS_EINVALID_ARGUMENT);
    ASSERT_EQ(parse_send(&a, "<Messages>text<Message><MessageBody>m</MessageBody></Message>"
                             "</Messages>", &m, &n, &batch, err),
              FL_MNS_EINVALID_ARGUMENT);
    fl_arena_close(&a);
    LEAK_CHECK();
}

TEST(mns_parse_send_invalid_values)
{
    fl_arena_t a;
    fl_arena_init(&a);
    fl_mns_send_t *m;
    size_t n;
    bool batch;
    char err[256];
    const char *bad[] = {
        "<Message><Priority>1</Priority></Message>",                              /* no body */
        "<Message><MessageBody>x</MessageBody><Priority>0</Priority></Message>",
        "<Message><MessageBody>x</MessageBody><Priority>17</Priority></Message>",
        "<Message><MessageBody>x</MessageBody><Priority>1x</Priority></Message>",
        "<Message><MessageBody>x</MessageBody><DelaySeconds>-1</DelaySeconds></Message>",
        "<Message><MessageBody>x</MessageBody><DelaySeconds>604801</DelaySeconds></Message>",
        "<Message><MessageBody>x</MessageBody><DelaySeconds></DelaySeconds></Message>",
        "<Message><MessageBody>x</MessageBody><DelaySeconds>99999999999999999999</DelaySeconds>"
        "</Message>",
        "<Message><MessageBody>a<b>c</b></MessageBody></Message>",    /* element in a leaf */
        "<Message><MessageBody>a</MessageBody><MessageBody>b</MessageBody></Message>",
        "<Queue><MessageBody>x</MessageBody></Queue>",                /* wrong root */
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
        err[0] = 0;
        int rc = parse_send(&a, bad[i], &m, &n, &batch, err);
        if (rc != FL_MNS_EINVALID_ARGUMENT)
            FAIL_AT("case %zu: rc %d (%s)", i, rc, err);
        ASSERT(err[0] != 0);
    }
    fl_arena_close(&a);
    LEAK_CHECK();
}

TEST(mns_parse_hostile)
{
    fl_arena_t a;
    fl_arena_init(&a);
    fl_mns_send_t *m = NULL;
    size_t n = 0;
    bool batch;
    char err[256];
    /* Billion laughs: refused at the DOCTYPE, before any entity is declared. */
    const char *laughs =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
        "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
        "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
        "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
        "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
        "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
        "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">]>"
        "<Message><MessageBody>&lol9;</MessageBody></Message>";
    ASSERT_EQ(parse_send(&a, laughs, &m, &n, &batch, err), FL_MNS_EMALFORMED_XML);
    ASSERT_CONTAINS(err, "DTD");
    /* External entities (file and network). */
    ASSERT_EQ(parse_send(&a,
                         "<!DOCTYPE m [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                         "<Message><MessageBody>&x;</MessageBody></Message>",
                         &m, &n, &batch, err),
              FL_MNS_EMALFORMED_XML);
    ASSERT_EQ(parse_send(&a,
                         "<!DOCTYPE Message SYSTEM \"http://127.0.0.1:1/evil.dtd\">"
                         "<Message><MessageBody>x</MessageBody></Message>",
                         &m, &n, &batch, err),
              FL_MNS_EMALFORMED_XML);
    /* An undeclared entity is not well-formed. */
    ASSERT_EQ(parse_send(&a, "<Message><MessageBody>&x;</MessageBody></Message>", &m, &n,
                         &batch, err),
              FL_MNS_EMALFORMED_XML);
    /* Malformed, empty, truncated, binary, invalid character references. */
    const char *bad[] = {"<Message><MessageBody>x</MessageBody>", "<Message>", "not xml",
                         "<Message><MessageBody>x</Message></MessageBody>",
                         "<Message><MessageBody>&#1;</MessageBody></Message>",
                         "<Message><MessageBody>\xff\xfe</MessageBody></Message>", "  "};
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++)
        if (parse_send(&a, bad[i], &m, &n, &batch, err) != FL_MNS_EMALFORMED_XML)
            FAIL_AT("case %zu accepted", i);
    ASSERT_EQ(fl_mns_parse_send(&a, "", 0, &m, &n, &batch, err, sizeof err),
              FL_MNS_EMALFORMED_XML);
    /* An embedded NUL ends nothing early: the length is what counts, and NUL is not XML. */
    ASSERT_EQ(fl_mns_parse_send(&a, "<Message><MessageBody>a\0b</MessageBody></Message>", 49,
                                &m, &n, &batch, err, sizeof err),
              FL_MNS_EMALFORMED_XML);
    /* Nesting far past libxml2's default depth limit. */
    fl_buf_t b;
    fl_buf_init(&b);
    for (int i = 0; i < 20000; i++)
        fl_buf_puts(&b, "<a>");
    ASSERT_EQ(fl_mns_parse_send(&a, b.data, b.len, &m, &n, &batch, err, sizeof err),
              FL_MNS_EMALFORMED_XML);
    /* A large text node is read whole (the handler bounds bodies by max_body first). */
    fl_buf_reset(&b);
    fl_buf_puts(&b, "<Message><MessageBody>");
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 256; i++)
        fl_buf_append(&b, chunk, sizeof chunk);
    fl_buf_puts(&b, "</MessageBody></Message>");
    ASSERT_OK(fl_mns_parse_send(&a, b.data, b.len, &m, &n, &batch, err, sizeof err));
    ASSERT_EQ(m[0].body_len, 256 * 4096);
    fl_buf_free(&b);
    fl_arena_close(&a);
    LEAK_CHECK();
}

TEST(mns_parse_receipts)
{
    fl_arena_t a;
    fl_arena_init(&a);
    char **h;
    size_t n;
    char err[256];
    const char *ok = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                     "<ReceiptHandles xmlns=\"http://mns.aliyuncs.com/doc/v1/\">"
                     "<ReceiptHandle>1-aa</ReceiptHandle>\n"
                     "<ReceiptHandle>\n  1-bb  \n</ReceiptHandle></ReceiptHandles>";
    ASSERT_OK(fl_mns_parse_receipts(&a, ok, strlen(ok), &h, &n, err, sizeof err));
    ASSERT_EQ(n, 2);
    ASSERT_STR_EQ(h[0], "1-aa");
    ASSERT_STR_EQ(h[1], "1-bb");
    const char *bad[] = {"<ReceiptHandles/>", "<Handles><ReceiptHandle>x</ReceiptHandle></Handles>",
                         "<ReceiptHandles><X>1</X></ReceiptHandles>",
                         "<ReceiptHandles><ReceiptHandle><b/></ReceiptHandle></ReceiptHandles>"};
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++)
        ASSERT_EQ(fl_mns_parse_receipts(&a, bad[i], strlen(bad[i]), &h, &n, err, sizeof err),
                  FL_MNS_EINVALID_ARGUMENT);
    fl_buf_t b;
    fl_buf_init(&b);
    fl_buf_puts(&b, "<ReceiptHandles>");
    for (int i = 0; i < 17; i++)
        fl_buf_puts(&b, "<ReceiptHandle>h</ReceiptHandle>");
    fl_buf_puts(&b, "</ReceiptHandles>");
    ASSERT_EQ(fl_mns_parse_receipts(&a, b.data, b.len, &h, &n, err, sizeof err),
              FL_MNS_EINVALID_ARGUMENT);
    fl_buf_free(&b);
    const char *dtd = "<!DOCTYPE r [<!ENTITY e \"1-aa\">]><ReceiptHandles><ReceiptHandle>&e;"
                      "</ReceiptHandle></ReceiptHandles>";
    ASSERT_EQ(fl_mns_parse_receipts(&a, dtd, strlen(dtd), &h, &n, err, sizeof err),
              FL_MNS_EMALFORMED_XML);
    fl_arena_close(&a);
    LEAK_CHECK();
}

TEST(mns_parse_attrs)
{
    fl_mns_attrs_t at;
    char err[256];
    fl_mns_attrs_default(&at);
    ASSERT_EQ(at.visibility, 30);
    ASSERT_EQ(at.max_size, 65536);
    ASSERT_OK(fl_mns_parse_attrs("", 0, &at, err, sizeof err));
    ASSERT_OK(fl_mns_parse_attrs(" \n", 2, &at, err, sizeof err));
    ASSERT_EQ(at.visibility, 30);
    const char *x = "<Queue xmlns=\"http://mns.aliyuncs.com/doc/v1/\"><VisibilityTimeout>2"
                    "</VisibilityTimeout><MaximumMessageSize>1024</MaximumMessageSize>"
                    "<PollingWaitSeconds>30</PollingWaitSeconds><LoggingEnabled>True"
                    "</LoggingEnabled><QueueName>ignored</QueueName></Queue>";
    ASSERT_OK(fl_mns_parse_attrs(x, strlen(x), &at, err, sizeof err));
    ASSERT_EQ(at.visibility, 2);
    ASSERT_EQ(at.max_size, 1024);
    ASSERT_EQ(at.polling_wait, 30);
    ASSERT_EQ(at.logging, 1);
    ASSERT_EQ(at.delay, 0);
    const char *bad[] = {"<Queue><VisibilityTimeout>0</VisibilityTimeout></Queue>",
                         "<Queue><MaximumMessageSize>65537</MaximumMessageSize></Queue>",
                         "<Queue><PollingWaitSeconds>31</PollingWaitSeconds></Queue>",
                         "<Queue><MessageRetentionPeriod>59</MessageRetentionPeriod></Queue>",
                         "<Queue><LoggingEnabled>maybe</LoggingEnabled></Queue>",
                         "<Queue><DelaySeconds>1</DelaySeconds><DelaySeconds>1</DelaySeconds>"
                         "</Queue>",
                         "<Topic/>"};
    for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++)
        if (fl_mns_parse_attrs(bad[i], strlen(bad[i]), &at, err, sizeof err) !=
            FL_MNS_EINVALID_ARGUMENT)
            FAIL_AT("case %zu accepted", i);
    ASSERT_EQ(fl_mns_parse_attrs("<Queue>", 7, &at, err, sizeof err), FL_MNS_EMALFORMED_XML);
    LEAK_CHECK();
}

/* ---------------------------------------------------------------------------------------- */
/* Store fixture                                                                            */
/* ---------------------------------------------------------------------------------------- */


typedef struct {
    uint64_t account;
    const char *queue;
    const char *body;
    int64_t now_ms;
} seed_t;

static int job_seed(fl_db_t *db, void *arg)
{
    seed_t *s = arg;
    int rc = fl_db_queue_put(db, s->account, s->queue, "{\"VisibilityTimeout\":30}", false,
                             s->now_ms);
    int64_t id;
    if (!rc && s->body)
        rc = fl_db_msg_insert(db, s->account, s->queue, s->body, 8, s->now_ms,
                              s->now_ms + 86400000, s->now_ms, &id);
    return rc;
}

TEST(mns_receipt_lifecycle)
{
    fx_t f;
    fx_open(&f);
    fl_arena_t a;
    fl_arena_init(&a);
    const int64_t t = 1700000000000LL;
    seed_t s = {7, "jobs", "payload", t};
    ASSERT_OK(fl_store_write(f.st, job_seed, &s));

    fl_msg_row_t *rows;
    int n;
    /* First receive: handle R1, invisible for 1 s. */
    ASSERT_OK(fl_mns_receive(f.st, 7, "jobs", 16, 1000, t + 10, &a, &rows, &n));
    ASSERT_EQ(n, 1);
    char r1[FL_MNS_RECEIPT_LEN];
    snprintf(r1, sizeof r1, "%s", rows[0].receipt);
    ASSERT_EQ(strlen(r1), FL_MNS_RECEIPT_LEN - 1);
    ASSERT_STR_EQ(rows[0].body, "payload");
    ASSERT_EQ(rows[0].dequeue_count, 1);
    ASSERT_EQ(rows[0].first_dequeue_ms, t + 10);
    ASSERT_EQ(rows[0].visible_ms, t + 1010);

    /* Invisible meanwhile; another account sees no such queue. */
    ASSERT_OK(fl_mns_receive(f.st, 7, "jobs", 16, 1000, t + 500, &a, &rows, &n));
    ASSERT_EQ(n, 0);
    ASSERT_EQ(fl_mns_receive(f.st, 8, "jobs", 16, 1000, t + 500, &a, &rows, &n),
              FL_MNS_EQUEUE_NOT_EXIST);

    /* The timeout passes: redelivered with a new handle and DequeueCount 2. */
    ASSERT_OK(fl_mns_receive(f.st, 7, "jobs", 16, 1000, t + 1010, &a, &rows, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(rows[0].dequeue_count, 2);
    ASSERT_EQ(rows[0].first_dequeue_ms, t + 10);
    char r2[FL_MNS_RECEIPT_LEN];
    snprintf(r2, sizeof r2, "%s", rows[0].receipt);
    ASSERT(strcmp(r1, r2) != 0);

    /* The old handle is stale; a made-up one is not a handle at all. */
    ASSERT_EQ(fl_mns_delete(f.st, 7, "jobs", r1), FL_MNS_EMESSAGE_NOT_EXIST);
    ASSERT_EQ(fl_mns_delete(f.st, 7, "jobs", "garbage"), FL_MNS_ERECEIPT_HANDLE_ERROR);
    ASSERT_EQ(fl_mns_delete(f.st, 7, "jobs", "1-ZZ"), FL_MNS_ERECEIPT_HANDLE_ERROR);
    /* Another account cannot use the handle. */
    ASSERT_EQ(fl_mns_delete(f.st, 8, "jobs", r2), FL_MNS_EMESSAGE_NOT_EXIST);

    /* Changing visibility issues a third handle and retires the second. */
    char r3[FL_MNS_RECEIPT_LEN];
    int64_t vis = 0;
    ASSERT_OK(fl_mns_change_visibility(f.st, 7, "jobs", r2, 60000, t + 1100, r3, &vis));
    ASSERT_EQ(vis, t + 61100);
    ASSERT(strcmp(r3, r2) != 0);
    ASSERT_EQ(fl_mns_change_visibility(f.st, 7, "jobs", r2, 1000, t + 1100, r3 /* unused */, &vis),
              FL_MNS_EMESSAGE_NOT_EXIST);
    char r3b[FL_MNS_RECEIPT_LEN];
    snprintf(r3b, sizeof r3b, "%s", r3);
    ASSERT_OK(fl_mns_receive(f.st, 7, "jobs", 16, 1000, t + 30000, &a, &rows, &n));
    ASSERT_EQ(n, 0); /* still invisible: the change moved the time */
    ASSERT_EQ(fl_mns_delete(f.st, 7, "jobs", r2), FL_MNS_EMESSAGE_NOT_EXIST);

    /* Delete with the live handle, then once more. */
    ASSERT_OK(fl_mns_delete(f.st, 7, "jobs", r3b));
    ASSERT_EQ(fl_mns_delete(f.st, 7, "jobs", r3b), FL_MNS_EMESSAGE_NOT_EXIST);
    ASSERT_OK(fl_mns_receive(f.st, 7, "jobs", 16, 1000, t + 100000, &a, &rows, &n));
    ASSERT_EQ(n, 0);

    fl_arena_close(&a);
    fx_close(&f);
    LEAK_CHECK();
}

/* ---------------------------------------------------------------------------------------- */
/* Whole requests                                                                           */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    fl_kv_t h[16];
    size_t n;
} fake_conn_t;

static const char *fake_header(void *conn, const char *name)
{
    fake_conn_t *c = conn;
    for (size_t i = 0; i < c->n; i++)
        if (strcasecmp(c->h[i].key, name) == 0)
            return c->h[i].val;
    return NULL;
}

static void fake_each(void *conn, void (*fn)(void *, const char *, const char *), void *arg)
{
    fake_conn_t *c = conn;
    for (size_t i = 0; i < c->n; i++)
        fn(arg, c->h[i].key, c->h[i].val);
}

#define AK "LTAIunitMnsKey"
#define SECRET "unit+secret/="

typedef struct {
    fx_t f;
    fl_api_t api;
    char date[64];
} srv_t;

static void srv_open(srv_t *s)
{
    memset(s, 0, sizeof *s);
    fx_open(&s->f);
    s->api.store = s->f.st;
    s->api.keys = fl_keys_new();
    fl_keys_put(s->api.keys, AK, SECRET, 42, NULL, true);
    fl_keys_put(s->api.keys, "LTAIoff", "x", 42, NULL, false);
    fl_keys_put(s->api.keys, "LTAIother", "other", 43, NULL, true);
    s->api.region = "cn-hangzhou";
    s->api.max_body = 1 << 20;
    s->api.max_skew_ms = 15 * 60 * 1000;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void srv_close(srv_t *s)
{
    fl_keys_free(s->api.keys);
    fx_close(&s->f);
}

/* Sends one request signed with (ak, secret) at date; returns the status, body in *out. */
static int call(srv_t *s, const char *ak, const char *secret, const char *date,
                const char *method, const char *path, const char *query, const char *body,
                char **out)
{
    fake_conn_t c = {.n = 0};
    c.h[c.n++] = (fl_kv_t){"Host", "42.mns.cn-hangzhou.aliyuncs.com"};
    c.h[c.n++] = (fl_kv_t){"Date", date};
    c.h[c.n++] = (fl_kv_t){"x-mns-version", "2015-06-06"};
    c.h[c.n++] = (fl_kv_t){"X-Mns-Date", date};
    if (body)
        c.h[c.n++] = (fl_kv_t){"Content-Type", "text/xml"};
    fl_buf_t sts;
    fl_buf_init(&sts);
    char resource[512];
    snprintf(resource, sizeof resource, "%s%s%s", path, query && *query ? "?" : "",
             query ? query : "");
    fl_mns_string_to_sign(method, NULL, body ? "text/xml" : NULL, date, c.h, c.n, resource,
                          &sts);
    char sig[29];
    fl_mns_sign(secret, sts.data, sts.len, sig);
    fl_buf_free(&sts);
    char authz[256];
    snprintf(authz, sizeof authz, "MNS %s:%s", ak, sig);
    c.h[c.n++] = (fl_kv_t){"Authorization", authz};
    fl_http_req_t hr = {.method = method, .path = path, .raw_query = query ? query : "",
                        .body = body ? body : "", .body_len = body ? strlen(body) : 0,
                        .peer_ip = "127.0.0.1", .header = fake_header,
                        .each_header = fake_each, .conn = &c};
    fl_http_resp_t resp = {0};
    fl_mns_handle(&s->api, &hr, &resp);
    *out = resp.body;
    return resp.status;
}

/* Extracts the text of <name> from an XML reply (test helper; no nesting). */
static char *xml_get(const char *xml, const char *name, char *buf, size_t len)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", name);
    snprintf(close, sizeof close, "</%s>", name);
    const char *p = strstr(xml, open);
    const char *e = p ? strstr(p, close) : NULL;
    if (!p || !e)
        return NULL;
    p += strlen(open);
    snprintf(buf, len, "%.*s", (int)(e - p), p);
    return buf;
}

TEST(mns_handle_requests)
{
    srv_t s;
    srv_open(&s);
    char *b = NULL;
    char v[256];

    ASSERT_EQ(call(&s, AK, SECRET, s.date, "PUT", "/queues/q1", "",
                   "<Queue xmlns=\"" FL_MNS_NS "\"><VisibilityTimeout>5</VisibilityTimeout></Queue>",
                   &b), 201);
    ASSERT_STR_EQ(b, "");
    free(b);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "PUT", "/queues/q1", "",
                   "<Queue><VisibilityTimeout>5</VisibilityTimeout></Queue>", &b), 204);
    free(b);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "PUT", "/queues/q1", "", "<Queue/>", &b), 409);
    ASSERT_CONTAINS(b, "<Code>QueueAlreadyExist</Code>");
    free(b);

    ASSERT_EQ(call(&s, AK, SECRET, s.date, "POST", "/queues/q1/messages", "",
                   "<Message><MessageBody>hello</MessageBody></Message>", &b), 201);
    ASSERT_CONTAINS(b, "<MessageBodyMD5>5D41402ABC4B2A76B9719D911017C592</MessageBodyMD5>");
    free(b);

    /* Wrong secret, disabled key, skewed date, another account, no auth. */
    ASSERT_EQ(call(&s, AK, "wrong", s.date, "GET", "/queues/q1", "", NULL, &b), 403);
    ASSERT_CONTAINS(b, "<Code>SignatureDoesNotMatch</Code>");
    ASSERT_CONTAINS(b, "<RequestId>");
    ASSERT_CONTAINS(b, "<HostId>http://42.mns.cn-hangzhou.aliyuncs.com</HostId>");
    free(b);
    ASSERT_EQ(call(&s, "LTAIoff", "x", s.date, "GET", "/queues/q1", "", NULL, &b), 403);
    ASSERT_CONTAINS(b, "<Code>InvalidAccessKeyId</Code>");
    free(b);
    ASSERT_EQ(call(&s, AK, SECRET, "Thu, 17 Mar 2016 08:44:25 GMT", "GET", "/queues/q1", "",
                   NULL, &b), 408);
    ASSERT_CONTAINS(b, "<Code>TimeExpired</Code>");
    free(b);
    ASSERT_EQ(call(&s, "LTAIother", "other", s.date, "GET", "/queues/q1", "", NULL, &b), 404);
    ASSERT_CONTAINS(b, "<Code>QueueNotExist</Code>");
    free(b);

    /* Attributes and counts. */
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "GET", "/queues/q1", "", NULL, &b), 200);
    ASSERT_STR_EQ(xml_get(b, "VisibilityTimeout", v, sizeof v), "5");
    ASSERT_STR_EQ(xml_get(b, "ActiveMessages", v, sizeof v), "1");
    free(b);

    /* Peek, receive, change visibility, delete. */
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "GET", "/queues/q1/messages", "peekonly=true", NULL,
                   &b), 200);
    ASSERT(strstr(b, "ReceiptHandle") == NULL);
    free(b);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "GET", "/queues/q1/messages", "waitseconds=0", NULL,
                   &b), 200);
    ASSERT_STR_EQ(xml_get(b, "MessageBody", v, sizeof v), "hello");
    ASSERT_STR_EQ(xml_get(b, "DequeueCount", v, sizeof v), "1");
    char rh[64];
    ASSERT(xml_get(b, "ReceiptHandle", rh, sizeof rh));
    free(b);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "GET", "/queues/q1/messages", "", NULL, &b), 404);
    ASSERT_CONTAINS(b, "<Code>MessageNotExist</Code>");
    free(b);
    const char *badq[] = {"waitseconds=31", "waitseconds=-1", "waitseconds=+1",
                          "numOfMessages=0", "numOfMessages=17", "numOfMessages=1x",
                          "waitseconds=%zz"};
    for (size_t i = 0; i < FL_ARRAY_LEN(badq); i++) {
        int st = call(&s, AK, SECRET, s.date, "GET", "/queues/q1/messages", badq[i], NULL, &b);
        if (st != 400)
            FAIL_AT("%s: %d %s", badq[i], st, b);
        free(b);
    }
    char q[160];
    snprintf(q, sizeof q, "receiptHandle=%s&visibilityTimeout=10", rh);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "PUT", "/queues/q1/messages", q, NULL, &b), 200);
    char rh2[64];
    ASSERT(xml_get(b, "ReceiptHandle", rh2, sizeof rh2));
    ASSERT(strcmp(rh, rh2) != 0);
    free(b);
    snprintf(q, sizeof q, "ReceiptHandle=%s", rh);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "DELETE", "/queues/q1/messages", q, NULL, &b), 404);
    free(b);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "DELETE", "/queues/q1/messages", "ReceiptHandle=xyz",
                   NULL, &b), 400);
    ASSERT_CONTAINS(b, "<Code>ReceiptHandleError</Code>");
    free(b);
    snprintf(q, sizeof q, "ReceiptHandle=%s", rh2);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "DELETE", "/queues/q1/messages", q, NULL, &b), 204);
    free(b);

    /* A message over the queue's MaximumMessageSize. */
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "PUT", "/queues/q1", "metaoverride=true",
                   "<Queue><MaximumMessageSize>1024</MaximumMessageSize></Queue>", &b), 204);
    free(b);
    fl_buf_t big;
    fl_buf_init(&big);
    fl_buf_puts(&big, "<Message><MessageBody>");
    for (int i = 0; i < 1025; i++)
        fl_buf_putc(&big, 'x');
    fl_buf_puts(&big, "</MessageBody></Message>");
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "POST", "/queues/q1/messages", "", big.data, &b), 400);
    ASSERT_CONTAINS(b, "<Code>InvalidArgument</Code>");
    free(b);
    fl_buf_free(&big);

    /* Escaping on the way out: markup characters and CR survive a round trip. */
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "POST", "/queues/q1/messages", "",
                   "<Message><MessageBody>&lt;x a=\"1\"&gt;&amp;&#13;</MessageBody></Message>",
                   &b), 201);
    free(b);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "GET", "/queues/q1/messages", "", NULL, &b), 200);
    ASSERT_STR_EQ(xml_get(b, "MessageBody", v, sizeof v), "&lt;x a=&quot;1&quot;&gt;&amp;&#13;");
    free(b);

    /* List, unknown paths, delete. */
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "GET", "/queues", "", NULL, &b), 200);
    ASSERT_CONTAINS(b, "<QueueURL>http://42.mns.cn-hangzhou.aliyuncs.com/queues/q1</QueueURL>");
    free(b);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "GET", "/queues/q1/other", "", NULL, &b), 400);
    free(b);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "GET", "/queues/bad_name", "", NULL, &b), 400);
    free(b);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "DELETE", "/queues/q1", "", NULL, &b), 204);
    free(b);
    ASSERT_EQ(call(&s, AK, SECRET, s.date, "GET", "/queues/q1", "", NULL, &b), 404);
    free(b);

    srv_close(&s);
    LEAK_CHECK();
}

TEST(mns_handle_unsigned_and_oversized)
{
    srv_t s;
    srv_open(&s);
    fake_conn_t c = {.n = 0};
    c.h[c.n++] = (fl_kv_t){"Date", s.date};
    fl_http_req_t hr = {.method = "GET", .path = "/queues", .raw_query = "", .body = "",
                        .header = fake_header, .each_header = fake_each, .conn = &c};
    fl_http_resp_t resp = {0};
    fl_mns_handle(&s.api, &hr, &resp);
    ASSERT_EQ(resp.status, 400);
    ASSERT_CONTAINS(resp.body, "<Code>MissingAuthorizationHeader</Code>");
    ASSERT(resp.request_id[0] != 0);
    free(resp.body);

    c.h[c.n++] = (fl_kv_t){"Authorization", "MNS nocolon"};
    fl_mns_handle(&s.api, &hr, &resp);
    ASSERT_EQ(resp.status, 400);
    ASSERT_CONTAINS(resp.body, "<Code>InvalidAuthorizationHeader</Code>");
    free(resp.body);

    hr.body_too_large = true;
    fl_mns_handle(&s.api, &hr, &resp);
    ASSERT_EQ(resp.status, 400);
    ASSERT_CONTAINS(resp.body, "<Code>InvalidArgument</Code>");
    free(resp.body);

    /* A body over max_body is refused before it is parsed or even authenticated. */
    s.api.max_body = 64;
    char body[100];
    memset(body, 'x', sizeof body - 1);
    body[sizeof body - 1] = 0;
    hr = (fl_http_req_t){.method = "POST", .path = "/queues/q/messages", .raw_query = "",
                         .body = body, .body_len = strlen(body), .header = fake_header,
                         .each_header = fake_each, .conn = &c};
    fl_mns_handle(&s.api, &hr, &resp);
    ASSERT_EQ(resp.status, 400);
    ASSERT_CONTAINS(resp.body, "exceeds 64 bytes");
    free(resp.body);
    srv_close(&s);
    LEAK_CHECK();
}

TEST(mns_path_is)
{
    ASSERT(fl_mns_path_is("/queues"));
    ASSERT(fl_mns_path_is("/queues/"));
    ASSERT(fl_mns_path_is("/queues/a/messages"));
    ASSERT(!fl_mns_path_is("/"));
    ASSERT(!fl_mns_path_is("/queuesX"));
    ASSERT(!fl_mns_path_is("/topics/a"));
    ASSERT(!fl_mns_path_is(NULL));
}
