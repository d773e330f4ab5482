'use strict';
// admin.js - flowd's identity administration (README "Accounts, users, keys and policies")
// for the e2e tests: the admin actions through a bare pop-core RPCClient, `flowctl admin`,
// policy documents, ARNs and flowd's audit lines.
//
// admin(srv, creds?) returns {call(action, params)}: GET for the List* actions, POST for the
// others, signed with creds (default: the instance administrator's root key). Errors are
// pop-core's (e.code, e.data = the error body).

const { execFile } = require('node:child_process');
const OpenApi = require('@alicloud/openapi-client');
const clients = require('./clients');
const { FLOWCTL_BIN, KEY_ID, KEY_SECRET, ACCOUNT_ID } = require('./flowd');

const ADMIN_GET = new Set(['ListAccounts', 'ListUsers', 'ListAccessKeys', 'ListPolicies']);
const REGION = 'cn-hangzhou';

// creds: {accessKeyId, accessKeySecret}; AccessKeyId/AccessKeySecret (reply shape) work too.
function credsOf(c) {
  if (!c) return { accessKeyId: KEY_ID, accessKeySecret: KEY_SECRET };
  return { accessKeyId: c.accessKeyId || c.AccessKeyId,
    accessKeySecret: c.accessKeySecret || c.AccessKeySecret };
}

function admin(srv, creds) {
  const c = credsOf(creds);
  const pop = clients.pop(srv, c);
  return {
    creds: c,
    call(action, params = {}) {
      const clean = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
      return pop.request(action, clean, { method: ADMIN_GET.has(action) ? 'GET' : 'POST' });
    },
  };
}

// CreateAccount; resolves {accountId, accessKeyId, accessKeySecret, reply}.
async function createAccount(srv, accountId, creds) {
  const r = await admin(srv, creds).call('CreateAccount', { AccountId: accountId });
  return { accountId: r.AccountId, accessKeyId: r.AccessKeyId, accessKeySecret: r.AccessKeySecret,
    reply: r };
}

// CreateUser then CreateAccessKey for it; resolves {accountId, userName, accessKeyId,
// accessKeySecret}.
async function createUserWithKey(srv, accountId, userName, creds) {
  const a = admin(srv, creds);
  await a.call('CreateUser', { AccountId: accountId, UserName: userName });
  const k = await a.call('CreateAccessKey', { AccountId: accountId, UserName: userName });
  return { accountId, userName, accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret };
}

// A RAM policy document (object) with the given statements.
function policy(...statements) {
  return { Version: '1', Statement: statements };
}

function allow(action, resource, condition) {
  const s = { Effect: 'Allow', Action: action, Resource: resource };
  if (condition) s.Condition = condition;
  return s;
}

function deny(action, resource, condition) {
  const s = { Effect: 'Deny', Action: action, Resource: resource };
  if (condition) s.Condition = condition;
  return s;
}

async function attachPolicy(srv, accountId, userName, policyName, doc, creds) {
  return admin(srv, creds).call('AttachPolicy', { AccountId: accountId, UserName: userName,
    PolicyName: policyName, PolicyDocument: typeof doc === 'string' ? doc : JSON.stringify(doc) });
}

async function detachPolicy(srv, accountId, userName, policyName, creds) {
  return admin(srv, creds).call('DetachPolicy', { AccountId: accountId, UserName: userName,
    PolicyName: policyName });
}

// acs:fnf:<region>:<account>:flow/<name>
function flowArn(flowName, accountId = ACCOUNT_ID, region = REGION) {
  return `acs:fnf:${region}:${accountId}:flow/${flowName}`;
}

// Runs `flowctl <args>` against srv with creds in the environment; resolves
// {code, stdout, stderr, json} (never rejects on an exit status).
function flowctl(srv, args, creds, env = {}) {
  const c = credsOf(creds);
  return new Promise((resolve, reject) => {
    execFile(FLOWCTL_BIN, args, {
      env: { ...process.env, FLOWD_ENDPOINT: srv.endpoint, FLOWD_ACCESS_KEY_ID: c.accessKeyId,
        FLOWD_ACCESS_KEY_SECRET: c.accessKeySecret, ...env },
      timeout: 15000,
    }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      let json;
      try { json = JSON.parse(stdout); } catch (_) { json = undefined; }
      resolve({ code: err ? err.code : 0, stdout, stderr, json });
    });
  });
}

// The `audit: denied ...` lines of text, each parsed into {line, code, account, key, ...}.
function auditLines(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const i = line.indexOf('audit: denied');
    if (i < 0) continue;
    const rec = { line };
    for (const m of line.slice(i).matchAll(/(\w+)=(\S*)/g)) rec[m[1]] = m[2];
    out.push(rec);
  }
  return out;
}

// A V3 client (openapi-client) that also sends an STS security token, as the SDK does.
function v3WithSecurityToken(srv, token, creds) {
  const c = credsOf(creds);
  const v = clients.v3(srv, c);
  v.client = new OpenApi.default(new OpenApi.Config({
    accessKeyId: c.accessKeyId,
    accessKeySecret: c.accessKeySecret,
    securityToken: token,
    endpoint: srv.hostPort,
    protocol: 'http',
    readTimeout: 10000,
    connectTimeout: 3000,
  }));
  return v;
}

module.exports = { admin, createAccount, createUserWithKey, policy, allow, deny, attachPolicy,
  detachPolicy, flowArn, flowctl, auditLines, v3WithSecurityToken, credsOf, REGION, ADMIN_GET };
