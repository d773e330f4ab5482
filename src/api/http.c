/*
 * http.c - glue between libmicrohttpd and the API. The URI log callback captures the raw
 * request target before the library decodes it, so query values are decoded exactly once
 * by params.c ('+' stays '+'). Bodies above the limit are answered at once when
 * Content-Length announces them, and otherwise discarded as they stream.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "mns.h"

/* Bytes of an oversized body we read and drop before closing the connection instead. */
#define DISCARD_LIMIT (16 * 1024 * 1024)

struct fl_http {
    struct MHD_Daemon *d;
    fl_api_t *api;
};

typedef struct {
    char *uri;
    fl_buf_t body;
    size_t seen; /* body bytes received, kept or not */
    bool too_big;
    bool started;
} conn_req_t;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    conn_req_t *r = xcalloc(1, sizeof *r);
    r->uri = xstrdup(uri ? uri : "/");
    fl_buf_init(&r->body);
    return r;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    conn_req_t *r = *con_cls;
    if (!r)
        return;
    free(r->uri);
    fl_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

static const char *header(void *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

typedef struct {
    void (*fn)(void *arg, const char *name, const char *val);
    void *arg;
} each_ctx_t;

static enum MHD_Result each_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    each_ctx_t *e = cls;
    if (key)
        e->fn(e->arg, key, value ? value : "");
    return MHD_YES;
}

static void each_header(void *conn, void (*fn)(void *arg, const char *name, const char *val),
                        void *arg)
{
    each_ctx_t e = {fn, arg};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, each_cb, &e);
}

/* Writes the client's address into buf ("" when unknown). */
static const char *peer_ip(struct MHD_Connection *c, char *buf, size_t len)
{
    buf[0] = 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return buf;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)len);
    return buf;
}

static enum MHD_Result reply(struct MHD_Connection *c, fl_http_resp_t *resp)
{
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(strlen(resp->body), resp->body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(mr, "Content-Type", "application/json;charset=utf-8");
    MHD_add_response_header(mr, "x-acs-request-id", resp->request_id);
    if (resp->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", resp->retry_after);
        MHD_add_response_header(mr, "Retry-After", ra);
        MHD_add_response_header(mr, "x-acs-retry-after", ra);
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* An MNS reply (mns.c): XML, x-mns-request-id and x-mns-version instead of the RPC headers. */
static enum MHD_Result reply_mns(struct MHD_Connection *c, fl_http_resp_t *resp)
{
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(strlen(resp->body), resp->body, MHD_RESPMEM_MUST_FREE);
    if (resp->body[0])
        MHD_add_response_header(mr, "Content-Type", "text/xml;charset=utf-8");
    MHD_add_response_header(mr, "x-mns-request-id", resp->request_id);
    MHD_add_response_header(mr, "x-mns-version", FL_MNS_VERSION);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* Requests under /queues go to the MNS-compatible queue API, everything else to the
 * CloudFlow RPC API. */
static enum MHD_Result serve(struct MHD_Connection *c, fl_api_t *api, const fl_http_req_t *hr)
{
    fl_http_resp_t resp = {0};
    if (fl_mns_path_is(hr->path)) {
        fl_mns_handle(api, hr, &resp);
        return reply_mns(c, &resp);
    }
    fl_api_handle(api, hr, &resp);
    return reply(c, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)url;
    (void)version;
    fl_http_t *h = cls;
    conn_req_t *r = *con_cls;
    if (!r) /* the URI callback always runs first; be safe anyway */
        return MHD_NO;
    if (!r->started) {
        r->started = true;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "content-length");
        if (cl && strtoull(cl, NULL, 10) > h->api->max_body) {
            /* Answer before reading the body; the library then closes the connection. */
            r->too_big = true;
            char ip[64];
            char *q = strchr(r->uri, '?');
            if (q)
                *q = 0;
            fl_http_req_t hr = {.method = method, .raw_query = "", .body_too_large = true,
                                .path = fl_mns_path_is(r->uri) ? r->uri : "/",
                                .header = header, .each_header = each_header, .conn = c,
                                .peer_ip = peer_ip(c, ip, sizeof ip)};
            return serve(c, h->api, &hr);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        r->seen += *upload_data_size;
        if (!r->too_big && r->body.len + *upload_data_size > h->api->max_body) {
            r->too_big = true;
            fl_buf_free(&r->body);
        }
        if (!r->too_big)
            fl_buf_append(&r->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return r->seen > DISCARD_LIMIT ? MHD_NO : MHD_YES;
    }
    if (r->too_big && r->seen <= h->api->max_body)
        return MHD_YES; /* the early answer is queued already */

    char *q = strchr(r->uri, '?');
    if (q)
        *q++ = 0;
    char ip[64];
    fl_http_req_t hr = {
        .peer_ip = peer_ip(c, ip, sizeof ip),
        .method = method,
        .path = r->uri,
        .raw_query = q ? q : "",
        .body = r->body.data ? r->body.data : "",
        .body_len = r->body.len,
        .body_too_large = r->too_big,
        .header = header,
        .each_header = each_header,
        .conn = c,
    };
    return serve(c, h->api, &hr);
}

int fl_http_start(fl_api_t *api, const char *host, int port, fl_http_t **out, int *port_out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int gai = getaddrinfo(host, ps, &hints, &ai);
    if (gai != 0 || !ai) {
        fl_error("http: cannot resolve listen address %s: %s", host, gai_strerror(gai));
        return FL_EINTERNAL;
    }
    fl_http_t *h = xcalloc(1, sizeof *h);
    h->api = api;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        fl_error("http: cannot listen on %s:%d", host, port);
        free(h);
        return FL_EINTERNAL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = info ? info->port : port;
    *out = h;
    return FL_OK;
}

void fl_http_stop(fl_http_t *h)
{
    if (!h)
        return;
    fl_mns_interrupt(true); /* long polls answer now instead of holding their threads */
    MHD_stop_daemon(h->d);
    fl_mns_interrupt(false);
    free(h);
}
