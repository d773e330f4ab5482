'use strict';
// RAM users and policies (README "Accounts, users, keys and policies", flowd's decisions 2): a
// user may do what its policies allow (default deny, an explicit Deny wins, * and ?
// wildcards); report actions are checked against the flow of the token's execution; a denial
// is AccessDenied naming the action and the resource and leaves the execution untouched;
// IpAddress conditions on acs:SourceIp; DetachPolicy removes a grant; RAM users never
// administer; a bad policy document is InvalidArgument naming the part. Some users, keys and
// policies are made with `flowctl admin`.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { setup, it } = require('./lib/harness');
const clients = require('./lib/clients');
const { expectError } = clients;
const raw = require('./lib/raw');
const u = require('./lib/util');
const adm = require('./lib/admin');
const { ACCOUNT_ID, KEY_SECRET } = require('./lib/flowd');

const ctx = setup();
const { allow, deny, policy } = adm;
const secrets = [KEY_SECRET];

let X = null;
let Y = null;
async function flows() {
  if (!X) {
    X = u.uniq('X');
    Y = u.uniq('Y');
    await u.createFlow(ctx.v1, X, u.callbackFlow(X, ctx.worker.url('/x')));
    await u.createFlow(ctx.v1, Y, u.callbackFlow(Y, ctx.worker.url('/y')));
  }
}

// Starts an execution of flow (as A's root) and resolves {flow, exec, token} once the worker
// has the token.
async function waiting(flow) {
  await flows();
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const token = (await ctx.worker.nextFor(orderId)).body.token;
  await u.waitEvent(ctx.v1, flow, name);
  return { flow, exec: name, token };
}

async function snapshot(w) {
  const d = { ...(await ctx.v1.describeExecution({ FlowName: w.flow, ExecutionName: w.exec })) };
  delete d.RequestId;
  return { d, h: await u.fullHistory(ctx.v1, w.flow, w.exec) };
}

// Runs fn (expected to be AccessDenied) and checks the execution w did not change.
async function deniedUnchanged(w, fn, action, arn) {
  const before = await snapshot(w);
  assert.equal(before.d.Status, 'Running');
  const e = await expectError(fn, 'AccessDenied');
  if (action) assert.ok(e.data.Message.includes(`'fnf:${action}'`), e.data.Message);
  if (arn) assert.ok(e.data.Message.includes(arn), `${arn} in ${e.data.Message}`);
  assert.deepEqual(await snapshot(w), before, 'the execution is exactly as it was');
  return e;
}

// A user of account A with a key; policies: [[name, doc], ...]. Resolves {name, creds, v1}.
async function user(policies = []) {
  await flows();
  const name = u.uniq('u');
  const k = await adm.createUserWithKey(ctx.srv, ACCOUNT_ID, name);
  secrets.push(k.accessKeySecret);
  for (const [pn, doc] of policies) await adm.attachPolicy(ctx.srv, ACCOUNT_ID, name, pn, doc);
  return { name, creds: k, v1: clients.v1(ctx.srv, k), v3: clients.v3(ctx.srv, k) };
}

async function expectFailedBy(w, error) {
  const d = await u.waitDone(ctx.v1, w.flow, w.exec);
  assert.equal(d.Status, 'Failed');
  assert.equal(d.ErrorCode, error);
}

it(ctx, 'ReportTaskFailed on flow X only (acs:fnf:*:*:flow/X): allowed there, denied elsewhere', async () => {
  await flows();
  const U = await user([['only-x', policy(allow('fnf:ReportTaskFailed', `acs:fnf:*:*:flow/${X}`))]]);
  const wx = await waiting(X);
  const ok = await U.v1.reportTaskFailed({ TaskToken: wx.token, Error: 'ByUser', Cause: 'u' });
  assert.ok(Number(ok.EventId) > 0);
  await expectFailedBy(wx, 'ByUser');

  // Y's token: the message names the action and Y's ARN.
  const wy = await waiting(Y);
  const e = await deniedUnchanged(wy, () => U.v1.reportTaskFailed({ TaskToken: wy.token,
    Error: 'E' }), 'ReportTaskFailed', adm.flowArn(Y));
  assert.equal(e.data.Message, "The caller is not authorized to perform 'fnf:ReportTaskFailed' " +
    `on resource '${adm.flowArn(Y)}'.`);
  const r = await raw.v1Request(ctx.srv, 'ReportTaskFailed', { TaskToken: wy.token, Error: 'E' },
    { keyId: U.creds.accessKeyId, secret: U.creds.accessKeySecret });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.Code, 'AccessDenied');
  const e3 = await expectError(() => U.v3.call('ReportTaskFailed', { TaskToken: wy.token,
    Error: 'E' }), 'AccessDenied');
  assert.equal(e3.data.statusCode, 403);

  // Other actions on X are not granted.
  const wx2 = await waiting(X);
  await deniedUnchanged(wx2, () => U.v1.reportTaskSucceeded({ TaskToken: wx2.token,
    Output: '{}' }), 'ReportTaskSucceeded', adm.flowArn(X));
  const ex = u.uniq('ex');
  await expectError(() => U.v1.startExecution({ FlowName: X, ExecutionName: ex, Input: '{}' }),
    'AccessDenied').then((e) => {
    assert.ok(e.data.Message.includes("'fnf:StartExecution'"), e.data.Message);
    assert.ok(e.data.Message.includes(adm.flowArn(X)), e.data.Message);
  });
  await expectError(() => ctx.v1.describeExecution({ FlowName: X, ExecutionName: ex }),
    'ExecutionNotExists');
  await expectError(() => U.v1.describeFlow({ Name: X }), 'AccessDenied');
  await expectError(() => U.v1.listFlows({}), 'AccessDenied');
  // The root key still reports normally.
  await ctx.v1.reportTaskSucceeded({ TaskToken: wx2.token, Output: '{"root":true}' });
  await ctx.v1.reportTaskSucceeded({ TaskToken: wy.token, Output: '{"root":true}' });
  // The policy is checked before the task's state: still AccessDenied on Y's completed token.
  await expectError(() => U.v1.reportTaskFailed({ TaskToken: wy.token, Error: 'E' }),
    'AccessDenied');
  await expectError(() => U.v1.reportTaskFailed({ TaskToken: wx.token, Error: 'E' }),
    'TaskAlreadyCompleted');
});

it(ctx, 'the full ARN acs:fnf:cn-hangzhou:<account>:flow/X works; another account id in it does not', async () => {
  await flows();
  const U = await user([['other-account',
    policy(allow('fnf:ReportTaskFailed', `acs:fnf:cn-hangzhou:9999999999999999:flow/${X}`))]]);
  const w = await waiting(X);
  await deniedUnchanged(w, () => U.v1.reportTaskFailed({ TaskToken: w.token, Error: 'E' }),
    'ReportTaskFailed', adm.flowArn(X));
  await adm.attachPolicy(ctx.srv, ACCOUNT_ID, U.name, 'full-arn',
    policy(allow(['fnf:ReportTaskFailed'], [adm.flowArn(X)])));
  await U.v1.reportTaskFailed({ TaskToken: w.token, Error: 'FullArn' });
  await expectFailedBy(w, 'FullArn');
  const wy = await waiting(Y);
  await deniedUnchanged(wy, () => U.v1.reportTaskFailed({ TaskToken: wy.token, Error: 'E' }),
    'ReportTaskFailed', adm.flowArn(Y));
  await ctx.v1.reportTaskFailed({ TaskToken: wy.token, Error: 'Root' });
});

it(ctx, 'an explicit Deny beats an Allow; detaching the Deny restores the grant', async () => {
  const U = await user([['allow-x', policy(allow('fnf:ReportTaskFailed', `acs:fnf:*:*:flow/${X}`))],
    ['allow-all', policy(allow('fnf:*', '*'))]]);
  const w1 = await waiting(X);
  await U.v1.reportTaskFailed({ TaskToken: w1.token, Error: 'Before' });
  await expectFailedBy(w1, 'Before');

  await adm.attachPolicy(ctx.srv, ACCOUNT_ID, U.name, 'deny-x',
    policy(deny('fnf:Report*', `acs:fnf:*:*:flow/${X}`)));
  const w2 = await waiting(X);
  await deniedUnchanged(w2, () => U.v1.reportTaskFailed({ TaskToken: w2.token, Error: 'E' }),
    'ReportTaskFailed', adm.flowArn(X));
  await deniedUnchanged(w2, () => U.v1.reportTaskSucceeded({ TaskToken: w2.token, Output: '{}' }),
    'ReportTaskSucceeded', adm.flowArn(X));
  // The Deny is scoped to X's reports: Y's and other actions on X are still allowed.
  const wy = await waiting(Y);
  await U.v1.reportTaskSucceeded({ TaskToken: wy.token, Output: '{}' });
  assert.equal((await U.v1.describeFlow({ Name: X })).Name, X);

  await adm.detachPolicy(ctx.srv, ACCOUNT_ID, U.name, 'deny-x');
  await U.v1.reportTaskFailed({ TaskToken: w2.token, Error: 'After' });
  await expectFailedBy(w2, 'After');
});

it(ctx, 'wildcards: fnf:Report* allows both reports; ? matches one character', async () => {
  const U = await user([['reports', policy(allow('fnf:Report*', '*'))],
    ['q', policy(allow('fnf:DescribeFlo?', `acs:fnf:*:*:flow/${X.slice(0, -1)}?`))]]);
  const w1 = await waiting(X);
  await U.v1.reportTaskSucceeded({ TaskToken: w1.token, Output: '{"w":1}' });
  const d1 = await u.waitDone(ctx.v1, X, w1.exec);
  assert.equal(d1.Status, 'Succeeded');
  const w2 = await waiting(Y);
  await U.v1.reportTaskFailed({ TaskToken: w2.token, Error: 'Wild' });
  await expectFailedBy(w2, 'Wild');
  await expectError(() => U.v1.startExecution({ FlowName: X, ExecutionName: u.uniq('e'),
    Input: '{}' }), 'AccessDenied');
  assert.equal((await U.v1.describeFlow({ Name: X })).Name, X);
  await expectError(() => U.v1.describeFlow({ Name: Y }), 'AccessDenied');
  await expectError(() => U.v1.listExecutions({ FlowName: X }), 'AccessDenied');
});

it(ctx, 'IpAddress on acs:SourceIp: 10.0.0.0/8 denies, 127.0.0.0/8 allows; NotIpAddress too', async () => {
  const U = await user([['ten', policy(allow('fnf:ReportTaskFailed', '*',
    { IpAddress: { 'acs:SourceIp': ['10.0.0.0/8'] } }))]]);
  const w = await waiting(X);
  await deniedUnchanged(w, () => U.v1.reportTaskFailed({ TaskToken: w.token, Error: 'E' }),
    'ReportTaskFailed');
  await adm.attachPolicy(ctx.srv, ACCOUNT_ID, U.name, 'loopback', policy(allow(
    'fnf:ReportTaskFailed', '*', { IpAddress: { 'acs:SourceIp': ['127.0.0.0/8'] } })));
  await U.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Loopback' });
  await expectFailedBy(w, 'Loopback');

  // NotIpAddress: a Deny unless from 10/8 denies us; an Allow unless from 10/8 allows us.
  const V = await user([['not-ten', policy(allow('fnf:ReportTaskFailed', '*',
    { NotIpAddress: { 'acs:SourceIp': '10.0.0.0/8' } }))]]);
  const w2 = await waiting(Y);
  await adm.attachPolicy(ctx.srv, ACCOUNT_ID, V.name, 'deny-not-loop', policy(deny(
    'fnf:ReportTaskFailed', '*', { NotIpAddress: { 'acs:SourceIp': '127.0.0.1' } })));
  await V.v1.reportTaskFailed({ TaskToken: w2.token, Error: 'NotTen' });
  await expectFailedBy(w2, 'NotTen');
  await adm.attachPolicy(ctx.srv, ACCOUNT_ID, V.name, 'deny-loop', policy(deny(
    'fnf:ReportTaskFailed', '*', { IpAddress: { 'acs:SourceIp': '127.0.0.1/32' } })));
  const w3 = await waiting(Y);
  await deniedUnchanged(w3, () => V.v1.reportTaskFailed({ TaskToken: w3.token, Error: 'E' }),
    'ReportTaskFailed', adm.flowArn(Y));
  await ctx.v1.reportTaskFailed({ TaskToken: w3.token, Error: 'Root' });
});

it(ctx, 'the execution form acs:fnf:*:*:flows/X/executions/* matches flow X', async () => {
  const U = await user([['exec-form', policy(allow('fnf:ReportTaskFailed',
    `acs:fnf:*:*:flows/${X}/executions/*`))]]);
  const w = await waiting(X);
  await U.v1.reportTaskFailed({ TaskToken: w.token, Error: 'ExecForm' });
  await expectFailedBy(w, 'ExecForm');
  const wy = await waiting(Y);
  await deniedUnchanged(wy, () => U.v1.reportTaskFailed({ TaskToken: wy.token, Error: 'E' }),
    'ReportTaskFailed', adm.flowArn(Y));
  await ctx.v1.reportTaskFailed({ TaskToken: wy.token, Error: 'Root' });
});

it(ctx, 'conditions: Bool acs:SecureTransport is false; Date(Less|Greater)Than[Equals] on acs:CurrentTime', async () => {
  const past = '2020-01-01T00:00:00Z';
  const future = '2099-01-01T00:00:00Z';
  const cases = [
    [{ Bool: { 'acs:SecureTransport': 'true' } }, false],
    [{ Bool: { 'acs:SecureTransport': 'false' } }, true],
    [{ DateLessThan: { 'acs:CurrentTime': past } }, false],
    [{ DateLessThan: { 'acs:CurrentTime': future } }, true],
    [{ DateGreaterThan: { 'acs:CurrentTime': future } }, false],
    [{ DateGreaterThan: { 'acs:CurrentTime': past } }, true],
    [{ DateLessThanEquals: { 'acs:CurrentTime': past } }, false],
    [{ DateGreaterThanEquals: { 'acs:CurrentTime': past } }, true],
    // Every operator of a Condition must hold.
    [{ DateGreaterThan: { 'acs:CurrentTime': past },
      IpAddress: { 'acs:SourceIp': '10.0.0.0/8' } }, false],
  ];
  for (const [cond, allowed] of cases) {
    const U = await user([['cond', policy(allow('fnf:ReportTaskFailed', '*', cond))]]);
    const w = await waiting(X);
    if (allowed) {
      await U.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Cond' });
      await expectFailedBy(w, 'Cond');
    } else {
      await deniedUnchanged(w, () => U.v1.reportTaskFailed({ TaskToken: w.token, Error: 'E' }),
        'ReportTaskFailed', adm.flowArn(X));
      await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Root' });
    }
  }
});

it(ctx, 'ListPolicies shows attached policies; DetachPolicy removes the grant', async () => {
  const doc = policy(allow('fnf:ReportTaskFailed', `acs:fnf:*:*:flow/${X}`));
  const U = await user([['grant', doc]]);
  const l = await adm.admin(ctx.srv).call('ListPolicies', { AccountId: ACCOUNT_ID, UserName: U.name });
  assert.ok(JSON.stringify(l).includes('grant'), JSON.stringify(l));
  const w = await waiting(X);
  await adm.detachPolicy(ctx.srv, ACCOUNT_ID, U.name, 'grant');
  const l2 = await adm.admin(ctx.srv).call('ListPolicies', { AccountId: ACCOUNT_ID, UserName: U.name });
  assert.ok(!JSON.stringify(l2).includes('"grant"'), JSON.stringify(l2));
  await deniedUnchanged(w, () => U.v1.reportTaskFailed({ TaskToken: w.token, Error: 'E' }),
    'ReportTaskFailed', adm.flowArn(X));
  let e = await expectError(() => adm.detachPolicy(ctx.srv, ACCOUNT_ID, U.name, 'grant'),
    'PolicyNotExists');
  let r = await raw.v1Request(ctx.srv, 'DetachPolicy', { AccountId: ACCOUNT_ID, UserName: U.name,
    PolicyName: 'grant' });
  assert.equal(r.status, 404, r.text);
  e = await expectError(() => adm.attachPolicy(ctx.srv, ACCOUNT_ID, u.uniq('nobody'), 'p', doc),
    'UserNotExists');
  assert.ok(e.data.Message.length > 0);
  r = await raw.v1Request(ctx.srv, 'CreateUser', { AccountId: ACCOUNT_ID, UserName: U.name });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.Code, 'UserAlreadyExists');
  await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Root' });
});

it(ctx, 'RAM users get AccessDenied for admin actions, even with fnf:* on *', async () => {
  const U = await user([['everything', policy(allow('*', '*'))]]);
  const a = adm.admin(ctx.srv, U.creds);
  const attempts = [
    ['CreateUser', { UserName: u.uniq('sneaky') }],
    ['CreateUser', { AccountId: ACCOUNT_ID, UserName: u.uniq('sneaky') }],
    ['ListUsers', {}],
    ['CreateAccessKey', { UserName: U.name }],
    ['ListAccessKeys', {}],
    ['AttachPolicy', { UserName: U.name, PolicyName: 'more', PolicyDocument: JSON.stringify(
      policy(allow('*', '*'))) }],
    ['DetachPolicy', { UserName: U.name, PolicyName: 'everything' }],
    ['ListPolicies', { UserName: U.name }],
    ['CreateAccount', {}],
    ['ListAccounts', {}],
  ];
  for (const [action, p] of attempts) {
    const e = await expectError(() => a.call(action, p), 'AccessDenied');
    assert.ok(e.data.Message.length > 0, action);
  }
  const r = await raw.v1Request(ctx.srv, 'CreateUser', { UserName: u.uniq('sneaky') },
    { keyId: U.creds.accessKeyId, secret: U.creds.accessKeySecret });
  assert.equal(r.status, 403, r.text);
  const users = await adm.admin(ctx.srv).call('ListUsers', { AccountId: ACCOUNT_ID });
  assert.ok(!JSON.stringify(users).includes('sneaky'), 'no user was created');
  const pols = await adm.admin(ctx.srv).call('ListPolicies', { AccountId: ACCOUNT_ID, UserName: U.name });
  assert.ok(JSON.stringify(pols).includes('everything'), 'the policy is still attached');
  // The fnf actions themselves are allowed to this user.
  assert.ok(Array.isArray((await U.v1.listFlows({})).Flows));
});

it(ctx, 'AttachPolicy with a bad document is InvalidArgument naming the problem', async () => {
  const U = await user();
  const bad = [
    ['{not json', /PolicyDocument|JSON/i],
    [JSON.stringify({ Version: '1', Statement: [{ Effect: 'Maybe', Action: 'fnf:*',
      Resource: '*' }] }), /Effect/],
    [JSON.stringify({ Version: '1' }), /Statement/],
    [JSON.stringify({ Version: '1', Statement: [{ Effect: 'Allow', Resource: '*' }] }), /Action/],
    [JSON.stringify({ Version: '1', Statement: [{ Effect: 'Allow', Action: 'fnf:*' }] }),
      /Resource/],
    [JSON.stringify({ Version: '1', Statement: [{ Effect: 'Allow', Action: 42,
      Resource: '*' }] }), /Action/],
    [JSON.stringify({ Version: '1', Statement: [{ Effect: 'Allow', Action: 'fnf:*', Resource: '*',
      Condition: { IpAddress: { 'acs:SourceIp': ['not-an-ip'] } } }] }), /not-an-ip|SourceIp|IpAddress/],
  ];
  for (const [doc, re] of bad) {
    const e = await expectError(() => adm.attachPolicy(ctx.srv, ACCOUNT_ID, U.name, 'bad', doc),
      'InvalidArgument');
    assert.match(e.data.Message, re, `${doc} -> ${e.data.Message}`);
    assert.notEqual(e.data.Message, 'Parameter error.');
  }
  const r = await raw.v1Request(ctx.srv, 'AttachPolicy', { AccountId: ACCOUNT_ID, UserName: U.name,
    PolicyName: 'bad', PolicyDocument: '[]' });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.Code, 'InvalidArgument');
  const l = await adm.admin(ctx.srv).call('ListPolicies', { AccountId: ACCOUNT_ID, UserName: U.name });
  assert.ok(!JSON.stringify(l).includes('"bad"'), `nothing attached: ${JSON.stringify(l)}`);
});

it(ctx, 'flowctl admin user create, key create and policy attach --file give a working worker', async () => {
  await flows();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowd-pol-'));
  try {
    const name = u.uniq('ctl');
    let r = await adm.flowctl(ctx.srv, ['admin', 'user', 'create', '--account', ACCOUNT_ID,
      '--name', name, '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.json.UserName, name);
    assert.equal(String(r.json.AccountId), ACCOUNT_ID);
    r = await adm.flowctl(ctx.srv, ['admin', 'key', 'create', '--account', ACCOUNT_ID,
      '--user', name, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const creds = { accessKeyId: r.json.AccessKeyId, accessKeySecret: r.json.AccessKeySecret };
    assert.ok(creds.accessKeyId && creds.accessKeySecret, r.stdout);
    secrets.push(creds.accessKeySecret);
    const v = clients.v1(ctx.srv, creds);
    const w = await waiting(X);
    await deniedUnchanged(w, () => v.reportTaskFailed({ TaskToken: w.token, Error: 'E' }),
      'ReportTaskFailed', adm.flowArn(X));

    const file = path.join(dir, 'p.json');
    fs.writeFileSync(file, JSON.stringify(policy(allow('fnf:ReportTaskFailed',
      `acs:fnf:*:*:flow/${X}`))));
    r = await adm.flowctl(ctx.srv, ['admin', 'policy', 'attach', '--account', ACCOUNT_ID,
      '--user', name, '--name', 'ctl-policy', '--file', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json, {});
    r = await adm.flowctl(ctx.srv, ['admin', 'policy', 'list', '--account', ACCOUNT_ID,
      '--user', name, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes('ctl-policy'), r.stdout);
    await v.reportTaskFailed({ TaskToken: w.token, Error: 'ViaCtl' });
    await expectFailedBy(w, 'ViaCtl');

    // A bad file: exit 1 with InvalidArgument.
    fs.writeFileSync(file, '{"Version":"1","Statement":[{"Effect":"Perhaps","Action":"*","Resource":"*"}]}');
    r = await adm.flowctl(ctx.srv, ['admin', 'policy', 'attach', '--account', ACCOUNT_ID,
      '--user', name, '--name', 'bad', '--file', file]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /InvalidArgument: .*Effect/);
    // A RAM user's key cannot administer through flowctl either.
    r = await adm.flowctl(ctx.srv, ['admin', 'user', 'create', '--account', ACCOUNT_ID,
      '--name', u.uniq('x'), '--json'], creds);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /AccessDenied: /);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it(ctx, 'a RAM denial leaves an audit line naming account, key, user, action and resource', async () => {
  const U = await user([['only-x', policy(allow('fnf:ReportTaskFailed', `acs:fnf:*:*:flow/${X}`))]]);
  const w = await waiting(Y);
  await deniedUnchanged(w, () => U.v1.reportTaskFailed({ TaskToken: w.token, Error: 'E' }),
    'ReportTaskFailed', adm.flowArn(Y));
  const line = await u.waitFor(() => adm.auditLines(ctx.srv.stderr).find((x) =>
    x.code === 'AccessDenied' && x.key === U.creds.accessKeyId), 5000, 50, 'audit line');
  assert.equal(line.account, ACCOUNT_ID, line.line);
  assert.equal(line.user, U.name, line.line);
  assert.equal(line.action, 'ReportTaskFailed', line.line);
  assert.equal(line.resource, adm.flowArn(Y), line.line);
  assert.equal(line.ip, '127.0.0.1', line.line);
  await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Root' });
  const log = ctx.srv.stderr;
  for (const s of secrets) assert.ok(!log.includes(s), `secret ${s.slice(0, 4)}... in flowd's log`);
});
