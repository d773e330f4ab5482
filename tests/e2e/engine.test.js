'use strict';
// Less common paths of the callback contract (flowd's decisions 1, 4, 5, 6): worker HTTP errors,
// connection failures, execution timeouts, deleted flows, sub-flows that report to a parent
// token, payload limits, malformed report strings, Attempt numbers, long polls.

const assert = require('node:assert/strict');
const net = require('node:net');
const { setup, it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const raw = require('./lib/raw');
const u = require('./lib/util');

const ctx = setup();

const HANDLE = '- Type: Pass\n  Name: Handle\n  End: true';

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

it(ctx, 'a worker answering 500 fails the task with HTTP.StatusCode.500 (catchable)', async () => {
  ctx.worker.statusFor['/fail500'] = 500;
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, ctx.worker.url('/fail500'), {
    catch: '- Errors: [HTTP.StatusCode.500]\n  Next: Handle', next: 'Handle', extraStates: HANDLE,
  }));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextFor(orderId);
  const d = await u.waitDone(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.equal(u.output(d).Error, 'HTTP.StatusCode.500');
  const ev = await u.fullHistory(ctx.v1, flow, name);
  u.assertEventIds(ev);
  assert.ok(ev.some((e) => e.Type === 'TaskSubmitFailed' || e.Type === 'TaskFailed'),
    u.types(ev).join(','));
  // The token of a failed submission is completed.
  await expectError(() => ctx.v1.reportTaskSucceeded({ TaskToken: req.body.token, Output: '{}' }),
    'TaskAlreadyCompleted');
});

it(ctx, 'an unreachable worker fails the task with HTTP.ConnectionError', async () => {
  const port = await freePort();
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, `http://127.0.0.1:${port}/nobody`));
  const { name } = await u.startTagged(ctx.v1, flow);
  const d = await u.waitDone(ctx.v1, flow, name, 15000);
  assert.equal(d.Status, 'Failed');
  assert.equal(d.ErrorCode, 'HTTP.ConnectionError');
});

it(ctx, 'an execution Timeout ends it TimedOut; its waiting token is then completed', async () => {
  const flow = u.uniq('f');
  const def = u.callbackFlow(flow, ctx.worker.url()).replace('StartAt: Approve',
    'Timeout: 1\nStartAt: Approve');
  await u.createFlow(ctx.v1, flow, def);
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextFor(orderId);
  const d = await u.waitDone(ctx.v1, flow, name, 10000);
  assert.equal(d.Status, 'TimedOut');
  const ev = await u.fullHistory(ctx.v1, flow, name);
  u.assertEventIds(ev);
  assert.equal(ev[ev.length - 1].Type, 'ExecutionTimedOut');
  await expectError(() => ctx.v1.reportTaskFailed({ TaskToken: req.body.token, Error: 'Late' }),
    'TaskAlreadyCompleted');
});

it(ctx, 'DeleteFlow while a task waits: the report is TaskAlreadyCompleted', async () => {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, ctx.worker.url()));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextFor(orderId);
  await ctx.v1.deleteFlow({ Name: flow });
  const e = await expectError(() => ctx.v1.reportTaskSucceeded({ TaskToken: req.body.token,
    Output: '{}' }));
  assert.equal(e.code, 'TaskAlreadyCompleted', e.data && e.data.Message);
  // The old execution is gone with its flow, even when the name is reused.
  await u.createFlow(ctx.v1, flow, u.passFlow(flow));
  await expectError(() => ctx.v1.describeExecution({ FlowName: flow, ExecutionName: name }),
    'ExecutionNotExists');
});

// flowd's decisions 6 and the CloudFlow API reference 4.8: the child reports its end to the parent's token.
it(ctx, 'a child execution started with CallbackFnFTaskToken reports to its parent', async () => {
  const child = u.uniq('child');
  await u.createFlow(ctx.v1, child, [
    'Type: StateMachine', 'SpecVersion: v1', `Name: ${child}`, 'StartAt: C', 'States:',
    '  - Type: Choice', '    Name: C', '    Branches:',
    '      - Condition: $Input.ok == true', '        Next: Good',
    '    Default: Bad',
    '  - Type: Pass', '    Name: Good', '    OutputConstructor:', '      fromChild.$: $Input.v',
    '    End: true',
    '  - Type: Fail', '    Name: Bad', '    Code: Child.Failed', '    Detail: child said no',
    '',
  ].join('\n'));
  const parent = u.uniq('parent');
  await u.createFlow(ctx.v1, parent, u.callbackFlow(parent, ctx.worker.url(), {
    outputConstructor: 'child.$: $Output.fromChild',
    catch: '- Errors: [Child.Failed]\n  Next: Handle', next: 'Handle', extraStates: HANDLE,
  }));

  // Success: the child's Output becomes the parent task's $Output.
  let p = await u.startTagged(ctx.v1, parent);
  let req = await ctx.worker.nextFor(p.orderId);
  await ctx.v1.startExecution({ FlowName: child, ExecutionName: u.uniq('c'),
    Input: '{"ok":true,"v":7}', CallbackFnFTaskToken: req.body.token });
  let d = await u.waitDone(ctx.v1, parent, p.name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(u.output(d), { child: 7 });

  // Failure: the child's error reaches the parent's Catch.
  p = await u.startTagged(ctx.v1, parent);
  req = await ctx.worker.nextFor(p.orderId);
  await ctx.v1.startExecution({ FlowName: child, ExecutionName: u.uniq('c'),
    Input: '{"ok":false}', CallbackFnFTaskToken: req.body.token });
  d = await u.waitDone(ctx.v1, parent, p.name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(u.output(d), { Error: 'Child.Failed', Cause: 'child said no' });
});

it(ctx, 'payload limits: Output and Input above 64 KiB are EntityTooLarge', async () => {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, ctx.worker.url()));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextFor(orderId);
  const big = JSON.stringify({ blob: 'x'.repeat(64 * 1024) });
  let e = await expectError(() => ctx.v1.reportTaskSucceeded({ TaskToken: req.body.token,
    Output: big }), 'EntityTooLarge');
  assert.match(e.data.Message, /65536/);
  e = await expectError(() => ctx.v1.startExecution({ FlowName: flow, Input: big }),
    'EntityTooLarge');
  // Just under the limit is fine.
  const fits = JSON.stringify({ blob: 'y'.repeat(60 * 1024) });
  await ctx.v1.reportTaskSucceeded({ TaskToken: req.body.token, Output: fits });
  const d = await u.waitDone(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded');
  assert.equal(u.output(d).blob.length, 60 * 1024);
});

it(ctx, 'invalid UTF-8 or a NUL byte in Error or Cause is InvalidArgument', async () => {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, ctx.worker.url()));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextFor(orderId);
  // Percent-encoded bytes, signed over the same encoded text the server decodes.
  const cases = [['Error', '%FF%FE'], ['Error', 'a%00b'], ['Cause', '%C3%28'], ['Cause', 'x%00']];
  for (const [param, enc] of cases) {
    const p = raw.v1Params('ReportTaskFailed', { TaskToken: req.body.token, Error: 'E' });
    const bodyParts = Object.keys(p).filter((k) => k !== param).sort()
      .map((k) => `${raw.pe(k)}=${raw.pe(p[k])}`);
    bodyParts.push(`${param}=${enc}`);
    // The signature covers the raw bytes; compute it over the decoded byte string.
    const decoded = Buffer.from(enc.replace(/%([0-9A-F]{2})/g,
      (_, h) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    const canon = [...Object.keys(p).filter((k) => k !== param).map((k) => [k, raw.pe(p[k])]),
      [param, [...decoded].map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ?
        String.fromCharCode(b) : '%' + b.toString(16).toUpperCase().padStart(2, '0'))).join('')]]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('&');
    const sts = `POST&%2F&${raw.pe(canon)}`;
    const sig = require('node:crypto').createHmac('sha1',
      require('./lib/flowd').KEY_SECRET + '&').update(sts).digest('base64');
    bodyParts.push(`Signature=${raw.pe(sig)}`);
    const r = await raw.send(ctx.srv, { method: 'POST', path: '/',
      headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: bodyParts.join('&') });
    assert.equal(r.status, 400, `${param}=${enc}: ${r.text}`);
    assert.equal(r.json.Code, 'InvalidArgument', `${param}=${enc}: ${r.text}`);
  }
  const d = await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: name });
  assert.equal(d.Status, 'Running', 'nothing was applied');
  await ctx.v1.stopExecution({ FlowName: flow, ExecutionName: name });
});

it(ctx, 'TaskScheduled EventDetail carries Resource and Attempt 1, 2, ...', async () => {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, ctx.worker.url(), {
    retry: '- Errors: [FnF.ALL]\n  IntervalSeconds: 1\n  MaxAttempts: 1',
  }));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const r1 = await ctx.worker.nextFor(orderId);
  await ctx.v1.reportTaskFailed({ TaskToken: r1.body.token, Error: 'Whatever' });
  const r2 = await ctx.worker.next(10000,
    (r) => r.body && r.body.orderId === orderId && r.body.token !== r1.body.token);
  await ctx.v1.reportTaskSucceeded({ TaskToken: r2.body.token, Output: '{"done":1}' });
  await u.waitDone(ctx.v1, flow, name);
  const ev = await u.fullHistory(ctx.v1, flow, name);
  const sched = ev.filter((e) => e.Type === 'TaskScheduled').map(u.detail);
  assert.deepEqual(sched.map((x) => Number(x.Attempt)), [1, 2]);
  for (const x of sched) assert.equal(x.Resource, 'HTTP:Request');
});

it(ctx, 'DescribeExecution WaitTimeSeconds long-polls until the execution ends', async () => {
  const flow = u.uniq('lp');
  await u.createFlow(ctx.v1, flow, [
    'Type: StateMachine', 'SpecVersion: v1', `Name: ${flow}`, 'StartAt: W', 'States:',
    '  - Type: Wait', '    Name: W', '    Seconds.$: $Input.secs', '    End: true', '',
  ].join('\n'));
  const ex = u.uniq('ex');
  await ctx.v1.startExecution({ FlowName: flow, ExecutionName: ex, Input: '{"secs":1}' });
  const t0 = Date.now();
  const d = await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: ex,
    WaitTimeSeconds: 2 }, { timeout: 5000 });
  assert.equal(d.Status, 'Succeeded', `after ${Date.now() - t0} ms: ${d.Status}`);
  assert.ok(Date.now() - t0 >= 500, 'it did wait');
  assert.deepEqual(u.output(d), { secs: 1 });
});
