/*
 * client.c - flowctl's HTTP side: builds the signed CloudFlow request and sends it with
 * the libcurl easy interface (one request per process, 30 s timeout), then parses the
 * reply and reports error replies the same way for every command.
 *
 * V1 mirrors @alicloud/pop-core: every parameter, common ones and Signature included, goes
 * in a form body for POST or in the query string for GET, keys sorted, Signature last.
 * V3 puts the action parameters in the query string, sends an empty body and signs host
 * plus the x-acs-* headers. The Host header is set explicitly to the signed value so the
 * server always sees what was signed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/cli.h"

/* Read-only actions that the official SDK sends with GET (the CloudFlow API reference section 1),
 * then flowd's own account-administration List* actions (flowctl admin). */
static const char *const get_actions[] = {
    "DescribeExecution", "DescribeFlow",     "DescribeFlowAlias", "DescribeMapRun",
    "DescribeSchedule",  "GetExecutionHistory", "ListExecutions",  "ListFlowAliases",
    "ListFlowVersions",  "ListFlows",        "ListSchedules",     "UpdateMapRun",
    "ListAccounts",      "ListUsers",        "ListAccessKeys",    "ListPolicies",
};

/* See cli.h. */
bool fl_cli_action_is_get(const char *action)
{
    for (size_t i = 0; i < FL_ARRAY_LEN(get_actions); i++)
        if (strcmp(action, get_actions[i]) == 0)
            return true;
    return false;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    fl_buf_append(ud, p, size * nmemb);
    return size * nmemb;
}

static void nonce_hex(char out[33])
{
    unsigned char r[16];
    fl_rand_bytes(r, sizeof r);
    fl_hex(r, sizeof r, out);
}

/* Parameters of one request: the caller's (borrowed) plus the common ones (static or
 * owned by the request builder). A caller parameter replaces a common one of the same
 * name, which lets tests send, say, another Version on purpose. */
typedef struct {
    fl_kv_t *kv;
    size_t n;
} kv_list_t;

static void kv_set(kv_list_t *l, const char *key, const char *val)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->kv[i].key, key) == 0) {
            l->kv[i].val = val;
            return;
        }
    }
    l->kv = xrealloc(l->kv, (l->n + 1) * sizeof *l->kv);
    l->kv[l->n].key = key;
    l->kv[l->n].val = val;
    l->n++;
}

static struct curl_slist *add_raw(struct curl_slist *h, const char *line, bool *ok)
{
    struct curl_slist *n = curl_slist_append(h, line);
    if (!n) {
        *ok = false;
        return h;
    }
    return n;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *name, const char *val,
                                     bool *ok)
{
    fl_buf_t b;
    fl_buf_init(&b);
    fl_buf_printf(&b, "%s: %s", name, val);
    h = add_raw(h, b.data, ok);
    fl_buf_free(&b);
    return h;
}

/* Splits the endpoint into what the request needs: the base URL handle (path forced to end
 * in '/'), the path and the Host header value exactly as curl would send it (host, plus
 * ":port" unless the port is the scheme's default). */
static int parse_endpoint(const char *endpoint, CURLU **u_out, char **path_out, char **host_out,
                          char *err, size_t errlen)
{
    int rc = FL_EUNAVAILABLE;
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *path = NULL;
    fl_buf_t b;
    fl_buf_init(&b);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!strstr(endpoint, "://"))
        fl_buf_puts(&b, "http://");
    fl_buf_puts(&b, endpoint);
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, b.data, 0);
    if (uc != CURLUE_OK) {
        snprintf(err, errlen, "bad endpoint '%s': %s", endpoint, curl_url_strerror(uc));
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host) {
        snprintf(err, errlen, "bad endpoint '%s': no host", endpoint);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT) != CURLUE_OK)
        port = NULL;
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        path = NULL;

    fl_buf_reset(&b);
    fl_buf_puts(&b, path ? path : "/");
    if (b.len == 0 || b.data[b.len - 1] != '/')
        fl_buf_putc(&b, '/');
    *path_out = fl_buf_take(&b);
    if (curl_url_set(u, CURLUPART_PATH, *path_out, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK) {
        snprintf(err, errlen, "bad endpoint '%s'", endpoint);
        free(*path_out);
        *path_out = NULL;
        goto out;
    }
    fl_buf_puts(&b, host);
    if (port)
        fl_buf_printf(&b, ":%s", port);
    *host_out = fl_buf_take(&b);
    *u_out = u;
    u = NULL;
    rc = FL_OK;
out:
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    fl_buf_free(&b);
    return rc;
}

/* See cli.h. */
int fl_cli_call(const fl_cli_req_t *rq, fl_buf_t *body /* OUT */, long *status /* OUT */,
                char *err, size_t errlen)
{
    int rc = FL_EUNAVAILABLE;
    CURL *c = NULL;
    CURLU *u = NULL;
    struct curl_slist *hdrs = NULL;
    char *path = NULL, *host = NULL, *base = NULL;
    const char *url = NULL;
    kv_list_t all = {NULL, 0};
    fl_buf_t query, form, text, text_url;
    fl_buf_init(&text_url);
    fl_buf_init(&query);
    fl_buf_init(&form);
    fl_buf_init(&text);
    char date[32], nonce[33], errbuf[CURL_ERROR_SIZE] = "";
    bool ok = true;
    bool post = strcmp(rq->method, "POST") == 0;

    err[0] = 0;
    if (parse_endpoint(rq->endpoint, &u, &path, &host, err, errlen) != FL_OK)
        goto out;
    fl_time_iso_sec(fl_now_ms(), date);
    nonce_hex(nonce);

    hdrs = add_header(hdrs, "x-acs-action", rq->action, &ok);
    hdrs = add_header(hdrs, "x-acs-version", FL_CLI_API_VERSION, &ok);
    hdrs = add_header(hdrs, "Accept", "application/json", &ok);
    /* curl would wait for "100 Continue" before sending a large body; flowd does not need it.
     * A header with nothing after the colon removes curl's own. */
    hdrs = add_raw(hdrs, "Expect:", &ok);

    if (!rq->v3) {
        /* Common parameters first so that a caller parameter of the same name wins. */
        kv_set(&all, "Format", "JSON");
        kv_set(&all, "Version", FL_CLI_API_VERSION);
        kv_set(&all, "Timestamp", date);
        kv_set(&all, "SignatureMethod", "HMAC-SHA1");
        kv_set(&all, "SignatureVersion", "1.0");
        kv_set(&all, "SignatureNonce", nonce);
        kv_set(&all, "AccessKeyId", rq->ak_id);
        kv_set(&all, "Action", rq->action);
        for (size_t i = 0; i < rq->n_params; i++)
            kv_set(&all, rq->params[i].key, rq->params[i].val);
        char sig[29];
        fl_sign_v1(rq->method, all.kv, all.n, rq->ak_secret, sig);
        if (rq->verbose) {
            fl_sign_v1_string(rq->method, all.kv, all.n, &text);
            fprintf(stderr, "> string-to-sign: %s\n", text.data);
        }
        fl_buf_t *dst = post ? &form : &query;
        fl_sign_query_string(all.kv, all.n, "Signature", dst);
        fl_buf_puts(dst, "&Signature=");
        fl_pct_encode(dst, sig, strlen(sig));
        if (post)
            hdrs = add_header(hdrs, "Content-Type", "application/x-www-form-urlencoded", &ok);
    } else {
        char empty_sha[65], sig[65];
        fl_sha256_hex("", 0, empty_sha);
        const fl_kv_t signed_hdrs[] = {
            {"host", host},
            {"x-acs-action", rq->action},
            {"x-acs-content-sha256", empty_sha},
            {"x-acs-date", date},
            {"x-acs-signature-nonce", nonce},
            {"x-acs-version", FL_CLI_API_VERSION},
        };
        fl_v3_req_t v3 = {
            .method = rq->method,
            .path = path,
            .query = rq->params,
            .n_query = rq->n_params,
            .headers = signed_hdrs,
            .n_headers = FL_ARRAY_LEN(signed_hdrs),
            .payload_sha256 = empty_sha,
        };
        fl_sign_v3(&v3, rq->ak_secret, sig);
        if (rq->verbose) {
            fl_sign_v3_canonical(&v3, &text);
            fprintf(stderr, "> canonical request:\n%s\n", text.data);
        }
        fl_sign_query_string(rq->params, rq->n_params, NULL, &query);
        hdrs = add_header(hdrs, "Host", host, &ok);
        hdrs = add_header(hdrs, "x-acs-date", date, &ok);
        hdrs = add_header(hdrs, "x-acs-signature-nonce", nonce, &ok);
        hdrs = add_header(hdrs, "x-acs-content-sha256", empty_sha, &ok);
        fl_buf_reset(&text);
        fl_buf_printf(&text,
                      "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=host;x-acs-action;"
                      "x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
                      "Signature=%s",
                      rq->ak_id, sig);
        hdrs = add_header(hdrs, "Authorization", text.data, &ok);
        /* The body is empty; keep curl from labelling it as a form. */
        if (post)
            hdrs = add_raw(hdrs, "Content-Type:", &ok);
    }
    if (!ok) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }

    /* The query is appended as text: curl's URL API would rewrite the escapes (%2A as
     * %2a), and the server should see the bytes that were signed. */
    if (curl_url_get(u, CURLUPART_URL, &base, 0) != CURLUE_OK) {
        snprintf(err, errlen, "cannot build the request URL");
        goto out;
    }
    fl_buf_puts(&text_url, base);
    if (query.len) {
        fl_buf_putc(&text_url, '?');
        fl_buf_append(&text_url, query.data, query.len);
    }
    url = text_url.data;

    c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "curl_easy_init failed");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "flowctl/1.0");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, FL_CLI_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.data ? form.data : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)form.len);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    if (rq->verbose)
        fprintf(stderr, "> %s %s\n", rq->method, url);

    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (rq->verbose)
        fprintf(stderr, "< HTTP %ld\n", *status);
    rc = FL_OK;
out:
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    curl_free(base);
    fl_buf_free(&text_url);
    curl_url_cleanup(u);
    free(path);
    free(host);
    free(all.kv);
    fl_buf_free(&query);
    fl_buf_free(&form);
    fl_buf_free(&text);
    return rc;
}

/* Prints "<Code>: <Message>" for an error reply; root may be NULL (body not JSON). */
static void print_error(json_t *root, long status, const fl_buf_t *body)
{
    const char *code = NULL, *msg = NULL;
    if (json_is_object(root)) {
        code = json_string_value(json_object_get(root, "Code"));
        msg = json_string_value(json_object_get(root, "Message"));
    }
    if (code)
        fprintf(stderr, "%s: %s\n", code, msg ? msg : "");
    else
        fprintf(stderr, "HTTP %ld: %s\n", status, msg ? msg : body->len ? body->data : "");
}

/* See cli.h. */
int fl_cli_send(const fl_cli_req_t *rq, json_t **reply /* OUT */)
{
    int rc = FL_CLI_EXIT_TRANSPORT;
    json_t *root = NULL;
    fl_buf_t body;
    fl_buf_init(&body);
    bool curl_ready = false;
    long status = 0;
    char err[CURL_ERROR_SIZE + 256];

    *reply = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "flowctl: curl_global_init failed\n");
        goto out;
    }
    curl_ready = true;
    if (fl_cli_call(rq, &body, &status, err, sizeof err) != FL_OK) {
        fprintf(stderr, "flowctl: %s\n", err);
        goto out;
    }

    rc = FL_CLI_EXIT_REPLY;
    json_error_t jerr;
    root = body.len ? json_loadb(body.data, body.len, JSON_DECODE_ANY, &jerr) : NULL;
    if (status >= 400 || (json_is_object(root) && json_object_get(root, "Code"))) {
        print_error(root, status, &body);
        goto out;
    }
    if (!root) {
        fprintf(stderr, "flowctl: reply is not JSON (HTTP %ld): %s\n", status,
                body.len ? body.data : "(empty)");
        goto out;
    }
    *reply = root;
    root = NULL;
    rc = FL_CLI_EXIT_OK;
out:
    json_decref(root);
    fl_buf_free(&body);
    if (curl_ready)
        curl_global_cleanup();
    return rc;
}
