/*
 * reply.c - the only code that shapes API replies: a success body is the handler's object
 * plus RequestId (never a Code, which @alicloud/pop-core would take for an error); an error
 * body is {"RequestId","HostId","Code","Message"} with the HTTP status of the error table.
 */
#include <stdlib.h>

#include "api.h"

char *api_reply_body(const api_req_t *rq, api_resp_t *rs, const char *host_id, int *status)
{
    json_t *o;
    if (rs->err == FL_OK && rs->body) {
        o = json_incref(rs->body);
        json_object_set_new(o, "RequestId", json_string(rq->request_id));
        *status = 200;
    } else {
        int err = rs->err ? rs->err : FL_EINTERNAL;
        if (!rs->msg[0])
            snprintf(rs->msg, sizeof rs->msg, "%s", fl_strerror(err));
        o = json_pack("{s:s, s:s, s:s, s:s}", "RequestId", rq->request_id, "HostId", host_id,
                      "Code", fl_err_code(err), "Message", rs->msg);
        if (!o) /* host_id or msg not valid UTF-8: fall back to plain text fields */
            o = json_pack("{s:s, s:s, s:s, s:s}", "RequestId", rq->request_id, "HostId", "flowd",
                          "Code", fl_err_code(err), "Message", fl_strerror(err));
        *status = fl_err_status(err);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    FL_ASSERT(s != NULL);
    return s;
}
