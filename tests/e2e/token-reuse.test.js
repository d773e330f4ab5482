'use strict';
// A task token names its execution by id. Execution ids are never reused, so a token of a
// deleted execution cannot complete a task of a newer one, even when the newer execution
// sits at the same position (same flow name, same attempt number) and took the last id.

const assert = require('node:assert/strict');
const { setup, it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const u = require('./lib/util');

const ctx = setup();

it(ctx, 'a token of a deleted execution does not reach a newer execution', async () => {
  const flow = u.uniq('reuse');
  const def = u.callbackFlow(flow, ctx.worker.url(), { timeout: 60 });
  await u.createFlow(ctx.v1, flow, def);
  const first = await u.startTagged(ctx.v1, flow);
  const oldToken = (await ctx.worker.nextFor(first.orderId)).body.token;

  // Deleting the flow deletes the execution (the newest one, so its id was the largest).
  await ctx.v1.deleteFlow({ Name: flow });
  await u.createFlow(ctx.v1, flow, def);
  const second = await u.startTagged(ctx.v1, flow);
  const newToken = (await ctx.worker.nextFor(second.orderId)).body.token;
  assert.notEqual(newToken, oldToken);

  const e = await expectError(() => ctx.v1.reportTaskFailed({ TaskToken: oldToken,
    Error: 'Stale', Cause: 'from a deleted execution' }), 'TaskAlreadyCompleted');
  assert.match(e.data.Message, /has already completed/);
  const d = await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: second.name });
  assert.equal(d.Status, 'Running');
  const h = await u.fullHistory(ctx.v1, flow, second.name);
  assert.ok(!u.types(h).includes('TaskFailed'), u.types(h).join(','));

  await ctx.v1.reportTaskSucceeded({ TaskToken: newToken, Output: '{"ok":true}' });
  const done = await u.waitDone(ctx.v1, flow, second.name);
  assert.equal(done.Status, 'Succeeded');
});
