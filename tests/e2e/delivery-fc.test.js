'use strict';
// Task delivery to functions: CloudFlow FC:InvokeFunction and FDL `resourceArn: acs:fc:...`
// resolve through the config's `functions:` map ("<service>/<function>" first, then
// "<function>") and POST the event there. Sync results: $Output.Body (CloudFlow) and $local
// (FDL); callback patterns hand over the token; a function's {"errorType"} error is caught by
// name; a function missing from the map fails the task with FnF.RuntimeError.

const assert = require('node:assert/strict');
const { it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const L = require('./lib/lang');
const u = require('./lib/util');

const ctx = L.setupLang({
  functions: {
    calc: '/fn/calc',
    notify: '/fn/notify',
    'orders/ship': '/fn/orders-ship',
    'svc/dual': '/fn/dual-svc',
    dual: '/fn/dual-plain',
    's/f': '/fn/s-f',
    's/cb': '/fn/s-cb',
    stock: '/fn/stock',
    's/stock': '/fn/s-stock',
    throttled: '/fn/throttled',
  },
  config: { dispatch: { retries: 2, backoff_ms: 100 } },
});

const HEAD = (name) => `Type: StateMachine\nSpecVersion: v1\nName: ${name}\n`;

function fcTask(arn, { mode = 'RequestComplete', inv = 'Sync', body = 'a.$: $Input.a',
  extra = '' } = {}) {
  return (name) => `${HEAD(name)}StartAt: Call
States:
  - Name: Call
    Type: Task
    Action: FC:InvokeFunction
    TaskMode: ${mode}
    Timeout: 30
    Parameters:
      resourceArn: ${arn}
      invocationType: ${inv}
      body:
${u.indent(body, 8)}
${extra}    End: true
`;
}

it(ctx, 'CloudFlow FC:InvokeFunction Sync (RequestComplete): the result is $Output.Body',
  async () => {
    ctx.worker.replyFor['/fn/calc'] = (rec) => ({ body: { doubled: rec.body.a * 2 } });
    const { flow, exec } = await L.createAndStart(ctx.v1, fcTask('acs:fc:::functions/calc', {
      extra: '    OutputConstructor:\n      whole.$: $Output\n' }), { a: 4 });
    const { d, out, ev } = await L.finish(ctx.v1, flow, exec);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.deepEqual(out, { whole: { Body: { doubled: 8 } } });
    const reqs = ctx.worker.allOn('/fn/calc').filter((r) => r.body.a === 4);
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].method, 'POST');
    assert.deepEqual(reqs[0].body, { a: 4 });
    assert.equal(L.eventsOf(ev, 'TaskSucceeded', 'Call').length, 1);
  });

it(ctx, 'invocationType Async with WaitForCustomCallback: the function gets the token; the ' +
  'report completes the task', async () => {
  const flow = u.uniq('fca');
  await u.createFlow(ctx.v1, flow, fcTask('acs:fc:::functions/notify', {
    mode: 'WaitForCustomCallback', inv: 'Async',
    body: 'orderId.$: $Input.orderId\ntoken.$: $Context.Current.TaskToken',
    extra: '    OutputConstructor:\n      approved.$: $Output.approved\n' })(flow));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextOn('/fn/notify', 10000, (r) => r.body.orderId === orderId);
  assert.match(req.body.token, /^[A-Za-z0-9_-]{20,}$/);
  await u.waitEvent(ctx.v1, flow, name, 'TaskSubmitted');
  const d0 = await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: name });
  assert.equal(d0.Status, 'Running', 'an Async callback function does not end the task');
  await L.succeed(ctx.v1, req.body.token, { approved: true });
  const { d, out } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { approved: true });
});

it(ctx, 'the acs:fc:<r>:<a>:services/<s>/functions/<f> form resolves "<s>/<f>" first, then ' +
  '"<f>"', async () => {
  ctx.worker.replyFor['/fn/orders-ship'] = { body: { via: 'orders/ship' } };
  ctx.worker.replyFor['/fn/dual-svc'] = { body: { via: 'svc/dual' } };
  ctx.worker.replyFor['/fn/dual-plain'] = { body: { via: 'dual' } };
  const cases = [
    ['acs:fc:cn-hangzhou:1234567890123456:services/orders/functions/ship', 'orders/ship'],
    ['acs:fc:cn-hangzhou:1234567890123456:services/svc/functions/dual', 'svc/dual'],
    ['acs:fc:::services/other/functions/dual', 'dual'],
  ];
  for (const [arn, via] of cases) {
    const { flow, exec } = await L.createAndStart(ctx.v1, fcTask(arn, {
      extra: '    OutputConstructor:\n      via.$: $Output.Body.via\n' }), { a: 1 });
    const { d, out } = await L.finish(ctx.v1, flow, exec);
    assert.equal(d.Status, 'Succeeded', `${arn}: ${JSON.stringify(d)}`);
    assert.deepEqual(out, { via }, arn);
  }
});

it(ctx, 'FDL resourceArn acs:fc:::services/s/functions/f, requestResponse: serviceParams is ' +
  'the event; $local gets the function\'s JSON', async () => {
  ctx.worker.replyFor['/fn/s-f'] = (rec) => ({ body: { price: rec.body.qty * 5, currency: 'EUR' } });
  const def = `version: v1
type: flow
steps:
  - type: task
    name: price
    resourceArn: acs:fc:::services/s/functions/f
    pattern: requestResponse
    inputMappings:
      - target: orderId
        source: $input.orderId
      - target: qty
        source: $input.qty
    serviceParams:
      id: $.orderId
      qty: $.qty
      kind: quote
    outputMappings:
      - target: price
        source: $local.price
      - target: currency
        source: $local.currency
`;
  const flow = u.uniq('fdlf');
  await u.createFlow(ctx.v1, flow, def);
  const { name, orderId } = await u.startTagged(ctx.v1, flow, { qty: 3 });
  const { d, out } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.equal(out.price, 15, JSON.stringify(out));
  assert.equal(out.currency, 'EUR');
  const reqs = ctx.worker.allOn('/fn/s-f').filter((r) => r.body.id === orderId);
  assert.equal(reqs.length, 1);
  assert.deepEqual(reqs[0].body, { id: orderId, qty: 3, kind: 'quote' });
});

it(ctx, 'FDL waitForCallback: $context.task.token mapped into the event reaches the function; ' +
  'the report completes the step', async () => {
  const def = `version: v1
type: flow
steps:
  - type: task
    name: ask
    resourceArn: acs:fc:::services/s/functions/cb
    pattern: waitForCallback
    timeoutSeconds: 60
    inputMappings:
      - target: token
        source: $context.task.token
      - target: orderId
        source: $input.orderId
    outputMappings:
      - target: approved
        source: $local.approved
`;
  const flow = u.uniq('fdlcb');
  await u.createFlow(ctx.v1, flow, def);
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextOn('/fn/s-cb', 10000, (r) => r.body.orderId === orderId);
  assert.match(req.body.token, /^[A-Za-z0-9_-]{20,}$/);
  await u.waitEvent(ctx.v1, flow, name, 'TaskSubmitted');
  await L.succeed(ctx.v1, req.body.token, { approved: true });
  const { d, out } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.equal(out.approved, true, JSON.stringify(out));
  await expectError(() => L.succeed(ctx.v1, req.body.token, {}), 'TaskAlreadyCompleted');
});

it(ctx, 'a function error {"errorType":"StockError"} with HTTP 500 is caught by name ' +
  '(CloudFlow Catch), and not re-sent', async () => {
  ctx.worker.replyFor['/fn/stock'] = { status: 500,
    body: { errorType: 'StockError', errorMessage: 'none' } };
  const { flow, exec } = await L.createAndStart(ctx.v1, (name) => `${HEAD(name)}StartAt: Reserve
States:
  - Name: Reserve
    Type: Task
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      resourceArn: acs:fc:::functions/stock
      invocationType: Sync
      body:
        tag.$: $Input.tag
    Catch:
      - Errors: [StockError]
        OutputConstructor:
          code.$: $Context.Current.Error.Code
          detail.$: $Context.Current.Error.Detail
        Next: NoStock
    End: true
  - {Name: NoStock, Type: Pass, End: true}
`, { tag: 'cf-stock' });
  const { d, out, ev } = await L.finish(ctx.v1, flow, exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { code: 'StockError', detail: 'none' });
  const tf = L.eventsOf(ev, 'TaskFailed', 'Reserve');
  assert.equal(tf.length, 1, u.types(ev).join(','));
  assert.equal(u.detail(tf[0]).Error, 'StockError');
  assert.equal(L.eventsOf(ev, 'StepEntered', 'NoStock').length, 1);
  await u.sleep(500);
  assert.equal(ctx.worker.allOn('/fn/stock').filter((r) => r.body.tag === 'cf-stock').length, 1,
    'a function error reply is not re-sent');
});

it(ctx, 'FDL: a function error {"errorType":"StockError"} goes to the catch goto step',
  async () => {
    ctx.worker.replyFor['/fn/s-stock'] = { status: 500,
      body: { errorType: 'StockError', errorMessage: 'none' } };
    const def = `version: v1
type: flow
steps:
  - type: task
    name: reserve
    resourceArn: acs:fc:::services/s/functions/stock
    pattern: requestResponse
    inputMappings:
      - target: orderId
        source: $input.orderId
    catch:
      - errors: [StockError]
        goto: nostock
  - type: succeed
    name: done
  - type: pass
    name: nostock
    outputMappings:
      - target: status
        source: out-of-stock
`;
    const flow = u.uniq('fdls');
    await u.createFlow(ctx.v1, flow, def);
    const { name } = await u.startTagged(ctx.v1, flow);
    const { d, out, ev } = await L.finish(ctx.v1, flow, name);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.equal(out.status, 'out-of-stock', JSON.stringify(out));
    const tf = L.eventsOf(ev, 'TaskFailed', 'reserve');
    assert.equal(tf.length, 1, u.types(ev).join(','));
    assert.equal(u.detail(tf[0]).Error, 'StockError');
  });

it(ctx, 'an error reply without errorType: 429 is FC.ResourceThrottled (not re-sent)',
  async () => {
    ctx.worker.replyFor['/fn/throttled'] = { status: 429, body: 'slow down' };
    const { flow, exec } = await L.createAndStart(ctx.v1, fcTask('acs:fc:::functions/throttled',
      { body: 'tag: t429' }));
    const { d, ev } = await L.finish(ctx.v1, flow, exec);
    assert.equal(d.Status, 'Failed', JSON.stringify(d));
    assert.equal(d.ErrorCode, 'FC.ResourceThrottled');
    assert.equal(u.detail(L.eventsOf(ev, 'TaskFailed', 'Call')[0]).Error, 'FC.ResourceThrottled');
    await u.sleep(500);
    assert.equal(ctx.worker.allOn('/fn/throttled').length, 1);
  });

// The failure event of the task step: TaskSubmitFailed or TaskFailed.
function failureOf(ev, step) {
  return ev.find((e) => (e.Type === 'TaskSubmitFailed' || e.Type === 'TaskFailed') &&
    e.StepName === step);
}

it(ctx, 'a function missing from the map fails the task with FnF.RuntimeError naming the ' +
  'function map (CloudFlow, both modes, and FDL)', async () => {
  const defs = [
    ['Call', fcTask('acs:fc:::functions/nowhere')],
    ['Call', fcTask('acs:fc:::services/ghost/functions/nowhere', { mode: 'WaitForCustomCallback',
      inv: 'Async', body: 'token.$: $Context.Current.TaskToken' })],
    ['lost', () => `version: v1
type: flow
steps:
  - type: task
    name: lost
    resourceArn: acs:fc:::services/ghost/functions/nowhere
    pattern: requestResponse
`],
  ];
  for (const [step, def] of defs) {
    const { flow, exec } = await L.createAndStart(ctx.v1, def, { a: 1 });
    const { d, ev } = await L.finish(ctx.v1, flow, exec);
    assert.equal(d.Status, 'Failed', JSON.stringify(d));
    assert.equal(d.ErrorCode, 'FnF.RuntimeError', JSON.stringify(d));
    const f = failureOf(ev, step);
    assert.ok(f, `a task failure event for ${step}: ${u.types(ev).join(',')}`);
    assert.equal(u.detail(f).Error, 'FnF.RuntimeError');
    assert.match(u.detail(f).Cause, /function map/, u.detail(f).Cause);
    assert.match(d.ErrorMessage || '', /function map/, JSON.stringify(d));
  }
});

it(ctx, 'a function missing from the map is caught by a Catch on FnF.RuntimeError', async () => {
  const { flow, exec } = await L.createAndStart(ctx.v1, (name) => `${HEAD(name)}StartAt: Call
States:
  - Name: Call
    Type: Task
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      resourceArn: acs:fc:::functions/nowhere
      invocationType: Sync
      body: {}
    Catch:
      - Errors: [FnF.RuntimeError]
        Next: Fallback
    End: true
  - {Name: Fallback, Type: Pass, End: true}
`);
  const { d, out } = await L.finish(ctx.v1, flow, exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.equal(out.Error, 'FnF.RuntimeError');
  assert.match(out.Cause, /function map/);
});
