'use strict';
// CloudFlow Parallel with callback tasks in its branches (the CloudFlow API reference 3.3, 4.4;
// conformance cases cf-parallel-*): two tokens, Branch0/Branch1 output, a failing branch
// caught on the Parallel, inside the branch, or not at all.

const assert = require('node:assert/strict');
const { it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const L = require('./lib/lang');
const u = require('./lib/util');

const ctx = L.setupLang();

// A callback task (YAML list item) that posts {token, branch, orderId} to the worker.
function cbTask(name, branch, url, extra = '') {
  return [
    `- Name: ${name}`,
    '  Type: Task',
    '  Action: HTTP:Request',
    '  TaskMode: WaitForCustomCallback',
    '  Timeout: 30',
    '  Parameters:',
    `    URL: ${url}`,
    '    Body:',
    '      token.$: $Context.Current.TaskToken',
    `      branch: ${branch}`,
    '      orderId.$: $Input.orderId',
    extra,
    '  End: true',
  ].filter((l) => l !== '').join('\n');
}

// opts.parallelCatch: add a Catch [Rejected] -> Handler on the Parallel.
// opts.branchCatch: add a Catch [Rejected] -> RA on TA inside branch 0.
function parallelFlow(name, url, opts = {}) {
  const taExtra = opts.branchCatch ?
    '  Catch:\n    - Errors: [Rejected]\n      Next: RA' : '';
  const branch0 = [cbTask('TA', 'A', url, taExtra)];
  if (opts.branchCatch) branch0.push('- {Name: RA, Type: Pass, End: true}');
  const lines = [
    'Type: StateMachine',
    'SpecVersion: v1',
    `Name: ${name}`,
    'StartAt: P',
    'States:',
    '  - Name: P',
    '    Type: Parallel',
    '    Branches:',
    '      - StartAt: TA',
    '        States:',
    u.indent(branch0.join('\n'), 10),
    '      - StartAt: TB',
    '        States:',
    u.indent(cbTask('TB', 'B', url), 10),
  ];
  if (opts.parallelCatch) {
    lines.push('    Catch:', '      - Errors: [Rejected]', '        Next: Handler',
      '    Next: Never',
      '  - {Name: Never, Type: Fail, Code: NotCaught, Detail: the catch did not apply}',
      '  - Name: Handler',
      '    Type: Pass',
      '    OutputConstructor:',
      '      handled.$: $Input.Error',
      '      why.$: $Input.Cause',
      '    End: true');
  } else {
    lines.push('    End: true');
  }
  return lines.join('\n') + '\n';
}

// Starts an execution of a new parallel flow and waits for both branch requests.
async function startParallel(opts) {
  const flow = u.uniq('par');
  await u.createFlow(ctx.v1, flow, parallelFlow(flow, ctx.worker.url('/par'), opts));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const a = await ctx.worker.next(10000, (r) => r.body && r.body.orderId === orderId &&
    r.body.branch === 'A');
  const b = await ctx.worker.next(10000, (r) => r.body && r.body.orderId === orderId &&
    r.body.branch === 'B');
  return { flow, exec: name, orderId, ta: a.body.token, tb: b.body.token };
}

it(ctx, 'a callback task in each branch: two tokens, output {Branch0, Branch1}', async () => {
  const p = await startParallel();
  assert.notEqual(p.ta, p.tb, 'each branch task has its own token');
  assert.match(p.ta, /^[A-Za-z0-9_-]+$/);
  await u.waitFor(async () => {
    const ev = await u.fullHistory(ctx.v1, p.flow, p.exec);
    return L.eventsOf(ev, 'TaskSubmitted').length === 2;
  }, 5000, 30, 'two TaskSubmitted');
  let d = await ctx.v1.describeExecution({ FlowName: p.flow, ExecutionName: p.exec });
  assert.equal(d.Status, 'Running');
  // Report in the opposite order of the branches: the output is still by branch index.
  await L.succeed(ctx.v1, p.tb, { b: 2, who: 'tb' });
  await L.succeed(ctx.v1, p.ta, { a: 1, who: 'ta' });
  const { d: fin, out, ev } = await L.finish(ctx.v1, p.flow, p.exec);
  d = fin;
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { Branch0: { a: 1, who: 'ta' }, Branch1: { b: 2, who: 'tb' } });
  const entered = L.eventsOf(ev, 'BranchEntered');
  const exited = L.eventsOf(ev, 'BranchExited');
  assert.equal(entered.length, 2, u.types(ev).join(','));
  assert.equal(exited.length, 2, u.types(ev).join(','));
  for (const e of [...entered, ...exited]) assert.equal(e.StepName, 'P');
  assert.equal(L.eventsOf(ev, 'TaskSucceeded').length, 2);
  assert.equal(ev[0].Type, 'ExecutionStarted');
  assert.equal(ev[ev.length - 1].Type, 'ExecutionSucceeded');
  // The Parallel's StepExited carries the combined output.
  const pExit = L.eventsOf(ev, 'StepExited', 'P');
  assert.equal(pExit.length, 1);
  assert.deepEqual(u.detail(pExit[0]).Output, out);
  // Both tokens are spent.
  await expectError(() => L.succeed(ctx.v1, p.ta, {}), 'TaskAlreadyCompleted');
});

it(ctx, 'a branch failed by ReportTaskFailed, caught on the Parallel: the handler runs and ' +
  'the other branch token is completed', async () => {
  const p = await startParallel({ parallelCatch: true });
  await L.fail(ctx.v1, p.ta, 'Rejected', 'no way');
  const { d, out, ev } = await L.finish(ctx.v1, p.flow, p.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { handled: 'Rejected', why: 'no way' });
  assert.ok(L.eventsOf(ev, 'StepEntered', 'Handler').length === 1, u.types(ev).join(','));
  assert.equal(L.eventsOf(ev, 'StepEntered', 'Never').length, 0);
  const tf = L.eventsOf(ev, 'TaskFailed', 'TA');
  assert.equal(tf.length, 1);
  assert.equal(u.detail(tf[0]).Error, 'Rejected');
  const e = await expectError(() => L.succeed(ctx.v1, p.tb, { late: true }));
  assert.equal(e.code, 'TaskAlreadyCompleted', e.message);
  // The late report changed nothing.
  const again = await ctx.v1.describeExecution({ FlowName: p.flow, ExecutionName: p.exec });
  assert.equal(again.Output, d.Output);
});

it(ctx, 'the same failure caught inside the branch: the Parallel succeeds with the ' +
  "handler's output in that slot", async () => {
  const p = await startParallel({ branchCatch: true });
  await L.fail(ctx.v1, p.ta, 'Rejected', 'no');
  // Branch 0 is done; the Parallel still waits for branch 1.
  await u.sleep(200);
  let d = await ctx.v1.describeExecution({ FlowName: p.flow, ExecutionName: p.exec });
  assert.equal(d.Status, 'Running');
  await L.succeed(ctx.v1, p.tb, { y: 1 });
  const r = await L.finish(ctx.v1, p.flow, p.exec);
  d = r.d;
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(r.out, { Branch0: { Error: 'Rejected', Cause: 'no' }, Branch1: { y: 1 } });
  assert.equal(L.eventsOf(r.ev, 'StepEntered', 'RA').length, 1);
  assert.equal(L.eventsOf(r.ev, 'BranchExited').length, 2);
  assert.equal(L.eventsOf(r.ev, 'StepFailed').length, 0, u.types(r.ev).join(','));
});

it(ctx, 'the same failure caught nowhere: the execution fails with Rejected', async () => {
  const p = await startParallel();
  await L.fail(ctx.v1, p.ta, 'Rejected', 'nobody catches this');
  const { d, ev } = await L.finish(ctx.v1, p.flow, p.exec);
  assert.equal(d.Status, 'Failed', JSON.stringify(d));
  assert.equal(d.ErrorCode, 'Rejected');
  assert.equal(d.ErrorMessage, 'nobody catches this');
  assert.equal(ev[ev.length - 1].Type, 'ExecutionFailed');
  const det = u.detail(ev[ev.length - 1]);
  assert.equal(det.Error, 'Rejected');
  await expectError(() => L.succeed(ctx.v1, p.tb, {}), 'TaskAlreadyCompleted');
  await expectError(() => L.fail(ctx.v1, p.ta, 'Again'), 'TaskAlreadyCompleted');
});
