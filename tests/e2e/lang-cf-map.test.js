'use strict';
// CloudFlow Map (inline) with a callback task per iteration (the CloudFlow API reference 3.3; conformance
// cases cf-map-*): MaxConcurrency 1 dispatches one item at a time, the output is
// {"Items": [...]} in item order, Retry inside the Processor mints a new token, and an
// exhausted failure is caught on the Map.

const assert = require('node:assert/strict');
const { it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const L = require('./lib/lang');
const u = require('./lib/util');

const ctx = L.setupLang();

function mapFlow(name, url, maxConcurrency) {
  return `Type: StateMachine
SpecVersion: v1
Name: ${name}
StartAt: M
States:
  - Name: M
    Type: Map
    ItemsPath: $Input.items
    MaxConcurrency: ${maxConcurrency}
    ItemConstructor:
      n.$: $Input.n
      orderId.$: $Context.Execution.Input.orderId
    Processor:
      StartAt: Work
      States:
        - Name: Work
          Type: Task
          Action: HTTP:Request
          TaskMode: WaitForCustomCallback
          Timeout: 30
          Parameters:
            URL: ${url}
            Body:
              token.$: $Context.Current.TaskToken
              n.$: $Input.n
              orderId.$: $Input.orderId
              retry.$: $Context.Current.RetryCount
          OutputConstructor:
            n.$: $Input.n
            r.$: $Output.r
          Retry:
            - Errors: [Flaky]
              IntervalSeconds: 1
              MaxAttempts: 1
          End: true
    Catch:
      - Errors: [Flaky, Bad]
        Next: H
    Next: Done
  - {Name: Done, Type: Succeed}
  - Name: H
    Type: Pass
    OutputConstructor:
      caught.$: $Input.Error
      cause.$: $Input.Cause
    End: true
`;
}

const ITEMS = [{ n: 1 }, { n: 2 }, { n: 3 }];

async function startMap(maxConcurrency) {
  const flow = u.uniq('map');
  await u.createFlow(ctx.v1, flow, mapFlow(flow, ctx.worker.url('/map'), maxConcurrency));
  const { name, orderId } = await u.startTagged(ctx.v1, flow, { items: ITEMS });
  return { flow, exec: name, orderId };
}

const forOrder = (orderId, n) => (r) => r.body && r.body.orderId === orderId &&
  (n === undefined || r.body.n === n);

it(ctx, 'MaxConcurrency 1: one request at a time, Items in item order, a retried iteration ' +
  'gets a new token', async () => {
  const m = await startMap(1);
  const seen = () => ctx.worker.allFor(m.orderId).length;

  // Item 1, alone.
  const r1 = await ctx.worker.next(10000, forOrder(m.orderId));
  assert.equal(r1.body.n, 1);
  await u.sleep(300);
  assert.equal(seen(), 1, 'the 2nd item must wait until the 1st is reported');
  await L.succeed(ctx.v1, r1.body.token, { r: 'one' });

  // Item 2: fails with Flaky, the Retry sends it again with a new token.
  const r2 = await ctx.worker.next(10000, forOrder(m.orderId));
  assert.equal(r2.body.n, 2);
  assert.equal(r2.body.retry, 0);
  await L.fail(ctx.v1, r2.body.token, 'Flaky', 'try again');
  const r2b = await ctx.worker.next(10000, forOrder(m.orderId));
  assert.equal(r2b.body.n, 2, 'the retry of item 2 comes before item 3');
  assert.equal(r2b.body.retry, 1);
  assert.notEqual(r2b.body.token, r2.body.token, 'a retry attempt has a new token');
  await expectError(() => L.succeed(ctx.v1, r2.body.token, { r: 'stale' }),
    'TaskAlreadyCompleted');
  await u.sleep(200);
  assert.equal(seen(), 3, 'item 3 waits for item 2');
  await L.succeed(ctx.v1, r2b.body.token, { r: 'two' });

  // Item 3.
  const r3 = await ctx.worker.next(10000, forOrder(m.orderId));
  assert.equal(r3.body.n, 3);
  await L.succeed(ctx.v1, r3.body.token, { r: 'three' });

  const { d, out, ev } = await L.finish(ctx.v1, m.flow, m.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { Items: [{ n: 1, r: 'one' }, { n: 2, r: 'two' }, { n: 3, r: 'three' }] });
  assert.equal(L.eventsOf(ev, 'IterationEntered').length, 3, u.types(ev).join(','));
  assert.equal(L.eventsOf(ev, 'IterationExited').length, 3, u.types(ev).join(','));
  for (const e of L.eventsOf(ev, 'IterationEntered')) assert.equal(e.StepName, 'M');
  const sched = L.eventsOf(ev, 'TaskScheduled', 'Work').map(u.detail);
  assert.deepEqual(sched.map((x) => Number(x.Attempt)), [1, 1, 2, 1]);
  // Sequential: every IterationEntered after the 1st follows the previous IterationExited.
  const its = ev.filter((e) => e.Type === 'IterationEntered' || e.Type === 'IterationExited')
    .map((e) => e.Type);
  assert.deepEqual(its, ['IterationEntered', 'IterationExited', 'IterationEntered',
    'IterationExited', 'IterationEntered', 'IterationExited']);
  assert.equal(L.eventsOf(ev, 'StepEntered', 'Done').length, 1);
});

it(ctx, 'items reported out of order (MaxConcurrency 3): Items stay in item order', async () => {
  const m = await startMap(3);
  const reqs = [];
  for (const n of [1, 2, 3]) reqs.push(await ctx.worker.next(10000, forOrder(m.orderId, n)));
  for (const r of reqs.reverse()) await L.succeed(ctx.v1, r.body.token, { r: `r${r.body.n}` });
  const { d, out, ev } = await L.finish(ctx.v1, m.flow, m.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { Items: [{ n: 1, r: 'r1' }, { n: 2, r: 'r2' }, { n: 3, r: 'r3' }] });
  assert.equal(L.eventsOf(ev, 'IterationEntered').length, 3);
});

it(ctx, 'an iteration whose retries are exhausted is caught on the Map', async () => {
  const m = await startMap(1);
  const r1 = await ctx.worker.next(10000, forOrder(m.orderId));
  assert.equal(r1.body.n, 1);
  await L.fail(ctx.v1, r1.body.token, 'Flaky', 'first');
  const r1b = await ctx.worker.next(10000, forOrder(m.orderId));
  assert.equal(r1b.body.n, 1);
  assert.notEqual(r1b.body.token, r1.body.token);
  await L.fail(ctx.v1, r1b.body.token, 'Flaky', 'still broken');
  const { d, out, ev } = await L.finish(ctx.v1, m.flow, m.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { caught: 'Flaky', cause: 'still broken' });
  assert.equal(L.eventsOf(ev, 'StepEntered', 'H').length, 1);
  assert.equal(L.eventsOf(ev, 'StepEntered', 'Done').length, 0);
  assert.equal(L.eventsOf(ev, 'IterationEntered').length, 1, 'items 2 and 3 never started');
  assert.equal(ctx.worker.allFor(m.orderId).length, 2);
});

it(ctx, 'a non-retried error in one iteration (MaxConcurrency 3) is caught on the Map; the ' +
  'other iterations\' tokens are completed', async () => {
  const m = await startMap(3);
  const reqs = {};
  for (const n of [1, 2, 3]) reqs[n] = await ctx.worker.next(10000, forOrder(m.orderId, n));
  await L.succeed(ctx.v1, reqs[1].body.token, { r: 'ok' });
  await L.fail(ctx.v1, reqs[2].body.token, 'Bad', 'item2');
  const { d, out } = await L.finish(ctx.v1, m.flow, m.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { caught: 'Bad', cause: 'item2' });
  await expectError(() => L.succeed(ctx.v1, reqs[3].body.token, {}), 'TaskAlreadyCompleted');
});
