'use strict';
// The FDL worked example 3.2 of the CloudFlow API reference end to end, adapted so that its resources
// resolve in flowd: the MNS topic task becomes the waitForCallback function
// acs:fc:::services/approval/functions/request (MNS is not served yet) and the `ship`
// function comes from the function map (orders/ship). Paths: approved, not approved,
// ApprovalRejected, a task timeout (timeoutSeconds 1) that escalates, a retried ship call.

const assert = require('node:assert/strict');
const { it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const L = require('./lib/lang');
const u = require('./lib/util');

const ctx = L.setupLang({ functions: {
  'approval/request': '/fn/approval-request',
  'orders/ship': '/fn/ship',
} });

function example32(approvalTimeout = 3600) {
  return `version: v1
type: flow
timeoutSeconds: 86400
steps:
  - type: task
    name: requestApproval
    resourceArn: acs:fc:::services/approval/functions/request
    pattern: waitForCallback
    timeoutSeconds: ${approvalTimeout}
    inputMappings:
      - target: taskToken
        source: $context.task.token        # token must be mapped explicitly
      - target: orderId
        source: $input.orderId
      - target: amount
        source: $input.amount
    serviceParams:
      MessageBody: $                       # the mapped input becomes the message
      Priority: 1
    catch:
      - errors: [FnF.TaskTimeout]
        goto: escalate
      - errors: [ApprovalRejected]         # = ReportTaskFailed.Error
        goto: rejected
    outputMappings:
      - target: approver
        source: $local.approver            # fields of ReportTaskSucceeded.Output
      - target: approved
        source: $local.approved
  - type: choice
    name: checkApproval
    choices:
      - condition: $.approved == true
        goto: ship
    default:
      goto: rejected
  - type: task
    name: ship
    resourceArn: acs:fc:::services/orders/functions/ship
    pattern: requestResponse
    timeoutSeconds: 60
    inputMappings:
      - target: orderId
        source: $input.orderId
    retry:
      - errors: [FC.ResourceThrottled, FC.ResourceExhausted, FC.InternalServerError]
        intervalSeconds: 2
        maxAttempts: 3
        multiplier: 2
    end: true
  - type: pass
    name: escalate
    outputMappings:
      - target: status
        source: escalated                  # constant
    end: true
  - type: fail
    name: rejected
    error: OrderRejected
    cause: approval rejected or not granted
`;
}

let FLOW = null;
let FLOW_T1 = null;

async function start(timeout) {
  if (timeout === 1 && !FLOW_T1) {
    FLOW_T1 = u.uniq('fdl32t');
    await u.createFlow(ctx.v1, FLOW_T1, example32(1));
  }
  if (timeout !== 1 && !FLOW) {
    FLOW = u.uniq('fdl32');
    await u.createFlow(ctx.v1, FLOW, example32());
  }
  const flow = timeout === 1 ? FLOW_T1 : FLOW;
  const { name, orderId } = await u.startTagged(ctx.v1, flow, { amount: 42 });
  const req = await ctx.worker.nextOn('/fn/approval-request', 10000,
    (r) => r.body && r.body.MessageBody && r.body.MessageBody.orderId === orderId);
  return { flow, exec: name, orderId, req, token: req.body.MessageBody.taskToken };
}

it(ctx, 'approved: the function gets the mapped message with the token; ship runs; the ' +
  'Output is the top-level $local', async () => {
  ctx.worker.replyFor['/fn/ship'] = (rec) => ({ body: { shipped: true,
    trackingId: `t-${rec.body.orderId}` } });
  const s = await start();
  assert.equal(s.req.method, 'POST');
  assert.deepEqual(Object.keys(s.req.body).sort(), ['MessageBody', 'Priority']);
  assert.equal(s.req.body.Priority, 1);
  assert.deepEqual(s.req.body.MessageBody, { taskToken: s.token, orderId: s.orderId, amount: 42 });
  assert.match(s.token, /^[A-Za-z0-9_-]+$/);
  await L.succeed(ctx.v1, s.token, { approved: true, approver: 'bob', ignored: 'x' });
  const { d, out, ev } = await L.finish(ctx.v1, s.flow, s.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { approver: 'bob', approved: true, shipped: true,
    trackingId: `t-${s.orderId}` });
  const ship = ctx.worker.allOn('/fn/ship').filter((r) => r.body.orderId === s.orderId);
  assert.equal(ship.length, 1);
  assert.deepEqual(ship[0].body, { orderId: s.orderId }, 'ship gets its mapped input');
  const entered = L.eventsOf(ev, 'StepEntered').map((e) => e.StepName);
  assert.deepEqual(entered, ['requestApproval', 'checkApproval', 'ship']);
  assert.equal(L.eventsOf(ev, 'StepFailed').length, 0);
  await expectError(() => L.succeed(ctx.v1, s.token, {}), 'TaskAlreadyCompleted');
});

it(ctx, 'not approved: the choice default goes to rejected', async () => {
  const s = await start();
  await L.succeed(ctx.v1, s.token, { approved: false, approver: 'eve' });
  const { d, ev } = await L.finish(ctx.v1, s.flow, s.exec);
  assert.equal(d.Status, 'Failed', JSON.stringify(d));
  assert.equal(d.ErrorCode, 'OrderRejected');
  assert.equal(d.ErrorMessage, 'approval rejected or not granted');
  assert.equal(L.eventsOf(ev, 'StepEntered', 'ship').length, 0);
  assert.equal(L.eventsOf(ev, 'StepEntered', 'rejected').length, 1);
});

it(ctx, 'ApprovalRejected: the catch goes to rejected (Failed, OrderRejected)', async () => {
  const s = await start();
  await L.fail(ctx.v1, s.token, 'ApprovalRejected', 'budget exceeded');
  const { d, ev } = await L.finish(ctx.v1, s.flow, s.exec);
  assert.equal(d.Status, 'Failed', JSON.stringify(d));
  assert.equal(d.ErrorCode, 'OrderRejected');
  assert.equal(d.ErrorMessage, 'approval rejected or not granted');
  assert.deepEqual(L.eventsOf(ev, 'StepEntered').map((e) => e.StepName),
    ['requestApproval', 'rejected']);
  const tf = L.eventsOf(ev, 'TaskFailed', 'requestApproval');
  assert.equal(tf.length, 1);
  assert.equal(u.detail(tf[0]).Error, 'ApprovalRejected');
  assert.equal(ev[ev.length - 1].Type, 'ExecutionFailed');
});

it(ctx, 'timeoutSeconds 1: FnF.TaskTimeout is caught and escalates', async () => {
  const s = await start(1);
  const { d, out, ev } = await L.finish(ctx.v1, s.flow, s.exec, 10000);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { status: 'escalated' });
  assert.equal(L.eventsOf(ev, 'TaskTimedOut', 'requestApproval').length, 1, u.types(ev).join(','));
  assert.deepEqual(L.eventsOf(ev, 'StepEntered').map((e) => e.StepName),
    ['requestApproval', 'escalate']);
  await expectError(() => L.succeed(ctx.v1, s.token, { approved: true }), 'TaskAlreadyCompleted');
});

it(ctx, 'ship answering 500 once is retried (FC.InternalServerError) and then succeeds',
  async () => {
    let calls = 0;
    ctx.worker.replyFor['/fn/ship'] = () => {
      calls += 1;
      return calls === 1 ? { status: 500, body: 'internal error' } : { body: { shipped: true } };
    };
    const s = await start();
    await L.succeed(ctx.v1, s.token, { approved: true, approver: 'bob' });
    const { d, out, ev } = await L.finish(ctx.v1, s.flow, s.exec, 10000);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.deepEqual(out, { approver: 'bob', approved: true, shipped: true });
    assert.equal(calls, 2);
    const failed = L.eventsOf(ev, 'TaskFailed', 'ship').map(u.detail);
    assert.equal(failed.length, 1, u.types(ev).join(','));
    assert.equal(failed[0].Error, 'FC.InternalServerError');
    assert.deepEqual(L.eventsOf(ev, 'TaskScheduled', 'ship').map((e) => Number(u.detail(e).Attempt)),
      [1, 2]);
  });
