'use strict';
// Task delivery: re-sends of a dispatch after a connection failure (refused or reset) up to
// dispatch.retries times with backoff_ms doubling, then TaskSubmitFailed / TaskFailed with
// HTTP.ConnectionError (Retry and Catch apply); a reply >= 400 is an answer and is not re-sent
// (HTTP.StatusCode.<code>); a worker that comes up while the re-sends are still running gets
// the task.

const assert = require('node:assert/strict');
const { before, after } = require('node:test');
const { it } = require('./lib/harness');
const D = require('./lib/delivery');
const L = require('./lib/lang');
const u = require('./lib/util');

// flowd with short re-sends: 3 sends in all, 100 ms then 200 ms apart.
const ctx = { srv: null, v1: null, worker: null, fd: null };
before(async () => {
  ctx.worker = await D.startDeliveryWorker();
  ctx.fd = await D.startConfigured({ dispatch: { retries: 2, backoff_ms: 100 } });
  ctx.srv = ctx.fd.srv;
  ctx.v1 = ctx.fd.v1;
});
after(async () => {
  if (ctx.fd) await ctx.fd.close();
  if (ctx.worker) await ctx.worker.close();
});

async function startOne(def, flow = u.uniq('dl')) {
  await u.createFlow(ctx.v1, flow, def(flow));
  const t0 = Date.now();
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  return { flow, exec: name, orderId, t0 };
}

it(ctx, 'a closed port: TaskSubmitFailed with HTTP.ConnectionError after the re-sends; the ' +
  'execution fails with it', async () => {
  const port = await D.freePort();
  const { flow, exec, t0 } = await startOne((f) =>
    D.httpTaskFlow(f, `http://127.0.0.1:${port}/work`));
  const { d, ev } = await L.finish(ctx.v1, flow, exec);
  const took = Date.now() - t0;
  assert.equal(d.Status, 'Failed', JSON.stringify(d));
  assert.equal(d.ErrorCode, 'HTTP.ConnectionError', JSON.stringify(d));
  const sf = L.eventsOf(ev, 'TaskSubmitFailed', 'Deliver');
  assert.equal(sf.length, 1, u.types(ev).join(','));
  assert.equal(u.detail(sf[0]).Error, 'HTTP.ConnectionError');
  assert.ok(u.detail(sf[0]).Cause, 'the Cause says what the connection failure was');
  assert.equal(L.eventsOf(ev, 'TaskSubmitted').length, 0);
  assert.equal(L.eventsOf(ev, 'TaskScheduled').length, 1, 're-sends are not new attempts');
  // Two re-sends with backoff 100 ms then 200 ms: the failure cannot come before ~300 ms.
  assert.ok(took >= 250, `the task failed after ${took} ms, before the re-sends could happen`);
  L.assertOrder(ev, ['TaskScheduled', 'TaskSubmitFailed', 'StepFailed', 'ExecutionFailed']);
});

it(ctx, 'a connection reset is re-sent exactly dispatch.retries times with the same token ' +
  'and a doubling backoff', async () => {
  const rs = await D.startResetServer();
  try {
    const { flow, exec, orderId } = await startOne((f) => D.httpTaskFlow(f, rs.url()));
    const { d, ev } = await L.finish(ctx.v1, flow, exec);
    assert.equal(d.Status, 'Failed', JSON.stringify(d));
    assert.equal(d.ErrorCode, 'HTTP.ConnectionError');
    assert.equal(u.detail(L.eventsOf(ev, 'TaskSubmitFailed')[0]).Error, 'HTTP.ConnectionError');
    await u.sleep(500); // nothing more may come
    const mine = rs.requests.filter((r) => r.body && r.body.orderId === orderId);
    assert.equal(mine.length, 3, `1 send + 2 re-sends, got ${mine.length}`);
    const tokens = new Set(mine.map((r) => r.body.token));
    assert.equal(tokens.size, 1, 'every re-send carries the same token');
    assert.match([...tokens][0], /^[A-Za-z0-9_-]{20,}$/);
    const gap1 = mine[1].at - mine[0].at;
    const gap2 = mine[2].at - mine[1].at;
    assert.ok(gap1 >= 80, `first re-send after ${gap1} ms (backoff_ms 100)`);
    assert.ok(gap2 >= 180, `second re-send after ${gap2} ms (backoff doubles to 200)`);
  } finally {
    await rs.close();
  }
});

it(ctx, 'the re-sends follow backoff_ms: about 100 ms, then 200 ms (not a coarser clock)',
  async () => {
    const rs = await D.startResetServer();
    try {
      const { flow, exec, orderId, t0 } = await startOne((f) => D.httpTaskFlow(f, rs.url()));
      await L.finish(ctx.v1, flow, exec);
      const took = Date.now() - t0;
      const at = rs.requests.filter((r) => r.body && r.body.orderId === orderId).map((r) => r.at);
      assert.equal(at.length, 3);
      const gaps = [at[1] - at[0], at[2] - at[1]];
      // Generous bounds: 100 ms and 200 ms of backoff, plus up to 400 ms of scheduling slack.
      assert.ok(gaps[0] < 500 && gaps[1] < 600,
        `re-sends came ${gaps.join(' ms, ')} ms apart; backoff_ms 100 means 100 then 200`);
      assert.ok(took < 1500, `the task failed ${took} ms after StartExecution (expected ~300)`);
    } finally {
      await rs.close();
    }
  });

it(ctx, 'RequestComplete to a closed port: TaskFailed with HTTP.ConnectionError', async () => {
  const port = await D.freePort();
  const { flow, exec } = await startOne((f) =>
    D.httpTaskFlow(f, `http://127.0.0.1:${port}/work`, { mode: 'RequestComplete' }));
  const { d, ev } = await L.finish(ctx.v1, flow, exec);
  assert.equal(d.Status, 'Failed', JSON.stringify(d));
  assert.equal(d.ErrorCode, 'HTTP.ConnectionError');
  const tf = L.eventsOf(ev, 'TaskFailed', 'Deliver');
  assert.equal(tf.length, 1, u.types(ev).join(','));
  assert.equal(u.detail(tf[0]).Error, 'HTTP.ConnectionError');
  assert.equal(L.eventsOf(ev, 'TaskSubmitFailed').length, 0);
});

it(ctx, 'Retry on HTTP.ConnectionError runs a new attempt (re-sent again), then the Catch ' +
  'handler runs; the history shows both attempts', async () => {
  const rs = await D.startResetServer();
  try {
    const { flow, exec, orderId } = await startOne((f) => D.httpTaskFlow(f, rs.url(), {
      retry: '- Errors: [HTTP.ConnectionError]\n  IntervalSeconds: 1\n  MaxAttempts: 1',
      catch: '- Errors: [HTTP.ConnectionError]\n  Next: Handler',
      extraStates: [
        '- Type: Pass',
        '  Name: Handler',
        '  OutputConstructor:',
        '    handled: true',
        '    code.$: $Input.Error',
        '  End: true',
      ].join('\n'),
    }));
    const { d, out, ev } = await L.finish(ctx.v1, flow, exec);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.deepEqual(out, { handled: true, code: 'HTTP.ConnectionError' });
    const sched = L.eventsOf(ev, 'TaskScheduled', 'Deliver');
    assert.equal(sched.length, 2, u.types(ev).join(','));
    assert.deepEqual(sched.map((e) => u.detail(e).Attempt), [1, 2]);
    const sf = L.eventsOf(ev, 'TaskSubmitFailed', 'Deliver');
    assert.equal(sf.length, 2);
    for (const e of sf) assert.equal(u.detail(e).Error, 'HTTP.ConnectionError');
    assert.equal(L.eventsOf(ev, 'StepEntered', 'Handler').length, 1);
    L.assertOrder(ev, ['TaskScheduled', 'TaskSubmitFailed', 'TaskScheduled', 'TaskSubmitFailed',
      'StepEntered', 'ExecutionSucceeded']);
    // Each attempt is sent 3 times (1 + 2 re-sends), each with its own token.
    const mine = rs.requests.filter((r) => r.body && r.body.orderId === orderId);
    assert.equal(mine.length, 6, `2 attempts x 3 sends, got ${mine.length}`);
    const t1 = new Set(mine.slice(0, 3).map((r) => r.body.token));
    const t2 = new Set(mine.slice(3).map((r) => r.body.token));
    assert.equal(t1.size, 1);
    assert.equal(t2.size, 1);
    assert.notEqual([...t1][0], [...t2][0], 'the retry attempt has a new token');
  } finally {
    await rs.close();
  }
});

it(ctx, 'a closed port with Retry then Catch: the handler runs after both attempts fail',
  async () => {
    const port = await D.freePort();
    const { flow, exec } = await startOne((f) =>
      D.httpTaskFlow(f, `http://127.0.0.1:${port}/work`, {
        retry: '- Errors: [HTTP.ConnectionError]\n  IntervalSeconds: 0\n  MaxAttempts: 1',
        catch: '- Errors: [FnF.ALL]\n  Next: Handler',
        extraStates: '- Type: Pass\n  Name: Handler\n  End: true',
      }));
    const { d, out, ev } = await L.finish(ctx.v1, flow, exec);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.equal(out.Error, 'HTTP.ConnectionError', JSON.stringify(out));
    assert.equal(L.eventsOf(ev, 'TaskScheduled', 'Deliver').length, 2);
    assert.equal(L.eventsOf(ev, 'TaskSubmitFailed', 'Deliver').length, 2);
    assert.equal(L.eventsOf(ev, 'StepEntered', 'Handler').length, 1);
  });

it(ctx, 'a 500 reply is not re-sent: exactly one request, HTTP.StatusCode.500 ' +
  '(WaitForCustomCallback: TaskSubmitFailed)', async () => {
  ctx.worker.replyFor['/s500'] = { status: 500, body: { oops: true } };
  const { flow, exec, orderId } = await startOne((f) => D.httpTaskFlow(f, ctx.worker.url('/s500')));
  const { d, ev } = await L.finish(ctx.v1, flow, exec);
  assert.equal(d.Status, 'Failed', JSON.stringify(d));
  assert.equal(d.ErrorCode, 'HTTP.StatusCode.500');
  const sf = L.eventsOf(ev, 'TaskSubmitFailed', 'Deliver');
  assert.equal(sf.length, 1, u.types(ev).join(','));
  assert.equal(u.detail(sf[0]).Error, 'HTTP.StatusCode.500');
  await u.sleep(600); // well past both backoffs (100 + 200 ms)
  const mine = ctx.worker.arrivedOn('/s500').filter((r) => r.body.orderId === orderId);
  assert.equal(mine.length, 1, `a 500 must not be re-sent; got ${mine.length} requests`);
});

it(ctx, 'a 500 reply to a RequestComplete task: TaskFailed HTTP.StatusCode.500, one request; a ' +
  '404 likewise', async () => {
  ctx.worker.replyFor['/rc500'] = { status: 500, body: 'plain failure' };
  ctx.worker.replyFor['/rc404'] = { status: 404, body: { nope: 1 } };
  for (const [p, code] of [['/rc500', 500], ['/rc404', 404]]) {
    const { flow, exec, orderId } = await startOne((f) =>
      D.httpTaskFlow(f, ctx.worker.url(p), { mode: 'RequestComplete' }));
    const { d, ev } = await L.finish(ctx.v1, flow, exec);
    assert.equal(d.Status, 'Failed', JSON.stringify(d));
    assert.equal(d.ErrorCode, `HTTP.StatusCode.${code}`);
    const tf = L.eventsOf(ev, 'TaskFailed', 'Deliver');
    assert.equal(tf.length, 1, u.types(ev).join(','));
    assert.equal(u.detail(tf[0]).Error, `HTTP.StatusCode.${code}`);
    await u.sleep(400);
    assert.equal(ctx.worker.arrivedOn(p).filter((r) => r.body.orderId === orderId).length, 1);
  }
});

it(ctx, 'worker down, then up: the re-sends deliver the task once it listens; the token ' +
  'works and the execution completes', async () => {
  const fd = await D.startConfigured({ dispatch: { retries: 5, backoff_ms: 300 } });
  const prev = ctx.srv;
  ctx.srv = fd.srv;
  const port = await D.freePort();
  let w = null;
  try {
    const flow = u.uniq('late');
    await u.createFlow(fd.v1, flow, D.httpTaskFlow(flow, `http://127.0.0.1:${port}/late`, {
      extraStates: undefined }));
    const { name, orderId } = await u.startTagged(fd.v1, flow);
    await u.sleep(500);
    const d0 = await fd.v1.describeExecution({ FlowName: flow, ExecutionName: name });
    assert.equal(d0.Status, 'Running', 'the execution waits while the worker is down');
    w = await D.startDeliveryWorker(port);
    const up = Date.now();
    const req = await w.nextFor(orderId, 8000);
    assert.ok(req.at >= up);
    assert.ok(req.at - up < 4000, `delivered ${req.at - up} ms after the worker came up`);
    await u.waitEvent(fd.v1, flow, name, 'TaskSubmitted');
    await L.succeed(fd.v1, req.body.token, { late: true });
    const { d, ev } = await L.finish(fd.v1, flow, name);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.equal(L.eventsOf(ev, 'TaskSubmitted').length, 1);
    assert.equal(L.eventsOf(ev, 'TaskSubmitFailed').length, 0);
    assert.equal(L.eventsOf(ev, 'TaskScheduled').length, 1);
    assert.equal(w.arrived.filter((r) => r.body.orderId === orderId).length, 1,
      'delivered once the worker listens, and only once');
  } finally {
    ctx.srv = prev;
    await fd.close();
    if (w) await w.close();
  }
});
