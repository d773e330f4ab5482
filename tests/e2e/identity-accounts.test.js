'use strict';
// Accounts (README "Accounts, users, keys and policies", flowd's decisions 2): the instance
// administrator (the root key flowd was started with, account A) creates account B. Accounts
// cannot see each other: another account's task token is AccessDenied ("The resources doesn't
// belong to you.") and leaves the execution untouched; another account's flow is
// FlowNotExists; the same flow name in two accounts is two flows. Only the instance
// administrator may create and list accounts. Denials leave an audit line without secrets.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const { setup, it } = require('./lib/harness');
const clients = require('./lib/clients');
const { expectError } = clients;
const raw = require('./lib/raw');
const u = require('./lib/util');
const adm = require('./lib/admin');
const { ACCOUNT_ID, KEY_ID, KEY_SECRET, FLOWCTL_BIN } = require('./lib/flowd');

const ctx = setup();
const NOT_YOURS = "The resources doesn't belong to you.";

// Every secret a test has seen; none may ever appear in flowd's log.
const secrets = [KEY_SECRET];

let B = null; // {accountId, accessKeyId, accessKeySecret}
let vB = null; // fnf V1 client of B's root key
async function accountB() {
  if (!B) {
    B = await adm.createAccount(ctx.srv);
    secrets.push(B.accessKeySecret);
    vB = clients.v1(ctx.srv, B);
  }
  return B;
}

function strip(r) {
  const o = { ...r };
  delete o.RequestId;
  return o;
}

// A's execution as A sees it: description (without RequestId) and full history.
async function snapshot(flow, exec) {
  const d = strip(await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: exec }));
  const h = await u.fullHistory(ctx.v1, flow, exec);
  return { d, h };
}

it(ctx, 'CreateAccount makes a 16-digit account with a working root key; ListAccounts lists it', async () => {
  const b = await accountB();
  assert.match(b.accountId, /^\d{16}$/, JSON.stringify(b.reply));
  assert.equal(typeof b.reply.AccountId, 'string', 'AccountId is a string');
  assert.notEqual(b.accountId, ACCOUNT_ID);
  assert.ok(b.accessKeyId && b.accessKeySecret, JSON.stringify(b.reply));
  assert.notEqual(b.accessKeyId, KEY_ID);
  const l = await vB.listFlows({});
  assert.deepEqual(l.Flows, [], 'a new account has no flows');

  // A chosen id.
  const id = '7000000000000' + String(process.pid % 1000).padStart(3, '0');
  const c = await adm.createAccount(ctx.srv, id);
  secrets.push(c.accessKeySecret);
  assert.equal(c.accountId, id);
  assert.equal((await clients.v1(ctx.srv, c).listFlows({})).Flows.length, 0);

  const list = await adm.admin(ctx.srv).call('ListAccounts');
  assert.ok(Array.isArray(list.Accounts), JSON.stringify(list));
  const ids = list.Accounts.map((a) => String(a.AccountId));
  for (const want of [ACCOUNT_ID, b.accountId, id]) assert.ok(ids.includes(want), `${want} in ${ids}`);
  for (const a of list.Accounts) {
    assert.equal(a.Region, 'cn-hangzhou', JSON.stringify(a));
    assert.ok(a.CreatedTime, JSON.stringify(a));
  }
  assert.ok(!JSON.stringify(list).includes(b.accessKeySecret), 'no secrets in ListAccounts');
});

it(ctx, 'CreateAccount with an existing id is AccountAlreadyExists (409); a malformed id is InvalidArgument', async () => {
  const b = await accountB();
  for (const id of [b.accountId, ACCOUNT_ID]) {
    const e = await expectError(() => adm.createAccount(ctx.srv, id), 'AccountAlreadyExists');
    assert.match(e.data.Message, new RegExp(id));
    const r = await raw.v1Request(ctx.srv, 'CreateAccount', { AccountId: id });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.Code, 'AccountAlreadyExists');
  }
  for (const bad of ['123', '12345678901234567', 'abcdefghijklmnop']) {
    const e = await expectError(() => adm.createAccount(ctx.srv, bad), 'InvalidArgument');
    assert.match(e.data.Message, /AccountId/, e.data.Message);
  }
});

it(ctx, 'a non-admin account root is AccessDenied (403) for CreateAccount and ListAccounts', async () => {
  const b = await accountB();
  const before = (await adm.admin(ctx.srv).call('ListAccounts')).Accounts.length;
  for (const action of ['CreateAccount', 'ListAccounts']) {
    await expectError(() => adm.admin(ctx.srv, b).call(action), 'AccessDenied');
    const r = await raw.v1Request(ctx.srv, action, {}, { keyId: b.accessKeyId,
      secret: b.accessKeySecret, place: adm.ADMIN_GET.has(action) ? 'query' : 'form' });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.Code, 'AccessDenied');
  }
  await expectError(() => adm.admin(ctx.srv, b).call('CreateAccount',
    { AccountId: '7100000000000001' }), 'AccessDenied');
  assert.equal((await adm.admin(ctx.srv).call('ListAccounts')).Accounts.length, before,
    'no account was created');
  // Within its own account B's root key administers: a user of B (AccountId defaults to B).
  const name = u.uniq('ub');
  const cu = await adm.admin(ctx.srv, b).call('CreateUser', { UserName: name });
  assert.equal(String(cu.AccountId), b.accountId);
  assert.equal(cu.UserName, name);
  const ul = await adm.admin(ctx.srv, b).call('ListUsers', {});
  assert.ok(JSON.stringify(ul).includes(name), JSON.stringify(ul));
  // ... but not in A's.
  const e = await expectError(() => adm.admin(ctx.srv, b).call('CreateUser',
    { AccountId: ACCOUNT_ID, UserName: u.uniq('intruder') }));
  assert.ok(['AccessDenied', 'AccountNotExists'].includes(e.code), `${e.code}: ${e.message}`);
  const al = await adm.admin(ctx.srv).call('ListUsers', { AccountId: ACCOUNT_ID });
  assert.ok(!JSON.stringify(al).includes('intruder'), JSON.stringify(al));
});

it(ctx, "another account's task token is AccessDenied and leaves the execution as it was", async () => {
  const b = await accountB();
  const flow = u.uniq('fa');
  await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, ctx.worker.url('/acct')));
  const { name: exec, orderId } = await u.startTagged(ctx.v1, flow);
  const token = (await ctx.worker.nextFor(orderId)).body.token;
  await u.waitEvent(ctx.v1, flow, exec);
  const before = await snapshot(flow, exec);
  assert.equal(before.d.Status, 'Running');

  const check = async (what) => {
    const now = await snapshot(flow, exec);
    assert.deepEqual(now, before, `A's execution unchanged after ${what}`);
  };

  let e = await expectError(() => vB.reportTaskFailed({ TaskToken: token, Error: 'Evil',
    Cause: 'from B' }), 'AccessDenied');
  assert.equal(e.data.Message, NOT_YOURS);
  await check('ReportTaskFailed (V1)');
  e = await expectError(() => vB.reportTaskSucceeded({ TaskToken: token, Output: '{"b":1}' }),
    'AccessDenied');
  assert.equal(e.data.Message, NOT_YOURS);
  await check('ReportTaskSucceeded (V1)');
  const v3B = clients.v3(ctx.srv, b);
  e = await expectError(() => v3B.call('ReportTaskFailed', { TaskToken: token, Error: 'Evil' }),
    'AccessDenied');
  assert.equal(e.data.statusCode, 403);
  e = await expectError(() => v3B.call('ReportTaskSucceeded', { TaskToken: token, Output: '{}' }),
    'AccessDenied');
  assert.equal(e.data.statusCode, 403);
  for (const [action, p] of [['ReportTaskFailed', { Error: 'E' }],
    ['ReportTaskSucceeded', { Output: '{}' }]]) {
    const r = await raw.v1Request(ctx.srv, action, { TaskToken: token, ...p },
      { keyId: b.accessKeyId, secret: b.accessKeySecret });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.Code, 'AccessDenied');
    assert.equal(r.json.Message, NOT_YOURS);
  }
  await check('raw reports');

  // StartExecution with A's token as CallbackFnFTaskToken, on B's own flow.
  const fb = u.uniq('fb');
  await u.createFlow(vB, fb, u.passFlow(fb));
  const exB = u.uniq('exb');
  e = await expectError(() => vB.startExecution({ FlowName: fb, ExecutionName: exB,
    Input: '{}', CallbackFnFTaskToken: token }), 'AccessDenied');
  assert.equal(e.data.Message, NOT_YOURS);
  const r = await raw.v1Request(ctx.srv, 'StartExecution', { FlowName: fb, ExecutionName: exB,
    CallbackFnFTaskToken: token }, { keyId: b.accessKeyId, secret: b.accessKeySecret });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.Code, 'AccessDenied');
  await expectError(() => vB.describeExecution({ FlowName: fb, ExecutionName: exB }),
    'ExecutionNotExists');
  await check('StartExecution with CallbackFnFTaskToken');

  // A reports normally afterwards.
  const rep = await ctx.v1.reportTaskFailed({ TaskToken: token, Error: 'Real', Cause: 'from A' });
  assert.ok(Number(rep.EventId) > 0);
  const done = await u.waitDone(ctx.v1, flow, exec);
  assert.equal(done.Status, 'Failed');
  assert.equal(done.ErrorCode, 'Real');
  const ev = await u.fullHistory(ctx.v1, flow, exec);
  u.assertEventIds(ev);
  const failed = ev.filter((x) => x.Type === 'TaskFailed');
  assert.equal(failed.length, 1, u.types(ev).join(','));
  assert.equal(u.detail(failed[0]).Error, 'Real');
  assert.equal(Number(failed[0].EventId), Number(rep.EventId));

  // Ownership is checked before the task's state (flowd's decisions 4): B still gets AccessDenied,
  // not TaskAlreadyCompleted, for the completed token; a damaged token is InvalidArgument.
  e = await expectError(() => vB.reportTaskFailed({ TaskToken: token, Error: 'Late' }),
    'AccessDenied');
  assert.equal(e.data.Message, NOT_YOURS);
  await expectError(() => ctx.v1.reportTaskFailed({ TaskToken: token, Error: 'Late' }),
    'TaskAlreadyCompleted');
  await expectError(() => vB.reportTaskFailed({ TaskToken: token.slice(0, -3), Error: 'E' }),
    'InvalidArgument');
});

it(ctx, "another account's flow is FlowNotExists and never listed", async () => {
  const b = await accountB();
  const fa = u.uniq('onlya');
  await u.createFlow(ctx.v1, fa, u.passFlow(fa));
  const exA = (await ctx.v1.startExecution({ FlowName: fa, ExecutionName: u.uniq('x'),
    Input: '{}' })).Name;
  let e = await expectError(() => vB.describeFlow({ Name: fa }), 'FlowNotExists');
  assert.match(e.data.Message, new RegExp(fa));
  await expectError(() => vB.startExecution({ FlowName: fa, ExecutionName: u.uniq('x'),
    Input: '{}' }), 'FlowNotExists');
  await expectError(() => vB.describeExecution({ FlowName: fa, ExecutionName: exA }),
    'FlowNotExists');
  await expectError(() => vB.listExecutions({ FlowName: fa }), 'FlowNotExists');
  await expectError(() => vB.updateFlow({ Name: fa, Description: 'hijack' }), 'FlowNotExists');
  await expectError(() => vB.deleteFlow({ Name: fa }), 'FlowNotExists');
  e = await expectError(() => clients.v3(ctx.srv, b).call('DescribeFlow', { Name: fa }),
    'FlowNotExists');
  assert.equal(e.data.statusCode, 404);
  const d = await ctx.v1.describeFlow({ Name: fa });
  assert.equal(d.Description, 'e2e', 'A\'s flow untouched');

  const own = u.uniq('onlyb');
  await u.createFlow(vB, own, u.passFlow(own));
  const lb = await vB.listFlows({ Limit: 100 });
  const namesB = lb.Flows.map((f) => f.Name);
  assert.ok(namesB.includes(own));
  const la = await ctx.v1.listFlows({ Limit: 100 });
  const namesA = la.Flows.map((f) => f.Name);
  assert.ok(namesA.includes(fa));
  for (const n of namesA) assert.ok(!namesB.includes(n), `A's flow ${n} listed for B`);
  assert.ok(!namesA.includes(own), "B's flow listed for A");
});

it(ctx, 'the same flow name in two accounts is two independent flows', async () => {
  await accountB();
  const name = u.uniq('same');
  const defA = u.passFlow(name);
  const defB = u.callbackFlow(name, ctx.worker.url('/sameB'));
  const ca = await ctx.v1.createFlow({ Name: name, Definition: defA, Description: 'of A',
    Type: 'FDL' });
  const cb = await vB.createFlow({ Name: name, Definition: defB, Description: 'of B',
    Type: 'FDL' });
  assert.notEqual(ca.Id, cb.Id);
  const da = await ctx.v1.describeFlow({ Name: name });
  const db = await vB.describeFlow({ Name: name });
  assert.equal(da.Definition, defA);
  assert.equal(db.Definition, defB);
  assert.equal(da.Description, 'of A');
  assert.equal(db.Description, 'of B');
  assert.equal(da.Id, ca.Id);
  assert.equal(db.Id, cb.Id);

  // The same execution name in both: no ExecutionAlreadyExists, separate runs.
  const ex = u.uniq('ex');
  const orderId = u.uniq('order');
  await ctx.v1.startExecution({ FlowName: name, ExecutionName: ex, Input: JSON.stringify({ orderId }) });
  await vB.startExecution({ FlowName: name, ExecutionName: ex, Input: JSON.stringify({ orderId }) });
  const doneA = await u.waitDone(ctx.v1, name, ex);
  assert.equal(doneA.Status, 'Succeeded');
  const token = (await ctx.worker.nextFor(orderId)).body.token;
  const runB = await u.waitStatus(vB, name, ex, 'Running');
  assert.equal(runB.Status, 'Running');
  const la = await ctx.v1.listExecutions({ FlowName: name });
  const lb = await vB.listExecutions({ FlowName: name });
  assert.equal(la.Executions.length, 1);
  assert.equal(lb.Executions.length, 1);
  // A cannot report B's task either, even though flow and execution names are the same.
  await expectError(() => ctx.v1.reportTaskSucceeded({ TaskToken: token, Output: '{}' }),
    'AccessDenied');
  await vB.reportTaskSucceeded({ TaskToken: token, Output: '{"by":"B"}' });
  const doneB = await u.waitDone(vB, name, ex);
  assert.equal(doneB.Status, 'Succeeded');
  assert.deepEqual(u.output(doneB), { by: 'B' });
  assert.notDeepEqual(u.output(await ctx.v1.describeExecution({ FlowName: name, ExecutionName: ex })),
    { by: 'B' });
  const ha = u.types(await u.fullHistory(ctx.v1, name, ex));
  assert.ok(!ha.includes('TaskSucceeded'), `A's history is its own: ${ha}`);

  // Deleting A's flow leaves B's.
  await ctx.v1.deleteFlow({ Name: name });
  await expectError(() => ctx.v1.describeFlow({ Name: name }), 'FlowNotExists');
  assert.equal((await vB.describeFlow({ Name: name })).Id, cb.Id);
});

it(ctx, 'flowctl admin account create/list --json', async () => {
  assert.ok(fs.existsSync(FLOWCTL_BIN), `flowctl at ${FLOWCTL_BIN}`);
  const r = await adm.flowctl(ctx.srv, ['admin', 'account', 'create', '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.ok(r.json, r.stdout);
  assert.match(String(r.json.AccountId), /^\d{16}$/);
  assert.ok(r.json.AccessKeyId && r.json.AccessKeySecret, r.stdout);
  secrets.push(r.json.AccessKeySecret);
  const l = await clients.v1(ctx.srv, adm.credsOf(r.json)).listFlows({});
  assert.deepEqual(l.Flows, []);

  const id = '7200000000000' + String(process.pid % 1000).padStart(3, '0');
  const r2 = await adm.flowctl(ctx.srv, ['admin', 'account', 'create', '--id', id, '--json']);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(String(r2.json.AccountId), id);
  secrets.push(r2.json.AccessKeySecret);
  const r3 = await adm.flowctl(ctx.srv, ['admin', 'account', 'create', '--id', id, '--json']);
  assert.equal(r3.code, 1, r3.stdout);
  assert.match(r3.stderr, /AccountAlreadyExists: /);

  const ls = await adm.flowctl(ctx.srv, ['admin', 'account', 'list', '--json']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.ok(ls.stdout.includes(id) && ls.stdout.includes(String(r.json.AccountId)), ls.stdout);
  // A non-admin root gets AccessDenied from flowctl too.
  const denied = await adm.flowctl(ctx.srv, ['admin', 'account', 'list', '--json'], r2.json);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /AccessDenied: /);
});

it(ctx, 'denials leave an audit line with account and key, and no secret is ever logged', async () => {
  const b = await accountB();
  const mark = ctx.srv.stderr.length;
  await expectError(() => adm.admin(ctx.srv, b).call('ListAccounts'), 'AccessDenied');
  const lines = await u.waitFor(() => {
    const l = adm.auditLines(ctx.srv.stderr.slice(mark)).filter((x) =>
      x.code === 'AccessDenied' && x.key === b.accessKeyId);
    return l.length ? l : null;
  }, 5000, 50, 'an audit line for B');
  const line = lines[lines.length - 1];
  assert.match(line.line, /audit: denied code=AccessDenied/);
  assert.equal(line.account, b.accountId, line.line);
  assert.equal(line.action, 'ListAccounts', line.line);
  assert.equal(line.ip, '127.0.0.1', line.line);
  // The cross-account token denials of the earlier test were audited as well.
  assert.ok(adm.auditLines(ctx.srv.stderr).some((x) => x.code === 'AccessDenied' &&
    x.account === b.accountId && /ReportTask/.test(x.action || '')),
  `an audit line for the token denial:\n${ctx.srv.stderr.slice(-3000)}`);
  // A wrong signature is audited, and neither secret shows.
  await expectError(() => clients.v1(ctx.srv, { accessKeyId: b.accessKeyId,
    accessKeySecret: 'not-the-secret-9f8e7d' }).listFlows({}), 'SignatureNotMatch');
  await u.waitFor(() => adm.auditLines(ctx.srv.stderr).some((x) =>
    x.code === 'SignatureNotMatch' && x.key === b.accessKeyId), 5000, 50, 'SignatureNotMatch audit');
  const log = ctx.srv.stderr;
  for (const s of [...secrets, 'not-the-secret-9f8e7d']) {
    assert.ok(!log.includes(s), `a secret (${s.slice(0, 4)}...) appears in flowd's log`);
  }
});
