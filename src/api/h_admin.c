/*
 * h_admin.c - flowd's administrative extensions: accounts, RAM users, access keys and
 * policies (CreateAccount, ListAccounts, CreateUser, ListUsers, CreateAccessKey,
 * UpdateAccessKey, DeleteAccessKey, ListAccessKeys, AttachPolicy, DetachPolicy,
 * ListPolicies). Only root keys get here (dispatch.c); a root key manages its own account,
 * and the root keys of the instance's first account manage every account. Changes are
 * written to the store first and then applied to the in-memory registry of keys.c.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* ---- helpers ---- */

static bool is_admin(const api_req_t *rq)
{
    return !rq->user && rq->account == rq->api->admin_account;
}

static const char *account_text(api_req_t *rq, uint64_t id)
{
    return fl_arena_printf(rq->a, "%llu", (unsigned long long)id);
}

static int parse_account_id(api_resp_t *rs, const char *v, uint64_t *out)
{
    size_t n = strlen(v);
    if (n != 16 || v[0] < '1' || v[0] > '9' || strspn(v, "0123456789") != n)
        return api_invalid(rs, "AccountId must be 16 digits, not starting with 0.");
    *out = strtoull(v, NULL, 10);
    return FL_OK;
}

/* Resolves AccountId (default: the caller's own) and checks the caller may manage it and
 * that it exists. */
static int target_account(api_req_t *rq, api_resp_t *rs, uint64_t *out)
{
    const char *v = api_param(rq, "AccountId");
    *out = rq->account;
    if (v && *v) {
        int rc = parse_account_id(rs, v, out);
        if (rc)
            return rc;
    }
    if (*out != rq->account && !is_admin(rq))
        return api_errf(rs, FL_EACCESS_DENIED,
                        "The caller is not authorized to manage account %s.", v);
    fl_account_row_t acc;
    int rc = fl_db_account_get(fl_store_reader(rq->api->store), *out, rq->a, &acc);
    if (rc == FL_EACCOUNT_NOT_EXISTS)
        return api_err(rs, rc, account_text(rq, *out));
    return rc;
}

/* RAM user names: 1-64 characters of letters, digits, '.', '_', '-' and '@'. */
static int check_user_name(api_resp_t *rs, const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 64 ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-@") != n)
        return api_invalid(rs, "UserName must be 1 to 64 characters of letters, digits, "
                               "'.', '_', '-' and '@'.");
    return FL_OK;
}

static int user_must_exist(api_req_t *rq, api_resp_t *rs, uint64_t account, const char *user)
{
    fl_user_row_t u;
    int rc = fl_db_user_get(fl_store_reader(rq->api->store), account, user, rq->a, &u);
    if (rc == FL_EUSER_NOT_EXISTS)
        return api_err(rs, rc, user, account_text(rq, account));
    return rc;
}

static json_t *time_json(int64_t ms)
{
    char t[32];
    fl_time_iso(ms, t);
    return json_string(t);
}

/* Reloads the policies of one user from the store into the registry. */
static int reload_policies(fl_api_t *api, uint64_t account, const char *user)
{
    fl_arena_t a;
    fl_arena_init(&a);
    fl_policy_row_t *rows;
    int n = 0;
    int rc = fl_db_policy_list(fl_store_reader(api->store), account, user, &a, &rows, &n);
    if (rc == FL_OK) {
        fl_policy_t **ps = xcalloc((size_t)(n ? n : 1), sizeof *ps);
        size_t k = 0;
        for (int i = 0; i < n; i++) {
            char err[256];
            if (fl_policy_parse(rows[i].document, strlen(rows[i].document), &ps[k], err,
                                sizeof err) == FL_OK)
                k++;
            else /* validated when attached; a bad stored document grants nothing */
                fl_error("admin: stored policy %s of %s is invalid: %s", rows[i].name, user, err);
        }
        fl_keys_set_policies(api->keys, account, user, ps, k);
    }
    fl_arena_close(&a);
    return rc;
}

static void load_key(void *arg, const fl_key_row_t *k)
{
    fl_api_t *api = arg;
    fl_keys_put(api->keys, k->ak, k->secret, k->account, k->user, k->enabled);
}

int fl_api_load_identities(fl_api_t *api)
{
    fl_db_t *db = fl_store_reader(api->store);
    int rc = fl_db_keys_each(db, load_key, api);
    if (rc)
        return rc;
    fl_arena_t a;
    fl_arena_init(&a);
    fl_user_row_t *users;
    fl_account_row_t *accs;
    int n_acc = 0, n_users = 0;
    rc = fl_db_account_list(db, &a, &accs, &n_acc);
    for (int i = 0; i < n_acc && !rc; i++) {
        rc = fl_db_user_list(db, accs[i].id, &a, &users, &n_users);
        for (int j = 0; j < n_users && !rc; j++)
            rc = reload_policies(api, accs[i].id, users[j].name);
    }
    fl_arena_close(&a);
    return rc;
}

/* Runs an admin write job and, in the same transaction, tells other nodes that the
 * identities changed (sync.c). */
typedef struct {
    fl_store_job_fn fn;
    void *arg;
} identity_job_t;

static int identity_job(fl_db_t *db, void *arg)
{
    identity_job_t *j = arg;
    int rc = j->fn(db, j->arg);
    return rc ? rc : fl_api_identity_bump(db);
}

static int identity_write(fl_api_t *api, fl_store_job_fn fn, void *arg)
{
    identity_job_t j = {fn, arg};
    return fl_store_write(api->store, identity_job, &j);
}

/* ---- accounts ---- */

typedef struct {
    api_req_t *rq;
    uint64_t account;
    fl_key_row_t key;
} create_account_job_t;

static int create_account_job(fl_db_t *db, void *arg)
{
    create_account_job_t *j = arg;
    int rc = fl_db_account_insert(db, j->account, j->rq->api->region, j->rq->now_ms);
    if (!rc)
        rc = fl_db_key_insert(db, &j->key);
    return rc;
}

int h_create_account(api_req_t *rq, api_resp_t *rs)
{
    if (!is_admin(rq))
        return api_errf(rs, FL_EACCESS_DENIED, "The caller is not authorized to perform "
                                               "'fnf:CreateAccount': only the instance "
                                               "administrator may create accounts.");
    create_account_job_t j = {.rq = rq};
    const char *v = api_param(rq, "AccountId");
    if (v && *v) {
        int rc = parse_account_id(rs, v, &j.account);
        if (rc)
            return rc;
    } else {
        uint64_t r;
        fl_rand_bytes(&r, sizeof r);
        j.account = 1000000000000000ULL + r % 9000000000000000ULL;
    }
    char ak[25], secret[31];
    fl_keys_generate(ak, secret);
    j.key = (fl_key_row_t){.ak = ak, .secret = secret, .account = j.account, .enabled = true,
                           .created_ms = rq->now_ms};
    int rc = identity_write(rq->api, create_account_job, &j);
    if (rc == FL_EACCOUNT_ALREADY_EXISTS)
        return api_err(rs, rc, account_text(rq, j.account));
    if (rc)
        return rc;
    fl_keys_put(rq->api->keys, ak, secret, j.account, NULL, true);
    rs->body = json_pack("{s:s, s:s, s:s}", "AccountId", account_text(rq, j.account),
                         "AccessKeyId", ak, "AccessKeySecret", secret);
    return FL_OK;
}

int h_list_accounts(api_req_t *rq, api_resp_t *rs)
{
    if (!is_admin(rq))
        return api_errf(rs, FL_EACCESS_DENIED, "The caller is not authorized to perform "
                                               "'fnf:ListAccounts': only the instance "
                                               "administrator may list accounts.");
    fl_account_row_t *rows;
    int n = 0;
    int rc = fl_db_account_list(fl_store_reader(rq->api->store), rq->a, &rows, &n);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:o}", "AccountId",
                                             account_text(rq, rows[i].id), "Region",
                                             rows[i].region, "CreatedTime",
                                             time_json(rows[i].created_ms)));
    rs->body = json_pack("{s:o}", "Accounts", arr);
    return FL_OK;
}

/* ---- users ---- */

typedef struct {
    api_req_t *rq;
    uint64_t account;
    const char *user;
} user_job_t;

static int create_user_job(fl_db_t *db, void *arg)
{
    user_job_t *j = arg;
    return fl_db_user_insert(db, j->account, j->user, j->rq->now_ms);
}

int h_create_user(api_req_t *rq, api_resp_t *rs)
{
    user_job_t j = {.rq = rq, .user = api_param(rq, "UserName")};
    int rc = target_account(rq, rs, &j.account);
    if (!rc)
        rc = check_user_name(rs, j.user);
    if (rc)
        return rc;
    rc = identity_write(rq->api, create_user_job, &j);
    if (rc == FL_EUSER_ALREADY_EXISTS)
        return api_err(rs, rc, j.user, account_text(rq, j.account));
    if (rc)
        return rc;
    rs->body = json_pack("{s:s, s:s}", "AccountId", account_text(rq, j.account), "UserName",
                         j.user);
    return FL_OK;
}

int h_list_users(api_req_t *rq, api_resp_t *rs)
{
    uint64_t account;
    int rc = target_account(rq, rs, &account);
    if (rc)
        return rc;
    fl_user_row_t *rows;
    int n = 0;
    if ((rc = fl_db_user_list(fl_store_reader(rq->api->store), account, rq->a, &rows, &n)))
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:o}", "UserName", rows[i].name,
                                             "CreatedTime", time_json(rows[i].created_ms)));
    rs->body = json_pack("{s:o}", "Users", arr);
    return FL_OK;
}

/* ---- access keys ---- */

typedef struct {
    api_req_t *rq;
    uint64_t account;
    const char *ak;
    bool enabled;
    bool found;
    fl_key_row_t key;
} key_job_t;

static int create_key_job(fl_db_t *db, void *arg)
{
    key_job_t *j = arg;
    return fl_db_key_insert(db, &j->key);
}

int h_create_access_key(api_req_t *rq, api_resp_t *rs)
{
    key_job_t j = {.rq = rq};
    const char *user = api_param(rq, "UserName");
    if (user && !*user)
        user = NULL;
    int rc = target_account(rq, rs, &j.account);
    if (!rc && user)
        rc = user_must_exist(rq, rs, j.account, user);
    if (rc)
        return rc;
    char ak[25], secret[31];
    fl_keys_generate(ak, secret);
    j.key = (fl_key_row_t){.ak = ak, .secret = secret, .account = j.account,
                           .user = (char *)user, .enabled = true, .created_ms = rq->now_ms};
    if ((rc = identity_write(rq->api, create_key_job, &j)))
        return rc;
    fl_keys_put(rq->api->keys, ak, secret, j.account, user, true);
    rs->body = json_pack("{s:s, s:s, s:s, s:s}", "AccountId", account_text(rq, j.account),
                         "UserName", user ? user : "", "AccessKeyId", ak, "AccessKeySecret",
                         secret);
    return FL_OK;
}

static int update_key_job(fl_db_t *db, void *arg)
{
    key_job_t *j = arg;
    int rc = fl_db_key_set_enabled(db, j->account, j->ak, j->enabled, &j->found);
    return rc ? rc : j->found ? FL_OK : FL_EACCESS_KEY_NOT_EXISTS;
}

int h_update_access_key(api_req_t *rq, api_resp_t *rs)
{
    key_job_t j = {.rq = rq, .ak = api_param(rq, "UserAccessKeyId")};
    const char *status = api_param(rq, "Status");
    int rc = target_account(rq, rs, &j.account);
    if (rc)
        return rc;
    if (strcmp(status, "Active") != 0 && strcmp(status, "Inactive") != 0)
        return api_invalid(rs, "Status must be Active or Inactive.");
    j.enabled = strcmp(status, "Active") == 0;
    rc = identity_write(rq->api, update_key_job, &j);
    if (rc == FL_EACCESS_KEY_NOT_EXISTS)
        return api_err(rs, rc, j.ak, account_text(rq, j.account));
    if (rc)
        return rc;
    fl_key_info_t k;
    if (fl_keys_get(rq->api->keys, j.ak, &k))
        fl_keys_put(rq->api->keys, j.ak, k.secret, k.account, k.user, j.enabled);
    rs->body = json_object();
    return FL_OK;
}

static int delete_key_job(fl_db_t *db, void *arg)
{
    key_job_t *j = arg;
    int rc = fl_db_key_delete(db, j->account, j->ak, &j->found);
    return rc ? rc : j->found ? FL_OK : FL_EACCESS_KEY_NOT_EXISTS;
}

int h_delete_access_key(api_req_t *rq, api_resp_t *rs)
{
    key_job_t j = {.rq = rq, .ak = api_param(rq, "UserAccessKeyId")};
    int rc = target_account(rq, rs, &j.account);
    if (rc)
        return rc;
    rc = identity_write(rq->api, delete_key_job, &j);
    if (rc == FL_EACCESS_KEY_NOT_EXISTS)
        return api_err(rs, rc, j.ak, account_text(rq, j.account));
    if (rc)
        return rc;
    fl_keys_remove(rq->api->keys, j.ak);
    rs->body = json_object();
    return FL_OK;
}

int h_list_access_keys(api_req_t *rq, api_resp_t *rs)
{
    uint64_t account;
    const char *user = api_param(rq, "UserName");
    if (user && !*user)
        user = NULL;
    int rc = target_account(rq, rs, &account);
    if (!rc && user)
        rc = user_must_exist(rq, rs, account, user);
    if (rc)
        return rc;
    fl_key_row_t *rows;
    int n = 0;
    if ((rc = fl_db_key_list(fl_store_reader(rq->api->store), account, user, rq->a, &rows, &n)))
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o}", "AccessKeyId", rows[i].ak,
                                             "UserName", rows[i].user ? rows[i].user : "",
                                             "Status", rows[i].enabled ? "Active" : "Inactive",
                                             "CreatedTime", time_json(rows[i].created_ms)));
    rs->body = json_pack("{s:o}", "AccessKeys", arr);
    return FL_OK;
}

/* ---- policies ---- */

typedef struct {
    api_req_t *rq;
    fl_policy_row_t p;
    bool found;
} policy_job_t;

static int attach_job(fl_db_t *db, void *arg)
{
    policy_job_t *j = arg;
    return fl_db_policy_put(db, &j->p);
}

static int detach_job(fl_db_t *db, void *arg)
{
    policy_job_t *j = arg;
    int rc = fl_db_policy_delete(db, j->p.account, j->p.user, j->p.name, &j->found);
    return rc ? rc : j->found ? FL_OK : FL_EPOLICY_NOT_EXISTS;
}

/* Checks the parameters shared by AttachPolicy and DetachPolicy. */
static int policy_target(api_req_t *rq, api_resp_t *rs, policy_job_t *j)
{
    j->rq = rq;
    j->p.user = (char *)api_param(rq, "UserName");
    j->p.name = (char *)api_param(rq, "PolicyName");
    int rc = target_account(rq, rs, &j->p.account);
    if (!rc)
        rc = user_must_exist(rq, rs, j->p.account, j->p.user);
    if (rc)
        return rc;
    size_t n = strlen(j->p.name);
    if (n < 1 || n > 128 ||
        strspn(j->p.name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != n)
        return api_invalid(rs, "PolicyName must be 1 to 128 characters of letters, digits, "
                               "'-', '_' and '.'.");
    return FL_OK;
}

int h_attach_policy(api_req_t *rq, api_resp_t *rs)
{
    policy_job_t j = {0};
    int rc = policy_target(rq, rs, &j);
    if (rc)
        return rc;
    const char *doc = api_param(rq, "PolicyDocument");
    fl_policy_t *p = NULL;
    char err[512];
    if (fl_policy_parse(doc, strlen(doc), &p, err, sizeof err) != FL_OK)
        return api_invalid(rs, "PolicyDocument is invalid: %s", err);
    fl_policy_free(p);
    j.p.document = (char *)doc;
    j.p.created_ms = rq->now_ms;
    if ((rc = identity_write(rq->api, attach_job, &j)))
        return rc;
    if ((rc = reload_policies(rq->api, j.p.account, j.p.user)))
        return rc;
    rs->body = json_object();
    return FL_OK;
}

int h_detach_policy(api_req_t *rq, api_resp_t *rs)
{
    policy_job_t j = {0};
    int rc = policy_target(rq, rs, &j);
    if (rc)
        return rc;
    rc = identity_write(rq->api, detach_job, &j);
    if (rc == FL_EPOLICY_NOT_EXISTS)
        return api_err(rs, rc, j.p.name, j.p.user);
    if (rc || (rc = reload_policies(rq->api, j.p.account, j.p.user)))
        return rc;
    rs->body = json_object();
    return FL_OK;
}

int h_list_policies(api_req_t *rq, api_resp_t *rs)
{
    uint64_t account;
    const char *user = api_param(rq, "UserName");
    int rc = target_account(rq, rs, &account);
    if (!rc)
        rc = user_must_exist(rq, rs, account, user);
    if (rc)
        return rc;
    fl_policy_row_t *rows;
    int n = 0;
    if ((rc = fl_db_policy_list(fl_store_reader(rq->api->store), account, user, rq->a, &rows, &n)))
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:o}", "PolicyName", rows[i].name,
                                             "PolicyDocument", rows[i].document, "CreatedTime",
                                             time_json(rows[i].created_ms)));
    rs->body = json_pack("{s:o}", "Policies", arr);
    return FL_OK;
}
