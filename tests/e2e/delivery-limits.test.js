'use strict';
// Task delivery limits: a slow endpoint takes at most dispatch.per_target of the in-flight
// slots (default 32 of 64), so dispatches to other endpoints keep flowing; dispatch.timeout_ms
// bounds a request, and a timed-out request fails its task without a re-send.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const { after } = require('node:test');
const { it } = require('./lib/harness');
const D = require('./lib/delivery');
const L = require('./lib/lang');
const u = require('./lib/util');

const ctx = { srv: null };
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function flowd(config) {
  const fd = await D.startConfigured(config);
  cleanup.push(() => fd.close());
  ctx.srv = fd.srv;
  return fd;
}

async function worker() {
  const w = await D.startDeliveryWorker();
  cleanup.push(() => w.close());
  return w;
}

// CPU seconds (user + system) flowd has used so far.
function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks
}

async function startN(v1, flow, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await u.startTagged(v1, flow));
  return out;
}

it(ctx, 'per_target 2: five tasks to an endpoint that never answers hold 2 slots; a task ' +
  'to a healthy endpoint is delivered promptly; released, the others follow', async () => {
  const fd = await flowd({ dispatch: { per_target: 2, timeout_ms: 20000 } });
  const slow = await worker();
  const fast = await worker();
  slow.hold('/slow');
  const slowFlow = u.uniq('slow');
  const fastFlow = u.uniq('fast');
  await u.createFlow(fd.v1, slowFlow, D.httpTaskFlow(slowFlow, slow.url('/slow')));
  await u.createFlow(fd.v1, fastFlow, D.httpTaskFlow(fastFlow, fast.url('/fast')));
  const held = await startN(fd.v1, slowFlow, 5);
  await u.waitFor(() => slow.arrivedOn('/slow').length >= 2, 5000, 10, '2 requests to the slow endpoint');
  await u.sleep(300);
  assert.equal(slow.arrivedOn('/slow').length, 2, 'at most per_target (2) requests in flight to one endpoint');

  const t0 = Date.now();
  const { name, orderId } = await u.startTagged(fd.v1, fastFlow);
  const req = await fast.nextFor(orderId, 5000);
  const took = req.at - t0;
  assert.ok(took < 2000, `the healthy endpoint got its task ${took} ms after StartExecution`);
  await L.succeed(fd.v1, req.body.token, { fast: true });
  const f = await L.finish(fd.v1, fastFlow, name);
  assert.equal(f.d.Status, 'Succeeded', JSON.stringify(f.d));
  assert.equal(slow.arrivedOn('/slow').length, 2, 'the slow endpoint still holds only 2');

  // Answer the held requests: the waiting three go out, two at a time.
  slow.replyFor['/slow'] = { status: 200 };
  slow.release();
  await u.waitFor(() => slow.arrivedOn('/slow').length >= 5, 8000, 20, 'all 5 slow tasks sent');
  for (const h of held) {
    const r = slow.arrivedOn('/slow').filter((x) => x.body.orderId === h.orderId);
    assert.equal(r.length, 1, `${h.name} is sent once`);
    await u.waitEvent(fd.v1, slowFlow, h.name, 'TaskSubmitted');
    await L.succeed(fd.v1, r[0].body.token, { ok: 1 });
    const { d } = await L.finish(fd.v1, slowFlow, h.name);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  }
});

it(ctx, 'rows waiting for a per-target slot do not make flowd spin (CPU stays low while an ' +
  'endpoint holds its slots)', async () => {
  const fd = await flowd({ dispatch: { per_target: 1, timeout_ms: 20000 } });
  const slow = await worker();
  slow.hold('/slow');
  const flow = u.uniq('spin');
  await u.createFlow(fd.v1, flow, D.httpTaskFlow(flow, slow.url('/slow')));
  await startN(fd.v1, flow, 3);
  await u.waitFor(() => slow.arrivedOn('/slow').length >= 1, 5000, 10, 'the first request');
  await u.sleep(200);
  const c0 = cpuSeconds(fd.srv.child.pid);
  const w0 = Date.now();
  await u.sleep(1500);
  const cpu = cpuSeconds(fd.srv.child.pid) - c0;
  const wall = (Date.now() - w0) / 1000;
  assert.equal(slow.arrivedOn('/slow').length, 1);
  assert.ok(cpu < 0.5 * wall, `flowd used ${cpu.toFixed(2)} s of CPU in ${wall.toFixed(2)} s ` +
    'while two dispatches waited for a slot (a busy loop)');
  slow.release();
});

it(ctx, 'default per_target is 32: 33 tasks to a silent endpoint leave room for another ' +
  'endpoint', async () => {
  const fd = await flowd({});
  const slow = await worker();
  const fast = await worker();
  slow.hold('/slow');
  const slowFlow = u.uniq('slow');
  const fastFlow = u.uniq('fast');
  await u.createFlow(fd.v1, slowFlow, D.httpTaskFlow(slowFlow, slow.url('/slow')));
  await u.createFlow(fd.v1, fastFlow, D.httpTaskFlow(fastFlow, fast.url('/fast')));
  await startN(fd.v1, slowFlow, 33);
  await u.waitFor(() => slow.arrivedOn('/slow').length >= 32, 5000, 10, '32 requests in flight');
  await u.sleep(300);
  assert.equal(slow.arrivedOn('/slow').length, 32, 'the 33rd waits for a slot');
  const t0 = Date.now();
  const { orderId } = await u.startTagged(fd.v1, fastFlow);
  const req = await fast.nextFor(orderId, 5000);
  assert.ok(req.at - t0 < 2000, `delivered after ${req.at - t0} ms`);
  slow.release();
});

it(ctx, 'timeout_ms bounds a request: the task fails after it, without a re-send',
  async () => {
    const fd = await flowd({ dispatch: { timeout_ms: 800, retries: 3, backoff_ms: 100 } });
    const slow = await worker();
    slow.hold('/slow');
    for (const mode of ['RequestComplete', 'WaitForCustomCallback']) {
      const flow = u.uniq('tmo');
      await u.createFlow(fd.v1, flow, D.httpTaskFlow(flow, slow.url('/slow'), { mode }));
      const t0 = Date.now();
      const { name, orderId } = await u.startTagged(fd.v1, flow);
      const { d, ev } = await L.finish(fd.v1, flow, name, 10000);
      const took = Date.now() - t0;
      assert.equal(d.Status, 'Failed', JSON.stringify(d));
      assert.ok(took >= 700, `${mode}: failed after ${took} ms, before timeout_ms 800`);
      assert.ok(took < 5000, `${mode}: failed only after ${took} ms`);
      const type = mode === 'RequestComplete' ? 'TaskFailed' : 'TaskSubmitFailed';
      const fe = L.eventsOf(ev, type, 'Deliver');
      assert.equal(fe.length, 1, `${mode}: ${u.types(ev).join(',')}`);
      assert.equal(u.detail(fe[0]).Error, d.ErrorCode);
      assert.match(d.ErrorCode, /^HTTP\./, `${mode}: ${d.ErrorCode}`);
      await u.sleep(1200); // longer than the backoffs: no re-send may come
      assert.equal(slow.arrivedOn('/slow').filter((r) => r.body.orderId === orderId).length, 1,
        `${mode}: a timed-out request is not re-sent`);
    }
    slow.release();
  });
