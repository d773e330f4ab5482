'use strict';
// FDL (version v1, type flow) structures with callback tasks inside (the CloudFlow API reference 3.1;
// conformance cases fdl-*): parallel and foreach ($local is an array, outputMappings pick from
// it), a `sync` sub-flow (acs:fnf:::flow/<child>), errorMappings on a caught error and
// flow-level outputMappings. Callback tasks are functions from the function map
// (acs:fc:::services/cb/functions/wait); without serviceParams the function receives the
// step's mapped input.

const assert = require('node:assert/strict');
const { it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const L = require('./lib/lang');
const u = require('./lib/util');

const ctx = L.setupLang({ functions: { 'cb/wait': '/fn/cb' } });

const CB_ARN = 'acs:fc:::services/cb/functions/wait';

// A waitForCallback task (YAML list item) whose function gets {token, orderId, ...extra}.
function cbStep(name, extraMappings = '', rest = '') {
  return `- type: task
  name: ${name}
  resourceArn: ${CB_ARN}
  pattern: waitForCallback
  timeoutSeconds: 30
  inputMappings:
    - target: token
      source: $context.task.token
    - target: orderId
      source: $input.orderId
${extraMappings}${rest}`;
}

const mapping = (target, source) => `    - target: ${target}\n      source: ${source}\n`;

const byOrder = (orderId, extra = () => true) =>
  (r) => r.path === '/fn/cb' && r.body && r.body.orderId === orderId && extra(r.body);

it(ctx, 'parallel with a callback task in each branch: $local[i] feeds outputMappings',
  async () => {
    const def = `version: v1
type: flow
steps:
  - type: parallel
    name: par
    branches:
      - steps:
${u.indent(cbStep('left', mapping('side', 'left')), 10)}
      - steps:
${u.indent(cbStep('right', mapping('side', 'right')), 10)}
    outputMappings:
      - target: l
        source: $local[0].v
      - target: r
        source: $local[1].v
  - type: pass
    name: after
    outputMappings:
      - target: after
        source: $input.l
`;
    const flow = u.uniq('fpar');
    await u.createFlow(ctx.v1, flow, def);
    const { name, orderId } = await u.startTagged(ctx.v1, flow);
    const left = await ctx.worker.next(10000, byOrder(orderId, (b) => b.side === 'left'));
    const right = await ctx.worker.next(10000, byOrder(orderId, (b) => b.side === 'right'));
    assert.notEqual(left.body.token, right.body.token);
    assert.deepEqual(Object.keys(left.body).sort(), ['orderId', 'side', 'token']);
    await L.succeed(ctx.v1, right.body.token, { v: 'R' });
    await L.succeed(ctx.v1, left.body.token, { v: 'L' });
    const { d, out, ev } = await L.finish(ctx.v1, flow, name);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.deepEqual(out, { l: 'L', r: 'R', after: 'L' });
    const be = L.eventsOf(ev, 'BranchEntered');
    assert.equal(be.length, 2, u.types(ev).join(','));
    assert.equal(L.eventsOf(ev, 'BranchExited').length, 2);
    for (const e of be) assert.equal(e.StepName, 'par');
  });

it(ctx, 'parallel: a branch failure nobody catches fails the execution; the other token is ' +
  'completed', async () => {
  const def = `version: v1
type: flow
steps:
  - type: parallel
    name: par
    branches:
      - steps:
${u.indent(cbStep('left', mapping('side', 'left')), 10)}
      - steps:
${u.indent(cbStep('right', mapping('side', 'right')), 10)}
`;
  const flow = u.uniq('fpar');
  await u.createFlow(ctx.v1, flow, def);
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const left = await ctx.worker.next(10000, byOrder(orderId, (b) => b.side === 'left'));
  const right = await ctx.worker.next(10000, byOrder(orderId, (b) => b.side === 'right'));
  await L.fail(ctx.v1, right.body.token, 'Rejected', 'by worker');
  const { d } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Failed', JSON.stringify(d));
  assert.equal(d.ErrorCode, 'Rejected');
  assert.equal(d.ErrorMessage, 'by worker');
  await expectError(() => L.succeed(ctx.v1, left.body.token, { v: 1 }), 'TaskAlreadyCompleted');
});

function foreachDef(catchOnForeach) {
  return `version: v1
type: flow
steps:
  - type: foreach
    name: loop
    iterationMapping:
      collection: $.items
      item: item
      index: i
    steps:
${u.indent(cbStep('work', mapping('item', '$input.item') + mapping('i', '$input.i'),
    `  outputMappings:
    - target: r
      source: $local.r
    - target: at
      source: $input.i
`), 6)}
    outputMappings:
      - target: results
        source: $local
${catchOnForeach ? `    catch:
      - errors: [Bad]
        goto: handled
  - type: pass
    name: ok
    outputMappings:
      - target: ok
        source: true
    end: true
  - type: pass
    name: handled
    outputMappings:
      - target: handled
        source: true
` : ''}`;
}

it(ctx, 'foreach with a callback task per item: results in item order, IterationEntered per ' +
  'item', async () => {
  const flow = u.uniq('feach');
  await u.createFlow(ctx.v1, flow, foreachDef(false));
  const { name, orderId } = await u.startTagged(ctx.v1, flow, { items: ['a', 'b', 'c'] });
  const reqs = [];
  for (const item of ['a', 'b', 'c']) {
    reqs.push(await ctx.worker.next(10000, byOrder(orderId, (b) => b.item === item)));
  }
  assert.deepEqual(reqs.map((r) => r.body.i), [0, 1, 2]);
  assert.equal(new Set(reqs.map((r) => r.body.token)).size, 3);
  for (const r of [...reqs].reverse()) {
    await L.succeed(ctx.v1, r.body.token, { r: r.body.item.toUpperCase() });
  }
  const { d, out, ev } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { results: [{ r: 'A', at: 0 }, { r: 'B', at: 1 }, { r: 'C', at: 2 }] });
  assert.equal(L.eventsOf(ev, 'IterationEntered', 'loop').length, 3, u.types(ev).join(','));
  assert.equal(L.eventsOf(ev, 'IterationExited', 'loop').length, 3);
});

it(ctx, 'foreach: an iteration failure caught on the foreach goes to the handler; the other ' +
  'tokens are completed', async () => {
  const flow = u.uniq('feach');
  await u.createFlow(ctx.v1, flow, foreachDef(true));
  const { name, orderId } = await u.startTagged(ctx.v1, flow, { items: [1, 2, 3] });
  const reqs = [];
  for (const item of [1, 2, 3]) {
    reqs.push(await ctx.worker.next(10000, byOrder(orderId, (b) => b.item === item)));
  }
  await L.succeed(ctx.v1, reqs[0].body.token, { r: 1 });
  await L.fail(ctx.v1, reqs[1].body.token, 'Bad', 'item 2');
  const { d, out, ev } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { handled: true });
  assert.equal(L.eventsOf(ev, 'StepEntered', 'ok').length, 0);
  await expectError(() => L.succeed(ctx.v1, reqs[2].body.token, { r: 3 }), 'TaskAlreadyCompleted');
});

it(ctx, 'errorMappings on a caught error and flow-level outputMappings', async () => {
  const def = `version: v1
type: flow
outputMappings:
  - target: summary
    source: $local.handled
  - target: why
    source: $local.why
  - target: order
    source: $input.orderId
  - target: kind
    source: report
steps:
${u.indent(cbStep('approve', '', `  errorMappings:
    - target: err
      source: $local.error
    - target: why
      source: $local.cause
  catch:
    - errors: [ApprovalRejected]
      goto: handle
`), 2)}
  - type: pass
    name: skipped
    outputMappings:
      - target: skipped
        source: true
  - type: pass
    name: handle
    outputMappings:
      - target: handled
        source: $input.err
`;
  const flow = u.uniq('ferr');
  await u.createFlow(ctx.v1, flow, def);
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.next(10000, byOrder(orderId));
  await L.fail(ctx.v1, req.body.token, 'ApprovalRejected', 'no budget');
  const { d, out, ev } = await L.finish(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { summary: 'ApprovalRejected', why: 'no budget', order: orderId,
    kind: 'report' });
  assert.equal(L.eventsOf(ev, 'StepEntered', 'skipped').length, 0);
  assert.equal(L.eventsOf(ev, 'StepEntered', 'handle').length, 1);
  assert.equal(L.eventsOf(ev, 'StepFailed').length, 0, u.types(ev).join(','));
});

// The child: one callback task; its output is {childResult}.
function childDef() {
  return `version: v1
type: flow
steps:
${u.indent(cbStep('childWork', mapping('role', 'child'), `  outputMappings:
    - target: childResult
      source: $local.v
`), 2)}
`;
}

function parentDef(child) {
  return `version: v1
type: flow
steps:
  - type: task
    name: sub
    resourceArn: acs:fnf:::flow/${child}
    pattern: sync
    inputMappings:
      - target: orderId
        source: $input.orderId
      - target: kid
        source: $input.kid
    serviceParams:
      Input: $
      ExecutionName: $.kid
    errorMappings:
      - target: childError
        source: $local.error
    catch:
      - errors: [ChildErr]
        goto: failed
    outputMappings:
      - target: fromChild
        source: $local.childResult
  - type: pass
    name: after
    outputMappings:
      - target: after
        source: done
    end: true
  - type: pass
    name: failed
    outputMappings:
      - target: failedWith
        source: $input.childError
`;
}

async function startSubflow() {
  const child = u.uniq('fchild');
  await u.createFlow(ctx.v1, child, childDef());
  const parent = u.uniq('fparent');
  await u.createFlow(ctx.v1, parent, parentDef(child));
  const kid = u.uniq('kid');
  const { name, orderId } = await u.startTagged(ctx.v1, parent, { kid });
  const req = await ctx.worker.next(10000, byOrder(orderId, (b) => b.role === 'child'));
  // Report only once flowd has applied the worker's reply: an earlier report loses the
  // child's report to its parent (server bug, see lang-cf-subflow.test.js).
  await u.waitEvent(ctx.v1, child, kid, 'TaskSubmitted');
  return { child, parent, kid, exec: name, orderId, req };
}

it(ctx, 'a sync sub-flow (acs:fnf:::flow/<child>): the parent waits and maps the child\'s ' +
  'Output', async () => {
  const s = await startSubflow();
  const cd0 = await ctx.v1.describeExecution({ FlowName: s.child, ExecutionName: s.kid });
  assert.equal(cd0.Status, 'Running');
  assert.deepEqual(JSON.parse(cd0.Input), { orderId: s.orderId, kid: s.kid });
  assert.equal((await ctx.v1.describeExecution({ FlowName: s.parent, ExecutionName: s.exec }))
    .Status, 'Running');
  await L.succeed(ctx.v1, s.req.body.token, { v: 5 });
  const cd = await u.waitDone(ctx.v1, s.child, s.kid);
  assert.equal(cd.Status, 'Succeeded');
  assert.deepEqual(u.output(cd), { childResult: 5 });
  const { d, out, ev } = await L.finish(ctx.v1, s.parent, s.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { fromChild: 5, after: 'done' });
  L.assertOrder(ev, ['TaskScheduled', 'TaskSubmitted', 'TaskSucceeded', 'StepExited']);
});

it(ctx, 'a sync sub-flow that fails: the parent catches the child\'s error (errorMappings)',
  async () => {
    const s = await startSubflow();
    await L.fail(ctx.v1, s.req.body.token, 'ChildErr', 'child task failed');
    const cd = await u.waitDone(ctx.v1, s.child, s.kid);
    assert.equal(cd.Status, 'Failed');
    assert.equal(cd.ErrorCode, 'ChildErr');
    const { d, out, ev } = await L.finish(ctx.v1, s.parent, s.exec);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.deepEqual(out, { childError: 'ChildErr', failedWith: 'ChildErr' });
    assert.equal(L.eventsOf(ev, 'StepEntered', 'after').length, 0);
  });
