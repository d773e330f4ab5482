'use strict';
// More of the CloudFlow language end to end: Retry on a Parallel (every branch runs again
// with new tokens), an execution Timeout and StopExecution while branches wait, Wait with
// Timestamp.$ / Seconds.$, Succeed inside a branch, a Map of Parallels, OnErrors (2023
// preview), a function missing from the function map.

const assert = require('node:assert/strict');
const { it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const L = require('./lib/lang');
const u = require('./lib/util');

const ctx = L.setupLang({ functions: { known: '/fn/known' } });

const HEAD = (name) => `Type: StateMachine\nSpecVersion: v1\nName: ${name}\n`;

function cb(name, branch, url) {
  return `- Name: ${name}
  Type: Task
  Action: HTTP:Request
  TaskMode: WaitForCustomCallback
  Timeout: 30
  Parameters:
    URL: ${url}
    Body:
      token.$: $Context.Current.TaskToken
      branch: ${branch}
      orderId.$: $Input.orderId
  End: true`;
}

function twoBranches(name, url, tail) {
  return `${HEAD(name)}StartAt: P
States:
  - Name: P
    Type: Parallel
    Branches:
      - StartAt: TA
        States:
${u.indent(cb('TA', 'A', url), 10)}
      - StartAt: TB
        States:
${u.indent(cb('TB', 'B', url), 10)}
${tail}`;
}

const branchReq = (orderId, branch, not) => (r) => r.body && r.body.orderId === orderId &&
  r.body.branch === branch && (!not || !not.includes(r.body.token));

it(ctx, 'Retry on a Parallel runs every branch again with new tokens', async () => {
  const flow = u.uniq('pr');
  await u.createFlow(ctx.v1, flow, twoBranches(flow, ctx.worker.url('/misc'), `    Retry:
      - Errors: [Flaky]
        IntervalSeconds: 1
        MaxAttempts: 1
    End: true
`));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const a1 = await ctx.worker.next(10000, branchReq(orderId, 'A'));
  const b1 = await ctx.worker.next(10000, branchReq(orderId, 'B'));
  await L.fail(ctx.v1, a1.body.token, 'Flaky', 'once');
  const a2 = await ctx.worker.next(10000, branchReq(orderId, 'A', [a1.body.token]));
  const b2 = await ctx.worker.next(10000, branchReq(orderId, 'B', [b1.body.token]));
  assert.notEqual(a2.body.token, a1.body.token);
  assert.notEqual(b2.body.token, b1.body.token);
  await expectError(() => L.succeed(ctx.v1, b1.body.token, { old: true }), 'TaskAlreadyCompleted');
  await L.succeed(ctx.v1, a2.body.token, { a: 2 });
  await L.succeed(ctx.v1, b2.body.token, { b: 2 });
  const { d, out, ev } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { Branch0: { a: 2 }, Branch1: { b: 2 } });
  assert.equal(L.eventsOf(ev, 'BranchEntered').length, 4, u.types(ev).join(','));
});

it(ctx, 'an execution Timeout while both branches wait: TimedOut, both tokens completed',
  async () => {
    const flow = u.uniq('pt');
    const def = twoBranches(flow, ctx.worker.url('/misc'), '    End: true\n')
      .replace('StartAt: P\n', 'Timeout: 1\nStartAt: P\n');
    await u.createFlow(ctx.v1, flow, def);
    const { name, orderId } = await u.startTagged(ctx.v1, flow);
    const a = await ctx.worker.next(10000, branchReq(orderId, 'A'));
    const b = await ctx.worker.next(10000, branchReq(orderId, 'B'));
    const { d, ev } = await L.finish(ctx.v1, flow, name, 10000);
    assert.equal(d.Status, 'TimedOut', JSON.stringify(d));
    assert.equal(ev[ev.length - 1].Type, 'ExecutionTimedOut');
    await expectError(() => L.succeed(ctx.v1, a.body.token, {}), 'TaskAlreadyCompleted');
    await expectError(() => L.fail(ctx.v1, b.body.token, 'X'), 'TaskAlreadyCompleted');
  });

it(ctx, 'StopExecution while both branches wait: Stopped, both tokens completed', async () => {
  const flow = u.uniq('ps');
  await u.createFlow(ctx.v1, flow, twoBranches(flow, ctx.worker.url('/misc'), '    End: true\n'));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const a = await ctx.worker.next(10000, branchReq(orderId, 'A'));
  const b = await ctx.worker.next(10000, branchReq(orderId, 'B'));
  await L.succeed(ctx.v1, a.body.token, { a: 1 });
  await ctx.v1.stopExecution({ FlowName: flow, ExecutionName: name, Error: 'Manual',
    Cause: 'stopped by a person' });
  const { d, ev } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Stopped');
  assert.equal(ev[ev.length - 1].Type, 'ExecutionStopped');
  await expectError(() => L.succeed(ctx.v1, b.body.token, {}), 'TaskAlreadyCompleted');
});

it(ctx, 'Wait with Timestamp.$ and Seconds.$, Succeed inside a branch, Map of Parallels',
  async () => {
    const at = new Date(Date.now() + 1200).toISOString().replace(/\.\d+Z$/, 'Z');
    const { flow, exec } = await L.createAndStart(ctx.v1, (name) => `${HEAD(name)}StartAt: P
States:
  - Name: P
    Type: Parallel
    Branches:
      - StartAt: WT
        States:
          - {Name: WT, Type: Wait, Timestamp.$: $Input.at, Next: Early}
          - {Name: Early, Type: Succeed, OutputConstructor: {early: true}}
      - StartAt: WS
        States:
          - {Name: WS, Type: Wait, Seconds.$: $Input.secs, Next: M}
          - Name: M
            Type: Map
            ItemsPath: $Input.items
            Processor:
              StartAt: Q
              States:
                - Name: Q
                  Type: Parallel
                  Branches:
                    - StartAt: X
                      States:
                        - {Name: X, Type: Pass, OutputConstructor: {d.$: $Input.n * 2}, End: true}
                    - StartAt: Y
                      States:
                        - {Name: Y, Type: Pass, OutputConstructor: {t.$: $Input.n * 3}, End: true}
                  End: true
            End: true
    End: true
`, { at, secs: 1, items: [{ n: 1 }, { n: 2 }] });
    const { d, out, ev } = await L.finish(ctx.v1, flow, exec, 10000);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.deepEqual(out, { Branch0: { early: true }, Branch1: { Items: [
      { Branch0: { d: 2 }, Branch1: { t: 3 } }, { Branch0: { d: 4 }, Branch1: { t: 6 } }] } });
    const started = Date.parse(d.StartedTime);
    const stopped = Date.parse(d.StoppedTime);
    assert.ok(stopped - started >= 900, `the waits took ${stopped - started} ms: ` +
      `${d.StartedTime} .. ${d.StoppedTime}`);
    assert.equal(L.eventsOf(ev, 'IterationEntered', 'M').length, 2);
    assert.equal(L.eventsOf(ev, 'BranchEntered', 'Q').length, 4);
  });

it(ctx, 'OnErrors (2023 preview): retried, then handled with its OutputConstructor', async () => {
  const { flow, exec } = await L.createAndStart(ctx.v1, (name) => `${HEAD(name)}StartAt: T
States:
  - Name: T
    Type: Task
    Action: HTTP:Request
    TaskMode: WaitForCustomCallback
    Parameters:
      URL: ${ctx.worker.url('/onerr')}
      Body:
        token.$: $Context.Current.TaskToken
        tag.$: $Context.Execution.Name
    OnErrors:
      - Errors: [Boom]
        Retry:
          MaxAttempts: 1
          FixedBackoff: 1
        Next: H
        OutputConstructor:
          code.$: $Context.Current.Error.Code
      - Errors: [Other]
        Next: O
    End: true
  - {Name: H, Type: Pass, End: true}
  - {Name: O, Type: Fail, Code: WrongHandler, Detail: wrong}
`);
  const mine = (r) => r.path === '/onerr' && r.body && r.body.tag === exec;
  const r1 = await ctx.worker.next(10000, mine);
  await L.fail(ctx.v1, r1.body.token, 'Boom');
  const r2 = await ctx.worker.next(10000, mine);
  assert.notEqual(r2.body.token, r1.body.token);
  await L.fail(ctx.v1, r2.body.token, 'Boom');
  const { d, out } = await L.finish(ctx.v1, flow, exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { code: 'Boom' });
});

it(ctx, 'FC:InvokeFunction of a function missing from the function map fails the task',
  async () => {
    const { flow, exec } = await L.createAndStart(ctx.v1, (name) => `${HEAD(name)}StartAt: T
States:
  - Name: T
    Type: Task
    Action: FC:InvokeFunction
    Parameters:
      resourceArn: acs:fc:::functions/not-configured
      invocationType: Sync
      body: {}
    End: true
`);
    const { d, ev } = await L.finish(ctx.v1, flow, exec);
    assert.equal(d.Status, 'Failed', JSON.stringify(d));
    assert.ok(d.ErrorCode, JSON.stringify(d));
    assert.match(d.ErrorMessage || '', /function map/, JSON.stringify(d));
    assert.ok(ev.some((e) => e.Type === 'TaskFailed' || e.Type === 'TaskSubmitFailed'),
      u.types(ev).join(','));
    assert.equal(ctx.worker.allOn('/fn/known').length, 0);
  });
