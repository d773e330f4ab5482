'use strict';
// Callback tasks through flowd's built-in queues (flowd's decisions 6): a flow puts its task, with
// the token, on a queue (CloudFlow MNS:SendMessage, FDL acs:mns:::/queues/<q>/messages); a
// worker consumes it with the official @alicloud/mns client (long poll, visibility timeout,
// redelivery, delete) and reports through @alicloud/fnf-2019-03-15. The example worker in
// examples/mns-worker runs unchanged against flowd.

const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const MNS = require('@alicloud/mns');
const { setup, it } = require('./lib/harness');
const u = require('./lib/util');
const clients = require('./lib/clients');
const { ACCOUNT_ID, KEY_ID, KEY_SECRET, REPO } = require('./lib/flowd');

const ctx = setup({ worker: false });

// Queue names allow letters, digits and '-' only.
const qname = (p) => u.uniq(p).replace(/_/g, '-');

function mns() {
  return new MNS(ACCOUNT_ID, { endpoint: ctx.srv.endpoint, accessKeyId: KEY_ID,
    accessKeySecret: KEY_SECRET });
}

async function receive(c, q, wait = 5) {
  const r = await c.receiveMessage(q, wait);
  return r.body;
}

it(ctx, 'the example worker approves and rejects orders taken from the queue', async () => {
  const flow = u.uniq('orders');
  const fs = require('node:fs');
  const def = fs.readFileSync(path.join(REPO, 'examples/mns-worker/flow.yaml'), 'utf8')
    .replace('Name: order-approval', `Name: ${flow}`);
  await u.createFlow(ctx.v1, flow, def);
  const small = u.uniq('small');
  const big = u.uniq('big');
  await ctx.v1.startExecution({ FlowName: flow, ExecutionName: small,
    Input: JSON.stringify({ orderId: 'o-1', amount: 42 }) });
  await ctx.v1.startExecution({ FlowName: flow, ExecutionName: big,
    Input: JSON.stringify({ orderId: 'o-2', amount: 420 }) });

  const worker = spawn(process.execPath, [path.join(REPO, 'examples/mns-worker/worker.js')], {
    env: { ...process.env, NODE_PATH: path.join(__dirname, 'node_modules'),
      FLOWD_ENDPOINT: ctx.srv.endpoint, FLOWD_ACCOUNT_ID: ACCOUNT_ID,
      FLOWD_ACCESS_KEY_ID: KEY_ID, FLOWD_ACCESS_KEY_SECRET: KEY_SECRET, QUEUE: 'orders',
      MAX_MESSAGES: '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  worker.stdout.on('data', (d) => { out += d; });
  worker.stderr.on('data', (d) => { out += d; });
  const code = await new Promise((resolve) => worker.on('exit', resolve));
  assert.equal(code, 0, out);

  const a = await u.waitDone(ctx.v1, flow, small);
  assert.equal(a.Status, 'Succeeded', JSON.stringify(a));
  assert.deepEqual(u.output(a), { status: 'approved', approver: 'mns-worker' });
  const b = await u.waitDone(ctx.v1, flow, big);
  assert.equal(b.Status, 'Failed');
  assert.equal(b.ErrorCode, 'OrderRejected');
  // The worker deleted what it finished: the queue is empty.
  const attrs = (await mns().getQueueAttributes('orders')).body;
  assert.equal(attrs.ActiveMessages, '0');
  assert.equal(attrs.InactiveMessages, '0');
});

it(ctx, 'FDL acs:mns queue task: visibility timeout, redelivery, then ReportTaskFailed', async () => {
  const c = mns();
  const q = qname('fdlq');
  // A short visibility timeout so the redelivery shows quickly; the flow creates nothing.
  await c.createQueue(q, { VisibilityTimeout: 1 });
  const flow = u.uniq('fdl');
  await u.createFlow(ctx.v1, flow, [
    'version: v1', 'type: flow', 'steps:',
    '  - type: task', '    name: approve',
    `    resourceArn: acs:mns:::/queues/${q}/messages`,
    '    pattern: waitForCallback', '    timeoutSeconds: 60',
    '    inputMappings:',
    '      - target: taskToken', '        source: $context.task.token',
    '      - target: orderId', '        source: $input.orderId',
    '    serviceParams:', '      MessageBody: $',
    '    catch:', '      - errors: [ApprovalRejected]', '        goto: rejected',
    '  - type: pass', '    name: approved', '    end: true',
    '  - type: pass', '    name: rejected',
    '    outputMappings:', '      - target: status', '        source: rejected',
    '',
  ].join('\n'));
  const exec = u.uniq('e');
  await ctx.v1.startExecution({ FlowName: flow, ExecutionName: exec,
    Input: JSON.stringify({ orderId: 'o-9' }) });

  const first = await receive(c, q);
  const body = JSON.parse(first.MessageBody);
  assert.equal(body.orderId, 'o-9');
  assert.match(body.taskToken, /^[A-Za-z0-9_-]+$/);
  assert.equal(first.DequeueCount, '1');
  // Not deleted: after the visibility timeout the same message is delivered again.
  const again = await receive(c, q, 5);
  assert.equal(again.MessageId, first.MessageId);
  assert.equal(again.DequeueCount, '2');
  assert.notEqual(again.ReceiptHandle, first.ReceiptHandle);

  const rep = await ctx.v1.reportTaskFailed({ TaskToken: body.taskToken,
    Error: 'ApprovalRejected', Cause: 'too expensive' });
  assert.ok(Number(rep.EventId) > 0);
  await c.deleteMessage(q, again.ReceiptHandle);
  const d = await u.waitDone(ctx.v1, flow, exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  assert.equal(u.output(d).status, 'rejected');
  const h = await u.fullHistory(ctx.v1, flow, exec);
  assert.ok(u.types(h).includes('TaskSubmitted'));
  assert.ok(u.types(h).includes('TaskFailed'));
});

it(ctx, 'MNS:SendMessage RequestComplete returns the MessageId of the queued message', async () => {
  const flow = u.uniq('send');
  const q = qname('plainq');
  await u.createFlow(ctx.v1, flow, [
    'Type: StateMachine', 'SpecVersion: v1', `Name: ${flow}`, 'StartAt: Send', 'States:',
    '  - Type: Task', '    Name: Send', '    Action: MNS:SendMessage',
    '    Parameters:', `      QueueName: ${q}`, '      MessageBody.$: $Input.text',
    '      Priority: 3',
    '    OutputConstructor:', '      id.$: $Output.MessageId', '    End: true', '',
  ].join('\n'));
  const exec = u.uniq('e');
  await ctx.v1.startExecution({ FlowName: flow, ExecutionName: exec,
    Input: JSON.stringify({ text: 'hello queue' }) });
  const d = await u.waitDone(ctx.v1, flow, exec);
  assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
  const m = await receive(mns(), q);
  assert.equal(m.MessageBody, 'hello queue');
  assert.equal(m.MessageId, u.output(d).id);
  assert.equal(m.Priority, '3');
});

it(ctx, 'queued task messages survive a SIGKILL of flowd', async () => {
  const flow = u.uniq('durable');
  const q = qname('durq');
  await u.createFlow(ctx.v1, flow, [
    'Type: StateMachine', 'SpecVersion: v1', `Name: ${flow}`, 'StartAt: T', 'States:',
    '  - Type: Task', '    Name: T', '    Action: MNS:SendMessage',
    '    TaskMode: WaitForCustomCallback',
    '    Parameters:', `      QueueName: ${q}`, '      MessageBody:',
    '        token.$: $Context.Current.TaskToken', '    End: true', '',
  ].join('\n'));
  const exec = u.uniq('e');
  await ctx.v1.startExecution({ FlowName: flow, ExecutionName: exec, Input: '{}' });
  await u.waitEvent(ctx.v1, flow, exec, 'TaskSubmitted');
  await ctx.srv.kill();
  await ctx.srv.restart(); /* a new port: new clients */
  ctx.v1 = clients.v1(ctx.srv);
  const m = await receive(mns(), q);
  const token = JSON.parse(m.MessageBody).token;
  await ctx.v1.reportTaskSucceeded({ TaskToken: token, Output: '{"ok":true}' });
  const d = await u.waitDone(ctx.v1, flow, exec);
  assert.equal(d.Status, 'Succeeded');
});
