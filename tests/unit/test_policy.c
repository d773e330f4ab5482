/*
 * test_policy.c - RAM policies: a table of evaluation cases (effects, action and resource
 * wildcards, the flows/.../executions ARN form, every condition operator on both sides of
 * its boundary), evaluation across several policies, a table of malformed documents each
 * checked for the part of the message that names the mistake, and the wildcard matcher,
 * including patterns that make naive backtracking explode.
 * Policy texts in the tables use ' for " so they stay readable; dq() swaps them back.
 */
#include "auth/auth.h"
#include "test.h"

/* Returns a heap copy of s with every ' turned into ". */
static char *dq(const char *s)
{
    char *t = xstrdup(s);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    return t;
}

/* Parses a policy written with single quotes; fails the test with the message if it does
 * not parse. Returns new. */
static fl_policy_t *must_parse(const char *sq)
{
    char *doc = dq(sq);
    char err[256] = "";
    fl_policy_t *p = NULL;
    int rc = fl_policy_parse(doc, strlen(doc), &p, err, sizeof err);
    if (rc != FL_OK)
        FAIL_AT("policy does not parse: %s\n    %s", err, doc);
    free(doc);
    return p;
}

static int64_t at(const char *iso)
{
    int64_t ms = 0;
    if (fl_time_parse(iso, &ms) != FL_OK)
        FAIL_AT("bad test time %s", iso);
    return ms;
}

#define NOW "2024-06-01T12:00:00Z"
#define ARN "acs:fnf:cn-hangzhou:1234567890123456:flow/order-1"
#define ARN2 "acs:fnf:cn-hangzhou:1234567890123456:flow/payment"

/* One statement, optionally with a Condition (arguments are JSON fragments). */
#define POL(eff, act, res) \
    "{'Version':'1','Statement':[{'Effect':'" eff "','Action':" act ",'Resource':" res "}]}"
#define ALLOW(act, res) POL("Allow", act, res)
#define ALLOW_IF(cond)                                                                       \
    "{'Version':'1','Statement':[{'Effect':'Allow','Action':'fnf:*','Resource':'*',"        \
    "'Condition':" cond "}]}"
#define ALLOW_ALL_BUT(stmt)                                                                  \
    "{'Version':'1','Statement':[{'Effect':'Allow','Action':'*','Resource':'*'}," stmt "]}"

enum { N = FL_POLICY_NONE, A = FL_POLICY_ALLOW, D = FL_POLICY_DENY };

typedef struct {
    const char *policy;   /* single quotes for double quotes */
    const char *action;   /* NULL: fnf:DescribeFlow */
    const char *resource; /* NULL: ARN */
    const char *ip;       /* acs:SourceIp; NULL: none */
    bool secure;          /* acs:SecureTransport */
    const char *now;      /* acs:CurrentTime; NULL: NOW */
    int want;             /* N, A or D */
} eval_case_t;

static const eval_case_t eval_cases[] = {
    /* Default deny: nothing applies. */
    {ALLOW("'fnf:DescribeFlow'", "'*'"), "fnf:ListFlows", "*", NULL, false, NULL, N},
    {ALLOW("'fnf:*'", "'" ARN2 "'"), NULL, NULL, NULL, false, NULL, N},
    {POL("Deny", "'fnf:DeleteFlow'", "'*'"), NULL, NULL, NULL, false, NULL, N},
    {POL("Deny", "'fnf:*'", "'*'"), NULL, NULL, NULL, false, NULL, D},
    /* Explicit Deny beats Allow in either order. */
    {ALLOW_ALL_BUT("{'Effect':'Deny','Action':'fnf:DeleteFlow','Resource':'*'}"),
     "fnf:DeleteFlow", NULL, NULL, false, NULL, D},
    {ALLOW_ALL_BUT("{'Effect':'Deny','Action':'fnf:DeleteFlow','Resource':'*'}"),
     "fnf:DescribeFlow", NULL, NULL, false, NULL, A},
    {"{'Version':'1','Statement':[{'Effect':'Deny','Action':'fnf:*','Resource':'" ARN "'},"
     "{'Effect':'Allow','Action':'fnf:*','Resource':'*'}]}",
     NULL, NULL, NULL, false, NULL, D},
    {"{'Version':'1','Statement':[{'Effect':'Deny','Action':'fnf:*','Resource':'" ARN "'},"
     "{'Effect':'Allow','Action':'fnf:*','Resource':'*'}]}",
     NULL, ARN2, NULL, false, NULL, A},
    /* Action wildcards. */
    {ALLOW("'fnf:*'", "'*'"), "fnf:StartExecution", NULL, NULL, false, NULL, A},
    {ALLOW("'*'", "'*'"), "fnf:StartExecution", NULL, NULL, false, NULL, A},
    {ALLOW("'fnf:Report*'", "'*'"), "fnf:ReportTaskFailed", "*", NULL, false, NULL, A},
    {ALLOW("'fnf:Report*'", "'*'"), "fnf:ReportTaskSucceeded", "*", NULL, false, NULL, A},
    {ALLOW("'fnf:Report*'", "'*'"), "fnf:ListFlows", "*", NULL, false, NULL, N},
    {ALLOW("'fnf:ReportTask?ailed'", "'*'"), "fnf:ReportTaskFailed", NULL, NULL, false, NULL, A},
    {ALLOW("'fnf:ReportTask?ailed'", "'*'"), "fnf:ReportTaskSucceeded", NULL, NULL, false, NULL,
     N},
    {ALLOW("'fnf:ListFlow?'", "'*'"), "fnf:ListFlows", "*", NULL, false, NULL, A},
    {ALLOW("'fnf:DescribeFlow?'", "'*'"), "fnf:DescribeFlow", NULL, NULL, false, NULL, N},
    {ALLOW("'FNF:describeflow'", "'*'"), "fnf:DescribeFlow", NULL, NULL, false, NULL, A},
    {ALLOW("'fnf:report*'", "'*'"), "fnf:ReportTaskFailed", NULL, NULL, false, NULL, A},
    {ALLOW("'fnf:DescribeFlow'", "'*'"), "FNF:DESCRIBEFLOW", NULL, NULL, false, NULL, A},
    {ALLOW("'ecs:*'", "'*'"), "fnf:ListFlows", "*", NULL, false, NULL, N},
    {ALLOW("'ecs:DescribeFlow'", "'*'"), "fnf:DescribeFlow", NULL, NULL, false, NULL, N},
    {ALLOW("'fn?:DescribeFlow'", "'*'"), "fnf:DescribeFlow", NULL, NULL, false, NULL, A},
    {ALLOW("['fnf:DescribeFlow','fnf:StartExecution']", "'*'"), "fnf:StartExecution", NULL,
     NULL, false, NULL, A},
    {ALLOW("['fnf:DescribeFlow','fnf:StartExecution']", "'*'"), "fnf:DeleteFlow", NULL, NULL,
     false, NULL, N},
    /* Resource wildcards (case-sensitive). */
    {ALLOW("'fnf:*'", "'acs:fnf:*:*:flow/order-*'"), NULL, ARN, NULL, false, NULL, A},
    {ALLOW("'fnf:*'", "'acs:fnf:*:*:flow/order-*'"), NULL, ARN2, NULL, false, NULL, N},
    {ALLOW("'fnf:*'", "'" ARN "'"), NULL, ARN, NULL, false, NULL, A},
    {ALLOW("'fnf:*'", "'acs:fnf:cn-hangzhou:1234567890123456:flow/Order-1'"), NULL, ARN, NULL,
     false, NULL, N},
    {ALLOW("'fnf:*'", "'ACS:FNF:*:*:flow/order-1'"), NULL, ARN, NULL, false, NULL, N},
    {ALLOW("'fnf:*'", "'acs:fnf:*:999:flow/*'"), NULL, ARN, NULL, false, NULL, N},
    {ALLOW("'fnf:*'", "'acs:fnf:cn-shanghai:*:flow/*'"), NULL, ARN, NULL, false, NULL, N},
    {ALLOW("'fnf:*'", "['acs:fnf:*:*:flow/a','acs:fnf:*:*:flow/order-1']"), NULL, ARN, NULL,
     false, NULL, A},
    {ALLOW("'fnf:*'", "'acs:fnf:*:*:flow/order-?'"), NULL, ARN, NULL, false, NULL, A},
    {ALLOW("'fnf:*'", "'acs:fnf:*:*:flow/order-?'"), NULL, ARN "2", NULL, false, NULL, N},
    {ALLOW("'fnf:*'", "'acs:fnf:*:*:flow/order-1'"), NULL, ARN "0", NULL, false, NULL, N},
    /* The executions form also names the flow (flowd's decisions section 9). */
    {ALLOW("'fnf:*'", "'acs:fnf:*:*:flows/order-1/executions/*'"), NULL, ARN, NULL, false, NULL,
     A},
    {ALLOW("'fnf:*'", "'acs:fnf:*:*:flows/order-*/executions/*'"), NULL, ARN, NULL, false, NULL,
     A},
    {ALLOW("'fnf:*'", "'acs:fnf:cn-hangzhou:1234567890123456:flows/order-1/executions/e-1'"),
     NULL, ARN, NULL, false, NULL, A},
    {ALLOW("'fnf:*'", "'acs:fnf:*:*:flows/payment/executions/*'"), NULL, ARN, NULL, false, NULL,
     N},
    {ALLOW("'fnf:*'", "'acs:fnf:cn-shanghai:*:flows/order-1/executions/*'"), NULL, ARN, NULL,
     false, NULL, N},
    {ALLOW("'fnf:*'", "'acs:fnf:*:42:flows/order-1/executions/*'"), NULL, ARN, NULL, false,
     NULL, N},
    {ALLOW("'fnf:*'", "'acs:fnf:::flows/order-1/executions/*'"), NULL, ARN, NULL, false, NULL,
     A},
    {ALLOW("'fnf:*'", "'acs:fnf:*:*:flows/order-1'"), NULL, ARN, NULL, false, NULL, N},
    {ALLOW("'fnf:*'", "'acs:fnf:*:*:flows/order-1/versions/*'"), NULL, ARN, NULL, false, NULL,
     N},
    /* A checked resource of "*" (ListFlows) is matched only by patterns matching "*". */
    {ALLOW("'fnf:ListFlows'", "'*'"), "fnf:ListFlows", "*", NULL, false, NULL, A},
    {ALLOW("'fnf:ListFlows'", "'acs:fnf:*:*:flow/*'"), "fnf:ListFlows", "*", NULL, false, NULL,
     N},
    {ALLOW("'fnf:ListFlows'", "'acs:fnf:*:*:*'"), "fnf:ListFlows", "*", NULL, false, NULL, N},
    {ALLOW("'fnf:ListFlows'", "'acs:fnf:*:*:flows/*/executions/*'"), "fnf:ListFlows", "*",
     NULL, false, NULL, N},
    {ALLOW("'fnf:ListFlows'", "'?'"), "fnf:ListFlows", "*", NULL, false, NULL, A},
    /* IpAddress / NotIpAddress. */
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'10.0.0.0/8'}}"), NULL, NULL, "10.1.2.3", false,
     NULL, A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'10.0.0.0/8'}}"), NULL, NULL, "11.0.0.1", false,
     NULL, N},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'10.0.0.0/12'}}"), NULL, NULL, "10.15.255.255",
     false, NULL, A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'10.0.0.0/12'}}"), NULL, NULL, "10.16.0.0", false,
     NULL, N},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'192.168.1.5/32'}}"), NULL, NULL, "192.168.1.5",
     false, NULL, A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'192.168.1.5/32'}}"), NULL, NULL, "192.168.1.6",
     false, NULL, N},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'192.168.1.5'}}"), NULL, NULL, "192.168.1.5", false,
     NULL, A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'10.9.9.9/8'}}"), NULL, NULL, "10.1.1.1", false,
     NULL, A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'0.0.0.0/0'}}"), NULL, NULL, "8.8.8.8", false, NULL,
     A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'0.0.0.0/0'}}"), NULL, NULL, "::1", false, NULL, N},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'::/0'}}"), NULL, NULL, "2001:db8::1", false, NULL,
     A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'::/0'}}"), NULL, NULL, "127.0.0.1", false, NULL, N},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'2001:db8::/32'}}"), NULL, NULL, "2001:db8:1::5",
     false, NULL, A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'2001:db8::/32'}}"), NULL, NULL, "2001:db9::1",
     false, NULL, N},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'::1/128'}}"), NULL, NULL, "::1", false, NULL, A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'::1/128'}}"), NULL, NULL, "::2", false, NULL, N},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'2001:DB8::1'}}"), NULL, NULL, "2001:db8:0::1",
     false, NULL, A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'127.0.0.0/8'}}"), NULL, NULL, "::ffff:127.0.0.1",
     false, NULL, A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'::ffff:10.0.0.0/104'}}"), NULL, NULL, "10.2.3.4",
     false, NULL, A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'::ffff:10.0.0.0/104'}}"), NULL, NULL, "11.2.3.4",
     false, NULL, N},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'0.0.0.0/0'}}"), NULL, NULL, NULL, false, NULL, N},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'0.0.0.0/0'}}"), NULL, NULL, "garbage", false, NULL,
     N},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':['10.0.0.0/8','192.168.0.0/16']}}"), NULL, NULL,
     "192.168.3.3", false, NULL, A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':['10.0.0.0/8','192.168.0.0/16']}}"), NULL, NULL,
     "172.16.0.1", false, NULL, N},
    {ALLOW_IF("{'IpAddress':{'ACS:sourceip':'10.0.0.0/8'}}"), NULL, NULL, "10.1.2.3", false,
     NULL, A},
    {ALLOW_IF("{'NotIpAddress':{'acs:SourceIp':'10.0.0.0/8'}}"), NULL, NULL, "11.0.0.1", false,
     NULL, A},
    {ALLOW_IF("{'NotIpAddress':{'acs:SourceIp':'10.0.0.0/8'}}"), NULL, NULL, "10.0.0.1", false,
     NULL, N},
    {ALLOW_IF("{'NotIpAddress':{'acs:SourceIp':['10.0.0.0/8','127.0.0.1']}}"), NULL, NULL,
     "127.0.0.1", false, NULL, N},
    {ALLOW_IF("{'NotIpAddress':{'acs:SourceIp':['10.0.0.0/8','127.0.0.1']}}"), NULL, NULL,
     "127.0.0.2", false, NULL, A},
    {ALLOW_IF("{'NotIpAddress':{'acs:SourceIp':'10.0.0.0/8'}}"), NULL, NULL, NULL, false, NULL,
     N},
    {ALLOW_ALL_BUT("{'Effect':'Deny','Action':'*','Resource':'*',"
                   "'Condition':{'NotIpAddress':{'acs:SourceIp':'10.0.0.0/8'}}}"),
     NULL, NULL, "1.2.3.4", false, NULL, D},
    {ALLOW_ALL_BUT("{'Effect':'Deny','Action':'*','Resource':'*',"
                   "'Condition':{'NotIpAddress':{'acs:SourceIp':'10.0.0.0/8'}}}"),
     NULL, NULL, "10.1.1.1", false, NULL, A},
    /* Bool on acs:SecureTransport. */
    {ALLOW_IF("{'Bool':{'acs:SecureTransport':'true'}}"), NULL, NULL, NULL, true, NULL, A},
    {ALLOW_IF("{'Bool':{'acs:SecureTransport':'true'}}"), NULL, NULL, NULL, false, NULL, N},
    {ALLOW_IF("{'Bool':{'acs:SecureTransport':'false'}}"), NULL, NULL, NULL, false, NULL, A},
    {ALLOW_IF("{'Bool':{'acs:SecureTransport':'false'}}"), NULL, NULL, NULL, true, NULL, N},
    {ALLOW_IF("{'Bool':{'acs:SecureTransport':true}}"), NULL, NULL, NULL, true, NULL, A},
    {ALLOW_IF("{'Bool':{'acs:securetransport':false}}"), NULL, NULL, NULL, true, NULL, N},
    {ALLOW_ALL_BUT("{'Effect':'Deny','Action':'*','Resource':'*',"
                   "'Condition':{'Bool':{'acs:SecureTransport':'false'}}}"),
     NULL, NULL, NULL, false, NULL, D},
    {ALLOW_ALL_BUT("{'Effect':'Deny','Action':'*','Resource':'*',"
                   "'Condition':{'Bool':{'acs:SecureTransport':'false'}}}"),
     NULL, NULL, NULL, true, NULL, A},
    /* String operators. */
    {ALLOW_IF("{'StringEquals':{'acs:SourceIp':'10.0.0.1'}}"), NULL, NULL, "10.0.0.1", false,
     NULL, A},
    {ALLOW_IF("{'StringEquals':{'acs:SourceIp':'10.0.0.1'}}"), NULL, NULL, "10.0.0.2", false,
     NULL, N},
    {ALLOW_IF("{'StringEquals':{'acs:SourceIp':['10.0.0.1','10.0.0.2']}}"), NULL, NULL,
     "10.0.0.2", false, NULL, A},
    {ALLOW_IF("{'StringEquals':{'acs:SourceIp':'10.0.0.1'}}"), NULL, NULL, NULL, false, NULL, N},
    {ALLOW_IF("{'StringNotEquals':{'acs:SourceIp':'10.0.0.1'}}"), NULL, NULL, "10.0.0.2", false,
     NULL, A},
    {ALLOW_IF("{'StringNotEquals':{'acs:SourceIp':'10.0.0.1'}}"), NULL, NULL, "10.0.0.1", false,
     NULL, N},
    {ALLOW_IF("{'StringNotEquals':{'acs:SourceIp':['10.0.0.1','10.0.0.2']}}"), NULL, NULL,
     "10.0.0.2", false, NULL, N},
    {ALLOW_IF("{'StringNotEquals':{'acs:SourceIp':'10.0.0.1'}}"), NULL, NULL, NULL, false, NULL,
     N},
    {ALLOW_IF("{'StringEquals':{'acs:SourceIp':'2001:DB8::1'}}"), NULL, NULL, "2001:db8::1",
     false, NULL, N},
    {ALLOW_IF("{'StringEqualsIgnoreCase':{'acs:SourceIp':'2001:DB8::1'}}"), NULL, NULL,
     "2001:db8::1", false, NULL, A},
    {ALLOW_IF("{'StringEqualsIgnoreCase':{'acs:SourceIp':'2001:DB8::1'}}"), NULL, NULL, "::1",
     false, NULL, N},
    {ALLOW_IF("{'StringNotEqualsIgnoreCase':{'acs:SourceIp':'2001:DB8::1'}}"), NULL, NULL,
     "2001:db8::1", false, NULL, N},
    {ALLOW_IF("{'StringNotEqualsIgnoreCase':{'acs:SourceIp':'2001:DB8::1'}}"), NULL, NULL,
     "::1", false, NULL, A},
    {ALLOW_IF("{'StringLike':{'acs:SourceIp':'10.0.*'}}"), NULL, NULL, "10.0.5.5", false, NULL,
     A},
    {ALLOW_IF("{'StringLike':{'acs:SourceIp':'10.0.*'}}"), NULL, NULL, "10.1.0.1", false, NULL,
     N},
    {ALLOW_IF("{'StringLike':{'acs:SourceIp':['10.0.*','192.168.?.1']}}"), NULL, NULL,
     "192.168.7.1", false, NULL, A},
    {ALLOW_IF("{'StringNotLike':{'acs:SourceIp':'10.0.*'}}"), NULL, NULL, "10.1.0.1", false,
     NULL, A},
    {ALLOW_IF("{'StringNotLike':{'acs:SourceIp':'10.0.*'}}"), NULL, NULL, "10.0.0.9", false,
     NULL, N},
    {ALLOW_IF("{'StringEquals':{'acs:SecureTransport':'true'}}"), NULL, NULL, NULL, true, NULL,
     A},
    {ALLOW_IF("{'StringEquals':{'acs:SecureTransport':true}}"), NULL, NULL, NULL, false, NULL,
     N},
    {ALLOW_IF("{'StringLike':{'acs:CurrentTime':'2024-06-01T*'}}"), NULL, NULL, NULL, false,
     NULL, A},
    {ALLOW_IF("{'StringLike':{'acs:CurrentTime':'2023-*'}}"), NULL, NULL, NULL, false, NULL, N},
    {ALLOW_IF("{'StringEquals':{'acs:SourceIp':10}}"), NULL, NULL, "10", false, NULL, A},
    {ALLOW_IF("{'StringEquals':{'acs:SourceIp':1.5}}"), NULL, NULL, "1.5", false, NULL, A},
    /* Dates, on both sides of each boundary (NOW is 12:00:00Z). */
    {ALLOW_IF("{'DateLessThan':{'acs:CurrentTime':'" NOW "'}}"), NULL, NULL, NULL, false, NULL,
     N},
    {ALLOW_IF("{'DateLessThan':{'acs:CurrentTime':'" NOW "'}}"), NULL, NULL, NULL, false,
     "2024-06-01T11:59:59.999Z", A},
    {ALLOW_IF("{'DateLessThanEquals':{'acs:CurrentTime':'" NOW "'}}"), NULL, NULL, NULL, false,
     NULL, A},
    {ALLOW_IF("{'DateLessThanEquals':{'acs:CurrentTime':'" NOW "'}}"), NULL, NULL, NULL, false,
     "2024-06-01T12:00:00.001Z", N},
    {ALLOW_IF("{'DateGreaterThan':{'acs:CurrentTime':'" NOW "'}}"), NULL, NULL, NULL, false,
     NULL, N},
    {ALLOW_IF("{'DateGreaterThan':{'acs:CurrentTime':'" NOW "'}}"), NULL, NULL, NULL, false,
     "2024-06-01T12:00:00.001Z", A},
    {ALLOW_IF("{'DateGreaterThanEquals':{'acs:CurrentTime':'" NOW "'}}"), NULL, NULL, NULL,
     false, NULL, A},
    {ALLOW_IF("{'DateGreaterThanEquals':{'acs:CurrentTime':'" NOW "'}}"), NULL, NULL, NULL,
     false, "2024-06-01T11:59:59.999Z", N},
    {ALLOW_IF("{'DateEquals':{'acs:CurrentTime':'" NOW "'}}"), NULL, NULL, NULL, false, NULL, A},
    {ALLOW_IF("{'DateEquals':{'acs:CurrentTime':'" NOW "'}}"), NULL, NULL, NULL, false,
     "2024-06-01T12:00:00.001Z", N},
    {ALLOW_IF("{'DateEquals':{'acs:CurrentTime':['2020-01-01T00:00:00Z','" NOW "']}}"), NULL,
     NULL, NULL, false, NULL, A},
    {ALLOW_IF("{'DateNotEquals':{'acs:CurrentTime':'" NOW "'}}"), NULL, NULL, NULL, false, NULL,
     N},
    {ALLOW_IF("{'DateNotEquals':{'acs:CurrentTime':'" NOW "'}}"), NULL, NULL, NULL, false,
     "2024-06-01T12:00:01Z", A},
    {ALLOW_IF("{'DateLessThan':{'acs:CurrentTime':'2024-06-01T14:00:00+02:00'}}"), NULL, NULL,
     NULL, false, NULL, N},
    {ALLOW_IF("{'DateLessThan':{'acs:CurrentTime':'2024-06-01T14:00:00+02:00'}}"), NULL, NULL,
     NULL, false, "2024-06-01T11:59:59Z", A},
    {ALLOW_IF("{'DateGreaterThan':{'acs:CurrentTime':'2024-01-01T00:00:00Z'},"
              "'DateLessThan':{'acs:CurrentTime':'2025-01-01T00:00:00Z'}}"),
     NULL, NULL, NULL, false, NULL, A},
    {ALLOW_IF("{'DateGreaterThan':{'acs:CurrentTime':'2024-01-01T00:00:00Z'},"
              "'DateLessThan':{'acs:CurrentTime':'2025-01-01T00:00:00Z'}}"),
     NULL, NULL, NULL, false, "2025-02-01T00:00:00Z", N},
    /* Several operators AND-ed, several keys of one operator AND-ed. */
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'10.0.0.0/8'},"
              "'Bool':{'acs:SecureTransport':'true'}}"),
     NULL, NULL, "10.1.1.1", true, NULL, A},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'10.0.0.0/8'},"
              "'Bool':{'acs:SecureTransport':'true'}}"),
     NULL, NULL, "10.1.1.1", false, NULL, N},
    {ALLOW_IF("{'IpAddress':{'acs:SourceIp':'10.0.0.0/8'},"
              "'Bool':{'acs:SecureTransport':'true'}}"),
     NULL, NULL, "11.1.1.1", true, NULL, N},
    {ALLOW_IF("{'StringEquals':{'acs:SourceIp':'10.0.0.1','acs:SecureTransport':'true'}}"),
     NULL, NULL, "10.0.0.1", true, NULL, A},
    {ALLOW_IF("{'StringEquals':{'acs:SourceIp':'10.0.0.1','acs:SecureTransport':'true'}}"),
     NULL, NULL, "10.0.0.1", false, NULL, N},
    {ALLOW_IF("{}"), NULL, NULL, NULL, false, NULL, A},
    /* A single statement object instead of a list. */
    {"{'Version':'1','Statement':{'Effect':'Allow','Action':'fnf:*','Resource':'*'}}", NULL,
     NULL, NULL, false, NULL, A},
    /* The documented example (the CloudFlow API reference 5.1). */
    {"{'Version':'1','Statement':[{'Effect':'Allow',"
     "'Action':['fnf:ReportTaskSucceeded','fnf:ReportTaskFailed'],'Resource':'*',"
     "'Condition':{'IpAddress':{'acs:SourceIp':['10.0.0.0/8']}}},"
     "{'Effect':'Allow','Action':['fnf:DescribeFlow','fnf:StartExecution',"
     "'fnf:DescribeExecution'],'Resource':'acs:fnf:cn-hangzhou:1234567890123456:flow/"
     "order-approval'}]}",
     "fnf:ReportTaskFailed", "*", "10.3.3.3", false, NULL, A},
};

static const char *effect_name(int e)
{
    return e == A ? "ALLOW" : e == D ? "DENY" : "NONE";
}

TEST(policy_eval_table)
{
    ASSERT(FL_ARRAY_LEN(eval_cases) >= 60);
    for (size_t i = 0; i < FL_ARRAY_LEN(eval_cases); i++) {
        const eval_case_t *c = &eval_cases[i];
        fl_policy_t *p = must_parse(c->policy);
        fl_authz_ctx_t ctx = {c->ip, c->secure, at(c->now ? c->now : NOW)};
        const char *action = c->action ? c->action : "fnf:DescribeFlow";
        const char *resource = c->resource ? c->resource : ARN;
        int got = (int)fl_policy_eval(p, action, resource, &ctx);
        if (got != c->want)
            FAIL_AT("case %zu: %s on %s (ip %s, secure %d, now %s): got %s, want %s\n    %s", i,
                    action, resource, c->ip ? c->ip : "-", c->secure, c->now ? c->now : NOW,
                    effect_name(got), effect_name(c->want), c->policy);
        /* One policy alone: allowed exactly when it says Allow. */
        ASSERT_EQ(fl_policy_allows(&p, 1, action, resource, &ctx), c->want == A);
        fl_policy_free(p);
    }
    LEAK_CHECK();
}

TEST(policy_allows_several)
{
    fl_policy_t *all = must_parse(ALLOW("'fnf:*'", "'*'"));
    fl_policy_t *deny_delete = must_parse(POL("Deny", "'fnf:DeleteFlow'", "'*'"));
    fl_policy_t *describe = must_parse(ALLOW("'fnf:DescribeFlow'", "'" ARN "'"));
    fl_authz_ctx_t ctx = {"127.0.0.1", false, at(NOW)};

    fl_policy_t *both[] = {all, deny_delete};
    ASSERT(!fl_policy_allows(both, 2, "fnf:DeleteFlow", ARN, &ctx));
    ASSERT(fl_policy_allows(both, 2, "fnf:StartExecution", ARN, &ctx));
    /* Order does not matter: a Deny in a later policy still wins. */
    fl_policy_t *rev[] = {deny_delete, all};
    ASSERT(!fl_policy_allows(rev, 2, "fnf:DeleteFlow", ARN, &ctx));
    /* No policy, or none that applies: implicit deny. */
    ASSERT(!fl_policy_allows(NULL, 0, "fnf:DescribeFlow", ARN, &ctx));
    fl_policy_t *only_describe[] = {describe, deny_delete};
    ASSERT(fl_policy_allows(only_describe, 2, "fnf:DescribeFlow", ARN, &ctx));
    ASSERT(!fl_policy_allows(only_describe, 2, "fnf:DescribeFlow", ARN2, &ctx));
    ASSERT(!fl_policy_allows(only_describe, 2, "fnf:StartExecution", ARN, &ctx));
    ASSERT(!fl_policy_allows(&deny_delete, 1, "fnf:DescribeFlow", ARN, &ctx));
    /* NULL entries are skipped. */
    fl_policy_t *with_null[] = {NULL, describe};
    ASSERT(fl_policy_allows(with_null, 2, "fnf:DescribeFlow", ARN, &ctx));
    /* A NULL policy evaluates to NONE. */
    ASSERT_EQ(fl_policy_eval(NULL, "fnf:DescribeFlow", ARN, &ctx), FL_POLICY_NONE);

    fl_policy_free(all);
    fl_policy_free(deny_delete);
    fl_policy_free(describe);
    LEAK_CHECK();
}

TEST(policy_null_ctx)
{
    /* Without a context, unconditional statements apply and conditional ones do not. */
    fl_policy_t *p = must_parse(
        "{'Version':'1','Statement':[{'Effect':'Allow','Action':'fnf:*','Resource':'*'},"
        "{'Effect':'Deny','Action':'fnf:*','Resource':'*',"
        "'Condition':{'NotIpAddress':{'acs:SourceIp':'10.0.0.0/8'}}}]}");
    ASSERT_EQ(fl_policy_eval(p, "fnf:ListFlows", "*", NULL), FL_POLICY_ALLOW);
    fl_policy_free(p);
    LEAK_CHECK();
}

/* ---- parse errors ---- */

typedef struct {
    const char *doc; /* single quotes for double quotes */
    const char *fragment;
} bad_case_t;

#define ST(body) "{'Version':'1','Statement':[" body "]}"
#define OK_ST "{'Effect':'Allow','Action':'fnf:*','Resource':'*'}"
#define COND(c) ST("{'Effect':'Allow','Action':'fnf:*','Resource':'*','Condition':" c "}")

static const bad_case_t bad_cases[] = {
    {"{", "not valid JSON"},
    {"", "not valid JSON"},
    {"{'Version':'1','Statement':[" OK_ST "]} x", "not valid JSON"},
    {"[]", "must be a JSON object"},
    {"'text'", "must be a JSON object"},
    {"{'Version':'1','Version':'1','Statement':[" OK_ST "]}", "duplicate"},
    {"{'Statement':[" OK_ST "]}", "Version is required"},
    {"{'Version':'2','Statement':[" OK_ST "]}", "Version must be \"1\""},
    {"{'Version':1,'Statement':[" OK_ST "]}", "Version must be \"1\""},
    {"{'Version':'1'}", "Statement is required"},
    {"{'Version':'1','Statement':[]}", "Statement must not be an empty list"},
    {"{'Version':'1','Statement':'x'}", "Statement must be a list"},
    {"{'Version':'1','Statement':[" OK_ST "],'Id':'x'}", "Id is not supported"},
    {ST(OK_ST ",7"), "Statement[1] must be an object"},
    {ST("{'Action':'fnf:*','Resource':'*'}"), "Statement[0].Effect is required"},
    {ST("{'Effect':'allow','Action':'fnf:*','Resource':'*'}"),
     "Statement[0].Effect must be Allow or Deny"},
    {ST("{'Effect':true,'Action':'fnf:*','Resource':'*'}"),
     "Statement[0].Effect must be Allow or Deny"},
    {"{'Version':'1','Statement':{'Effect':'Permit','Action':'fnf:*','Resource':'*'}}",
     "Statement.Effect must be Allow or Deny"},
    {ST("{'Effect':'Allow','Resource':'*'}"), "Statement[0].Action is required"},
    {ST("{'Effect':'Allow','Action':[],'Resource':'*'}"),
     "Statement[0].Action must not be an empty list"},
    {ST("{'Effect':'Allow','Action':5,'Resource':'*'}"),
     "Statement[0].Action must be a string or a list of strings"},
    {ST("{'Effect':'Allow','Action':['fnf:A',5],'Resource':'*'}"),
     "Statement[0].Action[1] must be a string"},
    {ST("{'Effect':'Allow','Action':'','Resource':'*'}"), "Statement[0].Action must not be empty"},
    {ST("{'Effect':'Allow','Action':'ListFlows','Resource':'*'}"),
     "Statement[0].Action must be \"*\" or \"<service>:<action>\""},
    {ST("{'Effect':'Allow','Action':['fnf:A','fnf:'],'Resource':'*'}"),
     "Statement[0].Action[1] must be \"*\""},
    {ST("{'Effect':'Allow','Action':'fnf:*'}"), "Statement[0].Resource is required"},
    {ST("{'Effect':'Allow','Action':'fnf:*','Resource':[]}"),
     "Statement[0].Resource must not be an empty list"},
    {ST("{'Effect':'Allow','Action':'fnf:*','Resource':['*','']}"),
     "Statement[0].Resource[1] must not be empty"},
    {ST("{'Effect':'Allow','Action':'fnf:*','Resource':{}}"),
     "Statement[0].Resource must be a string or a list"},
    {ST(OK_ST ",{'Effect':'Allow','Action':'fnf:*','Resource':'*','Principal':'*'}"),
     "Statement[1].Principal is not supported"},
    {ST("{'Effect':'Allow','NotAction':'fnf:*','Resource':'*'}"),
     "Statement[0].NotAction is not supported"},
    {COND("'x'"), "Statement[0].Condition must be an object"},
    {COND("{'StringEquals':'x'}"), "Statement[0].Condition.StringEquals must be an object"},
    {COND("{'StringEqualsIfExists':{'acs:SourceIp':'x'}}"),
     "Statement[0].Condition.StringEqualsIfExists: unknown condition operator"},
    {COND("{'stringequals':{'acs:SourceIp':'x'}}"), "unknown condition operator"},
    {COND("{'StringEquals':{'acs:MFAPresent':'true'}}"),
     "Statement[0].Condition.StringEquals.acs:MFAPresent: unsupported condition key"},
    {COND("{'StringEquals':{'fnf:FlowName':'x'}}"), "unsupported condition key"},
    {COND("{'IpAddress':{'acs:CurrentTime':'10.0.0.0/8'}}"), "does not apply to"},
    {COND("{'Bool':{'acs:SourceIp':'true'}}"), "does not apply to"},
    {COND("{'DateLessThan':{'acs:SecureTransport':'" NOW "'}}"), "does not apply to"},
    {COND("{'IpAddress':{'acs:SourceIp':'10.0.0.0/33'}}"),
     "acs:SourceIp is not a valid IP address or CIDR"},
    {COND("{'IpAddress':{'acs:SourceIp':'10.0.0/8'}}"), "not a valid IP address or CIDR"},
    {COND("{'IpAddress':{'acs:SourceIp':'10.0.0.1/'}}"), "not a valid IP address or CIDR"},
    {COND("{'IpAddress':{'acs:SourceIp':'10.0.0.1/-1'}}"), "not a valid IP address or CIDR"},
    {COND("{'IpAddress':{'acs:SourceIp':'::1/129'}}"), "not a valid IP address or CIDR"},
    {COND("{'IpAddress':{'acs:SourceIp':'2001:db8:::1'}}"), "not a valid IP address or CIDR"},
    {COND("{'NotIpAddress':{'acs:SourceIp':['10.0.0.0/8','bad']}}"),
     "acs:SourceIp[1] is not a valid IP address or CIDR: \"bad\""},
    {COND("{'IpAddress':{'acs:SourceIp':''}}"), "not a valid IP address or CIDR"},
    {COND("{'DateLessThan':{'acs:CurrentTime':'2024-13-01T00:00:00Z'}}"),
     "not a valid ISO 8601 time"},
    {COND("{'DateLessThan':{'acs:CurrentTime':'tomorrow'}}"), "not a valid ISO 8601 time"},
    {COND("{'DateEquals':{'acs:CurrentTime':1717243200}}"), "not a valid ISO 8601 time"},
    {COND("{'Bool':{'acs:SecureTransport':'yes'}}"), "must be \"true\" or \"false\""},
    {COND("{'StringEquals':{'acs:SourceIp':{'a':1}}}"), "must be a string, number or boolean"},
    {COND("{'StringEquals':{'acs:SourceIp':[['a']]}}"),
     "acs:SourceIp[0] must be a string, number or boolean"},
    {COND("{'StringEquals':{'acs:SourceIp':null}}"), "must be a string, number or boolean"},
    {COND("{'StringEquals':{'acs:SourceIp':[]}}"), "acs:SourceIp must not be an empty list"},
    {"{'Version':'1','Statement':[" OK_ST "],'Version2':\"\\u0000\"}", "not valid JSON"},
};

TEST(policy_parse_errors)
{
    ASSERT(FL_ARRAY_LEN(bad_cases) >= 25);
    for (size_t i = 0; i < FL_ARRAY_LEN(bad_cases); i++) {
        char *doc = dq(bad_cases[i].doc);
        char err[256] = "unset";
        fl_policy_t *p = (fl_policy_t *)&err; /* must be reset to NULL */
        int rc = fl_policy_parse(doc, strlen(doc), &p, err, sizeof err);
        if (rc != FL_EINVALID_ARGUMENT || p != NULL)
            FAIL_AT("case %zu parsed (rc %d): %s", i, rc, doc);
        if (!strstr(err, bad_cases[i].fragment))
            FAIL_AT("case %zu: \"%s\" does not contain \"%s\"\n    %s", i, err,
                    bad_cases[i].fragment, doc);
        free(doc);
    }
    LEAK_CHECK();
}

/* Builds {"Version":"1","Statement":[...]} with n statements, each with n_actions actions. */
static char *big_policy(size_t n, size_t n_actions)
{
    fl_buf_t b;
    fl_buf_init(&b);
    fl_buf_puts(&b, "{\"Version\":\"1\",\"Statement\":[");
    for (size_t i = 0; i < n; i++) {
        fl_buf_puts(&b, i ? ",{" : "{");
        fl_buf_puts(&b, "\"Effect\":\"Allow\",\"Resource\":\"*\",\"Action\":[");
        for (size_t j = 0; j < n_actions; j++)
            fl_buf_printf(&b, "%s\"f:%zu\"", j ? "," : "", j);
        fl_buf_puts(&b, "]}");
    }
    fl_buf_puts(&b, "]}");
    return fl_buf_take(&b);
}

TEST(policy_parse_limits)
{
    char err[256];
    fl_policy_t *p = NULL;

    /* Size is checked before anything else. */
    char *doc = big_policy(100, 20);
    ASSERT(strlen(doc) > FL_POLICY_MAX_BYTES);
    ASSERT_EQ(fl_policy_parse(doc, strlen(doc), &p, err, sizeof err), FL_EINVALID_ARGUMENT);
    ASSERT_CONTAINS(err, "too large");
    ASSERT(p == NULL);
    free(doc);

    doc = big_policy(101, 1);
    ASSERT(strlen(doc) <= FL_POLICY_MAX_BYTES);
    ASSERT_EQ(fl_policy_parse(doc, strlen(doc), &p, err, sizeof err), FL_EINVALID_ARGUMENT);
    ASSERT_CONTAINS(err, "Statement has more than 100 entries");
    free(doc);

    doc = big_policy(100, 1);
    ASSERT_OK(fl_policy_parse(doc, strlen(doc), &p, err, sizeof err));
    fl_policy_free(p);
    p = NULL;
    free(doc);

    doc = big_policy(1, 101);
    ASSERT_EQ(fl_policy_parse(doc, strlen(doc), &p, err, sizeof err), FL_EINVALID_ARGUMENT);
    ASSERT_CONTAINS(err, "Statement[0].Action has more than 100 entries");
    free(doc);

    /* Exactly FL_POLICY_MAX_BYTES is accepted (padded with whitespace). */
    const char *base = "{\"Version\":\"1\",\"Statement\":{\"Effect\":\"Allow\","
                       "\"Action\":\"*\",\"Resource\":\"*\"}}";
    doc = xcalloc(1, FL_POLICY_MAX_BYTES + 2);
    memset(doc, ' ', FL_POLICY_MAX_BYTES + 1);
    memcpy(doc, base, strlen(base));
    ASSERT_OK(fl_policy_parse(doc, FL_POLICY_MAX_BYTES, &p, err, sizeof err));
    fl_policy_free(p);
    p = NULL;
    ASSERT_EQ(fl_policy_parse(doc, FL_POLICY_MAX_BYTES + 1, &p, err, sizeof err),
              FL_EINVALID_ARGUMENT);
    ASSERT_CONTAINS(err, "too large");
    free(doc);

    /* len is honoured: text after it is not read. */
    const char *ok = "{\"Version\":\"1\",\"Statement\":{\"Effect\":\"Allow\","
                     "\"Action\":\"*\",\"Resource\":\"*\"}}garbage";
    ASSERT_OK(fl_policy_parse(ok, strlen(ok) - 7, &p, err, sizeof err));
    fl_policy_free(p);
    p = NULL;

    /* NULL document; no error buffer, or a tiny one, is fine. */
    ASSERT_EQ(fl_policy_parse(NULL, 0, &p, err, sizeof err), FL_EINVALID_ARGUMENT);
    ASSERT_CONTAINS(err, "missing");
    ASSERT_EQ(fl_policy_parse("[]", 2, &p, NULL, 0), FL_EINVALID_ARGUMENT);
    char tiny[8];
    ASSERT_EQ(fl_policy_parse("[]", 2, &p, tiny, sizeof tiny), FL_EINVALID_ARGUMENT);
    ASSERT_EQ(strlen(tiny), sizeof tiny - 1);
    ASSERT(p == NULL);

    /* A failure half-way through a statement frees what was built (leak check below). */
    const char *late = "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
                       "[\"fnf:A\",\"fnf:B\"],\"Resource\":[\"a\",\"acs:fnf:*:*:flows/x/"
                       "executions/*\"],\"Condition\":{\"StringEquals\":{\"acs:SourceIp\":"
                       "[\"1\",\"2\"]},\"IpAddress\":{\"acs:SourceIp\":[\"10.0.0.0/8\","
                       "\"x\"]}}}]}";
    ASSERT_EQ(fl_policy_parse(late, strlen(late), &p, err, sizeof err), FL_EINVALID_ARGUMENT);
    ASSERT_CONTAINS(err, "Statement[0].Condition.IpAddress.acs:SourceIp[1]");
    ASSERT(p == NULL);
    fl_policy_free(NULL);
    LEAK_CHECK();
}

/* ---- wildcard matcher ---- */

TEST(policy_wildcard_cases)
{
    static const struct {
        const char *pattern, *s;
        bool nocase, want;
    } cases[] = {
        {"", "", false, true},
        {"", "a", false, false},
        {"*", "", false, true},
        {"*", "anything at all", false, true},
        {"**", "", false, true},
        {"?", "", false, false},
        {"?", "a", false, true},
        {"?", "ab", false, false},
        {"a?c", "abc", false, true},
        {"a?c", "ac", false, false},
        {"abc", "abc", false, true},
        {"abc", "abd", false, false},
        {"abc", "ab", false, false},
        {"ab", "abc", false, false},
        {"ABC", "abc", false, false},
        {"ABC", "abc", true, true},
        {"a*", "a", false, true},
        {"*a", "ba", false, true},
        {"*a", "ab", false, false},
        {"a*b*c", "aXXbYYc", false, true},
        {"a*b*c", "aXXbYY", false, false},
        {"a*b", "abab", false, true},
        {"*ab", "aab", false, true},
        {"a*a*a", "aa", false, false},
        {"a*a*a", "aaa", false, true},
        {"*?", "", false, false},
        {"*?", "x", false, true},
        {"?*?", "xy", false, true},
        {"*.*", "a.b.c", false, true},
        {"fnf:*", "fnf:ListFlows", true, true},
        {"fnf:*", "FNF:ListFlows", true, true},
        {"fnf:*", "ecs:ListFlows", true, false},
        {"*:flow/*", "acs:fnf:r:a:flow/x", false, true},
        {"acs:fnf:*:*:flow/order-*", "acs:fnf:cn-hangzhou:1:flow/order-", false, true},
        {"acs:fnf:*:*:flow/order-*", "acs:fnf:cn-hangzhou:1:flow/orde", false, false},
        {"*", "*", false, true},
        {"a", "*", false, false},
        {"x*y", "x*y", false, true},
        {"[a]", "a", false, false}, /* no character classes */
    };
    for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
        bool got = fl_wildcard_match(cases[i].pattern, cases[i].s, cases[i].nocase);
        if (got != cases[i].want)
            FAIL_AT("case %zu: '%s' vs '%s' (nocase %d): got %d", i, cases[i].pattern,
                    cases[i].s, cases[i].nocase, got);
    }
    ASSERT(!fl_wildcard_match(NULL, "a", false));
    ASSERT(!fl_wildcard_match("a", NULL, false));
    LEAK_CHECK();
}

TEST(policy_wildcard_pathological)
{
    /* Patterns that take exponential time with naive recursive backtracking. */
    size_t n = 200000;
    char *s = xmalloc(n + 2);
    memset(s, 'a', n);
    s[n] = '\0';
    int64_t t0 = fl_mono_ms();
    ASSERT(!fl_wildcard_match("*a*a*a*a*a*a*a*a*a*a*b", s, false));
    ASSERT(!fl_wildcard_match("*a*a*a*a*a*a*a*a*a*a*b", s, true));
    ASSERT(fl_wildcard_match("*a*a*a*a*a*a*a*a*a*a*", s, false));
    ASSERT(!fl_wildcard_match("a*a*a*a*a*a*a*a*a*a?b", s, false));
    s[n] = 'b';
    s[n + 1] = '\0';
    ASSERT(fl_wildcard_match("*a*a*a*a*a*a*a*a*a*a*b", s, false));
    ASSERT(fl_wildcard_match("*?*?*?*?*?*?*?*b", s, false));
    ASSERT(!fl_wildcard_match("*a*a*a*a*a*a*a*a*a*a*c", s, false));

    /* A long pattern of stars against a long subject. */
    fl_buf_t pat;
    fl_buf_init(&pat);
    for (int i = 0; i < 1000; i++)
        fl_buf_puts(&pat, "*a");
    fl_buf_puts(&pat, "*c");
    s[20000] = '\0';
    ASSERT(!fl_wildcard_match(pat.data, s, false));
    fl_buf_free(&pat);
    int64_t elapsed = fl_mono_ms() - t0;
    if (elapsed > 5000)
        FAIL_AT("wildcard matching took %" PRId64 " ms", elapsed);
    free(s);
    LEAK_CHECK();
}
