/*
 * mns.h - flowd's MNS-compatible queue API (x-mns-version 2015-06-06): the REST paths under
 * /queues, signed with "Authorization: MNS <AccessKeyId>:<signature>", XML in and out. The
 * queues live in the store (store.h "queues"), so messages survive restarts; the account is
 * the signing key's, whatever account id the host name carries.
 *
 * MNS has its own wire codes (SignatureDoesNotMatch, QueueNotExist, ...) that differ from
 * CloudFlow's, so this module keeps a second, small error table (FL_MNS_ERR_MAP) and shapes
 * its own XML error bodies; everything CloudFlow-shaped stays in reply.c.
 *
 * Threading: fl_mns_handle() runs on many connection threads at once; a long poll blocks
 * its thread for at most 30 s (fl_mns_interrupt() ends every poll early at shutdown).
 */
#ifndef FL_MNS_H
#define FL_MNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

/* X(NAME, http_status, "Code", "default message") */
#define FL_MNS_ERR_MAP(X)                                                                      \
    X(ACCESS_DENIED, 403, "AccessDenied",                                                     \
      "The OwnerId that your Access Key Id associated to is forbidden for this operation.")    \
    X(INVALID_ACCESS_KEY_ID, 403, "InvalidAccessKeyId",                                       \
      "The AccessKey Id you provided is not exist.")                                          \
    X(SIGNATURE_DOES_NOT_MATCH, 403, "SignatureDoesNotMatch",                                 \
      "The http request you specified did not match with signature.")                         \
    X(TIME_EXPIRED, 408, "TimeExpired", "The http request you sent is expired.")              \
    X(MISSING_AUTHORIZATION_HEADER, 400, "MissingAuthorizationHeader",                        \
      "Authorization header is required.")                                                    \
    X(INVALID_AUTHORIZATION_HEADER, 400, "InvalidAuthorizationHeader",                        \
      "The Authorization header format is invalid.")                                          \
    X(MISSING_DATE_HEADER, 400, "MissingDateHeader", "Date header is required.")              \
    X(INVALID_DATE_HEADER, 400, "InvalidDateHeader", "The Date header format is invalid.")    \
    X(INVALID_DIGEST, 400, "InvalidDegist", "The Content-MD5 you specified is invalid.")      \
    X(INVALID_ARGUMENT, 400, "InvalidArgument", "The argument you provided is invalid.")      \
    X(MALFORMED_XML, 400, "MalformedXML", "The XML you provided was not well-formed.")        \
    X(INVALID_REQUEST_URL, 400, "InvalidRequestURL", "Http request URL format invalid.")      \
    X(INVALID_QUERY_STRING, 400, "InvalidQueryString",                                        \
      "Http request URL contains invalid querystring.")                                       \
    X(MISSING_RECEIPT_HANDLE, 400, "MissingReceiptHandle", "ReceiptHandle is required.")      \
    X(MISSING_VISIBILITY_TIMEOUT, 400, "MissingVisibilityTimeout",                            \
      "VisibilityTimeout is required.")                                                       \
    X(RECEIPT_HANDLE_ERROR, 400, "ReceiptHandleError",                                        \
      "The receipt handle you provide is not valid.")                                         \
    X(QUEUE_NOT_EXIST, 404, "QueueNotExist", "The queue name you provided is not exist.")     \
    X(MESSAGE_NOT_EXIST, 404, "MessageNotExist", "Message not exist.")                        \
    X(QUEUE_ALREADY_EXIST, 409, "QueueAlreadyExist",                                          \
      "The queue you want to create is already exist.")                                       \
    X(INTERNAL_ERROR, 500, "InternalError", "Internal error.")

/* FL_MNS_OK is 0 and the codes are positive, so they never collide with FL_E* (negative)
 * when a store job returns either. */
typedef enum {
    FL_MNS_OK = 0,
#define FL_MNS_ENUM(name, status, code, msg) FL_MNS_E##name,
    FL_MNS_ERR_MAP(FL_MNS_ENUM)
#undef FL_MNS_ENUM
    FL_MNS__END
} fl_mns_err_t;

const char *fl_mns_err_code(int err);   /* "QueueNotExist"; "InternalError" if unknown */
int fl_mns_err_status(int err);         /* HTTP status; 500 if unknown */
const char *fl_mns_err_message(int err);

#define FL_MNS_NS "http://mns.aliyuncs.com/doc/v1/"
#define FL_MNS_VERSION "2015-06-06"
#define FL_MNS_BATCH_MAX 16     /* messages or receipt handles in one batch request */
#define FL_MNS_WAIT_MAX 30      /* seconds of a long poll */
#define FL_MNS_RECEIPT_LEN 43   /* buffer for a receipt handle: "1-" + 40 hex + NUL */

/* Handles one request whose path starts with /queues. Never fails: errors become MNS XML
 * error replies. out->body is a heap string owned by the caller ("" for 204). */
void fl_mns_handle(fl_api_t *api, const fl_http_req_t *hr, fl_http_resp_t *out);
/* True when path is "/queues" or below it (the requests fl_mns_handle serves). */
bool fl_mns_path_is(const char *path);
/* on: wakes every long poll and makes polls return at once (shutdown); off: normal. */
void fl_mns_interrupt(bool on);

/* ---- request signatures ---- */

/* Appends the MNS string-to-sign to out: VERB "\n" Content-MD5 "\n" Content-Type "\n" Date
 * "\n", then every header of headers whose name starts with x-mns- (case-insensitive) as
 * "name:value\n" with the name lower-cased, sorted by name, then resource (path and raw
 * query as sent). NULL strings count as "". headers need not be sorted. */
void fl_mns_string_to_sign(const char *verb, const char *content_md5, const char *content_type,
                           const char *date, const fl_kv_t *headers, size_t n,
                           const char *resource, fl_buf_t *out);
/* base64(HMAC-SHA1(secret, sts)) into out (28 characters + NUL). */
void fl_mns_sign(const char *secret, const char *sts, size_t len, char out[29]);
/* Parses an RFC 1123 date ("Wed, 01 Jan 2025 00:00:00 GMT"); FL_OK or FL_EINVALID_ARGUMENT. */
int fl_mns_parse_date(const char *s, int64_t *ms /* OUT */);

/* ---- XML request bodies ---- */

/* Parsers accept elements with or without the MNS namespace, refuse any DTD (so no entity
 * can expand) and network access, and fill err with a reason. They return FL_MNS_OK,
 * FL_MNS_EMALFORMED_XML (not well-formed, DTD) or FL_MNS_EINVALID_ARGUMENT (wrong shape or
 * value). Results live in the arena. */

typedef struct {
    char *body;      /* MessageBody text, UTF-8 */
    size_t body_len; /* bytes */
    long delay;      /* DelaySeconds, -1 when not given */
    long priority;   /* Priority, -1 when not given */
} fl_mns_send_t;

/* <Message>..</Message> (one message) or <Messages><Message>..</Message>...</Messages>
 * (1 to 16; *batch is set). */
int fl_mns_parse_send(fl_arena_t *a, const char *xml, size_t len, fl_mns_send_t **msgs /* OUT */,
                      size_t *n /* OUT */, bool *batch /* OUT */, char *err, size_t errlen);
/* <ReceiptHandles><ReceiptHandle>..</ReceiptHandle>...</ReceiptHandles> (1 to 16). */
int fl_mns_parse_receipts(fl_arena_t *a, const char *xml, size_t len, char ***handles /* OUT */,
                          size_t *n /* OUT */, char *err, size_t errlen);

typedef struct {
    long delay;        /* DelaySeconds, s, 0..604800 */
    long max_size;     /* MaximumMessageSize, bytes, 1024..65536 */
    long retention;    /* MessageRetentionPeriod, s, 60..604800 */
    long visibility;   /* VisibilityTimeout, s, 1..43200 */
    long polling_wait; /* PollingWaitSeconds, s, 0..30 */
    long logging;      /* LoggingEnabled, 0 or 1 */
} fl_mns_attrs_t;

/* The attributes of a queue created without any. */
void fl_mns_attrs_default(fl_mns_attrs_t *out /* OUT */);
/* Applies the attributes in a <Queue> body to *attrs (those absent stay). An empty body
 * changes nothing. */
int fl_mns_parse_attrs(const char *xml, size_t len, fl_mns_attrs_t *attrs /* IN/OUT */,
                       char *err, size_t errlen);

/* ---- queue operations on the store (each a write job; used by the handler and tests) ---- */

/* Receives up to limit visible messages: each becomes invisible until now + visibility_ms
 * with a new receipt handle. The rows show the state after the receive. FL_MNS_OK (maybe
 * with *n = 0), FL_MNS_EQUEUE_NOT_EXIST or FL_MNS_EINTERNAL_ERROR. */
int fl_mns_receive(fl_store_t *st, uint64_t account, const char *queue, int limit,
                   int64_t visibility_ms, int64_t now_ms, fl_arena_t *a,
                   fl_msg_row_t **rows /* OUT */, int *n /* OUT */);
/* Deletes the message the receipt handle names. FL_MNS_EMESSAGE_NOT_EXIST when no message
 * carries that handle any more (deleted, or received again since), FL_MNS_ERECEIPT_HANDLE_ERROR
 * when it is not a handle flowd could have issued. */
int fl_mns_delete(fl_store_t *st, uint64_t account, const char *queue, const char *receipt);
/* Makes the message invisible until now + visibility_ms under a new handle (written to
 * receipt_out). Errors as fl_mns_delete. */
int fl_mns_change_visibility(fl_store_t *st, uint64_t account, const char *queue,
                             const char *receipt, int64_t visibility_ms, int64_t now_ms,
                             char receipt_out[FL_MNS_RECEIPT_LEN], int64_t *visible_ms /* OUT */);

#endif
