'use strict';
// GetExecutionHistory (flowd's decisions 5): EventIds 1..n without gaps, in order, the same
// whether read in one page or in pages of Limit=2 following NextToken.

const assert = require('node:assert/strict');
const { setup, it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const u = require('./lib/util');

const ctx = setup();

// Pass -> callback task -> Pass -> Pass: enough events for several pages.
function longFlow(name, url) {
  return [
    'Type: StateMachine',
    'SpecVersion: v1',
    `Name: ${name}`,
    'StartAt: P1',
    'States:',
    '  - Type: Pass',
    '    Name: P1',
    '    Next: Approve',
    '  - Type: Task',
    '    Name: Approve',
    '    Action: HTTP:Request',
    '    TaskMode: WaitForCustomCallback',
    '    Timeout: 30',
    '    Parameters:',
    `      URL: ${url}`,
    '      Body:',
    '        token.$: $Context.Current.TaskToken',
    '        orderId.$: $Input.orderId',
    '    Next: P2',
    '  - Type: Pass',
    '    Name: P2',
    '    Next: P3',
    '  - Type: Pass',
    '    Name: P3',
    '    End: true',
    '',
  ].join('\n');
}

it(ctx, 'EventIds are 1..n without gaps, also across pages of Limit=2', async () => {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, longFlow(flow, ctx.worker.url()));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextFor(orderId);
  const r = await ctx.v1.reportTaskSucceeded({ TaskToken: req.body.token, Output: '{"x":1}' });
  const d = await u.waitDone(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded');

  const all = await u.fullHistory(ctx.v1, flow, name);
  u.assertEventIds(all);
  assert.ok(all.length >= 10, `events: ${u.types(all).join(',')}`);
  assert.equal(all[0].Type, 'ExecutionStarted');
  assert.equal(all[all.length - 1].Type, 'ExecutionSucceeded');
  for (const e of all) {
    assert.equal(typeof e.Type, 'string');
    assert.ok(!Number.isNaN(Date.parse(e.Time)), `Time is a date: ${e.Time}`);
    if (/^(Step|Task)/.test(e.Type)) assert.ok(e.StepName, `StepName on ${JSON.stringify(e)}`);
    if (e.EventDetail) assert.equal(typeof JSON.parse(e.EventDetail), 'object');
  }
  const steps = all.filter((e) => e.Type === 'StepEntered').map((e) => e.StepName);
  assert.deepEqual(steps, ['P1', 'Approve', 'P2', 'P3']);
  const ok = all.find((e) => e.Type === 'TaskSucceeded');
  assert.equal(Number(ok.EventId), Number(r.EventId));
  const sched = all.find((e) => e.Type === 'TaskScheduled');
  assert.equal(Number(ok.ScheduleEventId), Number(sched.EventId));
  // Times never go backwards.
  for (let i = 1; i < all.length; i++) {
    assert.ok(Date.parse(all[i].Time) >= Date.parse(all[i - 1].Time), 'Time is monotonic');
  }

  const paged = await u.fullHistory(ctx.v1, flow, name, 2);
  assert.ok(paged.pages.length >= 5, `pages: ${paged.pages}`);
  for (const n of paged.pages.slice(0, -1)) assert.equal(n, 2);
  // The last page may be empty when the previous one ended exactly at the end.
  assert.ok(paged.pages[paged.pages.length - 1] <= 2);
  u.assertEventIds(paged.events);
  assert.deepEqual(paged.events, all);

  // Through V3, Limit=3.
  const v3events = [];
  let next;
  do {
    const p = { FlowName: flow, ExecutionName: name, Limit: 3 };
    if (next) p.NextToken = next;
    const page = await ctx.v3.call('GetExecutionHistory', p);
    assert.ok(page.Events.length <= 3);
    v3events.push(...page.Events);
    next = page.NextToken;
  } while (next);
  assert.deepEqual(v3events.map((e) => Number(e.EventId)), all.map((e) => Number(e.EventId)));
});

it(ctx, 'history of a running execution grows without renumbering', async () => {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, longFlow(flow, ctx.worker.url()));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextFor(orderId);
  const before = await u.fullHistory(ctx.v1, flow, name);
  u.assertEventIds(before);
  await ctx.v1.reportTaskFailed({ TaskToken: req.body.token, Error: 'Nope', Cause: 'x' });
  await u.waitDone(ctx.v1, flow, name);
  const afterAll = await u.fullHistory(ctx.v1, flow, name);
  u.assertEventIds(afterAll);
  assert.deepEqual(afterAll.slice(0, before.length), before);
  assert.equal(afterAll[afterAll.length - 1].Type, 'ExecutionFailed');
});

it(ctx, 'GetExecutionHistory of an unknown execution is ExecutionNotExists', async () => {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.passFlow(flow));
  await expectError(() => ctx.v1.getExecutionHistory({ FlowName: flow, ExecutionName: 'nope' }),
    'ExecutionNotExists');
  const e = await expectError(() => ctx.v1.getExecutionHistory({ FlowName: u.uniq('nof'),
    ExecutionName: 'nope' }));
  assert.ok(['FlowNotExists', 'ExecutionNotExists'].includes(e.code), e.code);
});
