'use strict';
// A full round trip with @alicloud/openapi-client 0.4.15 (signature V3, chunked form bodies,
// errors read from the HTTP status): create, describe, start, callback, report, history.

const assert = require('node:assert/strict');
const { setup, it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const u = require('./lib/util');

const ctx = setup();

it(ctx, 'V3: create a flow, run it through a callback, read the history', async () => {
  const flow = u.uniq('v3');
  const def = u.callbackFlow(flow, ctx.worker.url('/v3'), {
    outputConstructor: 'approved.$: $Output.approved\nnote.$: $Output.note',
  });
  const c = await ctx.v3.call('CreateFlow', { Name: flow, Definition: def,
    Description: 'made with V3 & "quotes" é', Type: 'FDL' });
  assert.equal(c.Name, flow);
  assert.equal(c.Code, undefined);
  const d = await ctx.v3.call('DescribeFlow', { Name: flow });
  assert.equal(d.Definition, def);
  assert.equal(d.Description, 'made with V3 & "quotes" é');
  const list = await ctx.v3.call('ListFlows', { Limit: 100 });
  assert.ok(list.Flows.some((f) => f.Name === flow));

  const ex = u.uniq('ex');
  const orderId = u.uniq('order');
  const s = await ctx.v3.call('StartExecution', { FlowName: flow, ExecutionName: ex,
    Input: JSON.stringify({ orderId }) });
  assert.equal(s.Name, ex);
  const req = await ctx.worker.nextFor(orderId);
  assert.equal(req.url, '/v3');

  const rep = await ctx.v3.call('ReportTaskSucceeded', { TaskToken: req.body.token,
    Output: JSON.stringify({ approved: true, note: 'a+b/c=d&e' }) });
  assert.ok(Number(rep.EventId) > 0);
  assert.equal(typeof rep.RequestId, 'string');

  let desc;
  await u.waitFor(async () => {
    desc = await ctx.v3.call('DescribeExecution', { FlowName: flow, ExecutionName: ex });
    return desc.Status === 'Succeeded' ? desc : null;
  }, 10000, 50, 'V3 execution to succeed');
  assert.deepEqual(JSON.parse(desc.Output), { approved: true, note: 'a+b/c=d&e' });

  const h = await ctx.v3.call('GetExecutionHistory', { FlowName: flow, ExecutionName: ex });
  u.assertEventIds(h.Events);
  const ok = h.Events.find((e) => e.Type === 'TaskSucceeded');
  assert.equal(Number(ok.EventId), Number(rep.EventId));

  const le = await ctx.v3.call('ListExecutions', { FlowName: flow });
  assert.ok(le.Executions.some((x) => x.Name === ex && x.Status === 'Succeeded'));

  // The V1 client sees the same state.
  const v1d = await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: ex });
  assert.equal(v1d.Status, 'Succeeded');
});

it(ctx, 'V3: ReportTaskFailed, StopExecution, UpdateFlow and DeleteFlow', async () => {
  const flow = u.uniq('v3b');
  await ctx.v3.call('CreateFlow', { Name: flow, Definition: u.callbackFlow(flow, ctx.worker.url()),
    Description: '', Type: 'FDL' });
  const orderId = u.uniq('order');
  const ex = u.uniq('ex');
  await ctx.v3.call('StartExecution', { FlowName: flow, ExecutionName: ex,
    Input: JSON.stringify({ orderId }) });
  const req = await ctx.worker.nextFor(orderId);
  const rep = await ctx.v3.call('ReportTaskFailed', { TaskToken: req.body.token,
    Error: 'V3.Failure', Cause: 'cause with spaces, + and /' });
  assert.ok(Number(rep.EventId) > 0);
  const d = await u.waitDone(ctx.v1, flow, ex);
  assert.equal(d.Status, 'Failed');
  assert.equal(d.ErrorCode, 'V3.Failure');
  assert.equal(d.ErrorMessage, 'cause with spaces, + and /');

  const ex2 = u.uniq('ex');
  const order2 = u.uniq('order');
  await ctx.v3.call('StartExecution', { FlowName: flow, ExecutionName: ex2,
    Input: JSON.stringify({ orderId: order2 }) });
  const req2 = await ctx.worker.nextFor(order2);
  await ctx.v3.call('StopExecution', { FlowName: flow, ExecutionName: ex2 });
  await u.waitStatus(ctx.v1, flow, ex2, 'Stopped');
  const e = await expectError(() => ctx.v3.call('ReportTaskSucceeded', {
    TaskToken: req2.body.token, Output: '{}' }), 'TaskAlreadyCompleted');
  assert.equal(e.data.statusCode, 400);

  const up = await ctx.v3.call('UpdateFlow', { Name: flow, Description: 'v3 updated' });
  assert.equal(up.Description, 'v3 updated');
  await ctx.v3.call('DeleteFlow', { Name: flow });
  const e2 = await expectError(() => ctx.v3.call('DescribeFlow', { Name: flow }), 'FlowNotExists');
  assert.equal(e2.data.statusCode, 404);
  const e3 = await expectError(() => ctx.v3.call('DescribeExecution', { FlowName: u.uniq('no'),
    ExecutionName: 'x' }));
  assert.ok(e3.data.statusCode === 404, JSON.stringify(e3.data));
});

it(ctx, 'V3: parameters in the query work for POST actions too', async () => {
  const flow = u.uniq('v3q');
  const c = await ctx.v3.call('CreateFlow', {}, { query: { Name: flow,
    Definition: u.passFlow(flow), Description: 'q', Type: 'FDL' } });
  assert.equal(c.Name, flow);
  const s = await ctx.v3.call('StartExecution', {}, { query: { FlowName: flow,
    Input: '{"q":true}' } });
  const d = await u.waitDone(ctx.v1, flow, s.Name);
  assert.deepEqual(JSON.parse(d.Output), { q: true });
});
