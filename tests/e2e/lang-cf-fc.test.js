'use strict';
// CloudFlow FC:InvokeFunction through flowd's function map (config `functions:`): a Sync
// RequestComplete result under $Output.Body, a WaitForCustomCallback function that receives
// the token, a function's own error ({"errorType","errorMessage"}) caught by name, and the
// worked example 3.4 of the CloudFlow API reference end to end.

const assert = require('node:assert/strict');
const { it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const L = require('./lib/lang');
const u = require('./lib/util');

const ctx = L.setupLang({ functions: {
  calc: '/fn/calc',
  notify: '/fn/notify',
  order: '/fn/order',
  'approval-notifier': '/fn/approval-notifier',
  'ship-item': '/fn/ship-item',
} });

const HEAD = (name) => `Type: StateMachine\nSpecVersion: v1\nName: ${name}\n`;

it(ctx, 'RequestComplete Sync: the function gets the event as JSON; its JSON result is ' +
  '$Output.Body', async () => {
  ctx.worker.replyFor['/fn/calc'] = (rec) => ({ status: 200,
    body: { x: rec.body.a * 2, nested: { y: 'z' } } });
  const { flow, exec } = await L.createAndStart(ctx.v1, (name) => `${HEAD(name)}StartAt: Calc
States:
  - Name: Calc
    Type: Task
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      resourceArn: acs:fc:::functions/calc
      invocationType: Sync
      body:
        a.$: $Input.a
        tag: constant
    OutputConstructor:
      x.$: $Output.Body.x
      y.$: $Output.Body.nested.y
    End: true
`, { a: 21 });
  const { d, out, ev } = await L.finish(ctx.v1, flow, exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { x: 42, y: 'z' });
  const req = ctx.worker.allOn('/fn/calc').find((r) => r.body && r.body.a === 21);
  assert.ok(req, 'the function was called');
  assert.equal(req.method, 'POST');
  assert.match(req.headers['content-type'] || '', /application\/json/);
  assert.deepEqual(req.body, { a: 21, tag: 'constant' });
  const ts = L.eventsOf(ev, 'TaskSucceeded', 'Calc');
  assert.equal(ts.length, 1);
  assert.equal(u.detail(L.eventsOf(ev, 'TaskScheduled', 'Calc')[0]).Resource,
    'FC:InvokeFunction');
});

function notifyFlow(name) {
  return `${HEAD(name)}StartAt: Ask
States:
  - Name: Ask
    Type: Task
    Action: FC:InvokeFunction
    TaskMode: WaitForCustomCallback
    Timeout: 30
    Parameters:
      resourceArn: acs:fc:::functions/notify
      invocationType: Async
      body:
        orderId.$: $Input.orderId
        taskToken.$: $Context.Current.TaskToken
    OutputConstructor:
      approved.$: $Output.approved
    Catch:
      - Errors: [ApprovalRejected]
        OutputConstructor:
          code.$: $Context.Current.Error.Code
          reason.$: $Context.Current.Error.Detail
        Next: Rejected
    End: true
  - {Name: Rejected, Type: Pass, End: true}
`;
}

it(ctx, 'WaitForCustomCallback: the function receives the token; ReportTaskFailed is ' +
  'caught', async () => {
  const flow = u.uniq('fcb');
  await u.createFlow(ctx.v1, flow, notifyFlow(flow));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextOn('/fn/notify', 10000, (r) => r.body.orderId === orderId);
  assert.equal(typeof req.body.taskToken, 'string');
  assert.deepEqual(Object.keys(req.body).sort(), ['orderId', 'taskToken']);
  await u.waitEvent(ctx.v1, flow, name, 'TaskSubmitted');
  await L.fail(ctx.v1, req.body.taskToken, 'ApprovalRejected', 'over budget');
  const { d, out, ev } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { code: 'ApprovalRejected', reason: 'over budget' });
  assert.equal(L.eventsOf(ev, 'StepEntered', 'Rejected').length, 1);
  L.assertOrder(ev, ['TaskScheduled', 'TaskSubmitted', 'TaskFailed', 'StepEntered']);
  await expectError(() => L.succeed(ctx.v1, req.body.taskToken, {}), 'TaskAlreadyCompleted');
});

it(ctx, 'WaitForCustomCallback: the reported Output is $Output itself (no Body wrapper)',
  async () => {
    const flow = u.uniq('fcb');
    await u.createFlow(ctx.v1, flow, notifyFlow(flow));
    const { name, orderId } = await u.startTagged(ctx.v1, flow);
    const req = await ctx.worker.nextOn('/fn/notify', 10000, (r) => r.body.orderId === orderId);
    await L.succeed(ctx.v1, req.body.taskToken, { approved: true, extra: 1 });
    const { d, out } = await L.finish(ctx.v1, flow, name);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.deepEqual(out, { approved: true });
  });

it(ctx, 'a function replying 500 {"errorType","errorMessage"} fails with errorType; Catch ' +
  'sees the errorMessage as Cause', async () => {
  ctx.worker.replyFor['/fn/order'] = { status: 500,
    body: { errorType: 'OrderError', errorMessage: 'no stock' } };
  const { flow, exec } = await L.createAndStart(ctx.v1, (name) => `${HEAD(name)}StartAt: Place
States:
  - Name: Place
    Type: Task
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      resourceArn: acs:fc:::functions/order
      invocationType: Sync
      body.$: $Input
    Catch:
      - Errors: [FC.InternalServerError]
        Next: Wrong
      - Errors: [OrderError]
        Next: Handle
    End: true
  - {Name: Wrong, Type: Fail, Code: WrongCatch, Detail: matched the status instead of errorType}
  - Name: Handle
    Type: Pass
    OutputConstructor:
      error.$: $Input.Error
      cause.$: $Input.Cause
    End: true
`, { sku: 'x' });
  const { d, out, ev } = await L.finish(ctx.v1, flow, exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { error: 'OrderError', cause: 'no stock' });
  const tf = L.eventsOf(ev, 'TaskFailed', 'Place');
  assert.equal(tf.length, 1, u.types(ev).join(','));
  assert.equal(u.detail(tf[0]).Error, 'OrderError');
  assert.equal(u.detail(tf[0]).Cause, 'no stock');
});

it(ctx, 'uncaught: a function error ends the execution Failed with errorType/errorMessage',
  async () => {
    ctx.worker.replyFor['/fn/order'] = { status: 500,
      body: { errorType: 'OrderError', errorMessage: 'no stock' } };
    const { flow, exec } = await L.createAndStart(ctx.v1, (name) => `${HEAD(name)}StartAt: Place
States:
  - Name: Place
    Type: Task
    Action: FC:InvokeFunction
    Parameters:
      resourceArn: acs:fc:::functions/order
      invocationType: Sync
      body: {}
    End: true
`);
    const { d } = await L.finish(ctx.v1, flow, exec);
    assert.equal(d.Status, 'Failed');
    assert.equal(d.ErrorCode, 'OrderError');
    assert.equal(d.ErrorMessage, 'no stock');
  });

// the CloudFlow API reference 3.4 verbatim, with both functions served by the worker.
const EXAMPLE_34 = `Type: StateMachine
Name: order-approval
SpecVersion: v1
StartAt: RequestApproval
States:
  - Type: Task
    Name: RequestApproval
    Action: FC:InvokeFunction
    TaskMode: WaitForCustomCallback
    Timeout: 3600
    Parameters:
      resourceArn: acs:fc:::functions/approval-notifier
      invocationType: Async
      body:
        orderId.$: $Input.orderId
        amount.$: $Input.amount
        taskToken.$: $Context.Current.TaskToken
    OutputConstructor:
      orderId.$: $Input.orderId
      approved.$: $Output.approved          # from ReportTaskSucceeded.Output
      approver.$: $Output.approver
    Retry:
      - Errors: [FC.ResourceThrottled, FC.ResourceExhausted, FC.InternalServerError]
        IntervalSeconds: 2
        MaxAttempts: 3
        BackoffRate: 2
        MaxBackoffSeconds: 30
    Catch:
      - Errors: [FnF.TaskTimeout]
        Next: Escalate
      - Errors: [ApprovalRejected]           # ReportTaskFailed.Error
        OutputConstructor:
          reason.$: $Context.Current.Error.Detail
        Next: Rejected
    Next: CheckApproval
  - Type: Choice
    Name: CheckApproval
    Branches:
      - Condition: $Input.approved == true
        Next: ShipItems
    Default: Rejected
  - Type: Map
    Name: ShipItems
    ItemsPath: $Context.Execution.Input.items
    MaxConcurrency: 5
    Processor:
      StartAt: ShipOne
      States:
        - Type: Task
          Name: ShipOne
          Action: FC:InvokeFunction
          TaskMode: RequestComplete
          Parameters:
            resourceArn: acs:fc:::functions/ship-item
            invocationType: Sync
            body.$: $Input
          OutputConstructor:
            trackingId.$: $Output.Body.trackingId
          End: true
    End: true
  - Type: Pass
    Name: Escalate
    OutputConstructor:
      status: escalated
    End: true
  - Type: Fail
    Name: Rejected
    Code: OrderRejected
    Detail: approval was rejected
`;

it(ctx, 'worked example 3.4: approved, then every item shipped through the function map',
  async () => {
    ctx.worker.replyFor['/fn/ship-item'] = (rec) => ({ body: { trackingId: `t-${rec.body.sku}` } });
    const flow = 'order-approval';
    await u.createFlow(ctx.v1, flow, EXAMPLE_34);
    const exec = u.uniq('ex');
    const orderId = u.uniq('o');
    await ctx.v1.startExecution({ FlowName: flow, ExecutionName: exec, Input: JSON.stringify({
      orderId, amount: 42, items: [{ sku: 'a' }, { sku: 'b' }, { sku: 'c' }] }) });
    const req = await ctx.worker.nextOn('/fn/approval-notifier', 10000,
      (r) => r.body.orderId === orderId);
    assert.equal(req.body.amount, 42);
    await L.succeed(ctx.v1, req.body.taskToken, { approved: true, approver: 'bob' });
    const { d, out, ev } = await L.finish(ctx.v1, flow, exec);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.deepEqual(out, { Items: [{ trackingId: 't-a' }, { trackingId: 't-b' },
      { trackingId: 't-c' }] });
    assert.deepEqual(ctx.worker.allOn('/fn/ship-item').map((r) => r.body.sku).sort(),
      ['a', 'b', 'c']);
    assert.equal(L.eventsOf(ev, 'IterationEntered', 'ShipItems').length, 3);
    const checked = L.eventsOf(ev, 'StepExited', 'RequestApproval').map(u.detail);
    assert.deepEqual(checked[0].Output, { orderId, approved: true, approver: 'bob' });

    // Rejected: the Catch's OutputConstructor reaches the Fail state.
    const exec2 = u.uniq('ex');
    const orderId2 = u.uniq('o');
    await ctx.v1.startExecution({ FlowName: flow, ExecutionName: exec2, Input: JSON.stringify({
      orderId: orderId2, amount: 7, items: [] }) });
    const req2 = await ctx.worker.nextOn('/fn/approval-notifier', 10000,
      (r) => r.body.orderId === orderId2);
    await L.fail(ctx.v1, req2.body.taskToken, 'ApprovalRejected', 'manager said no');
    const r2 = await L.finish(ctx.v1, flow, exec2);
    assert.equal(r2.d.Status, 'Failed');
    assert.equal(r2.d.ErrorCode, 'OrderRejected');
    assert.equal(r2.d.ErrorMessage, 'approval was rejected');
    const rej = L.eventsOf(r2.ev, 'StepEntered', 'Rejected').map(u.detail);
    assert.equal(rej.length, 1);
    assert.deepEqual(rej[0].Input, { reason: 'manager said no' });
  });
