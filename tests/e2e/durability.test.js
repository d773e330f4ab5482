'use strict';
// Durability (flowd's decisions 7): a reply is sent only after its change is durable. flowd is
// killed with SIGKILL while a task waits and restarted on the same data directory; reports
// acknowledged before the kill are in the history, waiting tasks still accept their
// reports, and dispatches that were due get sent (at least once, same token).

const assert = require('node:assert/strict');
const { setup, it } = require('./lib/harness');
const clients = require('./lib/clients');
const u = require('./lib/util');

const ctx = setup();

// Two callback tasks in a row: First then Second.
function twoStepFlow(name, url) {
  return [
    'Type: StateMachine',
    'SpecVersion: v1',
    `Name: ${name}`,
    'StartAt: First',
    'States:',
    ...['First', 'Second'].flatMap((step, i) => [
      '  - Type: Task',
      `    Name: ${step}`,
      '    Action: HTTP:Request',
      '    TaskMode: WaitForCustomCallback',
      '    Timeout: 60',
      '    Parameters:',
      `      URL: ${url}`,
      '      Method: POST',
      '      Body:',
      '        token.$: $Context.Current.TaskToken',
      '        orderId.$: $Context.Execution.Input.orderId',
      `        step: ${step}`,
      '    OutputConstructor:',
      `      ${step.toLowerCase()}.$: $Output.v`,
      i === 0 ? '    Next: Second' : '    End: true',
    ]),
    '',
  ].join('\n');
}

async function restart() {
  await ctx.srv.restart();
  ctx.v1 = clients.v1(ctx.srv);
  ctx.v3 = clients.v3(ctx.srv);
}

it(ctx, 'SIGKILL while a task waits, restart, then the report succeeds', async () => {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, ctx.worker.url(),
    { outputConstructor: 'approved.$: $Output.approved' }));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextFor(orderId);
  const oldPort = ctx.srv.port;

  const exit = await ctx.srv.kill();
  assert.equal(exit.signal, 'SIGKILL');
  await restart();
  assert.ok(ctx.srv.port > 0);
  void oldPort;

  const d0 = await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: name });
  assert.equal(d0.Status, 'Running', 'the execution survived the kill');
  const r = await ctx.v1.reportTaskSucceeded({ TaskToken: req.body.token,
    Output: '{"approved":true}' });
  assert.ok(Number(r.EventId) > 0);
  const d = await u.waitDone(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(u.output(d), { approved: true });
  const ev = await u.fullHistory(ctx.v1, flow, name);
  u.assertEventIds(ev);
  assert.equal(ev.filter((e) => e.Type === 'TaskSucceeded').length, 1);
  assert.equal(ev[ev.length - 1].Type, 'ExecutionSucceeded');
  // A re-sent dispatch (at-least-once) carries the same token.
  for (const x of ctx.worker.allFor(orderId)) assert.equal(x.body.token, req.body.token);
});

it(ctx, 'reports acknowledged right before SIGKILL are in the history after restart', async () => {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, twoStepFlow(flow, ctx.worker.url('/two')));
  // Several executions, each with First reported and acknowledged just before the kill.
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const { name, orderId } = await u.startTagged(ctx.v1, flow);
    const req = await ctx.worker.nextFor(orderId);
    assert.equal(req.body.step, 'First');
    runs.push({ name, orderId, token1: req.body.token });
  }
  for (const run of runs) {
    const r = await ctx.v1.reportTaskSucceeded({ TaskToken: run.token1, Output: '{"v":1}' });
    run.event1 = Number(r.EventId);
  }
  await ctx.srv.kill();
  await restart();

  for (const run of runs) {
    // The acknowledged report is durable: the same token is now completed...
    await clients.expectError(() => ctx.v1.reportTaskSucceeded({ TaskToken: run.token1,
      Output: '{"v":9}' }), 'TaskAlreadyCompleted');
    // ...and Second is dispatched, before or after the kill.
    const req2 = await ctx.worker.next(10000,
      (x) => x.body && x.body.orderId === run.orderId && x.body.step === 'Second');
    const r2 = await ctx.v1.reportTaskSucceeded({ TaskToken: req2.body.token, Output: '{"v":2}' });
    const d = await u.waitDone(ctx.v1, flow, run.name);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.deepEqual(u.output(d), { second: 2 });
    const ev = await u.fullHistory(ctx.v1, flow, run.name);
    u.assertEventIds(ev);
    const ok = ev.filter((e) => e.Type === 'TaskSucceeded');
    assert.deepEqual(ok.map((e) => [e.StepName, Number(e.EventId)]),
      [['First', run.event1], ['Second', Number(r2.EventId)]]);
  }
});

it(ctx, 'flows and finished executions survive SIGKILL; SIGTERM stops cleanly', async () => {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.passFlow(flow), 'kept');
  const ex = u.uniq('ex');
  await ctx.v1.startExecution({ FlowName: flow, ExecutionName: ex, Input: '{"k":"v"}' });
  const d = await u.waitDone(ctx.v1, flow, ex);
  assert.equal(d.Status, 'Succeeded');
  await ctx.srv.kill();
  await restart();
  const f = await ctx.v1.describeFlow({ Name: flow });
  assert.equal(f.Description, 'kept');
  const d2 = await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: ex });
  assert.equal(d2.Status, 'Succeeded');
  assert.deepEqual(JSON.parse(d2.Output), { k: 'v' });
  const info = await ctx.srv.stop();
  assert.ok(info.code === 0 || info.signal === 'SIGTERM',
    `flowd exits on SIGTERM by itself: ${JSON.stringify(info)}`);
  await restart();
  assert.equal((await ctx.v1.describeFlow({ Name: flow })).Name, flow);
});
