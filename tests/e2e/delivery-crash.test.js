'use strict';
// Task delivery across a crash: a dispatch is written to the outbox in the same transaction
// as the state change that needs it, so once StartExecution is acknowledged the dispatch
// survives a SIGKILL, however far its sending had got: never tried, refused, reset, or in
// flight. After a restart on the same data directory the outbox is read and the task is
// delivered (at least once, with the same token), and the report completes the execution.

const assert = require('node:assert/strict');
const { before, after } = require('node:test');
const { it } = require('./lib/harness');
const clients = require('./lib/clients');
const D = require('./lib/delivery');
const L = require('./lib/lang');
const u = require('./lib/util');

// Long backoff: a refused or reset dispatch is not tried again for 2 s (then 4 s, ...).
const ctx = { srv: null, v1: null, fd: null };
before(async () => {
  ctx.fd = await D.startConfigured({ dispatch: { retries: 10, backoff_ms: 2000 } });
  ctx.srv = ctx.fd.srv;
  ctx.v1 = ctx.fd.v1;
});
after(async () => {
  if (ctx.fd) await ctx.fd.close();
});

async function crashAndRestart() {
  const exit = await ctx.srv.kill();
  assert.equal(exit.signal, 'SIGKILL');
  await ctx.srv.start(); // same data directory, same --config
  ctx.v1 = clients.v1(ctx.srv);
}

async function completes(flow, exec, token) {
  const d0 = await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: exec });
  assert.equal(d0.Status, 'Running', 'the acknowledged execution survived the kill');
  await u.waitEvent(ctx.v1, flow, exec, 'TaskSubmitted');
  await L.succeed(ctx.v1, token, { delivered: true });
  const { d, out, ev } = await L.finish(ctx.v1, flow, exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { delivered: true });
  assert.equal(L.eventsOf(ev, 'TaskScheduled').length, 1, u.types(ev).join(','));
  assert.equal(L.eventsOf(ev, 'TaskSubmitted').length, 1, u.types(ev).join(','));
  assert.equal(L.eventsOf(ev, 'TaskSubmitFailed').length, 0);
  assert.equal(L.eventsOf(ev, 'ExecutionStarted').length, 1);
  return ev;
}

it(ctx, 'worker down, SIGKILL right after StartExecution, worker up, restart: the outbox ' +
  'row is sent once and the report completes the execution', async () => {
  const port = await D.freePort();
  const flow = u.uniq('crash');
  await u.createFlow(ctx.v1, flow, D.httpTaskFlow(flow, `http://127.0.0.1:${port}/work`));
  const { name, orderId } = await u.startTagged(ctx.v1, flow); // acknowledged = durable
  await crashAndRestart();
  const w = await D.startDeliveryWorker(port);
  try {
    const req = await w.nextFor(orderId, 8000);
    assert.match(req.body.token, /^[A-Za-z0-9_-]{20,}$/);
    await completes(flow, name, req.body.token);
    await u.sleep(2500); // past the next backoff: nothing more may come
    assert.equal(w.arrived.filter((r) => r.body.orderId === orderId).length, 1,
      'the dispatch is sent once after the restart');
  } finally {
    await w.close();
  }
});

it(ctx, 'a send that was reset before the crash is sent again after the restart with the ' +
  'same token, once', async () => {
  const rs = await D.startResetServer();
  const port = rs.port;
  const flow = u.uniq('crash');
  await u.createFlow(ctx.v1, flow, D.httpTaskFlow(flow, rs.url()));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const pre = await u.waitFor(() => rs.requests.find((r) => r.body && r.body.orderId === orderId),
    5000, 10, 'the first (reset) send');
  await crashAndRestart();
  await rs.close();
  const w = await D.startDeliveryWorker(port);
  try {
    const req = await w.nextFor(orderId, 8000);
    assert.equal(req.body.token, pre.body.token, 'the re-sent dispatch carries the same token');
    await completes(flow, name, pre.body.token);
    await u.sleep(1500);
    assert.equal(w.arrived.filter((r) => r.body.orderId === orderId).length, 1);
  } finally {
    await w.close();
  }
});

it(ctx, 'a dispatch in flight (no reply yet) when flowd is killed is sent again with the ' +
  'same token after the restart', async () => {
  const w = await D.startDeliveryWorker();
  try {
    w.hold('/held');
    const flow = u.uniq('crash');
    await u.createFlow(ctx.v1, flow, D.httpTaskFlow(flow, w.url('/held')));
    const { name, orderId } = await u.startTagged(ctx.v1, flow);
    await u.waitFor(() => w.arrived.find((r) => r.body.orderId === orderId), 5000, 10,
      'the first send');
    await crashAndRestart();
    w.replyFor['/held'] = { status: 200 };
    w.release();
    const again = await u.waitFor(() => {
      const mine = w.arrived.filter((r) => r.body.orderId === orderId);
      return mine.length >= 2 ? mine : null;
    }, 8000, 20, 'the dispatch to be sent again after the restart');
    assert.equal(again[1].body.token, again[0].body.token, 'same token (at least once)');
    await completes(flow, name, again[1].body.token);
  } finally {
    await w.close();
  }
});

it(ctx, 'the execution can be stopped while its dispatch waits in the outbox; after a ' +
  'restart nothing is sent', async () => {
  const port = await D.freePort();
  const flow = u.uniq('crash');
  await u.createFlow(ctx.v1, flow, D.httpTaskFlow(flow, `http://127.0.0.1:${port}/work`));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  await ctx.v1.stopExecution({ FlowName: flow, ExecutionName: name, Error: 'Halt' });
  await crashAndRestart();
  const w = await D.startDeliveryWorker(port);
  try {
    await u.sleep(3000);
    assert.equal(w.arrived.filter((r) => r.body && r.body.orderId === orderId).length, 0,
      'a stopped execution has nothing to deliver');
    const d = await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: name });
    assert.equal(d.Status, 'Stopped');
  } finally {
    await w.close();
  }
});
