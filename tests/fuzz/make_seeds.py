#!/usr/bin/env python3
"""make_seeds.py - writes the hand-made seed inputs of tests/fuzz/corpus/<target>/ (files
named seed-*), and copies a selection of tests/cases/spec definitions into corpus/spec/.
Run from the repository root after changing an input format; entries found by fuzzing
(named min-*) and crashers (crash-*) are left alone."""
import glob
import hashlib
import json
import os
import shutil

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- params: line 1 query, line 2 form body, rest JSON body ----
P = {
    "empty": "",
    "query-only": "Action=ListFlows&Version=2019-03-15&Limit=10\n\n",
    "form-only": "\nAction=StartExecution&FlowName=f&Input=%7B%22a%22%3A1%7D&Note=a+b\n",
    "json-only": '\n\n{"Action":"CreateFlow","Name":"f","Definition":"Type: StateMachine",'
                 '"Limit":3,"Flag":true,"Obj":{"a":[1,2]},"Nothing":null}',
    "all-three": "Version=2019-03-15&Action=DescribeFlow\nName=f1\n{\"RequestId\":\"r-1\"}",
    "dup-same": "Name=a&Name=a\nName=a\n",
    "dup-diff": "Name=a\nName=b\n",
    "bad-escape": "Name=%zz\n\n",
    "short-escape": "Name=%4\n\n",
    "nul-escape": "Na%00me=x\n\n",
    "empty-key": "=x&&=&a=\n\n",
    "plus-in-query": "a=1+2&b=%2B\nc=1+2&d=%2B\n",
    "utf8": "n=%E4%B8%AD%E6%96%87&m=%FF%FE\n\n",
    "json-not-object": "\n\n[1,2,3]",
    "json-broken": "\n\n{\"a\":",
    "json-dup-keys": "\n\n{\"a\":1,\"a\":2}",
    "json-nul": "\n\n{\"a\":\"x\\u0000y\"}",
    "json-empty-key": "\n\n{\"\":\"v\"}",
    "json-deep": "\n\n{\"a\":" + "[" * 300 + "]" * 300 + "}",
    "many-params": "&".join("k%d=v%d" % (i, i) for i in range(80)) + "\n\n",
    "sig-params": "AccessKeyId=LTAI&Signature=abc%3D&SignatureMethod=HMAC-SHA1&"
                  "SignatureNonce=n1&SignatureVersion=1.0&Timestamp=2024-01-01T00%3A00%3A00Z\n\n",
}
for k, v in P.items():
    put("params", k, v)

# ---- sign: method, path, query, Authorization, token/time, headers ----
A = "ACS3-HMAC-SHA256 Credential=AK1,SignedHeaders=host;x-acs-date,Signature=ab12"
S = {
    "v1-basic": "POST\n/\nAction=ListFlows&Version=2019-03-15&AccessKeyId=AK&SignatureNonce=1\n"
                "\n2024-01-01T00:00:00Z\n",
    "v3-full": "POST\n/\nb=2&a=1\n" + A + "\n2024-01-01T00:00:00.123Z\nHost: flowd\n"
               "x-acs-date: 2024-01-01T00:00:00Z\nX-Acs-Action: ListFlows\n"
               "x-acs-action: Again\ncontent-type:  application/json  \n",
    "v3-spaces": "GET\n/a/b c\n\nACS3-HMAC-SHA256  Credential=AK2, SignedHeaders=host,  "
                 "Signature=ff \n\n",
    "v3-order": "GET\n/\n\nACS3-HMAC-SHA256 Signature=00,Credential=AK,SignedHeaders=h\n\n",
    "v3-dup-part": "GET\n/\n\nACS3-HMAC-SHA256 Credential=a,Credential=b,SignedHeaders=h,"
                   "Signature=s\n\n",
    "v3-missing": "GET\n/\n\nACS3-HMAC-SHA256 Credential=a,SignedHeaders=h\n\n",
    "v3-empty-val": "GET\n/\n\nACS3-HMAC-SHA256 Credential=,SignedHeaders=h,Signature=s\n\n",
    "v3-unknown": "GET\n/\n\nACS3-HMAC-SHA256 Foo=1,Credential=a,SignedHeaders=h,Signature=s\n\n",
    "v3-noalgo-space": "GET\n/\n\nACS3-HMAC-SHA256Credential=a\n\n",
    "v3-long": "GET\n/\n\nACS3-HMAC-SHA256 Credential=" + "A" * 300 + ",SignedHeaders=" +
               ";".join("h%d" % i for i in range(200)) + ",Signature=" + "f" * 64 + "\n\n",
    "v3-trailing-comma": "GET\n/\n\nACS3-HMAC-SHA256 Credential=a,SignedHeaders=h,Signature=s,\n\n",
    "token-good-shape": "POST\n/\n\n\n" + "A" * 50 + "\n",
    "token-bad-alpha": "POST\n/\n\n\n" + "A" * 49 + "=\n",
    "token-real": "POST\n/\n\n\nAQAAAAAAAAAqAAAAAAAAAAcAAAABdqmmU4Zfz0X8x2X8mJ2qIw\n",
    "time-offset": "GET\n/\n\n\n2024-02-29T23:59:59+08:00\n",
    "time-bad": "GET\n/\n\n\n2024-13-45T99:99:99Z\n",
    "crlf": "POST\r\n/\r\nA=1\r\n" + A + "\r\n\r\nHost: x\r\n",
    "empty": "",
}
for k, v in S.items():
    put("sign", k, v)

# ---- request: HTTP/1.x-like text, X-Fuzz-Sign pseudo-header ----
DEF = ("Type: StateMachine\nSpecVersion: v1\nStartAt: P\nStates:\n  - Type: Pass\n    Name: P\n"
       "    OutputConstructor:\n      r.$: $Input.a\n    End: true\n")
from urllib.parse import quote


def form(**kv):
    return "&".join("%s=%s" % (k, quote(str(v), safe="")) for k, v in kv.items())


R = {
    "unsigned-list": "GET /?Action=ListFlows&Version=2019-03-15 HTTP/1.1\nHost: x\n\n",
    "wrong-path": "GET /foo HTTP/1.1\n\n",
    "wrong-method": "PUT /?Action=ListFlows&Version=2019-03-15 HTTP/1.1\n\n",
    "no-action": "GET /?Version=2019-03-15 HTTP/1.1\n\n",
    "bad-version": "GET /?Action=ListFlows&Version=2020-01-01 HTTP/1.1\n\n",
    "unknown-action": "GET /?Action=Nope&Version=2019-03-15 HTTP/1.1\n\n",
    "bad-escape": "GET /?Action=%zz HTTP/1.1\n\n",
    "dup-param": "POST /?Action=ListFlows&Version=2019-03-15 HTTP/1.1\n"
                 "Content-Type: application/x-www-form-urlencoded\n\nAction=CreateFlow",
    "json-body-broken": "POST / HTTP/1.1\nContent-Type: application/json\n\n{\"Action\":",
    "media-type": "POST / HTTP/1.1\nContent-Type: text/plain\n\nhello",
    "too-large": "POST / HTTP/1.1\nX-Fuzz-Too-Large: 1\n\nAction=ListFlows",
    "v1-list": "GET /?Action=ListFlows&Version=2019-03-15 HTTP/1.1\nX-Fuzz-Sign: v1\n\n",
    "v1-create-flow": "POST /?Action=CreateFlow&Version=2019-03-15 HTTP/1.1\nX-Fuzz-Sign: v1\n"
                      "Content-Type: application/x-www-form-urlencoded\n\n" +
                      form(Name="fz1", Definition=DEF, Description="d", Type="FDL"),
    "v1-start-exec": "POST /?Action=StartExecution&Version=2019-03-15 HTTP/1.1\n"
                     "X-Fuzz-Sign: v1\n\n" + form(FlowName="fz1", ExecutionName="e1",
                                                   Input='{"a":[1,2]}'),
    "v1-describe-exec": "GET /?" + form(Action="DescribeExecution", Version="2019-03-15",
                                        FlowName="fz1", ExecutionName="e1") +
                        " HTTP/1.1\nX-Fuzz-Sign: v1\n\n",
    "v1-history": "GET /?" + form(Action="GetExecutionHistory", Version="2019-03-15",
                                  FlowName="fz1", ExecutionName="e1") +
                  " HTTP/1.1\nX-Fuzz-Sign: v1\n\n",
    "v1-report-failed": "POST /?Action=ReportTaskFailed&Version=2019-03-15 HTTP/1.1\n"
                        "X-Fuzz-Sign: v1\n\n" + form(TaskToken="A" * 50, Error="E",
                                                     Cause="c"),
    "v1-json-body": "POST / HTTP/1.1\nContent-Type: application/json\nX-Fuzz-Sign: v1\n\n" +
                    json.dumps({"Action": "ListExecutions", "Version": "2019-03-15",
                                "FlowName": "fz1", "Limit": 5}),
    "v1-create-user": "POST /?Action=CreateUser&Version=2019-03-15&UserName=u1 HTTP/1.1\n"
                      "X-Fuzz-Sign: v1\n\n",
    "v1-attach-policy": "POST /?Action=AttachPolicy&Version=2019-03-15 HTTP/1.1\n"
                        "X-Fuzz-Sign: v1\n\n" +
                        form(UserName="u1", PolicyName="p1",
                             PolicyDocument='{"Version":"1","Statement":[{"Effect":"Allow",'
                                            '"Action":"fnf:*","Resource":"*"}]}'),
    "v3-list": "POST / HTTP/1.1\nx-acs-action: ListFlows\nx-acs-version: 2019-03-15\n"
               "X-Fuzz-Sign: v3\n\n",
    "v3-unsigned": "POST / HTTP/1.1\nAuthorization: ACS3-HMAC-SHA256 Credential=LTAI,"
                   "SignedHeaders=host,Signature=00\nx-acs-action: ListFlows\n"
                   "x-acs-version: 2019-03-15\nx-acs-date: 2024-01-01T00:00:00Z\n"
                   "x-acs-signature-nonce: n\nx-acs-content-sha256: 00\n\n",
    "v3-describe-flow": "POST /?Name=fz1 HTTP/1.1\nx-acs-action: DescribeFlow\n"
                        "x-acs-version: 2019-03-15\nHost: flowd\nX-Fuzz-Sign: v3\n\n",
    "mns-create-queue": "PUT /queues/q1 HTTP/1.1\nContent-Type: text/xml\nX-Fuzz-Sign: mns\n\n"
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Queue xmlns=\"http://mns."
                        "aliyuncs.com/doc/v1/\"><VisibilityTimeout>30</VisibilityTimeout></Queue>",
    "mns-send": "POST /queues/q1/messages HTTP/1.1\nContent-Type: text/xml\nX-Fuzz-Sign: mns\n\n"
                "<Message><MessageBody>hello</MessageBody><DelaySeconds>0</DelaySeconds>"
                "</Message>",
    "mns-receive": "GET /queues/q1/messages?waitseconds=1&numOfMessages=4 HTTP/1.1\n"
                   "X-Fuzz-Sign: mns\n\n",
    "mns-unsigned": "GET /queues HTTP/1.1\nAuthorization: MNS LTAI:abc\n"
                    "Date: Thu, 17 Mar 2016 08:44:25 GMT\nx-mns-version: 2015-06-06\n\n",
    "mns-batch-delete": "DELETE /queues/q1/messages HTTP/1.1\nContent-Type: text/xml\n"
                        "X-Fuzz-Sign: mns\n\n<ReceiptHandles><ReceiptHandle>1-00</ReceiptHandle>"
                        "</ReceiptHandles>",
    "crlf": "GET /?Action=ListFlows&Version=2019-03-15 HTTP/1.1\r\nHost: x\r\n"
            "X-Fuzz-Sign: v1\r\n\r\n",
}
for k, v in R.items():
    put("request", k, v)

# ---- spec: definitions from tests/cases/spec plus a few broken ones ----
cases = os.path.join(os.path.dirname(ROOT), "..", "cases", "spec")
for kind in ("valid", "invalid"):
    # Every valid case, every second invalid one: the corpus stays small (< 300 files).
    paths = sorted(glob.glob(os.path.join(cases, kind, "*", "input.*")))
    for path in paths if kind == "valid" else paths[::2]:
        name = os.path.basename(os.path.dirname(path))
        dst = os.path.join(ROOT, "spec", "seed-%s-%s%s" % (kind, name, os.path.splitext(path)[1]))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(path, dst)
put("spec", "broken-flow-seq", "- a\n- b\n")
put("spec", "broken-tabs", "Type:\tStateMachine\n\tStates: [\n")
put("spec", "broken-deep", "a: " + "[" * 200 + "]" * 200 + "\n")
put("spec", "broken-anchor", "Type: &t StateMachine\nSpecVersion: *t\n")

# ---- expr: first line an expression, rest JSON (template or $Input) ----
E = {
    "path": "$Input.o.nested.x[0].y",
    "arith": "($Input.n + 1) * 2 - $Input.f / 3 % 5\n{\"n\":1,\"f\":2}",
    "compare": "$Input.n >= 40 && $Input.s != \"x\" || !$Input.t",
    "format": "format(\"{} and {}\", $Input.s, $Input.n)",
    "funcs": "length(split($Input.s, \" \"))",
    "json": "jsonMerge($Input.o, stringToJson($Input.json))",
    "base64": "toBase64(fromBase64($Input.b64))",
    "hash": "hash($Input.s, \"sha256\")",
    "regex": "regexMatchString($Input.s, \"^h.*d$\")",
    "array": "arrayContains(arrayUnique(toArray(1, 1, 2)), 2)",
    "get": "get($Input.a, 1) == get($Input.o, \"k\")",
    "keys": "mapKeys($Input.o)",
    "int": "intAdd($Input.big, 1)",
    "random": "randomInt(0, 10)",
    "uuid": "uuid()",
    "literal-obj": "{\"a\": [1, $Input.n], \"b\": {\"c\": null}}",
    "context": "$Context.Execution.Name + \"-\" + $Context.Current.Name",
    "fdl-roots": "$input.a + $local.x",
    "bad-syntax": "$Input.a[",
    "bad-func": "nosuch(1)",
    "deep-nesting": "length(length(length(length(length(length(length(length(length(length(length($Input.s)))))))))))",
    "unterminated": "\"abc",
    "template": "$Input.a\n{\"x.$\":\"$Input.n\",\"y\":[{\"z.$\":\"format('{}', $Input.s)\"}],\"k\":1}",
    "template-bad": "1\n{\"x.$\":\"$Input.\"}",
    "template-nonstr": "1\n{\"x.$\":5}",
    "input-json": "$Input.q[2]\n{\"q\":[0,1,{\"r\":true}]}",
    "unicode": "\"\\u4e2d\" + $Input.u",
    "div-zero": "$Input.n / 0",
    "mod-neg": "$Input.neg % 3",
}
for k, v in E.items():
    put("expr", k, v)

# ---- mns: XML bodies (first line doubles as a date) ----
M = {
    "send-one": "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Message xmlns=\"http://mns.aliyuncs.com"
                "/doc/v1/\"><MessageBody>a &lt;b&gt; &amp; &#x4E2D; <![CDATA[<raw>]]></MessageBody>"
                "<DelaySeconds> 5 </DelaySeconds><Priority>1</Priority><!-- c --></Message>",
    "send-batch": "<Messages><Message><MessageBody>one</MessageBody></Message><Message>"
                  "<MessageBody>two</MessageBody><Priority>16</Priority></Message></Messages>",
    "send-bad-prio": "<Message><MessageBody>x</MessageBody><Priority>17</Priority></Message>",
    "send-dup": "<Message><MessageBody>a</MessageBody><MessageBody>b</MessageBody></Message>",
    "send-nested": "<Message><MessageBody>a<b>c</b></MessageBody></Message>",
    "receipts": "<ReceiptHandles xmlns=\"http://mns.aliyuncs.com/doc/v1/\"><ReceiptHandle>1-"
                + "0" * 40 + "</ReceiptHandle><ReceiptHandle>x</ReceiptHandle></ReceiptHandles>",
    "receipts-empty": "<ReceiptHandles></ReceiptHandles>",
    "attrs": "<Queue><DelaySeconds>0</DelaySeconds><MaximumMessageSize>2048</MaximumMessageSize>"
             "<MessageRetentionPeriod>60</MessageRetentionPeriod><VisibilityTimeout>30"
             "</VisibilityTimeout><PollingWaitSeconds>3</PollingWaitSeconds><LoggingEnabled>True"
             "</LoggingEnabled></Queue>",
    "attrs-bad": "<Queue><PollingWaitSeconds>31</PollingWaitSeconds></Queue>",
    "dtd": "<!DOCTYPE m [<!ENTITY e \"xxxx\">]><Message><MessageBody>&e;</MessageBody></Message>",
    "xxe": "<!DOCTYPE m [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><Message><MessageBody>&e;"
           "</MessageBody></Message>",
    "deep": "<Message>" + "<a>" * 300 + "</a>" * 300 + "</Message>",
    "truncated": "<Message><MessageBody>x",
    "date": "Thu, 17 Mar 2016 08:44:25 GMT\n<Queue/>",
    "date-bad": "Thu, 32 Mar 2016 08:44:25 GMT extra\n",
    "empty": "",
}
for k, v in M.items():
    put("mns", k, v)

# ---- policy: RAM policy documents (first line doubles as a wildcard pattern) ----
def pol(*stmts):
    return json.dumps({"Version": "1", "Statement": list(stmts)})


st = {"Effect": "Allow", "Action": "fnf:*", "Resource": "*"}
PO = {
    "allow-all": pol(st),
    "deny-flow": pol(st, {"Effect": "Deny", "Action": ["fnf:StartExecution", "fnf:Create*"],
                          "Resource": "acs:fnf:*:*:flow/f?"}),
    "ip": pol(dict(st, Condition={"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "::1/128"]}})),
    "not-ip": pol(dict(st, Condition={"NotIpAddress": {"acs:SourceIp": "127.0.0.1"}})),
    "bool": pol(dict(st, Condition={"Bool": {"acs:SecureTransport": "false"}})),
    "date": pol(dict(st, Condition={"DateLessThan": {"acs:CurrentTime": "2030-01-01T00:00:00Z"},
                                    "DateGreaterThanEquals": {"acs:CurrentTime":
                                                              "2020-01-01T00:00:00+08:00"}})),
    "string-like": pol(dict(st, Condition={"StringLike": {"acs:SourceIp": "127.*"},
                                           "StringNotEqualsIgnoreCase": {"acs:SourceIp": "X"}})),
    "bad-effect": pol(dict(st, Effect="Maybe")),
    "bad-op": pol(dict(st, Condition={"Nope": {"acs:SourceIp": "1"}})),
    "bad-key": pol(dict(st, Condition={"IpAddress": {"acs:Nope": "1"}})),
    "bad-cidr": pol(dict(st, Condition={"IpAddress": {"acs:SourceIp": "300.1.1.1/33"}})),
    "no-version": json.dumps({"Statement": [st]}),
    "not-json": "{'Version':'1'",
    "array-root": "[]",
    "wildcards": "a*b*c*d*e*f*g*?\n" + pol(st),
    "mixed-ci": pol({"Effect": "allow", "Action": "FNF:*", "Resource": ["*", "acs:mns:*"]}),
}
for k, v in PO.items():
    put("policy", k, v)
