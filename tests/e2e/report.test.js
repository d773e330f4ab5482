'use strict';
// ReportTaskFailed / ReportTaskSucceeded parameter and state rules (flowd's decisions 3 and 4):
// second reports, retried reports with the same RequestId, damaged tokens, Error/Cause
// lengths, a missing TaskToken. Both the V1 (pop-core) and the V3 (openapi-client) clients
// must see each error.

const assert = require('node:assert/strict');
const { setup, it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const raw = require('./lib/raw');
const u = require('./lib/util');

const ctx = setup();
let flow;

// Starts an execution of the shared callback flow and returns {exec, token}.
async function waiting() {
  if (!flow) {
    flow = u.uniq('f');
    await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, ctx.worker.url()));
  }
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextFor(orderId);
  return { exec: name, token: req.body.token };
}

async function taskEvents(exec) {
  const ev = await u.fullHistory(ctx.v1, flow, exec);
  u.assertEventIds(ev);
  return ev.filter((e) => e.Type === 'TaskFailed' || e.Type === 'TaskSucceeded');
}

it(ctx, 'a second report is TaskAlreadyCompleted for both the V1 and the V3 client', async () => {
  const w = await waiting();
  const first = await ctx.v1.reportTaskSucceeded({ TaskToken: w.token, Output: '{"n":1}' });
  assert.ok(Number(first.EventId) > 0);

  let e = await expectError(() => ctx.v1.reportTaskSucceeded({ TaskToken: w.token,
    Output: '{"n":2}' }), 'TaskAlreadyCompleted');
  assert.match(e.data.Message, /Approve/);
  assert.match(e.data.Message, new RegExp(w.exec));
  e = await expectError(() => ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'X' }),
    'TaskAlreadyCompleted');

  e = await expectError(() => ctx.v3.call('ReportTaskFailed', { TaskToken: w.token,
    Error: 'X', Cause: 'late' }), 'TaskAlreadyCompleted');
  assert.equal(e.data.statusCode, 400);
  assert.equal(e.data.Code, 'TaskAlreadyCompleted');
  e = await expectError(() => ctx.v3.call('ReportTaskSucceeded', { TaskToken: w.token,
    Output: '{}' }), 'TaskAlreadyCompleted');
  assert.equal(e.data.statusCode, 400);

  const r = await raw.v1Request(ctx.srv, 'ReportTaskFailed', { TaskToken: w.token, Error: 'X' });
  assert.equal(r.status, 400);
  assert.equal(r.json.Code, 'TaskAlreadyCompleted');
  for (const k of ['RequestId', 'HostId', 'Code', 'Message']) assert.ok(k in r.json, k);

  const d = await u.waitDone(ctx.v1, flow, w.exec);
  assert.equal(d.Status, 'Succeeded');
  assert.deepEqual(JSON.parse(d.Output), { n: 1 }, 'the first report wins');
  assert.equal((await taskEvents(w.exec)).length, 1);
});

it(ctx, 'a report retried with the same RequestId gets the original answer', async () => {
  const w = await waiting();
  const rid = 'retry-' + u.uniq('rid');
  const a = await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Boom', Cause: 'c',
    RequestId: rid });
  assert.equal(a.RequestId, rid, 'the client RequestId is echoed');
  const b = await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Boom', Cause: 'c',
    RequestId: rid });
  assert.equal(Number(b.EventId), Number(a.EventId));
  assert.equal(b.Code, undefined);
  // Through V3 too: same parameters, same RequestId.
  const c = await ctx.v3.call('ReportTaskFailed', { TaskToken: w.token, Error: 'Boom', Cause: 'c',
    RequestId: rid });
  assert.equal(Number(c.EventId), Number(a.EventId));
  // Another RequestId is a second report.
  await expectError(() => ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Boom',
    Cause: 'c', RequestId: rid + '-other' }), 'TaskAlreadyCompleted');
  await expectError(() => ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Boom',
    Cause: 'c' }), 'TaskAlreadyCompleted');
  const d = await u.waitDone(ctx.v1, flow, w.exec);
  assert.equal(d.Status, 'Failed');
  const ev = await taskEvents(w.exec);
  assert.equal(ev.length, 1, 'one TaskFailed however often the report is retried');
  assert.equal(Number(ev[0].EventId), Number(a.EventId));
});

it(ctx, 'ReportTaskSucceeded retried with the same RequestId gets the same EventId', async () => {
  const w = await waiting();
  const rid = u.uniq('rid');
  const a = await ctx.v1.reportTaskSucceeded({ TaskToken: w.token, Output: '{"a":1}',
    RequestId: rid });
  const b = await ctx.v1.reportTaskSucceeded({ TaskToken: w.token, Output: '{"a":1}',
    RequestId: rid });
  assert.equal(Number(b.EventId), Number(a.EventId));
  assert.equal((await taskEvents(w.exec)).length, 1);
});

it(ctx, 'a tampered, truncated or made-up token is InvalidArgument, fast', async () => {
  const w = await waiting();
  const t = w.token;
  const mid = Math.floor(t.length / 2);
  // Changes the high bits of a base64url digit, so no lenient decoder can ignore it.
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const flip = (c) => B64[(B64.indexOf(c) < 0 ? 0 : B64.indexOf(c)) ^ 32];
  const bad = [
    t.slice(0, mid) + flip(t[mid]) + t.slice(mid + 1),       // one character changed
    t.slice(0, -1) + flip(t[t.length - 1]),                  // MAC damaged
    t.slice(0, t.length - 4),                                 // truncated
    t + 'AAAA',                                               // extended
    'not-a-token',
    'x'.repeat(300),
    '%%%',
  ];
  for (const tok of bad) {
    const started = Date.now();
    const e = await expectError(() => ctx.v1.reportTaskFailed({ TaskToken: tok, Error: 'E' }),
      'InvalidArgument');
    assert.match(e.data.Message, /TaskToken/, `message names TaskToken for ${tok}`);
    assert.ok(Date.now() - started < 2000, 'answered fast');
  }
  const e = await expectError(() => ctx.v3.call('ReportTaskSucceeded', {
    TaskToken: bad[0], Output: '{}' }), 'InvalidArgument');
  assert.equal(e.data.statusCode, 400);
  // The real token still works afterwards.
  await ctx.v1.reportTaskSucceeded({ TaskToken: t, Output: '{}' });
  assert.equal((await u.waitDone(ctx.v1, flow, w.exec)).Status, 'Succeeded');
});

it(ctx, 'Error of 0 or 129 characters and Cause of 4097 are InvalidArgument', async () => {
  const w = await waiting();
  const cases = [
    [{ Error: '' }, /Error/],
    [{ Error: 'E'.repeat(129) }, /Error/],
    [{ Error: 'é'.repeat(129) }, /Error/],
    [{ Error: 'E', Cause: 'c'.repeat(4097) }, /Cause/],
  ];
  for (const [p, re] of cases) {
    const e = await expectError(() => ctx.v1.reportTaskFailed({ TaskToken: w.token, ...p }),
      'InvalidArgument');
    assert.match(e.data.Message, re);
    assert.notEqual(e.data.Message.trim(), 'Parameter error.', 'the message names the rule');
  }
  const e = await expectError(() => ctx.v3.call('ReportTaskFailed', { TaskToken: w.token,
    Error: 'E'.repeat(129) }), 'InvalidArgument');
  assert.equal(e.data.statusCode, 400);
  // None of these touched the task.
  assert.equal((await taskEvents(w.exec)).length, 0);
  const d = await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: w.exec });
  assert.equal(d.Status, 'Running');
  await ctx.v1.stopExecution({ FlowName: flow, ExecutionName: w.exec });
});

it(ctx, 'Error of exactly 128 characters and Cause of exactly 4096 are accepted', async () => {
  const w = await waiting();
  const error = 'E'.repeat(127) + 'é'; // 128 characters, 129 bytes
  const cause = 'c'.repeat(4095) + 'ü';
  const r = await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: error, Cause: cause });
  assert.ok(Number(r.EventId) > 0);
  const d = await u.waitDone(ctx.v1, flow, w.exec);
  assert.equal(d.Status, 'Failed');
  assert.equal(d.ErrorCode, error);
  assert.equal(d.ErrorMessage, cause);
});

it(ctx, 'an empty Cause is the same as none', async () => {
  const w = await waiting();
  const r = await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'NoCause', Cause: '' });
  assert.ok(Number(r.EventId) > 0);
  const d = await u.waitDone(ctx.v1, flow, w.exec);
  assert.equal(d.Status, 'Failed');
  assert.equal(d.ErrorCode, 'NoCause');
  assert.ok(!d.ErrorMessage, `no cause: ${JSON.stringify(d.ErrorMessage)}`);
});

it(ctx, 'a missing TaskToken is MissingRequiredParams (raw V1 and V3)', async () => {
  let r = await raw.v1Request(ctx.srv, 'ReportTaskFailed', { Error: 'E' });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.Code, 'MissingRequiredParams');
  assert.match(r.json.Message, /TaskToken/);
  r = await raw.v1Request(ctx.srv, 'ReportTaskSucceeded', { Output: '{}' }, { place: 'split' });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.Code, 'MissingRequiredParams');
  const e = await expectError(() => ctx.v3.call('ReportTaskFailed', { Error: 'E' }),
    'MissingRequiredParams');
  assert.equal(e.data.statusCode, 400);
  assert.match(e.data.Message, /TaskToken/);
  // A missing Error is MissingRequiredParams too (not a length error).
  const w = await waiting();
  r = await raw.v1Request(ctx.srv, 'ReportTaskFailed', { TaskToken: w.token });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.Code, 'MissingRequiredParams');
  assert.match(r.json.Message, /Error/);
  await ctx.v1.stopExecution({ FlowName: flow, ExecutionName: w.exec });
});

it(ctx, 'the token travels in the query (generated SDKs) or the form body (pop-core)', async () => {
  const w1 = await waiting();
  let r = await raw.v1Request(ctx.srv, 'ReportTaskSucceeded',
    { TaskToken: w1.token, Output: '{"via":"query"}' }, { place: 'query', method: 'POST' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.Code, undefined);
  const w2 = await waiting();
  r = await raw.v1Request(ctx.srv, 'ReportTaskSucceeded',
    { TaskToken: w2.token, Output: '{"via":"json"}' }, { place: 'json' });
  assert.equal(r.status, 200, r.text);
  assert.equal((await u.waitDone(ctx.v1, flow, w1.exec)).Status, 'Succeeded');
  assert.deepEqual(JSON.parse((await u.waitDone(ctx.v1, flow, w2.exec)).Output), { via: 'json' });
});

it(ctx, 'concurrent reports on one token: exactly one wins', async () => {
  const w = await waiting();
  const results = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => (i % 2 ?
    ctx.v3.call('ReportTaskSucceeded', { TaskToken: w.token, Output: JSON.stringify({ i }) }) :
    ctx.v1.reportTaskSucceeded({ TaskToken: w.token, Output: JSON.stringify({ i }) }))));
  const wins = results.map((r, i) => [r, i]).filter(([r]) => r.status === 'fulfilled');
  const losses = results.filter((r) => r.status === 'rejected');
  assert.equal(wins.length, 1, JSON.stringify(results.map((r) => r.status === 'fulfilled' ?
    r.value : (r.reason.code || r.reason.message))));
  for (const l of losses) assert.equal(l.reason.code, 'TaskAlreadyCompleted');
  const d = await u.waitDone(ctx.v1, flow, w.exec);
  assert.deepEqual(JSON.parse(d.Output), { i: wins[0][1] }, 'the winner\'s Output is used');
  const ev = await taskEvents(w.exec);
  assert.equal(ev.length, 1);
  assert.equal(Number(ev[0].EventId), Number(wins[0][0].value.EventId));
});
