'use strict';
// CloudFlow sub-flows through FnF:StartExecution (the CloudFlow API reference 3.3 task modes, 4.8):
// WaitForSystemCallback waits for the child and takes its Output or its Error (a Fail state,
// StopExecution's Error); RequestComplete only starts it.

const assert = require('node:assert/strict');
const { it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const L = require('./lib/lang');
const u = require('./lib/util');

const ctx = L.setupLang();

let CHILD = null;

// The child: Fail when $Input.mode == "fail", otherwise a callback task to /child.
function childFlow(name, url) {
  return `Type: StateMachine
SpecVersion: v1
Name: ${name}
StartAt: C
States:
  - Type: Choice
    Name: C
    Branches:
      - Condition: $Input.mode == "fail"
        Next: Bad
    Default: Work
  - Name: Work
    Type: Task
    Action: HTTP:Request
    TaskMode: WaitForCustomCallback
    Timeout: 30
    Parameters:
      URL: ${url}
      Body:
        token.$: $Context.Current.TaskToken
        orderId.$: $Input.orderId
        me.$: $Context.Execution.Name
    OutputConstructor:
      fromChild.$: $Output.v
      orderId.$: $Input.orderId
    End: true
  - {Type: Fail, Name: Bad, Code: ChildFailed, Detail: child broke}
`;
}

function parentFlow(name, child, mode = 'WaitForSystemCallback') {
  return `Type: StateMachine
SpecVersion: v1
Name: ${name}
StartAt: Child
States:
  - Name: Child
    Type: Task
    Action: FnF:StartExecution
    TaskMode: ${mode}
    Parameters:
      FlowName: ${child}
      ExecutionName.$: $Input.childName
      Input.$: $Input
    Catch:
      - Errors: [ChildFailed, Abort]
        OutputConstructor:
          code.$: $Context.Current.Error.Code
          detail.$: $Context.Current.Error.Detail
        Next: Handle
    End: true
  - {Type: Pass, Name: Handle, End: true}
`;
}

async function child() {
  if (!CHILD) {
    CHILD = u.uniq('child');
    await u.createFlow(ctx.v1, CHILD, childFlow(CHILD, ctx.worker.url('/child')));
  }
  return CHILD;
}

// Waits until flowd has recorded the child's TaskSubmitted, i.e. has applied the worker's
// reply to the dispatch, so the tests below see a settled history (the early-report case has
// its own test at the end of this file).
async function childSubmitted(p) {
  await u.waitEvent(ctx.v1, p.child, p.childName, 'TaskSubmitted');
}

async function startParent(input = {}, mode) {
  const c = await child();
  const parent = u.uniq('parent');
  await u.createFlow(ctx.v1, parent, parentFlow(parent, c, mode));
  const childName = u.uniq('kid');
  const { name, orderId } = await u.startTagged(ctx.v1, parent, { childName, ...input });
  return { parent, exec: name, orderId, child: c, childName };
}

it(ctx, 'WaitForSystemCallback: the child reports its Output to the parent', async () => {
  const p = await startParent();
  const req = await ctx.worker.nextFor(p.orderId);
  assert.equal(req.body.me, p.childName, 'the child runs under the given ExecutionName');
  let cd = await ctx.v1.describeExecution({ FlowName: p.child, ExecutionName: p.childName });
  assert.equal(cd.Status, 'Running');
  assert.equal(JSON.parse(cd.Input).orderId, p.orderId, 'Input.$: $Input reached the child');
  const pd = await ctx.v1.describeExecution({ FlowName: p.parent, ExecutionName: p.exec });
  assert.equal(pd.Status, 'Running', 'the parent waits for the child');
  await childSubmitted(p);
  await L.succeed(ctx.v1, req.body.token, { v: 7 });
  cd = await u.waitDone(ctx.v1, p.child, p.childName);
  assert.equal(cd.Status, 'Succeeded');
  const { d, out, ev } = await L.finish(ctx.v1, p.parent, p.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { fromChild: 7, orderId: p.orderId });
  assert.deepEqual(out, u.output(cd), "the parent's Output is the child's Output");
  L.assertOrder(ev, ['TaskScheduled', 'TaskSubmitted', 'TaskSucceeded', 'ExecutionSucceeded']);
  assert.equal(u.detail(L.eventsOf(ev, 'TaskScheduled', 'Child')[0]).Resource,
    'FnF:StartExecution');
});

it(ctx, "a child Fail state reaches the parent's Catch with the child's Error", async () => {
  const p = await startParent({ mode: 'fail' });
  const cd = await u.waitDone(ctx.v1, p.child, p.childName);
  assert.equal(cd.Status, 'Failed');
  assert.equal(cd.ErrorCode, 'ChildFailed');
  const { d, out, ev } = await L.finish(ctx.v1, p.parent, p.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { code: 'ChildFailed', detail: 'child broke' });
  const tf = L.eventsOf(ev, 'TaskFailed', 'Child');
  assert.equal(tf.length, 1, u.types(ev).join(','));
  assert.equal(u.detail(tf[0]).Error, 'ChildFailed');
});

it(ctx, "StopExecution of the child with Error Abort reaches the parent's Catch", async () => {
  const p = await startParent();
  const req = await ctx.worker.nextFor(p.orderId);
  await childSubmitted(p);
  await ctx.v1.stopExecution({ FlowName: p.child, ExecutionName: p.childName, Error: 'Abort',
    Cause: 'operator stopped it' });
  const cd = await u.waitDone(ctx.v1, p.child, p.childName);
  assert.equal(cd.Status, 'Stopped');
  const { d, out } = await L.finish(ctx.v1, p.parent, p.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.deepEqual(out, { code: 'Abort', detail: 'operator stopped it' });
  await expectError(() => L.succeed(ctx.v1, req.body.token, { v: 1 }), 'TaskAlreadyCompleted');
});

it(ctx, 'an uncaught child error fails the parent with it', async () => {
  const c = await child();
  const parent = u.uniq('parent');
  await u.createFlow(ctx.v1, parent, parentFlow(parent, c)
    .replace(/    Catch:[\s\S]*?Next: Handle\n/, '').replace(/  - \{Type: Pass, Name: Handle.*\n/, ''));
  const childName = u.uniq('kid');
  const { name, orderId } = await u.startTagged(ctx.v1, parent, { childName });
  const req = await ctx.worker.nextFor(orderId);
  await childSubmitted({ child: c, childName });
  await L.fail(ctx.v1, req.body.token, 'Child.Worker.Error', 'the worker gave up');
  const { d } = await L.finish(ctx.v1, parent, name);
  assert.equal(d.Status, 'Failed', JSON.stringify(d));
  assert.equal(d.ErrorCode, 'Child.Worker.Error');
  assert.equal(d.ErrorMessage, 'the worker gave up');
});

it(ctx, 'RequestComplete only starts the child: the parent goes on at once', async () => {
  const p = await startParent({}, 'RequestComplete');
  const { d, out } = await L.finish(ctx.v1, p.parent, p.exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.equal(out.ExecutionName, p.childName, JSON.stringify(out));
  assert.equal(out.FlowName, p.child, JSON.stringify(out));
  const cd = await ctx.v1.describeExecution({ FlowName: p.child, ExecutionName: p.childName });
  assert.equal(cd.Status, 'Running');
  const req = await ctx.worker.nextFor(p.orderId);
  await L.succeed(ctx.v1, req.body.token, { v: 1 });
  assert.equal((await u.waitDone(ctx.v1, p.child, p.childName)).Status, 'Succeeded');
});

it(ctx, 'a child flow that does not exist fails the task (catchable FnF.FlowNotExists)',
  async () => {
    const parent = u.uniq('parent');
    await u.createFlow(ctx.v1, parent, parentFlow(parent, u.uniq('nochild'))
      .replace('[ChildFailed, Abort]', '[FnF.FlowNotExists]'));
    const { name } = await u.startTagged(ctx.v1, parent, { childName: u.uniq('kid') });
    const { d, out } = await L.finish(ctx.v1, parent, name);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.equal(out.code, 'FnF.FlowNotExists');
  });

// Regression: the child's last task is reported while flowd's dispatch of it is still in
// flight (the worker has the token but flowd has not yet read the worker's reply). The ended
// child's outbox rows are deleted and its report to the parent is queued; outbox ids are never
// reused, so the late HTTP result cannot delete that report by mistake.
it(ctx, 'a child task reported while its dispatch is in flight still reports to the parent',
  async () => {
    const c = await child();
    const parent = u.uniq('parent');
    await u.createFlow(ctx.v1, parent, parentFlow(parent, c));
    const childName = u.uniq('kid');
    const orderId = u.uniq('order');
    ctx.worker.beforeReply = async (rec) => {
      if (rec.body && rec.body.orderId === orderId) await L.succeed(ctx.v1, rec.body.token, { v: 9 });
    };
    try {
      const exec = u.uniq('ex');
      await ctx.v1.startExecution({ FlowName: parent, ExecutionName: exec,
        Input: JSON.stringify({ childName, orderId }) });
      const cd = await u.waitDone(ctx.v1, c, childName);
      assert.equal(cd.Status, 'Succeeded');
      const d = await u.waitDone(ctx.v1, parent, exec, 5000);
      assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
      assert.deepEqual(u.output(d), { fromChild: 9, orderId });
    } finally {
      ctx.worker.beforeReply = null;
    }
  });
