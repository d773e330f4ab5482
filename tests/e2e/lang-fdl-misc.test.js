'use strict';
// More of the FDL language end to end: choice with nested steps around a callback task,
// requestResponse functions (history, a non-object result, a function error caught with
// errorMappings), retry of a callback (new token), wait with a path duration, succeed inside
// a branch, end, fail, and the flow-level timeoutSeconds.

const assert = require('node:assert/strict');
const { it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const L = require('./lib/lang');
const u = require('./lib/util');

const ctx = L.setupLang({ functions: {
  'cb/wait': '/fn/cb',
  'calc/list': '/fn/list',
  'orders/place': '/fn/place',
} });

const tokenMappings = `    inputMappings:
      - target: token
        source: $context.task.token
      - target: orderId
        source: $input.orderId
`;

it(ctx, 'choice with nested steps around a callback task, then the next top-level step',
  async () => {
    const def = `version: v1
type: flow
steps:
  - type: choice
    name: pick
    choices:
      - condition: $.kind == "a"
        steps:
          - type: pass
            name: inA
            outputMappings:
              - target: v
                source: from-a
      - condition: $.kind == "b"
        steps:
          - type: task
            name: inB1
            resourceArn: acs:fc:::services/cb/functions/wait
            pattern: waitForCallback
            timeoutSeconds: 30
${u.indent(tokenMappings, 8)}            outputMappings:
              - target: v
                source: $local.v
          - type: pass
            name: inB2
            outputMappings:
              - target: w
                source: $input.v
    default:
      goto: fallback
  - type: pass
    name: after
    outputMappings:
      - target: seen
        source: $input.v
    end: true
  - type: fail
    name: fallback
    error: NoKind
    cause: neither a nor b
`;
    const flow = u.uniq('fch');
    await u.createFlow(ctx.v1, flow, def);
    const { name, orderId } = await u.startTagged(ctx.v1, flow, { kind: 'b' });
    const req = await ctx.worker.nextOn('/fn/cb', 10000, (r) => r.body.orderId === orderId);
    await L.succeed(ctx.v1, req.body.token, { v: 'from-b' });
    const { d, out, ev } = await L.finish(ctx.v1, flow, name);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.deepEqual(out, { v: 'from-b', w: 'from-b', seen: 'from-b' });
    assert.deepEqual(L.eventsOf(ev, 'StepEntered').map((e) => e.StepName),
      ['pick', 'inB1', 'inB2', 'after']);

    // The default goto reaches a fail step.
    const r2 = await u.startTagged(ctx.v1, flow, { kind: 'z' });
    const f2 = await L.finish(ctx.v1, flow, r2.name);
    assert.equal(f2.d.Status, 'Failed');
    assert.equal(f2.d.ErrorCode, 'NoKind');
    assert.equal(f2.d.ErrorMessage, 'neither a nor b');
  });

it(ctx, 'requestResponse: TaskStarted history, a non-object result, a function error caught ' +
  'with errorMappings', async () => {
  ctx.worker.replyFor['/fn/list'] = { body: [1, 2, 3] };
  ctx.worker.replyFor['/fn/place'] = { status: 500,
    body: { errorType: 'OrderError', errorMessage: 'no stock' } };
  const def = `version: v1
type: flow
steps:
  - type: task
    name: list
    resourceArn: acs:fc:::services/calc/functions/list
    outputMappings:
      - target: items
        source: $local.result
  - type: task
    name: place
    resourceArn: acs:fc:::services/orders/functions/place
    pattern: requestResponse
    inputMappings:
      - target: items
        source: $input.items
    errorMappings:
      - target: placeError
        source: $local.error
      - target: placeCause
        source: $local.cause
    catch:
      - errors: [OrderError]
        goto: recover
  - type: pass
    name: notReached
    outputMappings:
      - target: placed
        source: true
  - type: pass
    name: recover
    outputMappings:
      - target: recovered
        source: $input.placeCause
`;
  const flow = u.uniq('frr');
  await u.createFlow(ctx.v1, flow, def);
  const { name } = await u.startTagged(ctx.v1, flow);
  const { d, out, ev } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { items: [1, 2, 3], placeError: 'OrderError', placeCause: 'no stock',
    recovered: 'no stock' });
  const place = ctx.worker.allOn('/fn/place');
  assert.deepEqual(place[place.length - 1].body, { items: [1, 2, 3] });
  const listEvents = ev.filter((e) => e.StepName === 'list').map((e) => e.Type);
  assert.deepEqual(listEvents, ['StepEntered', 'TaskScheduled', 'TaskStarted', 'TaskSucceeded',
    'StepExited']);
});

it(ctx, 'retry of a callback task: a new token; the old one is completed', async () => {
  const def = `version: v1
type: flow
steps:
  - type: task
    name: ask
    resourceArn: acs:fc:::services/cb/functions/wait
    pattern: waitForCallback
    timeoutSeconds: 30
${tokenMappings}    retry:
      - errors: [Busy]
        intervalSeconds: 1
        maxAttempts: 1
    outputMappings:
      - target: answer
        source: $local.answer
`;
  const flow = u.uniq('fre');
  await u.createFlow(ctx.v1, flow, def);
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const r1 = await ctx.worker.nextOn('/fn/cb', 10000, (r) => r.body.orderId === orderId);
  await L.fail(ctx.v1, r1.body.token, 'Busy', 'later');
  const r2 = await ctx.worker.nextOn('/fn/cb', 10000, (r) => r.body.orderId === orderId);
  assert.notEqual(r2.body.token, r1.body.token);
  await expectError(() => L.succeed(ctx.v1, r1.body.token, {}), 'TaskAlreadyCompleted');
  await L.succeed(ctx.v1, r2.body.token, { answer: 42 });
  const { d, out, ev } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { answer: 42 });
  assert.equal(L.eventsOf(ev, 'TaskScheduled', 'ask').length, 2);
});

it(ctx, 'wait with a path duration, succeed inside a branch, end: true', async () => {
  const def = `version: v1
type: flow
steps:
  - type: parallel
    name: par
    branches:
      - steps:
          - type: pass
            name: a
            outputMappings:
              - target: a
                source: 1
          - type: succeed
            name: stopHere
          - type: pass
            name: notRun
            outputMappings:
              - target: notRun
                source: 1
      - steps:
          - type: wait
            name: w
            duration: $input.delay
          - type: pass
            name: b
            outputMappings:
              - target: b
                source: 2
    outputMappings:
      - target: branches
        source: $local
  - type: pass
    name: last
    outputMappings:
      - target: last
        source: 1
    end: true
  - type: pass
    name: afterEnd
    outputMappings:
      - target: afterEnd
        source: 1
`;
  const flow = u.uniq('fw');
  await u.createFlow(ctx.v1, flow, def);
  const { name } = await u.startTagged(ctx.v1, flow, { delay: 1 });
  const { d, out, ev } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { branches: [{ a: 1 }, { b: 2 }], last: 1 });
  assert.equal(L.eventsOf(ev, 'StepEntered', 'notRun').length, 0);
  assert.equal(L.eventsOf(ev, 'StepEntered', 'afterEnd').length, 0);
  assert.ok(Date.parse(d.StoppedTime) - Date.parse(d.StartedTime) >= 900,
    `${d.StartedTime} .. ${d.StoppedTime}`);
});

it(ctx, 'flow timeoutSeconds 1 while a callback waits: TimedOut, the token is completed',
  async () => {
    const def = `version: v1
type: flow
timeoutSeconds: 1
steps:
  - type: task
    name: ask
    resourceArn: acs:fc:::services/cb/functions/wait
    pattern: waitForCallback
${tokenMappings}`;
    const flow = u.uniq('fto');
    await u.createFlow(ctx.v1, flow, def);
    const { name, orderId } = await u.startTagged(ctx.v1, flow);
    const req = await ctx.worker.nextOn('/fn/cb', 10000, (r) => r.body.orderId === orderId);
    const { d, ev } = await L.finish(ctx.v1, flow, name, 10000);
    assert.equal(d.Status, 'TimedOut', JSON.stringify(d));
    assert.equal(ev[ev.length - 1].Type, 'ExecutionTimedOut');
    await expectError(() => L.succeed(ctx.v1, req.body.token, {}), 'TaskAlreadyCompleted');
  });
