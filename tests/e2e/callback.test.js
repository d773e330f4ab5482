'use strict';
// Callback tasks (TaskMode: WaitForCustomCallback) end to end: what the worker receives and
// how ReportTaskFailed / ReportTaskSucceeded, Retry, Catch, Timeout and StopExecution drive
// the execution (flowd's decisions sections 4 and 5).

const assert = require('node:assert/strict');
const { setup, it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const u = require('./lib/util');

const ctx = setup();

const HANDLE = '- Type: Pass\n  Name: Handle\n  End: true';

// Creates a callback flow and starts one execution; resolves once the worker has the
// request: {flow, exec, orderId, req, token}.
async function startWaiting(opts = {}, input = {}) {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, ctx.worker.url(), opts));
  const { name, orderId } = await u.startTagged(ctx.v1, flow, input);
  const req = await ctx.worker.nextFor(orderId);
  return { flow, exec: name, orderId, req, token: req.body.token };
}

function byType(events, type) { return events.filter((e) => e.Type === type); }

it(ctx, 'worker gets a POST with the evaluated Body and a URL-safe token', async () => {
  const w = await startWaiting();
  assert.equal(w.req.method, 'POST');
  assert.equal(w.req.url, '/work');
  assert.match(w.req.headers['content-type'] || '', /^application\/json/);
  assert.equal(w.req.body.orderId, w.orderId);
  assert.equal(typeof w.token, 'string');
  assert.match(w.token, /^[A-Za-z0-9_-]{16,256}$/, 'token must be base64url without padding');
  const d = await ctx.v1.describeExecution({ FlowName: w.flow, ExecutionName: w.exec });
  assert.equal(d.Status, 'Running');
  // Nothing is reported yet, so the task's history stops at TaskSubmitted (which may be
  // recorded a moment after the worker got the request).
  const ev = await u.waitFor(async () => {
    const h = await u.fullHistory(ctx.v1, w.flow, w.exec);
    return h.length >= 4 ? h : null;
  }, 5000, 50, 'TaskSubmitted');
  u.assertEventIds(ev);
  assert.deepEqual(u.types(ev),
    ['ExecutionStarted', 'StepEntered', 'TaskScheduled', 'TaskSubmitted']);
  await ctx.v1.stopExecution({ FlowName: w.flow, ExecutionName: w.exec });
});

it(ctx, 'ReportTaskFailed without Catch fails the execution with Error and Cause', async () => {
  const w = await startWaiting();
  const cause = 'disk full on host "h1" & more: 100%';
  const r = await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Boom.Bad', Cause: cause });
  assert.equal(typeof r.RequestId, 'string');
  assert.equal(r.Code, undefined);
  assert.ok(Number.isInteger(Number(r.EventId)) && Number(r.EventId) > 0, JSON.stringify(r));

  const d = await u.waitDone(ctx.v1, w.flow, w.exec);
  assert.equal(d.Status, 'Failed');
  assert.equal(d.ErrorCode, 'Boom.Bad');
  assert.equal(d.ErrorMessage, cause);

  const ev = await u.fullHistory(ctx.v1, w.flow, w.exec);
  u.assertEventIds(ev);
  assert.equal(ev[0].Type, 'ExecutionStarted');
  assert.equal(ev[ev.length - 1].Type, 'ExecutionFailed');
  const failed = byType(ev, 'TaskFailed');
  assert.equal(failed.length, 1);
  assert.equal(Number(failed[0].EventId), Number(r.EventId), 'EventId is the TaskFailed event');
  assert.equal(failed[0].StepName, 'Approve');
  const sched = byType(ev, 'TaskScheduled');
  assert.equal(sched.length, 1);
  assert.equal(Number(failed[0].ScheduleEventId), Number(sched[0].EventId));
  const det = u.detail(failed[0]);
  assert.equal(det.Error, 'Boom.Bad');
  assert.equal(det.Cause, cause);
  assert.deepEqual(u.types(ev).slice(0, 5),
    ['ExecutionStarted', 'StepEntered', 'TaskScheduled', 'TaskSubmitted', 'TaskFailed']);
});

it(ctx, 'ReportTaskFailed caught by Catch: the handler gets {Error, Cause}', async () => {
  const w = await startWaiting({
    catch: '- Errors: [Rejected]\n  Next: Handle',
    next: 'Handle',
    extraStates: HANDLE,
  });
  await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Rejected', Cause: 'manager said no' });
  const d = await u.waitDone(ctx.v1, w.flow, w.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(u.output(d), { Error: 'Rejected', Cause: 'manager said no' });
  const ev = await u.fullHistory(ctx.v1, w.flow, w.exec);
  u.assertEventIds(ev);
  assert.equal(ev[ev.length - 1].Type, 'ExecutionSucceeded');
  assert.ok(ev.some((e) => e.Type === 'StepEntered' && e.StepName === 'Handle'),
    'the Catch target runs');
});

it(ctx, 'Catch OutputConstructor sees $Context.Current.Error.Code and .Detail', async () => {
  const w = await startWaiting({
    catch: '- Errors: [Other, Rejected]\n  OutputConstructor:\n    code.$: $Context.Current.Error.Code\n' +
      '    detail.$: $Context.Current.Error.Detail\n  Next: Handle',
    next: 'Handle',
    extraStates: HANDLE,
  });
  await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Rejected', Cause: 'no budget' });
  const d = await u.waitDone(ctx.v1, w.flow, w.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(u.output(d), { code: 'Rejected', detail: 'no budget' });
});

it(ctx, 'an Error no Catch names is not caught (matching is exact and case-sensitive)', async () => {
  const w = await startWaiting({
    catch: '- Errors: [Rejected]\n  Next: Handle',
    next: 'Handle',
    extraStates: HANDLE,
  });
  await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'rejected', Cause: 'lower case' });
  const d = await u.waitDone(ctx.v1, w.flow, w.exec);
  assert.equal(d.Status, 'Failed');
  assert.equal(d.ErrorCode, 'rejected');
  assert.equal(d.ErrorMessage, 'lower case');
});

it(ctx, 'FnF.ALL in Catch matches any Error', async () => {
  const w = await startWaiting({
    catch: '- Errors: [FnF.ALL]\n  Next: Handle',
    next: 'Handle',
    extraStates: HANDLE,
  });
  await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Anything.At.All' });
  const d = await u.waitDone(ctx.v1, w.flow, w.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.equal(u.output(d).Error, 'Anything.At.All');
});

it(ctx, 'Retry: each attempt gets a new token, old tokens are completed, then success', async () => {
  const w = await startWaiting({
    retry: '- Errors: [Transient]\n  IntervalSeconds: 1\n  MaxAttempts: 2',
    outputConstructor: 'approved.$: $Output.approved',
  });
  const tokens = [w.token];
  const r1 = await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Transient', Cause: 'try 1' });
  // The next dispatch with a token not seen yet (a re-sent dispatch would repeat a token).
  const fresh = (r) => r.body && r.body.orderId === w.orderId && !tokens.includes(r.body.token);
  const req2 = await ctx.worker.next(10000, fresh);
  tokens.push(req2.body.token);

  let e = await expectError(() => ctx.v1.reportTaskSucceeded({ TaskToken: w.token,
    Output: '{"approved":true}' }), 'TaskAlreadyCompleted');
  assert.match(e.data.Message, /Approve/, 'the message names the step');

  const r2 = await ctx.v1.reportTaskFailed({ TaskToken: req2.body.token, Error: 'Transient',
    Cause: 'try 2' });
  const req3 = await ctx.worker.next(10000, fresh);
  tokens.push(req3.body.token);
  assert.equal(new Set(ctx.worker.allFor(w.orderId).map((r) => r.body.token)).size, 3,
    'three attempts, three tokens');
  e = await expectError(() => ctx.v1.reportTaskFailed({ TaskToken: req2.body.token,
    Error: 'Transient' }), 'TaskAlreadyCompleted');

  const r3 = await ctx.v1.reportTaskSucceeded({ TaskToken: req3.body.token,
    Output: '{"approved":true,"by":"bob"}' });
  const d = await u.waitDone(ctx.v1, w.flow, w.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(u.output(d), { approved: true });

  const ev = await u.fullHistory(ctx.v1, w.flow, w.exec);
  u.assertEventIds(ev);
  assert.equal(byType(ev, 'StepEntered').length, 1, 'StepEntered only on the first attempt');
  const sched = byType(ev, 'TaskScheduled');
  const failed = byType(ev, 'TaskFailed');
  const ok = byType(ev, 'TaskSucceeded');
  assert.equal(sched.length, 3);
  assert.equal(failed.length, 2);
  assert.equal(ok.length, 1);
  assert.deepEqual(failed.map((x) => Number(x.EventId)), [Number(r1.EventId), Number(r2.EventId)]);
  assert.equal(Number(ok[0].EventId), Number(r3.EventId));
  // Each outcome points back to the attempt that scheduled it, in order.
  assert.equal(Number(failed[0].ScheduleEventId), Number(sched[0].EventId));
  assert.equal(Number(failed[1].ScheduleEventId), Number(sched[1].EventId));
  assert.equal(Number(ok[0].ScheduleEventId), Number(sched[2].EventId));
  assert.ok(Number(sched[1].EventId) > Number(failed[0].EventId));
  assert.ok(Number(sched[2].EventId) > Number(failed[1].EventId));
  assert.equal(ev[ev.length - 1].Type, 'ExecutionSucceeded');
  assert.ok(byType(ev, 'StepExited').length >= 1);
});

it(ctx, 'Retry exhausted falls through to Catch', async () => {
  const w = await startWaiting({
    retry: '- Errors: [Transient]\n  IntervalSeconds: 1\n  MaxAttempts: 1',
    catch: '- Errors: [Transient]\n  Next: Handle',
    next: 'Handle',
    extraStates: HANDLE,
  });
  await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: 'Transient', Cause: 'a' });
  const req2 = await ctx.worker.nextFor(w.orderId, 10000);
  await ctx.v1.reportTaskFailed({ TaskToken: req2.body.token, Error: 'Transient', Cause: 'b' });
  const d = await u.waitDone(ctx.v1, w.flow, w.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(u.output(d), { Error: 'Transient', Cause: 'b' });
  assert.equal(ctx.worker.allFor(w.orderId).length, 2, 'exactly one retry');
});

it(ctx, 'ReportTaskSucceeded: Output is $Output in the OutputConstructor', async () => {
  const w = await startWaiting({
    outputConstructor: 'approved.$: $Output.approved\norder.$: $Input.orderId',
  });
  const r = await ctx.v1.reportTaskSucceeded({ TaskToken: w.token,
    Output: JSON.stringify({ approved: true, ignored: 'x' }) });
  assert.ok(Number(r.EventId) > 0);
  const d = await u.waitDone(ctx.v1, w.flow, w.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(u.output(d), { approved: true, order: w.orderId });
  const ev = await u.fullHistory(ctx.v1, w.flow, w.exec);
  u.assertEventIds(ev);
  const ok = byType(ev, 'TaskSucceeded');
  assert.equal(ok.length, 1);
  assert.equal(Number(ok[0].EventId), Number(r.EventId));
  const out = u.detail(ok[0]).Output;
  assert.deepEqual(typeof out === 'string' ? JSON.parse(out) : out, { approved: true, ignored: 'x' });
  assert.deepEqual(u.types(ev).slice(-3), ['TaskSucceeded', 'StepExited', 'ExecutionSucceeded']);
});

it(ctx, 'ReportTaskSucceeded with a non-object Output is InvalidArgument', async () => {
  const w = await startWaiting();
  for (const bad of ['not json', '[1,2]', '"s"', '{"a":']) {
    const e = await expectError(() => ctx.v1.reportTaskSucceeded({ TaskToken: w.token,
      Output: bad }), 'InvalidArgument');
    assert.match(e.data.Message, /Output/, `message names Output for ${bad}`);
  }
  // The task is untouched and still accepts a valid report.
  await ctx.v1.reportTaskSucceeded({ TaskToken: w.token, Output: '{}' });
  assert.equal((await u.waitDone(ctx.v1, w.flow, w.exec)).Status, 'Succeeded');
});

it(ctx, 'task Timeout raises FnF.TaskTimeout, caught by Catch', async () => {
  const w = await startWaiting({
    timeout: 1,
    catch: '- Errors: [FnF.TaskTimeout]\n  Next: Handle',
    next: 'Handle',
    extraStates: HANDLE,
  });
  const d = await u.waitDone(ctx.v1, w.flow, w.exec, 10000);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.equal(u.output(d).Error, 'FnF.TaskTimeout');
  const ev = await u.fullHistory(ctx.v1, w.flow, w.exec);
  u.assertEventIds(ev);
  const to = byType(ev, 'TaskTimedOut');
  assert.equal(to.length, 1);
  assert.equal(Number(to[0].ScheduleEventId), Number(byType(ev, 'TaskScheduled')[0].EventId));
  await expectError(() => ctx.v1.reportTaskSucceeded({ TaskToken: w.token, Output: '{}' }),
    'TaskAlreadyCompleted');
});

it(ctx, 'task Timeout without Catch fails the execution with FnF.TaskTimeout', async () => {
  const w = await startWaiting({ timeout: 1 });
  const d = await u.waitDone(ctx.v1, w.flow, w.exec, 10000);
  assert.equal(d.Status, 'Failed');
  assert.equal(d.ErrorCode, 'FnF.TaskTimeout');
});

it(ctx, 'StopExecution while waiting: Stopped, then a report is TaskAlreadyCompleted', async () => {
  const w = await startWaiting();
  const s = await ctx.v1.stopExecution({ FlowName: w.flow, ExecutionName: w.exec,
    Error: 'Operator', Cause: 'stopped by the test' });
  assert.equal(s.Code, undefined);
  assert.equal(s.Name, w.exec);
  const d = await u.waitStatus(ctx.v1, w.flow, w.exec, 'Stopped');
  assert.ok(d.StoppedTime, 'StoppedTime is set');
  const e = await expectError(() => ctx.v1.reportTaskFailed({ TaskToken: w.token,
    Error: 'Late' }), 'TaskAlreadyCompleted');
  assert.match(e.data.Message, new RegExp(w.exec), 'the message names the execution');
  await expectError(() => ctx.v1.reportTaskSucceeded({ TaskToken: w.token, Output: '{}' }),
    'TaskAlreadyCompleted');
  const ev = await u.fullHistory(ctx.v1, w.flow, w.exec);
  u.assertEventIds(ev);
  assert.equal(ev[ev.length - 1].Type, 'ExecutionStopped');
  assert.equal(byType(ev, 'TaskFailed').length + byType(ev, 'TaskSucceeded').length, 0,
    'a report after the stop writes nothing');
  // Stopping it again: it has already completed.
  await expectError(() => ctx.v1.stopExecution({ FlowName: w.flow, ExecutionName: w.exec }),
    'ExecutionAlreadyCompleted');
});

it(ctx, 'Error and Cause with reserved and non-ASCII characters round-trip exactly', async () => {
  const w = await startWaiting();
  const error = 'Err+/=&%"é漢';
  const cause = 'a+b=c&d/e?f#g "quoted" ünïcödé 🚀 ~*\'()';
  await ctx.v1.reportTaskFailed({ TaskToken: w.token, Error: error, Cause: cause });
  const d = await u.waitDone(ctx.v1, w.flow, w.exec);
  assert.equal(d.Status, 'Failed');
  assert.equal(d.ErrorCode, error);
  assert.equal(d.ErrorMessage, cause);
});

it(ctx, 'a worker may report before its dispatch has even been answered', async () => {
  // The worker reports from inside its request handler and only then answers 200, so the
  // report arrives while flowd's dispatch of the task is still in flight.
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, ctx.worker.url('/fast')));
  ctx.worker.beforeReply = (rec) => (rec.url === '/fast' ?
    ctx.v1.reportTaskSucceeded({ TaskToken: rec.body.token, Output: '{"a":1}' }) : null);
  try {
    const { name, orderId } = await u.startTagged(ctx.v1, flow);
    const req = await ctx.worker.nextFor(orderId);
    assert.equal(req.hookError, undefined, `report failed: ${req.hookError && req.hookError.code}`);
    assert.ok(Number(req.hookResult.EventId) > 0);
    const d = await u.waitDone(ctx.v1, flow, name);
    assert.equal(d.Status, 'Succeeded');
    const ev = await u.fullHistory(ctx.v1, flow, name);
    u.assertEventIds(ev);
    assert.equal(byType(ev, 'TaskSucceeded').length, 1);
    assert.equal(Number(byType(ev, 'TaskSucceeded')[0].EventId), Number(req.hookResult.EventId));
  } finally {
    ctx.worker.beforeReply = null;
  }
});
