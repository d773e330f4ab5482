'use strict';
// ListWaitingTasks (a flowd extension; GET; FlowName required, ExecutionName optional, Limit
// 1-1000 default 100, NextToken): the tasks of a flow that wait for a report, each with
// FlowName, ExecutionName, StepName, Attempt, TaskToken, WaitingSince and TimeoutAt ("" when
// the step has no Timeout). The tokens it lists work for reports. RAM action
// fnf:ListWaitingTasks on the flow ARN. flowctl: `tasks --flow F [--execution E] [--limit N]
// [--json]`, `task fail <token> --error E`, `task succeed <token> --output JSON`.

const assert = require('node:assert/strict');
const { setup, it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const adm = require('./lib/admin');
const D = require('./lib/delivery');
const L = require('./lib/lang');
const u = require('./lib/util');
const { ACCOUNT_ID } = require('./lib/flowd');

const ctx = setup();

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

// Route on $Input.timed: Timed (Timeout 600) or Untimed (no Timeout). Both are callback
// tasks posting {token, orderId} to the worker and retry the error Busy once at once.
function waitingFlow(name, url) {
  const task = (step, timeout) => [
    '  - Type: Task',
    `    Name: ${step}`,
    '    Action: HTTP:Request',
    '    TaskMode: WaitForCustomCallback',
    ...(timeout ? [`    Timeout: ${timeout}`] : []),
    '    Parameters:',
    `      URL: ${url}`,
    '      Method: POST',
    '      Body:',
    '        token.$: $Context.Current.TaskToken',
    '        orderId.$: $Input.orderId',
    '    Retry:',
    '      - Errors: [Busy]',
    '        IntervalSeconds: 0',
    '        MaxAttempts: 2',
    '    End: true',
  ];
  return [
    'Type: StateMachine', 'SpecVersion: v1', `Name: ${name}`, 'StartAt: Route', 'States:',
    '  - Type: Choice',
    '    Name: Route',
    '    Branches:',
    '      - Condition: $Input.timed == true',
    '        Next: Timed',
    '    Default: Untimed',
    ...task('Timed', 600),
    ...task('Untimed', 0),
    '',
  ].join('\n');
}

// A flow with three waiting executions: the first Timed, the other two Untimed. Resolves
// {flow, execs: [{name, orderId, token}]} (tokens as the worker received them).
async function threeWaiting() {
  const flow = u.uniq('wait');
  await u.createFlow(ctx.v1, flow, waitingFlow(flow, ctx.worker.url()));
  const execs = [];
  for (const timed of [true, false, false]) {
    const s = await u.startTagged(ctx.v1, flow, { timed });
    const req = await ctx.worker.nextFor(s.orderId);
    await u.waitEvent(ctx.v1, flow, s.name, 'TaskSubmitted');
    execs.push({ ...s, token: req.body.token, timed });
  }
  return { flow, execs };
}

const list = (params) => D.listWaiting(ctx.srv, params);

it(ctx, 'three waiting executions: three tasks with their step, attempt, token, WaitingSince ' +
  'and TimeoutAt ("" without a Timeout)', async () => {
  const { flow, execs } = await threeWaiting();
  const r = await list({ FlowName: flow });
  assert.ok(Array.isArray(r.Tasks), JSON.stringify(r));
  assert.equal(r.Tasks.length, 3, JSON.stringify(r));
  assert.ok(!r.NextToken, 'no NextToken when everything fits');
  for (const t of r.Tasks) {
    assert.deepEqual(Object.keys(t).sort(), ['Attempt', 'ExecutionName', 'FlowName', 'StepName',
      'TaskToken', 'TimeoutAt', 'WaitingSince']);
  }
  const byName = Object.fromEntries(r.Tasks.map((t) => [t.ExecutionName, t]));
  for (const e of execs) {
    const t = byName[e.name];
    assert.ok(t, `${e.name} is listed`);
    assert.equal(t.FlowName, flow);
    assert.equal(t.StepName, e.timed ? 'Timed' : 'Untimed');
    assert.equal(Number(t.Attempt), 1);
    assert.equal(t.TaskToken, e.token, 'the listed token is the dispatched one');
    assert.match(t.WaitingSince, ISO);
    assert.ok(Math.abs(Date.parse(t.WaitingSince) - Date.now()) < 60000, t.WaitingSince);
    if (e.timed) {
      assert.match(t.TimeoutAt, ISO);
      const d = Date.parse(t.TimeoutAt) - Date.parse(t.WaitingSince);
      assert.ok(Math.abs(d - 600000) <= 2000, `TimeoutAt - WaitingSince = ${d} ms, Timeout 600`);
    } else {
      assert.equal(t.TimeoutAt, '');
    }
  }
  // The listed tokens work.
  for (const t of r.Tasks) await L.succeed(ctx.v1, t.TaskToken, { via: 'list' });
  for (const e of execs) {
    const { d, out } = await L.finish(ctx.v1, flow, e.name);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.deepEqual(out, { via: 'list' });
  }
  const after = await list({ FlowName: flow });
  assert.deepEqual(after.Tasks, []);
});

it(ctx, 'Limit 2 + NextToken pages through the three tasks; ExecutionName filters', async () => {
  const { flow, execs } = await threeWaiting();
  const all = (await list({ FlowName: flow })).Tasks;
  const p1 = await list({ FlowName: flow, Limit: 2 });
  assert.equal(p1.Tasks.length, 2, JSON.stringify(p1));
  assert.equal(typeof p1.NextToken, 'string');
  assert.ok(p1.NextToken.length > 0);
  const p2 = await list({ FlowName: flow, Limit: 2, NextToken: p1.NextToken });
  assert.equal(p2.Tasks.length, 1, JSON.stringify(p2));
  assert.ok(!p2.NextToken, 'the last page has no NextToken');
  assert.deepEqual([...p1.Tasks, ...p2.Tasks].map((t) => t.TaskToken),
    all.map((t) => t.TaskToken), 'pages are the full list in order, without overlap');
  const p3 = await list({ FlowName: flow, Limit: 3 });
  assert.equal(p3.Tasks.length, 3);
  assert.ok(!p3.NextToken);

  const one = await list({ FlowName: flow, ExecutionName: execs[1].name });
  assert.equal(one.Tasks.length, 1, JSON.stringify(one));
  assert.equal(one.Tasks[0].ExecutionName, execs[1].name);
  assert.equal(one.Tasks[0].TaskToken, execs[1].token);
  const none = await list({ FlowName: flow, ExecutionName: 'no_such_execution' });
  assert.deepEqual(none.Tasks, []);
  for (const e of execs) await L.succeed(ctx.v1, e.token, {});
});

it(ctx, 'after reporting one, two remain; a stopped execution\'s task is gone', async () => {
  const { flow, execs } = await threeWaiting();
  await L.fail(ctx.v1, execs[0].token, 'Rejected', 'no');
  await u.waitDone(ctx.v1, flow, execs[0].name);
  const r = await list({ FlowName: flow });
  assert.equal(r.Tasks.length, 2, JSON.stringify(r));
  assert.deepEqual(r.Tasks.map((t) => t.ExecutionName).sort(),
    [execs[1].name, execs[2].name].sort());
  await ctx.v1.stopExecution({ FlowName: flow, ExecutionName: execs[1].name });
  const r2 = await list({ FlowName: flow });
  assert.deepEqual(r2.Tasks.map((t) => t.ExecutionName), [execs[2].name]);
  await L.succeed(ctx.v1, execs[2].token, {});
});

it(ctx, 'after a Retry the new attempt is listed with Attempt 2 and a new token', async () => {
  const flow = u.uniq('wait');
  await u.createFlow(ctx.v1, flow, waitingFlow(flow, ctx.worker.url()));
  const s = await u.startTagged(ctx.v1, flow, { timed: true });
  const first = await ctx.worker.nextFor(s.orderId);
  await u.waitEvent(ctx.v1, flow, s.name, 'TaskSubmitted');
  await L.fail(ctx.v1, first.body.token, 'Busy', 'try again');
  const second = await ctx.worker.nextFor(s.orderId);
  assert.notEqual(second.body.token, first.body.token);
  const t = await u.waitFor(async () => {
    const r = await list({ FlowName: flow, ExecutionName: s.name });
    return r.Tasks.length === 1 && r.Tasks[0].TaskToken !== first.body.token ? r.Tasks[0] : null;
  }, 5000, 50, 'the second attempt to be listed');
  assert.equal(Number(t.Attempt), 2);
  assert.equal(t.StepName, 'Timed');
  assert.equal(t.TaskToken, second.body.token);
  await expectError(() => L.succeed(ctx.v1, first.body.token, {}), 'TaskAlreadyCompleted');
  await L.succeed(ctx.v1, t.TaskToken, { second: true });
  const { d, out } = await L.finish(ctx.v1, flow, s.name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { second: true });
});

it(ctx, 'errors: an unknown flow is FlowNotExists; Limit outside 1-1000 and a damaged ' +
  'NextToken are InvalidArgument; FlowName is required', async () => {
  await expectError(() => list({ FlowName: u.uniq('nosuch') }), 'FlowNotExists');
  const flow = u.uniq('wait');
  await u.createFlow(ctx.v1, flow, waitingFlow(flow, ctx.worker.url()));
  assert.deepEqual((await list({ FlowName: flow })).Tasks, []);
  assert.deepEqual((await list({ FlowName: flow, Limit: 1000 })).Tasks, []);
  await expectError(() => list({ FlowName: flow, Limit: 0 }), 'InvalidArgument');
  await expectError(() => list({ FlowName: flow, Limit: 1001 }), 'InvalidArgument');
  await expectError(() => list({ FlowName: flow, NextToken: 'garbage' }), 'InvalidArgument');
  await expectError(() => list({}));
});

it(ctx, 'RAM: fnf:ListWaitingTasks is checked against the flow ARN', async () => {
  const { flow, execs } = await threeWaiting();
  const other = u.uniq('wait');
  await u.createFlow(ctx.v1, other, waitingFlow(other, ctx.worker.url()));
  const user = u.uniq('u');
  const k = await adm.createUserWithKey(ctx.srv, ACCOUNT_ID, user);
  await adm.attachPolicy(ctx.srv, ACCOUNT_ID, user, 'lw',
    adm.policy(adm.allow('fnf:ListWaitingTasks', adm.flowArn(flow))));
  const creds = { accessKeyId: k.accessKeyId, accessKeySecret: k.accessKeySecret };
  const r = await D.listWaiting(ctx.srv, { FlowName: flow }, creds);
  assert.equal(r.Tasks.length, 3);
  const e = await expectError(() => D.listWaiting(ctx.srv, { FlowName: other }, creds),
    'AccessDenied');
  assert.match(e.message, /ListWaitingTasks/);
  for (const x of execs) await L.succeed(ctx.v1, x.token, {});
});

it(ctx, 'flowctl tasks (--json and table), task fail (exit 0, then 1 with ' +
  'TaskAlreadyCompleted), task succeed', async () => {
  const { flow, execs } = await threeWaiting();
  const j = await adm.flowctl(ctx.srv, ['tasks', '--flow', flow, '--json']);
  assert.equal(j.code, 0, j.stderr);
  assert.ok(j.json && Array.isArray(j.json.Tasks), `one JSON object: ${j.stdout}`);
  assert.equal(j.json.Tasks.length, 3);
  assert.deepEqual(j.json.Tasks.map((t) => t.TaskToken).sort(), execs.map((e) => e.token).sort());

  const lim = await adm.flowctl(ctx.srv, ['tasks', '--flow', flow, '--limit', '1', '--json']);
  assert.equal(lim.code, 0, lim.stderr);
  assert.equal(lim.json.Tasks.length, 1);
  assert.ok(lim.json.NextToken);
  const ex = await adm.flowctl(ctx.srv, ['tasks', '--flow', flow, '--execution', execs[2].name,
    '--json']);
  assert.equal(ex.code, 0, ex.stderr);
  assert.deepEqual(ex.json.Tasks.map((t) => t.ExecutionName), [execs[2].name]);

  const table = await adm.flowctl(ctx.srv, ['tasks', '--flow', flow]);
  assert.equal(table.code, 0, table.stderr);
  for (const e of execs) {
    assert.ok(table.stdout.includes(e.token), `the table lists ${e.token}\n${table.stdout}`);
    assert.ok(table.stdout.includes(e.name));
  }

  const f1 = await adm.flowctl(ctx.srv, ['task', 'fail', execs[0].token, '--error', 'Nope',
    '--cause', 'from the shell']);
  assert.equal(f1.code, 0, f1.stderr);
  assert.ok(Number(f1.json && f1.json.EventId) > 0, f1.stdout);
  const f2 = await adm.flowctl(ctx.srv, ['task', 'fail', execs[0].token, '--error', 'Nope']);
  assert.equal(f2.code, 1, f2.stdout);
  assert.match(f2.stderr, /TaskAlreadyCompleted/);
  const d0 = await u.waitDone(ctx.v1, flow, execs[0].name);
  assert.equal(d0.Status, 'Failed');
  assert.equal(d0.ErrorCode, 'Nope');

  const s1 = await adm.flowctl(ctx.srv, ['task', 'succeed', execs[1].token, '--output',
    '{"ok":true}']);
  assert.equal(s1.code, 0, s1.stderr);
  assert.ok(Number(s1.json && s1.json.EventId) > 0, s1.stdout);
  const d1 = await u.waitDone(ctx.v1, flow, execs[1].name);
  assert.equal(d1.Status, 'Succeeded');
  assert.deepEqual(u.output(d1), { ok: true });

  // A repeated report with the same --request-id gets the first answer again.
  const r1 = await adm.flowctl(ctx.srv, ['task', 'succeed', execs[2].token, '--output', '{}',
    '--request-id', 'rid-1']);
  const r2 = await adm.flowctl(ctx.srv, ['task', 'succeed', execs[2].token, '--output', '{}',
    '--request-id', 'rid-1']);
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(r2.json.EventId, r1.json.EventId);

  const left = await adm.flowctl(ctx.srv, ['tasks', '--flow', flow, '--json']);
  assert.deepEqual(left.json.Tasks, []);
  const bad = await adm.flowctl(ctx.srv, ['tasks', '--flow', u.uniq('nosuch')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /FlowNotExists/);
});

it(ctx, 'Attempt counts the attempts of one task, not other Map iterations of the same step: ' +
  'three parallel iterations are each Attempt 1 (as their TaskScheduled events say)', async () => {
  const flow = u.uniq('wmap');
  await u.createFlow(ctx.v1, flow, `Type: StateMachine
SpecVersion: v1
Name: ${flow}
StartAt: M
States:
  - Name: M
    Type: Map
    ItemsPath: $Input.items
    MaxConcurrency: 3
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
            URL: ${ctx.worker.url()}
            Body:
              token.$: $Context.Current.TaskToken
              n.$: $Input.n
              orderId.$: $Input.orderId
          End: true
    End: true
`);
  const s = await u.startTagged(ctx.v1, flow, { items: [{ n: 1 }, { n: 2 }, { n: 3 }] });
  const reqs = [];
  for (let i = 0; i < 3; i++) reqs.push(await ctx.worker.nextFor(s.orderId));
  const ev = await u.waitFor(async () => {
    const e = await u.fullHistory(ctx.v1, flow, s.name);
    return L.eventsOf(e, 'TaskSubmitted').length === 3 ? e : null;
  }, 5000, 50, 'three TaskSubmitted events');
  const sched = L.eventsOf(ev, 'TaskScheduled', 'Work').map((e) => u.detail(e).Attempt);
  assert.deepEqual(sched, [1, 1, 1], 'the history says: three first attempts');
  const r = await list({ FlowName: flow });
  assert.equal(r.Tasks.length, 3);
  assert.deepEqual(r.Tasks.map((t) => Number(t.Attempt)), [1, 1, 1],
    `ListWaitingTasks Attempts: ${JSON.stringify(r.Tasks.map((t) => t.Attempt))}`);
  for (const q of reqs) await L.succeed(ctx.v1, q.body.token, {});
  const d = await u.waitDone(ctx.v1, flow, s.name);
  assert.equal(d.Status, 'Succeeded');
});

it(ctx, 'a step entered again later (a loop through a Choice) starts again at Attempt 1',
  async () => {
    const flow = u.uniq('wloop');
    await u.createFlow(ctx.v1, flow, `Type: StateMachine
SpecVersion: v1
Name: ${flow}
StartAt: Ask
States:
  - Type: Task
    Name: Ask
    Action: HTTP:Request
    TaskMode: WaitForCustomCallback
    Timeout: 30
    Parameters:
      URL: ${ctx.worker.url()}
      Body:
        token.$: $Context.Current.TaskToken
        orderId.$: $Context.Execution.Input.orderId
    Next: Again
  - Type: Choice
    Name: Again
    Branches:
      - Condition: $Input.again == true
        Next: Ask
    Default: Done
  - {Type: Succeed, Name: Done}
`);
    const s = await u.startTagged(ctx.v1, flow);
    const first = await ctx.worker.nextFor(s.orderId);
    await u.waitEvent(ctx.v1, flow, s.name, 'TaskSubmitted');
    await L.succeed(ctx.v1, first.body.token, { again: true });
    const second = await ctx.worker.nextFor(s.orderId);
    const ev = await u.waitFor(async () => {
      const e = await u.fullHistory(ctx.v1, flow, s.name);
      return L.eventsOf(e, 'TaskSubmitted').length === 2 ? e : null;
    }, 5000, 50, 'the second TaskSubmitted');
    const sched = L.eventsOf(ev, 'TaskScheduled', 'Ask').map((e) => u.detail(e).Attempt);
    assert.deepEqual(sched, [1, 1], 'the history says: a first attempt, twice');
    const r = await list({ FlowName: flow });
    assert.equal(r.Tasks.length, 1);
    assert.equal(r.Tasks[0].TaskToken, second.body.token);
    assert.equal(Number(r.Tasks[0].Attempt), 1, `listed Attempt ${r.Tasks[0].Attempt}`);
    await L.succeed(ctx.v1, second.body.token, { again: false });
    const d = await u.waitDone(ctx.v1, flow, s.name);
    assert.equal(d.Status, 'Succeeded');
  });
