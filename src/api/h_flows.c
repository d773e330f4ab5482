/*
 * h_flows.c - flow actions: CreateFlow, UpdateFlow, DeleteFlow, DescribeFlow, ListFlows.
 * Definitions are parsed and validated before anything is written; a flow keeps the text
 * it was given, and executions keep the definition they started with.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define MAX_DESCRIPTION 1024

static const char *name_rule = "must be 1 to 128 characters of letters, digits, '_' and '-', "
                               "starting with a letter or '_'.";

/* Validates a flow name parameter. */
static int check_name(api_resp_t *rs, const char *param, const char *v)
{
    if (!fl_name_is_valid(v))
        return api_invalid(rs, "%s %s", param, name_rule);
    return FL_OK;
}

/* Validates a definition; the message names line, column and path of the first problem. */
static int check_definition(api_resp_t *rs, const char *def)
{
    fl_flow_t *flow = NULL;
    fl_diag_t d = {0};
    if (fl_spec_parse(def, strlen(def), &flow, &d) != FL_OK) {
        if (d.path[0])
            return api_invalid(rs, "Definition is invalid: line %d, column %d: %s: %s", d.line,
                               d.col, d.path, d.msg);
        return api_invalid(rs, "Definition is invalid: line %d, column %d: %s", d.line, d.col,
                           d.msg);
    }
    fl_flow_free(flow);
    return FL_OK;
}

static int check_optional(const api_req_t *rq, api_resp_t *rs)
{
    const char *desc = api_param(rq, "Description");
    long desc_chars = desc ? fl_utf8_count(desc, strlen(desc)) : 0;
    if (desc_chars < 0 || desc_chars > MAX_DESCRIPTION)
        return api_invalid(rs, "Description must be at most %d characters of valid UTF-8.",
                           MAX_DESCRIPTION);
    const char *type = api_param(rq, "Type");
    if (type && *type && strcmp(type, "FDL") != 0 && strcmp(type, "DEFAULT") != 0)
        return api_invalid(rs, "Type must be FDL.");
    const char *env = api_param(rq, "Environment");
    if (env && *env) {
        json_t *e = json_loads(env, 0, NULL);
        bool ok = json_is_object(e);
        json_decref(e);
        if (!ok)
            return api_invalid(rs, "Environment must be a JSON object.");
    }
    return FL_OK;
}

/* The flow shape of CreateFlow, UpdateFlow, DescribeFlow and ListFlows. */
static json_t *flow_json(const fl_flow_row_t *f)
{
    char created[32], modified[32];
    fl_time_iso(f->created_ms, created);
    fl_time_iso(f->modified_ms, modified);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Name", f->name, "Id",
                          f->uuid, "Definition", f->definition ? f->definition : "",
                          "Description", f->description ? f->description : "", "Type",
                          f->type ? f->type : "FDL", "RoleArn", f->role_arn ? f->role_arn : "",
                          "ExecutionMode", f->mode ? f->mode : "Standard", "CreatedTime", created,
                          "LastModifiedTime", modified);
    FL_ASSERT(o != NULL);
    json_t *env = f->environment && *f->environment ? json_loads(f->environment, 0, NULL) : NULL;
    if (env)
        json_object_set_new(o, "Environment", env);
    return o;
}

/* ---- CreateFlow ---- */

typedef struct {
    api_req_t *rq;
    fl_flow_row_t f;
} create_job_t;

static int create_job(fl_db_t *db, void *arg)
{
    create_job_t *j = arg;
    int rc = fl_db_def_put(db, j->f.definition, &j->f.def_id);
    if (!rc)
        rc = fl_db_flow_insert(db, &j->f);
    return rc;
}

int h_create_flow(api_req_t *rq, api_resp_t *rs)
{
    const char *name = api_param(rq, "Name");
    const char *def = api_param(rq, "Definition");
    int rc = check_name(rs, "Name", name);
    if (!rc)
        rc = check_optional(rq, rs);
    if (rc)
        return rc;
    const char *mode = api_param(rq, "ExecutionMode");
    if (mode && *mode && strcmp(mode, "Standard") != 0) {
        if (strcmp(mode, "Express") == 0)
            return api_invalid(rs, "ExecutionMode Express is not supported by this server yet.");
        return api_invalid(rs, "ExecutionMode must be Standard or Express.");
    }
    if ((rc = check_definition(rs, def)))
        return rc;
    char uuid[37];
    fl_uuid(uuid, false);
    const char *type = api_param(rq, "Type");
    create_job_t j = {.rq = rq,
                      .f = {.account = rq->account,
                            .name = (char *)name,
                            .uuid = uuid,
                            .definition = (char *)def,
                            .description = (char *)api_param(rq, "Description"),
                            .type = (char *)(type && *type ? type : "FDL"),
                            .role_arn = (char *)api_param(rq, "RoleArn"),
                            .mode = (char *)"Standard",
                            .environment = (char *)api_param(rq, "Environment"),
                            .created_ms = rq->now_ms,
                            .modified_ms = rq->now_ms}};
    rc = fl_store_write(rq->api->store, create_job, &j);
    if (rc == FL_EFLOW_ALREADY_EXISTS)
        return api_err(rs, rc, name);
    if (rc)
        return rc;
    rs->body = flow_json(&j.f);
    return FL_OK;
}

/* ---- UpdateFlow ---- */

typedef struct {
    api_req_t *rq;
    fl_arena_t *a;
    fl_flow_row_t f;
} update_job_t;

static int update_job(fl_db_t *db, void *arg)
{
    update_job_t *j = arg;
    api_req_t *rq = j->rq;
    int rc = fl_db_flow_get(db, rq->account, api_param(rq, "Name"), true, j->a, &j->f);
    if (rc)
        return rc;
    const char *v;
    if ((v = api_param(rq, "Definition"))) {
        if ((rc = fl_db_def_put(db, v, &j->f.def_id)))
            return rc;
        j->f.definition = (char *)v;
    }
    if ((v = api_param(rq, "Description")))
        j->f.description = (char *)v;
    if ((v = api_param(rq, "Type")) && *v)
        j->f.type = (char *)v;
    if ((v = api_param(rq, "RoleArn")))
        j->f.role_arn = (char *)v;
    if ((v = api_param(rq, "Environment")))
        j->f.environment = (char *)v;
    j->f.modified_ms = rq->now_ms;
    return fl_db_flow_update(db, &j->f);
}

int h_update_flow(api_req_t *rq, api_resp_t *rs)
{
    const char *name = api_param(rq, "Name");
    int rc = check_name(rs, "Name", name);
    if (!rc)
        rc = check_optional(rq, rs);
    const char *def = api_param(rq, "Definition");
    if (!rc && def)
        rc = check_definition(rs, def);
    if (rc)
        return rc;
    update_job_t j = {.rq = rq, .a = rq->a};
    rc = fl_store_write(rq->api->store, update_job, &j);
    if (rc == FL_EFLOW_NOT_EXISTS)
        return api_err(rs, rc, name);
    if (rc)
        return rc;
    rs->body = flow_json(&j.f);
    return FL_OK;
}

/* ---- DeleteFlow ---- */

static int delete_job(fl_db_t *db, void *arg)
{
    api_req_t *rq = arg;
    fl_arena_t a;
    fl_arena_init(&a);
    fl_flow_row_t f;
    int rc = fl_db_flow_get(db, rq->account, api_param(rq, "Name"), false, &a, &f);
    if (!rc)
        rc = fl_db_flow_delete(db, f.id);
    fl_arena_close(&a);
    return rc;
}

int h_delete_flow(api_req_t *rq, api_resp_t *rs)
{
    const char *name = api_param(rq, "Name");
    int rc = check_name(rs, "Name", name);
    if (rc)
        return rc;
    rc = fl_store_write(rq->api->store, delete_job, rq);
    if (rc == FL_EFLOW_NOT_EXISTS)
        return api_err(rs, rc, name);
    if (rc)
        return rc;
    rs->body = json_object();
    return FL_OK;
}

/* ---- DescribeFlow, ListFlows ---- */

int h_describe_flow(api_req_t *rq, api_resp_t *rs)
{
    const char *name = api_param(rq, "Name");
    fl_flow_row_t f;
    int rc = fl_db_flow_get(fl_store_reader(rq->api->store), rq->account, name, true, rq->a, &f);
    if (rc == FL_EFLOW_NOT_EXISTS)
        return api_err(rs, rc, name);
    if (rc)
        return rc;
    rs->body = flow_json(&f);
    return FL_OK;
}

int h_list_flows(api_req_t *rq, api_resp_t *rs)
{
    long limit;
    int rc = api_int_param(rq, rs, "Limit", 1, 999, 60, &limit);
    if (rc)
        return rc;
    const char *start = api_param(rq, "NextToken");
    fl_flow_row_t *rows;
    int n;
    rc = fl_db_flow_list(fl_store_reader(rq->api->store), rq->account, start && *start ? start : "",
                         (int)limit + 1, rq->a, &rows, &n);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(arr, flow_json(&rows[i]));
    rs->body = json_pack("{s:o}", "Flows", arr);
    if (n > limit)
        json_object_set_new(rs->body, "NextToken", json_string(rows[limit].name));
    return FL_OK;
}
