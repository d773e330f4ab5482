/*
 * mns.c - the MNS-compatible queue API: signature check ("Authorization: MNS ak:sig"),
 * routing of /queues, /queues/<name> and /queues/<name>/messages, XML bodies in (libxml2,
 * no DTDs, no network) and out (a small escaping writer), and the queue operations as store
 * write jobs.
 *
 * Invariants: every state change is one fl_store_write job, so a receive that marks several
 * messages invisible is all-or-nothing; reads go through the thread's reader. A long poll
 * first peeks through the reader and only runs a write job when something looks visible, so
 * idle pollers cost no group commits. Receipt handles are random ("1-" + 40 hex) and stored
 * on the message; a new receive or a visibility change replaces it, which is what makes an
 * old handle stale.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mns.h"

/* ---------------------------------------------------------------------------------------- */
/* Error table                                                                              */
/* ---------------------------------------------------------------------------------------- */

static const struct {
    int status;
    const char *code;
    const char *msg;
} mns_errs[] = {
    [FL_MNS_OK] = {200, "OK", ""},
#define X(name, status, code, msg) [FL_MNS_E##name] = {status, code, msg},
    FL_MNS_ERR_MAP(X)
#undef X
};

const char *fl_mns_err_code(int err)
{
    return err > 0 && err < FL_MNS__END ? mns_errs[err].code : "InternalError";
}

int fl_mns_err_status(int err)
{
    return err > 0 && err < FL_MNS__END ? mns_errs[err].status : 500;
}

const char *fl_mns_err_message(int err)
{
    return err > 0 && err < FL_MNS__END ? mns_errs[err].msg : "Internal error.";
}

/* A store job may return an MNS code (positive) or a store error (negative). */
static int mns_code(int rc)
{
    if (rc == FL_OK || rc > 0)
        return rc;
    return FL_MNS_EINTERNAL_ERROR;
}

/* ---------------------------------------------------------------------------------------- */
/* XML writer                                                                               */
/* ---------------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s that is also an XML 1.0 character, or 0. */
static size_t utf8_xml_seq(const unsigned char *s, size_t len)
{
    uint32_t cp;
    size_t n;
    if (s[0] < 0xC2)
        return 0;
    if (s[0] < 0xE0) {
        n = 2;
        cp = s[0] & 0x1F;
    } else if (s[0] < 0xF0) {
        n = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] < 0xF5) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
        return 0;
    return n;
}

/* Appends s as XML character data. Markup characters become references, a CR stays a CR
 * (&#13;, which a parser would otherwise fold), and bytes that are not XML characters or
 * not UTF-8 (never in parsed input; possible in header echoes) become '?'. */
static void xml_text(fl_buf_t *b, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        const char *rep = NULL;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        case '\r': rep = "&#13;"; break;
        default: break;
        }
        if (rep) {
            fl_buf_puts(b, rep);
            i++;
        } else if (c < 0x20 && c != '\t' && c != '\n') {
            fl_buf_putc(b, '?');
            i++;
        } else if (c < 0x80) {
            fl_buf_putc(b, (char)c);
            i++;
        } else {
            size_t k = utf8_xml_seq(u + i, len - i);
            if (k) {
                fl_buf_append(b, s + i, k);
                i += k;
            } else {
                fl_buf_putc(b, '?');
                i++;
            }
        }
    }
}

static void xml_begin(fl_buf_t *b, const char *root)
{
    fl_buf_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%s xmlns=\"%s\">", root,
                  FL_MNS_NS);
}

static void xml_strn(fl_buf_t *b, const char *name, const char *v, size_t len)
{
    fl_buf_printf(b, "<%s>", name);
    xml_text(b, v, len);
    fl_buf_printf(b, "</%s>", name);
}

static void xml_str(fl_buf_t *b, const char *name, const char *v)
{
    xml_strn(b, name, v ? v : "", v ? strlen(v) : 0);
}

static void xml_i64(fl_buf_t *b, const char *name, int64_t v)
{
    fl_buf_printf(b, "<%s>%" PRId64 "</%s>", name, v, name);
}

/* ---------------------------------------------------------------------------------------- */
/* XML parsing                                                                              */
/* ---------------------------------------------------------------------------------------- */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

/* SAX hook for <!DOCTYPE ...>: stop before the internal subset is read, so no entity is
 * ever declared (hence none can expand) and no external DTD is fetched. */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name;
    (void)ext;
    (void)sys;
    xmlParserCtxtPtr c = ctx;
    *(bool *)c->_private = true;
    xmlStopParser(c);
}

static int xml_parse(const char *s, size_t len, xmlDocPtr *out, char *err, size_t errlen)
{
    pthread_once(&xml_once, xml_init);
    *out = NULL;
    if (len == 0 || len > INT_MAX) {
        snprintf(err, errlen, "The request body is %s.", len ? "too large" : "empty");
        return FL_MNS_EMALFORMED_XML;
    }
    xmlParserCtxtPtr c = xmlNewParserCtxt();
    if (!c) {
        snprintf(err, errlen, "Out of memory.");
        return FL_MNS_EINTERNAL_ERROR;
    }
    bool dtd = false;
    c->_private = &dtd;
    c->sax->internalSubset = on_doctype;
    c->sax->externalSubset = on_doctype;
    /* No XML_PARSE_NOENT (entities stay unexpanded), no DTDLOAD, no HUGE (libxml2's depth
     * and text-size limits stay on), no network. */
    xmlDocPtr doc = xmlCtxtReadMemory(c, s, (int)len, NULL, NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                          XML_PARSE_NOCDATA);
    int rc = FL_MNS_OK;
    if (dtd) {
        snprintf(err, errlen, "A document type declaration (DTD) is not allowed.");
        rc = FL_MNS_EMALFORMED_XML;
    } else if (!doc || !c->wellFormed || !xmlDocGetRootElement(doc)) {
        const xmlError *e = xmlCtxtGetLastError(c);
        if (e && e->message) {
            snprintf(err, errlen, "The XML you provided was not well-formed (line %d: %s", e->line,
                     e->message);
            size_t n = strlen(err);
            while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
                err[--n] = 0;
            if (n + 2 < errlen) {
                err[n] = ')';
                err[n + 1] = '.';
                err[n + 2] = 0;
            }
        } else {
            snprintf(err, errlen, "The XML you provided was not well-formed.");
        }
        rc = FL_MNS_EMALFORMED_XML;
    }
    xmlFreeParserCtxt(c);
    if (rc) {
        xmlFreeDoc(doc);
        return rc;
    }
    *out = doc;
    return FL_MNS_OK;
}

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

static bool elem_is(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* Steps to the next child element of a container, skipping comments, processing
 * instructions and blank text. Anything else (text, entity references) is an error. */
static int next_elem(xmlNodePtr *cur, const char *parent, char *err, size_t errlen)
{
    for (xmlNodePtr n = *cur; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE) {
            *cur = n;
            return FL_MNS_OK;
        }
        if (n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE)
            continue;
        if (n->type == XML_TEXT_NODE && is_blank((const char *)n->content))
            continue;
        snprintf(err, errlen, "The XML you provided did not validate against our published "
                              "schema: %s must contain elements only.", parent);
        return FL_MNS_EINVALID_ARGUMENT;
    }
    *cur = NULL;
    return FL_MNS_OK;
}

/* The text of a leaf element (text and CDATA; comments ignored) into the arena. */
static int elem_text(fl_arena_t *a, xmlNodePtr e, char **out, size_t *len, char *err,
                     size_t errlen)
{
    fl_buf_t b;
    fl_buf_init(&b);
    for (xmlNodePtr c = e->children; c; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            fl_buf_puts(&b, (const char *)c->content);
        } else if (c->type != XML_COMMENT_NODE && c->type != XML_PI_NODE) {
            fl_buf_free(&b);
            snprintf(err, errlen, "The XML you provided did not validate against our published "
                                  "schema: %s must contain text only.", (const char *)e->name);
            return FL_MNS_EINVALID_ARGUMENT;
        }
    }
    *len = b.len;
    *out = fl_arena_strndup(a, b.data ? b.data : "", b.len);
    fl_buf_free(&b);
    return FL_MNS_OK;
}

/* An integer element in [lo, hi] (surrounding blanks allowed). */
static int elem_long(xmlNodePtr e, long lo, long hi, long *out, char *err, size_t errlen)
{
    fl_arena_t a;
    fl_arena_init(&a);
    char *s;
    size_t n;
    int rc = elem_text(&a, e, &s, &n, err, errlen);
    if (rc == FL_MNS_OK) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            s++;
        char *end = s;
        errno = 0;
        long v = (*s >= '0' && *s <= '9') || *s == '-' ? strtol(s, &end, 10) : 0;
        while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
            end++;
        if (end == s || *end || errno || v < lo || v > hi) {
            snprintf(err, errlen, "The value of %s should between %ld and %ld.",
                     (const char *)e->name, lo, hi);
            rc = FL_MNS_EINVALID_ARGUMENT;
        } else {
            *out = v;
        }
    }
    fl_arena_close(&a);
    return rc;
}

static int dup_elem(xmlNodePtr e, char *err, size_t errlen)
{
    snprintf(err, errlen, "The element %s is given more than once.", (const char *)e->name);
    return FL_MNS_EINVALID_ARGUMENT;
}

static int parse_message(fl_arena_t *a, xmlNodePtr m, fl_mns_send_t *out, char *err,
                         size_t errlen)
{
    out->body = NULL;
    out->body_len = 0;
    out->delay = -1;
    out->priority = -1;
    xmlNodePtr e = m->children;
    for (;;) {
        int rc = next_elem(&e, "Message", err, errlen);
        if (rc)
            return rc;
        if (!e)
            break;
        if (elem_is(e, "MessageBody")) {
            if (out->body)
                return dup_elem(e, err, errlen);
            rc = elem_text(a, e, &out->body, &out->body_len, err, errlen);
        } else if (elem_is(e, "DelaySeconds")) {
            if (out->delay >= 0)
                return dup_elem(e, err, errlen);
            rc = elem_long(e, 0, 604800, &out->delay, err, errlen);
        } else if (elem_is(e, "Priority")) {
            if (out->priority >= 0)
                return dup_elem(e, err, errlen);
            rc = elem_long(e, 1, 16, &out->priority, err, errlen);
        } /* other elements (e.g. UserProperties of newer clients) are ignored */
        if (rc)
            return rc;
        e = e->next;
    }
    if (!out->body) {
        snprintf(err, errlen, "The XML you provided did not validate against our published "
                              "schema: MessageBody is required.");
        return FL_MNS_EINVALID_ARGUMENT;
    }
    return FL_MNS_OK;
}

int fl_mns_parse_send(fl_arena_t *a, const char *xml, size_t len, fl_mns_send_t **msgs,
                      size_t *n, bool *batch, char *err, size_t errlen)
{
    xmlDocPtr doc = NULL;
    *msgs = NULL;
    *n = 0;
    *batch = false;
    int rc = xml_parse(xml, len, &doc, err, errlen);
    if (rc)
        return rc;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (elem_is(root, "Message")) {
        *msgs = fl_arena_alloc(a, sizeof **msgs);
        rc = parse_message(a, root, *msgs, err, errlen);
        if (!rc)
            *n = 1;
    } else if (elem_is(root, "Messages")) {
        *batch = true;
        fl_mns_send_t *v = fl_arena_alloc(a, FL_MNS_BATCH_MAX * sizeof *v);
        size_t k = 0;
        for (xmlNodePtr e = root->children;; e = e->next) {
            rc = next_elem(&e, "Messages", err, errlen);
            if (rc || !e)
                break;
            if (!elem_is(e, "Message")) {
                snprintf(err, errlen, "Messages may contain only Message elements.");
                rc = FL_MNS_EINVALID_ARGUMENT;
                break;
            }
            if (k == FL_MNS_BATCH_MAX) {
                snprintf(err, errlen, "The count of message should between 1 and %d.",
                         FL_MNS_BATCH_MAX);
                rc = FL_MNS_EINVALID_ARGUMENT;
                break;
            }
            rc = parse_message(a, e, &v[k], err, errlen);
            if (rc)
                break;
            k++;
        }
        if (!rc && k == 0) {
            snprintf(err, errlen, "The count of message should between 1 and %d.",
                     FL_MNS_BATCH_MAX);
            rc = FL_MNS_EINVALID_ARGUMENT;
        }
        if (!rc) {
            *msgs = v;
            *n = k;
        }
    } else {
        snprintf(err, errlen, "The root element must be Message or Messages, not %s.",
                 (const char *)root->name);
        rc = FL_MNS_EINVALID_ARGUMENT;
    }
    xmlFreeDoc(doc);
    return rc;
}

int fl_mns_parse_receipts(fl_arena_t *a, const char *xml, size_t len, char ***handles, size_t *n,
                          char *err, size_t errlen)
{
    xmlDocPtr doc = NULL;
    *handles = NULL;
    *n = 0;
    int rc = xml_parse(xml, len, &doc, err, errlen);
    if (rc)
        return rc;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    char **v = fl_arena_alloc(a, FL_MNS_BATCH_MAX * sizeof *v);
    size_t k = 0;
    if (!elem_is(root, "ReceiptHandles")) {
        snprintf(err, errlen, "The root element must be ReceiptHandles, not %s.",
                 (const char *)root->name);
        rc = FL_MNS_EINVALID_ARGUMENT;
    }
    for (xmlNodePtr e = root->children; !rc; e = e->next) {
        rc = next_elem(&e, "ReceiptHandles", err, errlen);
        if (rc || !e)
            break;
        if (!elem_is(e, "ReceiptHandle")) {
            snprintf(err, errlen, "ReceiptHandles may contain only ReceiptHandle elements.");
            rc = FL_MNS_EINVALID_ARGUMENT;
        } else if (k == FL_MNS_BATCH_MAX) {
            snprintf(err, errlen, "The count of receipt handle should between 1 and %d.",
                     FL_MNS_BATCH_MAX);
            rc = FL_MNS_EINVALID_ARGUMENT;
        } else {
            size_t l;
            rc = elem_text(a, e, &v[k], &l, err, errlen);
            if (!rc) {
                /* Surrounding blanks are layout, never part of a handle. */
                char *s = v[k];
                while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
                    s++;
                l = strlen(s);
                while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\n' ||
                             s[l - 1] == '\r'))
                    s[--l] = 0;
                v[k++] = s;
            }
        }
    }
    if (!rc && k == 0) {
        snprintf(err, errlen, "The count of receipt handle should between 1 and %d.",
                 FL_MNS_BATCH_MAX);
        rc = FL_MNS_EINVALID_ARGUMENT;
    }
    if (!rc) {
        *handles = v;
        *n = k;
    }
    xmlFreeDoc(doc);
    return rc;
}

void fl_mns_attrs_default(fl_mns_attrs_t *out)
{
    out->delay = 0;
    out->max_size = 65536;
    out->retention = 345600;
    out->visibility = 30;
    out->polling_wait = 0;
    out->logging = 0;
}

static const struct attr_def {
    const char *name;
    size_t off;
    long lo, hi;
} attr_defs[] = {
    {"DelaySeconds", offsetof(fl_mns_attrs_t, delay), 0, 604800},
    {"MaximumMessageSize", offsetof(fl_mns_attrs_t, max_size), 1024, 65536},
    {"MessageRetentionPeriod", offsetof(fl_mns_attrs_t, retention), 60, 604800},
    {"VisibilityTimeout", offsetof(fl_mns_attrs_t, visibility), 1, 43200},
    {"PollingWaitSeconds", offsetof(fl_mns_attrs_t, polling_wait), 0, 30},
};

static long *attr_at(fl_mns_attrs_t *a, size_t off)
{
    return (long *)(void *)((char *)a + off);
}

static long attr_get(const fl_mns_attrs_t *a, size_t off)
{
    return *(const long *)(const void *)((const char *)a + off);
}

int fl_mns_parse_attrs(const char *xml, size_t len, fl_mns_attrs_t *attrs, char *err,
                       size_t errlen)
{
    size_t i = 0;
    while (i < len && (xml[i] == ' ' || xml[i] == '\t' || xml[i] == '\n' || xml[i] == '\r'))
        i++;
    if (i == len)
        return FL_MNS_OK;
    xmlDocPtr doc = NULL;
    int rc = xml_parse(xml, len, &doc, err, errlen);
    if (rc)
        return rc;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    bool seen[FL_ARRAY_LEN(attr_defs) + 1] = {0};
    if (!elem_is(root, "Queue")) {
        snprintf(err, errlen, "The root element must be Queue, not %s.",
                 (const char *)root->name);
        rc = FL_MNS_EINVALID_ARGUMENT;
    }
    for (xmlNodePtr e = root->children; !rc; e = e->next) {
        rc = next_elem(&e, "Queue", err, errlen);
        if (rc || !e)
            break;
        size_t k;
        for (k = 0; k < FL_ARRAY_LEN(attr_defs); k++)
            if (elem_is(e, attr_defs[k].name))
                break;
        if (k < FL_ARRAY_LEN(attr_defs)) {
            if (seen[k]) {
                rc = dup_elem(e, err, errlen);
                break;
            }
            seen[k] = true;
            rc = elem_long(e, attr_defs[k].lo, attr_defs[k].hi, attr_at(attrs, attr_defs[k].off),
                           err, errlen);
        } else if (elem_is(e, "LoggingEnabled")) {
            fl_arena_t a;
            fl_arena_init(&a);
            char *s;
            size_t n;
            rc = elem_text(&a, e, &s, &n, err, errlen);
            if (!rc && (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0))
                attrs->logging = strcasecmp(s, "true") == 0;
            else if (!rc) {
                snprintf(err, errlen, "The value of LoggingEnabled should be True or False.");
                rc = FL_MNS_EINVALID_ARGUMENT;
            }
            fl_arena_close(&a);
        } /* other elements (QueueName, ...) are ignored */
    }
    xmlFreeDoc(doc);
    return rc;
}

/* Attributes as stored in the queue row (JSON object text), and back. */
static char *attrs_json(const fl_mns_attrs_t *at)
{
    json_t *o = json_object();
    for (size_t k = 0; k < FL_ARRAY_LEN(attr_defs); k++)
        json_object_set_new(o, attr_defs[k].name, json_integer(attr_get(at, attr_defs[k].off)));
    json_object_set_new(o, "LoggingEnabled", json_boolean(at->logging));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    FL_ASSERT(s != NULL);
    return s;
}

static void attrs_parse_json(const char *s, fl_mns_attrs_t *at)
{
    fl_mns_attrs_default(at);
    json_t *o = s ? json_loads(s, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    for (size_t k = 0; k < FL_ARRAY_LEN(attr_defs); k++) {
        json_t *v = json_object_get(o, attr_defs[k].name);
        if (json_is_integer(v))
            *attr_at(at, attr_defs[k].off) = (long)json_integer_value(v);
    }
    at->logging = json_is_true(json_object_get(o, "LoggingEnabled"));
    json_decref(o);
}

/* ---------------------------------------------------------------------------------------- */
/* Signatures                                                                               */
/* ---------------------------------------------------------------------------------------- */

static int kv_cmp(const void *x, const void *y)
{
    const fl_kv_t *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    return c ? c : strcmp(a->val, b->val);
}

void fl_mns_string_to_sign(const char *verb, const char *content_md5, const char *content_type,
                           const char *date, const fl_kv_t *headers, size_t n,
                           const char *resource, fl_buf_t *out)
{
    fl_buf_printf(out, "%s\n%s\n%s\n%s\n", verb ? verb : "", content_md5 ? content_md5 : "",
                  content_type ? content_type : "", date ? date : "");
    fl_kv_t *h = xmalloc((n ? n : 1) * sizeof *h);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncasecmp(headers[i].key, "x-mns-", 6) != 0)
            continue;
        char *k = xstrdup(headers[i].key);
        for (char *p = k; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        h[m].key = k;
        h[m].val = headers[i].val ? headers[i].val : "";
        m++;
    }
    qsort(h, m, sizeof *h, kv_cmp);
    for (size_t i = 0; i < m; i++) {
        fl_buf_printf(out, "%s:%s\n", h[i].key, h[i].val);
        free((char *)(uintptr_t)h[i].key);
    }
    free(h);
    fl_buf_puts(out, resource ? resource : "");
}

void fl_mns_sign(const char *secret, const char *sts, size_t len, char out[29])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    const char *key = secret ? secret : "";
    /* HMAC() only fails on allocation failure inside OpenSSL; treat that like xmalloc. */
    unsigned char *r = HMAC(EVP_sha1(), key, (int)strlen(key), (const unsigned char *)sts, len,
                            mac, &mac_len);
    FL_ASSERT(r != NULL && mac_len == 20);
    fl_b64(mac, mac_len, out);
}

int fl_mns_parse_date(const char *s, int64_t *ms)
{
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char wd[4], mon[4];
    int d, y, hh, mm, ss, end = 0;
    if (!s || sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", wd, &d, mon, &y, &hh,
                     &mm, &ss, &end) != 7 ||
        end == 0 || s[end] != 0)
        return FL_EINVALID_ARGUMENT;
    int mi = -1;
    for (int i = 0; i < 12; i++)
        if (strcmp(mon, months[i]) == 0)
            mi = i;
    if (mi < 0 || d < 1 || d > 31 || y < 1970 || hh > 23 || mm > 59 || ss > 60 || hh < 0 ||
        mm < 0 || ss < 0)
        return FL_EINVALID_ARGUMENT;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mi, .tm_mday = d, .tm_hour = hh,
                    .tm_min = mm, .tm_sec = ss};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return FL_EINVALID_ARGUMENT;
    *ms = (int64_t)t * 1000;
    return FL_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Long-poll wake-ups                                                                       */
/* ---------------------------------------------------------------------------------------- */

/* A send through this API bumps poll_gen and wakes the pollers at once; everything else
 * that can make a message visible (delays, visibility timeouts, messages the engine
 * inserts) is found by the pollers' periodic peek. */
#define POLL_STEP_MS 100

static pthread_mutex_t poll_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t poll_cv;
static pthread_once_t poll_once = PTHREAD_ONCE_INIT;
static uint64_t poll_gen;
static bool poll_stop;

static void poll_init(void)
{
    pthread_condattr_t at;
    pthread_condattr_init(&at);
    pthread_condattr_setclock(&at, CLOCK_MONOTONIC);
    pthread_cond_init(&poll_cv, &at);
    pthread_condattr_destroy(&at);
}

static uint64_t poll_seen(void)
{
    pthread_once(&poll_once, poll_init);
    pthread_mutex_lock(&poll_mu);
    uint64_t g = poll_gen;
    pthread_mutex_unlock(&poll_mu);
    return g;
}

static void poll_notify(void)
{
    pthread_once(&poll_once, poll_init);
    pthread_mutex_lock(&poll_mu);
    poll_gen++;
    pthread_cond_broadcast(&poll_cv);
    pthread_mutex_unlock(&poll_mu);
}

/* Sleeps until a send after *seen, an interrupt, or wait_ms; returns false when
 * interrupted (shutdown). */
static bool poll_wait(uint64_t *seen, int64_t wait_ms)
{
    pthread_once(&poll_once, poll_init);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&poll_mu);
    while (!poll_stop && poll_gen == *seen)
        if (pthread_cond_timedwait(&poll_cv, &poll_mu, &ts) == ETIMEDOUT)
            break;
    *seen = poll_gen;
    bool ok = !poll_stop;
    pthread_mutex_unlock(&poll_mu);
    return ok;
}

void fl_mns_interrupt(bool on)
{
    pthread_once(&poll_once, poll_init);
    pthread_mutex_lock(&poll_mu);
    poll_stop = on;
    pthread_cond_broadcast(&poll_cv);
    pthread_mutex_unlock(&poll_mu);
}

/* ---------------------------------------------------------------------------------------- */
/* Store jobs                                                                               */
/* ---------------------------------------------------------------------------------------- */

static void new_receipt(char out[FL_MNS_RECEIPT_LEN])
{
    uint8_t r[20];
    fl_rand_bytes(r, sizeof r);
    out[0] = '1';
    out[1] = '-';
    fl_hex(r, sizeof r, out + 2);
}

/* A handle flowd could have issued: "1-" and 40 lower-case hex digits. */
static bool receipt_is_valid(const char *s)
{
    if (!s || strlen(s) != FL_MNS_RECEIPT_LEN - 1 || s[0] != '1' || s[1] != '-')
        return false;
    for (const char *p = s + 2; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static int queue_attrs(fl_db_t *db, uint64_t account, const char *queue, fl_arena_t *a,
                       fl_queue_row_t *row, fl_mns_attrs_t *at)
{
    int rc = fl_db_queue_get(db, account, queue, a, row);
    if (rc)
        return rc == FL_ENOT_FOUND ? FL_MNS_EQUEUE_NOT_EXIST : rc;
    attrs_parse_json(row->attrs, at);
    return FL_MNS_OK;
}

typedef struct {
    uint64_t account;
    const char *queue;
    int limit;
    int64_t visibility_ms;
    int64_t now_ms;
    fl_arena_t *a;
    fl_msg_row_t *rows; /* OUT */
    int n;              /* OUT */
} recv_job_t;

static int job_receive(fl_db_t *db, void *arg)
{
    recv_job_t *j = arg;
    fl_queue_row_t q;
    fl_mns_attrs_t at;
    int rc = queue_attrs(db, j->account, j->queue, j->a, &q, &at);
    if (rc)
        return rc;
    rc = fl_db_msg_ready(db, j->account, j->queue, j->now_ms, j->limit, false, j->a, &j->rows,
                         &j->n);
    for (int i = 0; !rc && i < j->n; i++) {
        fl_msg_row_t *m = &j->rows[i];
        char *receipt = fl_arena_alloc(j->a, FL_MNS_RECEIPT_LEN);
        new_receipt(receipt);
        int64_t vis = j->now_ms + j->visibility_ms;
        rc = fl_db_msg_take(db, m->id, vis, receipt, j->now_ms);
        m->receipt = receipt;
        m->visible_ms = vis;
        m->dequeue_count++;
        if (m->first_dequeue_ms == 0)
            m->first_dequeue_ms = j->now_ms;
    }
    if (rc)
        j->n = 0;
    return rc;
}

int fl_mns_receive(fl_store_t *st, uint64_t account, const char *queue, int limit,
                   int64_t visibility_ms, int64_t now_ms, fl_arena_t *a, fl_msg_row_t **rows,
                   int *n)
{
    recv_job_t j = {.account = account, .queue = queue, .limit = limit,
                    .visibility_ms = visibility_ms, .now_ms = now_ms, .a = a};
    int rc = mns_code(fl_store_write(st, job_receive, &j));
    *rows = rc ? NULL : j.rows;
    *n = rc ? 0 : j.n;
    return rc;
}

typedef struct {
    uint64_t account;
    const char *queue;
    const char *receipt;
    int64_t visibility_ms; /* < 0: delete */
    int64_t now_ms;
    char *receipt_out;     /* FL_MNS_RECEIPT_LEN bytes, for a visibility change */
    int64_t visible_ms;    /* OUT */
} handle_job_t;

static int job_handle(fl_db_t *db, void *arg)
{
    handle_job_t *j = arg;
    fl_arena_t a;
    fl_arena_init(&a);
    fl_msg_row_t m;
    int rc = fl_db_msg_by_receipt(db, j->account, j->queue, j->receipt, &a, &m);
    if (rc == FL_ENOT_FOUND)
        rc = FL_MNS_EMESSAGE_NOT_EXIST;
    if (rc == FL_OK && j->visibility_ms < 0) {
        rc = fl_db_msg_delete(db, m.id);
    } else if (rc == FL_OK) {
        new_receipt(j->receipt_out);
        j->visible_ms = j->now_ms + j->visibility_ms;
        rc = fl_db_msg_set_visible(db, m.id, j->visible_ms, j->receipt_out);
    }
    fl_arena_close(&a);
    return rc;
}

int fl_mns_delete(fl_store_t *st, uint64_t account, const char *queue, const char *receipt)
{
    if (!receipt_is_valid(receipt))
        return FL_MNS_ERECEIPT_HANDLE_ERROR;
    handle_job_t j = {.account = account, .queue = queue, .receipt = receipt,
                      .visibility_ms = -1};
    return mns_code(fl_store_write(st, job_handle, &j));
}

int fl_mns_change_visibility(fl_store_t *st, uint64_t account, const char *queue,
                             const char *receipt, int64_t visibility_ms, int64_t now_ms,
                             char receipt_out[FL_MNS_RECEIPT_LEN], int64_t *visible_ms)
{
    if (!receipt_is_valid(receipt))
        return FL_MNS_ERECEIPT_HANDLE_ERROR;
    handle_job_t j = {.account = account, .queue = queue, .receipt = receipt,
                      .visibility_ms = visibility_ms < 0 ? 0 : visibility_ms, .now_ms = now_ms,
                      .receipt_out = receipt_out};
    int rc = mns_code(fl_store_write(st, job_handle, &j));
    if (rc == FL_MNS_OK)
        *visible_ms = j.visible_ms;
    return rc;
}

typedef struct {
    uint64_t account;
    const char *queue;
    char **handles;
    size_t n;
    int *codes; /* OUT: per handle */
} batch_del_job_t;

static int job_batch_delete(fl_db_t *db, void *arg)
{
    batch_del_job_t *j = arg;
    fl_arena_t a;
    fl_arena_init(&a);
    fl_queue_row_t q;
    int rc = fl_db_queue_get(db, j->account, j->queue, &a, &q);
    if (rc) {
        fl_arena_close(&a);
        return rc == FL_ENOT_FOUND ? FL_MNS_EQUEUE_NOT_EXIST : rc;
    }
    for (size_t i = 0; i < j->n && rc == FL_OK; i++) {
        fl_msg_row_t m;
        if (!receipt_is_valid(j->handles[i])) {
            j->codes[i] = FL_MNS_ERECEIPT_HANDLE_ERROR;
            continue;
        }
        int r = fl_db_msg_by_receipt(db, j->account, j->queue, j->handles[i], &a, &m);
        if (r == FL_ENOT_FOUND)
            j->codes[i] = FL_MNS_EMESSAGE_NOT_EXIST;
        else if (r)
            rc = r;
        else
            rc = fl_db_msg_delete(db, m.id);
    }
    fl_arena_close(&a);
    return rc;
}

typedef struct {
    uint64_t account;
    const char *queue;
    const fl_mns_send_t *msgs;
    size_t n;
    int64_t now_ms;
    int64_t *ids;  /* OUT: n */
    char msg[256]; /* OUT: why InvalidArgument */
} send_job_t;

static int job_send(fl_db_t *db, void *arg)
{
    send_job_t *j = arg;
    fl_arena_t a;
    fl_arena_init(&a);
    fl_queue_row_t q;
    fl_mns_attrs_t at;
    int rc = queue_attrs(db, j->account, j->queue, &a, &q, &at);
    for (size_t i = 0; !rc && i < j->n; i++) {
        if (j->msgs[i].body_len < 1 || j->msgs[i].body_len > (size_t)at.max_size) {
            snprintf(j->msg, sizeof j->msg,
                     "The value of MessageBody should between 1 and %ld bytes, not %zu.",
                     at.max_size, j->msgs[i].body_len);
            rc = FL_MNS_EINVALID_ARGUMENT;
        }
    }
    for (size_t i = 0; !rc && i < j->n; i++) {
        const fl_mns_send_t *m = &j->msgs[i];
        long delay = m->delay >= 0 ? m->delay : at.delay;
        int priority = m->priority > 0 ? (int)m->priority : 8;
        rc = fl_db_msg_insert(db, j->account, j->queue, m->body, priority,
                              j->now_ms + delay * 1000, j->now_ms + at.retention * 1000,
                              j->now_ms, &j->ids[i]);
    }
    fl_arena_close(&a);
    return rc;
}

typedef struct {
    uint64_t account;
    const char *queue;
    fl_mns_attrs_t want; /* create: full; set: -1 = keep */
    bool set;
    int64_t now_ms;
    int status; /* OUT */
} queue_job_t;

static int job_queue_put(fl_db_t *db, void *arg)
{
    queue_job_t *j = arg;
    fl_arena_t a;
    fl_arena_init(&a);
    fl_queue_row_t q;
    fl_mns_attrs_t at;
    char *json = NULL;
    int rc = queue_attrs(db, j->account, j->queue, &a, &q, &at);
    if (!j->set && rc == FL_MNS_EQUEUE_NOT_EXIST) {
        json = attrs_json(&j->want);
        rc = fl_db_queue_put(db, j->account, j->queue, json, false, j->now_ms);
        j->status = 201;
    } else if (!j->set && rc == FL_MNS_OK) {
        rc = memcmp(&at, &j->want, sizeof at) == 0 ? FL_MNS_OK : FL_MNS_EQUEUE_ALREADY_EXIST;
        j->status = 204;
    } else if (rc == FL_MNS_OK) {
        for (size_t k = 0; k < FL_ARRAY_LEN(attr_defs); k++) {
            long v = attr_get(&j->want, attr_defs[k].off);
            if (v >= 0)
                *attr_at(&at, attr_defs[k].off) = v;
        }
        if (j->want.logging >= 0)
            at.logging = j->want.logging;
        json = attrs_json(&at);
        rc = fl_db_queue_put(db, j->account, j->queue, json, true, j->now_ms);
        j->status = 204;
    }
    free(json);
    fl_arena_close(&a);
    return rc;
}

typedef struct {
    uint64_t account;
    const char *queue;
} queue_del_job_t;

static int job_queue_delete(fl_db_t *db, void *arg)
{
    queue_del_job_t *j = arg;
    fl_arena_t a;
    fl_arena_init(&a);
    fl_queue_row_t q;
    int rc = fl_db_queue_get(db, j->account, j->queue, &a, &q);
    fl_arena_close(&a);
    if (rc)
        return rc == FL_ENOT_FOUND ? FL_MNS_EQUEUE_NOT_EXIST : rc;
    return fl_db_queue_delete(db, j->account, j->queue);
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                 */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    fl_api_t *api;
    fl_arena_t *a;
    const fl_http_req_t *hr;
    const char *request_id;
    const char *host;     /* Host header, for QueueURL and HostId */
    int64_t now_ms;
    uint64_t account;     /* the signing key's */
    const char *user;     /* RAM user, NULL for a root key */
    const char *ak;
    const char *op;       /* the MNS operation, for RAM and the audit line */
    fl_kv_t *query;       /* decoded */
    size_t n_query;
    const char *queue;    /* decoded queue name of the path, NULL for /queues */
    int status;           /* of a success */
    fl_buf_t out;         /* success body */
    char msg[1024];       /* error message; "" = the table's */
} mreq_t;

static int fail(mreq_t *r, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(mreq_t *r, int err, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->msg, sizeof r->msg, fmt, ap);
        va_end(ap);
    }
    return err;
}

static const char *hdr(const mreq_t *r, const char *name)
{
    return r->hr->header(r->hr->conn, name);
}

static const char *qparam(const mreq_t *r, const char *name)
{
    for (size_t i = 0; i < r->n_query; i++)
        if (strcasecmp(r->query[i].key, name) == 0)
            return r->query[i].val;
    return NULL;
}

/* A whole decimal integer in [lo, hi] (no blanks, no '+'). */
static bool parse_long(const char *v, long lo, long hi, long *out)
{
    if (!((*v >= '0' && *v <= '9') || (*v == '-' && v[1] >= '0' && v[1] <= '9')))
        return false;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (*end || errno || x < lo || x > hi)
        return false;
    *out = x;
    return true;
}

/* Parses an integer query parameter in [lo, hi]; def when absent. */
static int qlong(mreq_t *r, const char *name, long lo, long hi, long def, long *out)
{
    const char *v = qparam(r, name);
    if (!v) {
        *out = def;
        return FL_MNS_OK;
    }
    if (!parse_long(v, lo, hi, out))
        return fail(r, FL_MNS_EINVALID_ARGUMENT, "The value of %s should between %ld and %ld.",
                    name, lo, hi);
    return FL_MNS_OK;
}

typedef struct {
    fl_arena_t *a;
    fl_kv_t *kv;
    size_t n, cap;
} hdr_list_t;

static void collect_header(void *arg, const char *name, const char *val)
{
    hdr_list_t *l = arg;
    if (!name || strncasecmp(name, "x-mns-", 6) != 0)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        fl_kv_t *kv = fl_arena_alloc(l->a, cap * sizeof *kv);
        if (l->n)
            memcpy(kv, l->kv, l->n * sizeof *kv);
        l->kv = kv;
        l->cap = cap;
    }
    l->kv[l->n].key = name;
    l->kv[l->n].val = val ? val : "";
    l->n++;
}

static int authenticate(mreq_t *r)
{
    const fl_http_req_t *hr = r->hr;
    const char *authz = hdr(r, "authorization");
    if (!authz || !*authz)
        return FL_MNS_EMISSING_AUTHORIZATION_HEADER;
    if (strncmp(authz, "MNS ", 4) != 0)
        return FL_MNS_EINVALID_AUTHORIZATION_HEADER;
    const char *p = authz + 4;
    while (*p == ' ')
        p++;
    const char *colon = strchr(p, ':');
    if (!colon || colon == p || !colon[1] || colon - p > 128)
        return FL_MNS_EINVALID_AUTHORIZATION_HEADER;
    r->ak = fl_arena_strndup(r->a, p, (size_t)(colon - p));
    const char *sig = colon + 1;
    if (hdr(r, "security-token") || hdr(r, "x-mns-security-token"))
        return fail(r, FL_MNS_EINVALID_ARGUMENT,
                    "SecurityToken (STS) is not supported by this server.");

    /* The Date header is what the string-to-sign carries; x-mns-date stands in for it when
     * a client cannot set Date (it is signed among the x-mns-* headers anyway). */
    const char *date = hdr(r, "date");
    const char *when = date ? date : hdr(r, "x-mns-date");
    if (!when)
        return FL_MNS_EMISSING_DATE_HEADER;
    int64_t signed_ms;
    if (fl_mns_parse_date(when, &signed_ms) != FL_OK)
        return FL_MNS_EINVALID_DATE_HEADER;

    fl_key_info_t k;
    bool key_ok = fl_keys_get(r->api->keys, r->ak, &k) && k.enabled;
    if (!key_ok && r->api->sync) { /* made or enabled on another node a moment ago? */
        fl_api_sync_key_miss(r->api);
        key_ok = fl_keys_get(r->api->keys, r->ak, &k) && k.enabled;
    }
    if (!key_ok)
        return FL_MNS_EINVALID_ACCESS_KEY_ID;
    int64_t d = signed_ms - r->now_ms;
    if (d > r->api->max_skew_ms || -d > r->api->max_skew_ms)
        return fail(r, FL_MNS_ETIME_EXPIRED,
                    "The http request you sent is expired: the request time %s is more than "
                    "%" PRId64 " minutes away from the server time.",
                    when, r->api->max_skew_ms / 60000);

    hdr_list_t hl = {.a = r->a};
    if (hr->each_header) {
        hr->each_header(hr->conn, collect_header, &hl);
    } else {
        static const char *known[] = {"x-mns-date", "x-mns-version", "x-mns-marker",
                                      "x-mns-prefix", "x-mns-ret-number", "x-mns-with-meta"};
        for (size_t i = 0; i < FL_ARRAY_LEN(known); i++) {
            const char *v = hdr(r, known[i]);
            if (v)
                collect_header(&hl, known[i], v);
        }
    }
    const char *resource = hr->raw_query && *hr->raw_query
                               ? fl_arena_printf(r->a, "%s?%s", hr->path, hr->raw_query)
                               : hr->path;
    const char *md5 = hdr(r, "content-md5");
    fl_buf_t sts;
    fl_buf_init(&sts);
    fl_mns_string_to_sign(hr->method, md5, hdr(r, "content-type"), date ? date : when, hl.kv,
                          hl.n, resource, &sts);
    char want[29];
    fl_mns_sign(k.secret, sts.data, sts.len, want);
    fl_buf_free(&sts);
    if (!fl_sign_equal(want, sig))
        return FL_MNS_ESIGNATURE_DOES_NOT_MATCH;
    r->account = k.account;
    r->user = k.user[0] ? fl_arena_strdup(r->a, k.user) : NULL;

    /* Content-MD5 binds the body to the signature. RFC 1864 says base64 of the digest; the
     * official Node.js client sends base64 of the hex digest text. Both are accepted. */
    if (md5 && *md5) {
        unsigned char dg[EVP_MAX_MD_SIZE];
        unsigned int dl = 0;
        FL_ASSERT(EVP_Digest(hr->body ? hr->body : "", hr->body_len, dg, &dl, EVP_md5(), NULL));
        char hex[33], b64_raw[32], b64_hex[48];
        fl_hex(dg, dl, hex);
        fl_b64(dg, dl, b64_raw);
        fl_b64(hex, 32, b64_hex);
        if (strcmp(md5, b64_raw) != 0 && strcmp(md5, b64_hex) != 0)
            return FL_MNS_EINVALID_DIGEST;
    }
    const char *ver = hdr(r, "x-mns-version");
    if (!ver || strcmp(ver, FL_MNS_VERSION) != 0)
        return fail(r, FL_MNS_EINVALID_ARGUMENT, "The x-mns-version header must be %s.",
                    FL_MNS_VERSION);
    return FL_MNS_OK;
}

/* RAM: a root key may do anything in its account; a RAM user needs mns:<op> on
 * acs:mns:<region>:<account>:<path>. */
static int authorize(mreq_t *r, const char *op, bool messages)
{
    r->op = op;
    if (!r->user)
        return FL_MNS_OK;
    char action[64];
    snprintf(action, sizeof action, "mns:%s", op);
    const char *res = r->queue ? fl_arena_printf(r->a, "acs:mns:%s:%llu:/queues/%s%s",
                                                 r->api->region, (unsigned long long)r->account,
                                                 r->queue, messages ? "/messages" : "")
                               : fl_arena_printf(r->a, "acs:mns:%s:%llu:/queues",
                                                 r->api->region, (unsigned long long)r->account);
    fl_authz_ctx_t ctx = {.source_ip = r->hr->peer_ip ? r->hr->peer_ip : "",
                          .secure_transport = false, .now_ms = r->now_ms};
    if (fl_keys_allowed(r->api->keys, r->account, r->user, action, res, &ctx))
        return FL_MNS_OK;
    return fail(r, FL_MNS_EACCESS_DENIED,
                "The caller is not authorized to perform '%s' on resource '%s'.", action, res);
}


static void md5_upper(const char *s, size_t len, char out[33])
{
    unsigned char dg[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    FL_ASSERT(EVP_Digest(s, len, dg, &dl, EVP_md5(), NULL) && dl == 16);
    static const char hx[] = "0123456789ABCDEF";
    for (unsigned i = 0; i < 16; i++) {
        out[2 * i] = hx[dg[i] >> 4];
        out[2 * i + 1] = hx[dg[i] & 15];
    }
    out[32] = 0;
}

static void put_message(fl_buf_t *b, const fl_msg_row_t *m, bool peek)
{
    char id[33], md5[33];
    size_t blen = strlen(m->body ? m->body : "");
    fl_msg_id(m->id, id);
    md5_upper(m->body ? m->body : "", blen, md5);
    fl_buf_puts(b, "<Message>");
    xml_str(b, "MessageId", id);
    if (!peek)
        xml_str(b, "ReceiptHandle", m->receipt);
    xml_str(b, "MessageBodyMD5", md5);
    xml_strn(b, "MessageBody", m->body ? m->body : "", blen);
    xml_i64(b, "EnqueueTime", m->enqueue_ms);
    if (!peek)
        xml_i64(b, "NextVisibleTime", m->visible_ms);
    xml_i64(b, "FirstDequeueTime", m->first_dequeue_ms);
    xml_i64(b, "DequeueCount", m->dequeue_count);
    xml_i64(b, "Priority", m->priority);
    fl_buf_puts(b, "</Message>");
}

/* ---- queues ---- */

static int op_list_queues(mreq_t *r)
{
    int rc = authorize(r, "ListQueue", false);
    if (rc)
        return rc;
    const char *prefix = hdr(r, "x-mns-prefix");
    const char *marker = hdr(r, "x-mns-marker");
    const char *num = hdr(r, "x-mns-ret-number");
    long limit = 1000;
    if (num && !parse_long(num, 1, 1000, &limit))
        return fail(r, FL_MNS_EINVALID_ARGUMENT,
                    "The value of x-mns-ret-number should between 1 and 1000.");
    fl_queue_row_t *rows = NULL;
    int n = 0;
    rc = fl_db_queue_list(fl_store_reader(r->api->store), r->account, marker ? marker : "",
                          prefix ? prefix : "", (int)limit + 1, r->a, &rows, &n);
    if (rc)
        return mns_code(rc);
    xml_begin(&r->out, "Queues");
    for (int i = 0; i < n && i < limit; i++) {
        fl_buf_puts(&r->out, "<Queue>");
        const char *url = fl_arena_printf(r->a, "http://%s/queues/%s", r->host, rows[i].name);
        xml_str(&r->out, "QueueURL", url);
        fl_buf_puts(&r->out, "</Queue>");
    }
    if (n > limit)
        xml_str(&r->out, "NextMarker", rows[limit].name);
    fl_buf_puts(&r->out, "</Queues>");
    r->status = 200;
    return FL_MNS_OK;
}

static int op_put_queue(mreq_t *r)
{
    const char *mo = qparam(r, "metaoverride");
    bool set = mo && strcasecmp(mo, "true") == 0;
    int rc = authorize(r, set ? "SetQueueAttributes" : "CreateQueue", false);
    if (rc)
        return rc;
    queue_job_t j = {.account = r->account, .queue = r->queue, .set = set,
                     .now_ms = r->now_ms};
    if (set)
        j.want = (fl_mns_attrs_t){-1, -1, -1, -1, -1, -1};
    else
        fl_mns_attrs_default(&j.want);
    rc = fl_mns_parse_attrs(r->hr->body, r->hr->body_len, &j.want, r->msg, sizeof r->msg);
    if (rc)
        return rc;
    rc = mns_code(fl_store_write(r->api->store, job_queue_put, &j));
    if (rc)
        return rc;
    r->status = j.status;
    return FL_MNS_OK;
}

static int op_get_queue(mreq_t *r)
{
    int rc = authorize(r, "GetQueueAttributes", false);
    if (rc)
        return rc;
    fl_db_t *db = fl_store_reader(r->api->store);
    fl_queue_row_t q;
    fl_mns_attrs_t at;
    rc = queue_attrs(db, r->account, r->queue, r->a, &q, &at);
    int64_t total = 0, inactive = 0, delayed = 0;
    if (!rc)
        rc = fl_db_queue_counts(db, r->account, r->queue, r->now_ms, &total, &inactive,
                                &delayed);
    if (rc)
        return mns_code(rc);
    fl_buf_t *b = &r->out;
    xml_begin(b, "Queue");
    xml_str(b, "QueueName", q.name);
    xml_i64(b, "CreateTime", q.created_ms / 1000);
    xml_i64(b, "LastModifyTime", q.modified_ms / 1000);
    xml_i64(b, "DelaySeconds", at.delay);
    xml_i64(b, "MaximumMessageSize", at.max_size);
    xml_i64(b, "MessageRetentionPeriod", at.retention);
    xml_i64(b, "VisibilityTimeout", at.visibility);
    xml_i64(b, "PollingWaitSeconds", at.polling_wait);
    xml_i64(b, "ActiveMessages", total - inactive - delayed);
    xml_i64(b, "InactiveMessages", inactive);
    xml_i64(b, "DelayMessages", delayed);
    xml_str(b, "LoggingEnabled", at.logging ? "True" : "False");
    fl_buf_puts(b, "</Queue>");
    r->status = 200;
    return FL_MNS_OK;
}

static int op_delete_queue(mreq_t *r)
{
    int rc = authorize(r, "DeleteQueue", false);
    if (rc)
        return rc;
    queue_del_job_t j = {r->account, r->queue};
    rc = mns_code(fl_store_write(r->api->store, job_queue_delete, &j));
    if (rc)
        return rc;
    r->status = 204;
    return FL_MNS_OK;
}

/* ---- messages ---- */

static int op_send(mreq_t *r)
{
    fl_mns_send_t *msgs;
    size_t n;
    bool batch;
    int rc = fl_mns_parse_send(r->a, r->hr->body, r->hr->body_len, &msgs, &n, &batch, r->msg,
                               sizeof r->msg);
    if (!rc)
        rc = authorize(r, batch ? "BatchSendMessage" : "SendMessage", true);
    else
        r->op = "SendMessage";
    if (rc)
        return rc;
    send_job_t j = {.account = r->account, .queue = r->queue, .msgs = msgs, .n = n,
                    .now_ms = r->now_ms};
    j.ids = fl_arena_alloc(r->a, n * sizeof *j.ids);
    rc = mns_code(fl_store_write(r->api->store, job_send, &j));
    if (rc == FL_MNS_EINVALID_ARGUMENT)
        return fail(r, rc, "%s", j.msg);
    if (rc)
        return rc;
    poll_notify();
    fl_buf_t *b = &r->out;
    xml_begin(b, batch ? "Messages" : "Message");
    for (size_t i = 0; i < n; i++) {
        char id[33], md5[33];
        fl_msg_id(j.ids[i], id);
        md5_upper(msgs[i].body, msgs[i].body_len, md5);
        if (batch)
            fl_buf_puts(b, "<Message>");
        xml_str(b, "MessageId", id);
        xml_str(b, "MessageBodyMD5", md5);
        if (batch)
            fl_buf_puts(b, "</Message>");
    }
    fl_buf_puts(b, batch ? "</Messages>" : "</Message>");
    r->status = 201;
    return FL_MNS_OK;
}

static int op_receive(mreq_t *r)
{
    const char *peek_s = qparam(r, "peekonly");
    bool peek = peek_s && strcasecmp(peek_s, "true") == 0;
    bool batch = qparam(r, "numOfMessages") != NULL;
    long num = 1, wait = -1;
    int rc = qlong(r, "numOfMessages", 1, FL_MNS_BATCH_MAX, 1, &num);
    if (!rc)
        rc = qlong(r, "waitseconds", 0, FL_MNS_WAIT_MAX, -1, &wait);
    if (rc)
        return rc;
    rc = authorize(r, peek ? (batch ? "BatchPeekMessage" : "PeekMessage")
                           : (batch ? "BatchReceiveMessage" : "ReceiveMessage"),
                   true);
    if (rc)
        return rc;
    fl_db_t *db = fl_store_reader(r->api->store);
    fl_queue_row_t q;
    fl_mns_attrs_t at;
    rc = mns_code(queue_attrs(db, r->account, r->queue, r->a, &q, &at));
    if (rc)
        return rc;
    fl_msg_row_t *rows = NULL;
    int n = 0;
    if (peek) {
        rc = mns_code(fl_db_msg_ready(db, r->account, r->queue, r->now_ms, (int)num, true, r->a,
                                      &rows, &n));
        /* Peeking must not show what a receive would drop as expired. */
        int k = 0;
        for (int i = 0; i < n; i++)
            if (rows[i].expire_ms > r->now_ms)
                rows[k++] = rows[i];
        n = k;
    } else {
        if (wait < 0)
            wait = at.polling_wait;
        int64_t deadline = fl_mono_ms() + wait * 1000;
        for (;;) {
            uint64_t seen = poll_seen();
            int64_t now = fl_now_ms();
            fl_msg_row_t *peeked = NULL;
            int np = 0;
            fl_arena_t scratch; /* a poll may peek hundreds of times: keep r->a small */
            fl_arena_init(&scratch);
            rc = mns_code(fl_db_msg_ready(db, r->account, r->queue, now, 1, true, &scratch,
                                          &peeked, &np));
            fl_arena_close(&scratch);
            if (!rc && np > 0)
                rc = fl_mns_receive(r->api->store, r->account, r->queue, (int)num,
                                    (int64_t)at.visibility * 1000, now, r->a, &rows, &n);
            if (rc || n > 0)
                break;
            int64_t left = deadline - fl_mono_ms();
            if (left <= 0)
                break;
            if (!poll_wait(&seen, FL_MIN(left, POLL_STEP_MS)))
                break;
        }
    }
    if (rc)
        return rc;
    if (n == 0)
        return FL_MNS_EMESSAGE_NOT_EXIST;
    fl_buf_t *b = &r->out;
    if (batch) {
        xml_begin(b, "Messages");
        for (int i = 0; i < n; i++)
            put_message(b, &rows[i], peek);
        fl_buf_puts(b, "</Messages>");
    } else {
        /* The root element is the message itself. */
        fl_buf_t one;
        fl_buf_init(&one);
        put_message(&one, &rows[0], peek);
        fl_buf_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Message xmlns=\"%s\">%s",
                      FL_MNS_NS, one.data + strlen("<Message>"));
        fl_buf_free(&one);
    }
    r->status = 200;
    return FL_MNS_OK;
}

static int queue_must_exist(mreq_t *r)
{
    fl_queue_row_t q;
    int rc = fl_db_queue_get(fl_store_reader(r->api->store), r->account, r->queue, r->a, &q);
    if (rc == FL_ENOT_FOUND)
        return FL_MNS_EQUEUE_NOT_EXIST;
    return mns_code(rc);
}

static int op_delete_message(mreq_t *r)
{
    const char *rh = qparam(r, "ReceiptHandle");
    if (!rh && r->hr->body_len == 0) {
        r->op = "DeleteMessage";
        return FL_MNS_EMISSING_RECEIPT_HANDLE;
    }
    int rc;
    if (rh) {
        rc = authorize(r, "DeleteMessage", true);
        if (!rc)
            rc = queue_must_exist(r);
        if (!rc)
            rc = fl_mns_delete(r->api->store, r->account, r->queue, rh);
        if (rc)
            return rc;
        r->status = 204;
        return FL_MNS_OK;
    }
    char **handles;
    size_t n;
    rc = fl_mns_parse_receipts(r->a, r->hr->body, r->hr->body_len, &handles, &n, r->msg,
                               sizeof r->msg);
    r->op = "BatchDeleteMessage";
    if (!rc)
        rc = authorize(r, "BatchDeleteMessage", true);
    if (rc)
        return rc;
    batch_del_job_t j = {.account = r->account, .queue = r->queue, .handles = handles, .n = n};
    j.codes = fl_arena_alloc(r->a, n * sizeof *j.codes);
    rc = mns_code(fl_store_write(r->api->store, job_batch_delete, &j));
    if (rc)
        return rc;
    bool all = true;
    for (size_t i = 0; i < n; i++)
        all = all && j.codes[i] == FL_MNS_OK;
    if (all) {
        r->status = 204;
        return FL_MNS_OK;
    }
    /* Some handles failed: 404 with one Error per failed handle (the others are deleted). */
    fl_buf_t *b = &r->out;
    xml_begin(b, "Errors");
    for (size_t i = 0; i < n; i++) {
        if (j.codes[i] == FL_MNS_OK)
            continue;
        fl_buf_puts(b, "<Error>");
        xml_str(b, "ErrorCode", fl_mns_err_code(j.codes[i]));
        xml_str(b, "ErrorMessage", fl_mns_err_message(j.codes[i]));
        xml_str(b, "ReceiptHandle", handles[i]);
        fl_buf_puts(b, "</Error>");
    }
    fl_buf_puts(b, "</Errors>");
    r->status = 404;
    return FL_MNS_OK;
}

static int op_change_visibility(mreq_t *r)
{
    int rc = authorize(r, "ChangeMessageVisibility", true);
    if (rc)
        return rc;
    const char *rh = qparam(r, "receiptHandle");
    if (!rh)
        return FL_MNS_EMISSING_RECEIPT_HANDLE;
    if (!qparam(r, "visibilityTimeout"))
        return FL_MNS_EMISSING_VISIBILITY_TIMEOUT;
    long vt;
    rc = qlong(r, "visibilityTimeout", 1, 43200, 0, &vt);
    if (!rc)
        rc = queue_must_exist(r);
    if (rc)
        return rc;
    char receipt[FL_MNS_RECEIPT_LEN];
    int64_t visible = 0;
    rc = fl_mns_change_visibility(r->api->store, r->account, r->queue, rh, (int64_t)vt * 1000,
                                  r->now_ms, receipt, &visible);
    if (rc)
        return rc;
    xml_begin(&r->out, "ChangeVisibility");
    xml_str(&r->out, "ReceiptHandle", receipt);
    xml_i64(&r->out, "NextVisibleTime", visible);
    fl_buf_puts(&r->out, "</ChangeVisibility>");
    r->status = 200;
    return FL_MNS_OK;
}

bool fl_mns_path_is(const char *path)
{
    return path && strncmp(path, "/queues", 7) == 0 &&
           (path[7] == 0 || path[7] == '/' || path[7] == '?');
}

static int route(mreq_t *r)
{
    const fl_http_req_t *hr = r->hr;
    if (hr->body_too_large || hr->body_len > r->api->max_body)
        return fail(r, FL_MNS_EINVALID_ARGUMENT, "The request body exceeds %zu bytes.",
                    r->api->max_body);
    if (!fl_mns_path_is(hr->path))
        return FL_MNS_EINVALID_REQUEST_URL;
    fl_kv_t *kv = NULL;
    size_t n = 0, cap = 0;
    const char *rq = hr->raw_query ? hr->raw_query : "";
    if (api_parse_urlencoded(r->a, rq, strlen(rq), false, &kv, &n, &cap) != FL_OK)
        return fail(r, FL_MNS_EINVALID_QUERY_STRING,
                    "Http request URL contains a malformed percent-escape.");
    r->query = kv;
    r->n_query = n;

    int rc = authenticate(r);
    if (rc)
        return rc;

    const char *rest = hr->path + 7;
    const char *m = hr->method;
    if (*rest == 0 || strcmp(rest, "/") == 0) {
        if (strcmp(m, "GET") != 0)
            return fail(r, FL_MNS_EINVALID_REQUEST_URL, "%s /queues is not an operation.", m);
        return op_list_queues(r);
    }
    rest++; /* past '/' */
    const char *slash = strchr(rest, '/');
    size_t nl = slash ? (size_t)(slash - rest) : strlen(rest);
    char *name = fl_arena_strndup(r->a, rest, nl);
    long dl = fl_pct_decode(name, nl, name, false);
    if (dl < 0)
        return FL_MNS_EINVALID_REQUEST_URL;
    name[dl] = 0;
    if (!fl_queue_name_is_valid(name))
        return fail(r, FL_MNS_EINVALID_ARGUMENT,
                    "The queue name must be 1 to 120 letters, digits and hyphens, not starting "
                    "with a hyphen.");
    r->queue = name;
    if (!slash) {
        if (strcmp(m, "PUT") == 0)
            return op_put_queue(r);
        if (strcmp(m, "GET") == 0)
            return op_get_queue(r);
        if (strcmp(m, "DELETE") == 0)
            return op_delete_queue(r);
    } else if (strcmp(slash, "/messages") == 0) {
        if (strcmp(m, "POST") == 0)
            return op_send(r);
        if (strcmp(m, "GET") == 0)
            return op_receive(r);
        if (strcmp(m, "DELETE") == 0)
            return op_delete_message(r);
        if (strcmp(m, "PUT") == 0)
            return op_change_visibility(r);
    } else {
        return FL_MNS_EINVALID_REQUEST_URL;
    }
    return fail(r, FL_MNS_EINVALID_REQUEST_URL, "%s is not an operation on this path.", m);
}

void fl_mns_handle(fl_api_t *api, const fl_http_req_t *hr, fl_http_resp_t *out)
{
    fl_arena_t a;
    fl_arena_init(&a);
    char rid[37];
    fl_uuid(rid, true);
    const char *host = hr->header(hr->conn, "host");
    mreq_t r = {.api = api, .a = &a, .hr = hr, .request_id = rid, .now_ms = fl_now_ms(),
                .host = host && *host ? host : "localhost"};
    fl_buf_init(&r.out);
    int err = route(&r);
    if (err) {
        fl_buf_reset(&r.out);
        r.status = fl_mns_err_status(err);
        xml_begin(&r.out, "Error");
        xml_str(&r.out, "Code", fl_mns_err_code(err));
        xml_str(&r.out, "Message", r.msg[0] ? r.msg : fl_mns_err_message(err));
        xml_str(&r.out, "RequestId", rid);
        xml_str(&r.out, "HostId", fl_arena_printf(&a, "http://%s", r.host));
        fl_buf_puts(&r.out, "</Error>");
        if (r.status == 403)
            fl_warn("audit: denied code=%s account=%llu key=%s user=%s action=mns:%s "
                    "queue=%s ip=%s request=%s",
                    fl_mns_err_code(err), (unsigned long long)r.account, fl_log_safe(&a, r.ak),
                    fl_log_safe(&a, r.user), fl_log_safe(&a, r.op), fl_log_safe(&a, r.queue),
                    fl_log_safe(&a, hr->peer_ip), rid);
        else if (r.status >= 500)
            fl_warn("mns: %s %s -> %d %s: %s", hr->method, fl_log_safe(&a, hr->path), r.status,
                    fl_mns_err_code(err), r.msg);
    }
    out->status = r.status ? r.status : 200;
    out->body = fl_buf_take(&r.out);
    out->retry_after = 0;
    snprintf(out->request_id, sizeof out->request_id, "%s", rid);
    fl_arena_close(&a);
}
