'use strict';
// MNS-compatible queues (flowd's decisions 6: flowd's built-in durable queues), driven by the
// official Node.js client @alicloud/mns 1.2.0 with a custom endpoint: queue attributes and
// counts, send and long-poll receive, visibility timeout and redelivery, receipt handles
// (stale after delete or redelivery, renewed by changeMessageVisibility), batches, messages
// surviving a restart, signatures, and accounts that cannot see each other's queues.
//
// Note: the client writes message bodies into its XML unescaped, so bodies with markup
// characters must be escaped by the caller (&lt; ...); flowd returns them unescaped.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const MNS = require('@alicloud/mns');
const { setup, it } = require('./lib/harness');
const u = require('./lib/util');
const adm = require('./lib/admin');
const { ACCOUNT_ID, KEY_ID, KEY_SECRET } = require('./lib/flowd');

const ctx = setup({ worker: false });

function client(creds = {}) {
  return new MNS(ACCOUNT_ID, {
    endpoint: ctx.srv.endpoint,
    accessKeyId: creds.accessKeyId || KEY_ID,
    accessKeySecret: creds.accessKeySecret || KEY_SECRET,
  });
}

let n = 0;
function qname(p = 'q') {
  n += 1;
  return `${p}-${process.pid}-${n}-${crypto.randomBytes(3).toString('hex')}`;
}

// Resolves to the error the client threw (fails when it did not throw).
async function thrown(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to fail');
}

const md5 = (s) => crypto.createHash('md5').update(s, 'utf8').digest('hex').toUpperCase();

it(ctx, 'createQueue: 201, same attributes again 204, different attributes QueueAlreadyExist', async () => {
  const c = client();
  const q = qname();
  const r1 = await c.createQueue(q, { VisibilityTimeout: 7, PollingWaitSeconds: 1 });
  assert.equal(r1.code, 201);
  const r2 = await c.createQueue(q, { VisibilityTimeout: 7, PollingWaitSeconds: 1 });
  assert.equal(r2.code, 204);
  const e = await thrown(c.createQueue(q, { VisibilityTimeout: 8 }));
  assert.equal(e.name, 'MNSQueueAlreadyExistError', e.message);
  assert.match(e.message, /failed with 409/);

  const a = (await c.getQueueAttributes(q)).body;
  assert.equal(a.QueueName, q);
  assert.equal(a.VisibilityTimeout, '7');
  assert.equal(a.PollingWaitSeconds, '1');
  assert.equal(a.MaximumMessageSize, '65536');
  assert.equal(a.DelaySeconds, '0');
  assert.ok(Math.abs(Number(a.CreateTime) - Date.now() / 1000) < 60, a.CreateTime);

  const s = await c.setQueueAttributes(q, { VisibilityTimeout: 9 });
  assert.equal(s.code, 204);
  const b = (await c.getQueueAttributes(q)).body;
  assert.equal(b.VisibilityTimeout, '9');
  assert.equal(b.PollingWaitSeconds, '1', 'attributes not given stay');

  const l = await c.listQueue('', 100, q.slice(0, -7));
  assert.ok(l.body.some((x) => x.QueueURL.endsWith(`/queues/${q}`)), JSON.stringify(l.body));

  assert.equal((await c.deleteQueue(q)).code, 204);
  const g = await thrown(c.getQueueAttributes(q));
  assert.equal(g.name, 'MNSQueueNotExistError', g.message);
});

it(ctx, 'send and receive: body, MD5, ids, times in ms, priority order; empty queue is MessageNotExist', async () => {
  const c = client();
  const q = qname();
  await c.createQueue(q, {});
  const s1 = await c.sendMessage(q, { MessageBody: 'low', Priority: 10 });
  assert.equal(s1.code, 201);
  assert.equal(s1.body.MessageBodyMD5, md5('low'));
  const s2 = await c.sendMessage(q, { MessageBody: 'a &lt;b&gt; &amp; ü', Priority: 1 });
  assert.notEqual(s2.body.MessageId, s1.body.MessageId);

  const r = await c.receiveMessage(q);
  assert.equal(r.code, 200);
  const m = r.body;
  assert.equal(m.MessageBody, 'a <b> & ü', 'priority 1 comes first');
  assert.equal(m.MessageId, s2.body.MessageId);
  assert.equal(m.MessageBodyMD5, md5('a <b> & ü'));
  assert.equal(m.DequeueCount, '1');
  assert.equal(m.Priority, '1');
  assert.ok(m.ReceiptHandle);
  const now = Date.now();
  assert.ok(Math.abs(Number(m.EnqueueTime) - now) < 60000, m.EnqueueTime);
  assert.ok(Number(m.NextVisibleTime) - Number(m.FirstDequeueTime) >= 29000, 'default 30 s');

  const r2 = await c.receiveMessage(q);
  assert.equal(r2.body.MessageBody, 'low');
  const e = await thrown(c.receiveMessage(q));
  assert.equal(e.name, 'MNSMessageNotExistError', e.message);
  assert.match(e.message, /failed with 404/);
});

it(ctx, 'receive long-polls: a message sent 1 s after the receive started arrives', async () => {
  const c = client();
  const q = qname();
  await c.createQueue(q, {});
  const t0 = Date.now();
  const pending = c.receiveMessage(q, 10);
  await u.sleep(1000);
  await c.sendMessage(q, { MessageBody: 'late' });
  const r = await pending;
  const took = Date.now() - t0;
  assert.equal(r.body.MessageBody, 'late');
  assert.ok(took >= 900 && took < 5000, `took ${took} ms`);

  // An empty long poll waits about waitseconds, then MessageNotExist.
  const t1 = Date.now();
  const e = await thrown(c.receiveMessage(q, 1));
  assert.equal(e.name, 'MNSMessageNotExistError');
  const waited = Date.now() - t1;
  assert.ok(waited >= 900 && waited < 4000, `waited ${waited} ms`);
});

it(ctx, 'visibility timeout: an undeleted message comes back with DequeueCount 2; the old handle is stale', async () => {
  const c = client();
  const q = qname();
  await c.createQueue(q, { VisibilityTimeout: 1 });
  await c.sendMessage(q, { MessageBody: 'again' });
  const first = (await c.receiveMessage(q)).body;
  assert.equal(first.DequeueCount, '1');
  await thrown(c.receiveMessage(q)); // invisible now
  const second = (await c.receiveMessage(q, 5)).body; // becomes visible after ~1 s
  assert.equal(second.MessageId, first.MessageId);
  assert.equal(second.DequeueCount, '2');
  assert.equal(second.FirstDequeueTime, first.FirstDequeueTime);
  assert.notEqual(second.ReceiptHandle, first.ReceiptHandle);

  const stale = await thrown(c.deleteMessage(q, first.ReceiptHandle));
  assert.equal(stale.name, 'MNSMessageNotExistError', stale.message);
  assert.equal((await c.deleteMessage(q, second.ReceiptHandle)).code, 204);
  const again = await thrown(c.deleteMessage(q, second.ReceiptHandle));
  assert.equal(again.name, 'MNSMessageNotExistError', again.message);
  const bad = await thrown(c.deleteMessage(q, 'not-a-handle'));
  assert.equal(bad.name, 'MNSReceiptHandleErrorError', bad.message);
  assert.match(bad.message, /failed with 400/);
  // Deleted for good: nothing comes back after the timeout.
  await u.sleep(1200);
  await thrown(c.receiveMessage(q));
});

it(ctx, 'changeMessageVisibility: a new handle and NextVisibleTime; the message reappears then', async () => {
  const c = client();
  const q = qname();
  await c.createQueue(q, { VisibilityTimeout: 60 });
  await c.sendMessage(q, { MessageBody: 'vis' });
  const m = (await c.receiveMessage(q)).body;
  const before = Date.now();
  const ch = await c.changeMessageVisibility(q, m.ReceiptHandle, 1);
  assert.equal(ch.code, 200);
  assert.ok(ch.body.ReceiptHandle && ch.body.ReceiptHandle !== m.ReceiptHandle);
  const nv = Number(ch.body.NextVisibleTime);
  assert.ok(nv >= before + 900 && nv <= Date.now() + 1100, `NextVisibleTime ${nv}`);
  const old = await thrown(c.changeMessageVisibility(q, m.ReceiptHandle, 5));
  assert.equal(old.name, 'MNSMessageNotExistError', old.message);
  const back = (await c.receiveMessage(q, 5)).body;
  assert.equal(back.MessageId, m.MessageId);
  assert.equal(back.DequeueCount, '2');
  await c.deleteMessage(q, back.ReceiptHandle);
});

it(ctx, 'batches: send, peek, receive and delete; a partly failing batch delete names the bad handles', async () => {
  const c = client();
  const q = qname();
  await c.createQueue(q, {});
  const bodies = ['m1', 'm2', 'm3', 'm4'];
  const s = await c.batchSendMessage(q, bodies.map((b) => ({ MessageBody: b })));
  assert.equal(s.code, 201);
  assert.equal(s.body.length, 4);
  assert.deepEqual(s.body.map((x) => x.MessageBodyMD5), bodies.map(md5));

  const p = await c.batchPeekMessage(q, 10);
  assert.equal(p.body.length, 4);
  assert.ok(p.body.every((x) => !x.ReceiptHandle));
  const pk = await c.peekMessage(q);
  assert.equal(pk.body.MessageBody, 'm1');

  const r = await c.batchReceiveMessage(q, 3, 1);
  assert.equal(r.body.length, 3);
  assert.deepEqual(r.body.map((x) => x.MessageBody), ['m1', 'm2', 'm3']);
  const a = (await c.getQueueAttributes(q)).body;
  assert.deepEqual([a.ActiveMessages, a.InactiveMessages, a.DelayMessages], ['1', '3', '0']);

  const handles = r.body.map((x) => x.ReceiptHandle);
  const d = await c.batchDeleteMessage(q, handles.slice(0, 2));
  assert.equal(d.code, 204);
  const d2 = await c.batchDeleteMessage(q, [handles[0], handles[2]]);
  assert.equal(d2.code, 404);
  assert.equal(d2.body.length, 1);
  assert.equal(d2.body[0].ErrorCode, 'MessageNotExist');
  assert.equal(d2.body[0].ReceiptHandle, handles[0]);

  const rest = await c.batchReceiveMessage(q, 16);
  assert.deepEqual(rest.body.map((x) => x.MessageBody), ['m4']);
  const b = (await c.getQueueAttributes(q)).body;
  assert.deepEqual([b.ActiveMessages, b.InactiveMessages], ['0', '1']);
});

it(ctx, 'delayed messages count as DelayMessages until due', async () => {
  const c = client();
  const q = qname();
  await c.createQueue(q, {});
  await c.sendMessage(q, { MessageBody: 'later', DelaySeconds: 1 });
  const a = (await c.getQueueAttributes(q)).body;
  assert.deepEqual([a.ActiveMessages, a.DelayMessages], ['0', '1']);
  await thrown(c.receiveMessage(q));
  const m = (await c.receiveMessage(q, 5)).body;
  assert.equal(m.MessageBody, 'later');
});

it(ctx, 'bad input: oversized message, invalid priority, unknown queue', async () => {
  const c = client();
  const q = qname();
  await c.createQueue(q, { MaximumMessageSize: 1024 });
  const big = await thrown(c.sendMessage(q, { MessageBody: 'x'.repeat(1025) }));
  assert.equal(big.name, 'MNSInvalidArgumentError', big.message);
  const pr = await thrown(c.sendMessage(q, { MessageBody: 'x', Priority: 17 }));
  assert.equal(pr.name, 'MNSInvalidArgumentError', pr.message);
  const nq = await thrown(c.sendMessage(qname('none'), { MessageBody: 'x' }));
  assert.equal(nq.name, 'MNSQueueNotExistError', nq.message);
});

it(ctx, 'a wrong secret is SignatureDoesNotMatch; an unknown key InvalidAccessKeyId', async () => {
  const q = qname();
  await client().createQueue(q, {});
  const e = await thrown(client({ accessKeySecret: 'wrong-secret' }).getQueueAttributes(q));
  assert.equal(e.name, 'MNSSignatureDoesNotMatchError', e.message);
  assert.match(e.message, /failed with 403/);
  const k = await thrown(client({ accessKeyId: 'LTAInoSuchKey', accessKeySecret: 'x' })
    .sendMessage(q, { MessageBody: 'x' }));
  assert.equal(k.name, 'MNSInvalidAccessKeyIdError', k.message);
  const srv = ctx.srv;
  assert.match(srv.stderr, /audit: denied code=SignatureDoesNotMatch/);
  assert.ok(!srv.stderr.includes('wrong-secret') && !srv.stderr.includes(KEY_SECRET));
});

it(ctx, "another account's queues are invisible, whatever account id the client names", async () => {
  const a = client();
  const q = qname();
  await a.createQueue(q, {});
  await a.sendMessage(q, { MessageBody: 'mine' });
  const B = await adm.createAccount(ctx.srv);
  const b = client(B); // the client still puts A's account id into the host name
  for (const call of [() => b.getQueueAttributes(q), () => b.receiveMessage(q),
    () => b.sendMessage(q, { MessageBody: 'x' }), () => b.deleteQueue(q)]) {
    const e = await thrown(call());
    assert.equal(e.name, 'MNSQueueNotExistError', e.message);
  }
  const l = await b.listQueue('', 100, '');
  assert.equal(l.body, undefined, JSON.stringify(l.body));
  // B may have its own queue of the same name.
  assert.equal((await b.createQueue(q, {})).code, 201);
  await thrown(b.receiveMessage(q));
  assert.equal((await a.receiveMessage(q)).body.MessageBody, 'mine');
});

it(ctx, 'RAM users need mns:<Action> on acs:mns:<region>:<account>:/queues/<name>/messages', async () => {
  const q = qname();
  await client().createQueue(q, {});
  const user = await adm.createUserWithKey(ctx.srv, ACCOUNT_ID, `mnsuser${process.pid}`);
  await adm.attachPolicy(ctx.srv, ACCOUNT_ID, user.userName, 'send-only', adm.policy(
    adm.allow('mns:SendMessage', `acs:mns:*:${ACCOUNT_ID}:/queues/${q}/messages`)));
  const c = client(user);
  assert.equal((await c.sendMessage(q, { MessageBody: 'ram' })).code, 201);
  const e = await thrown(c.receiveMessage(q));
  assert.equal(e.name, 'MNSAccessDeniedError', e.message);
  assert.match(e.message, /mns:ReceiveMessage/);
});

it(ctx, 'messages survive a restart, invisible ones included', async () => {
  const c = client();
  const q = qname();
  await c.createQueue(q, { VisibilityTimeout: 2 });
  await c.batchSendMessage(q, [{ MessageBody: 'keep-1' }, { MessageBody: 'keep-2' }]);
  const taken = (await c.receiveMessage(q)).body;
  assert.equal(taken.MessageBody, 'keep-1');
  await ctx.srv.restart();
  const c2 = client(); // the port changed
  const a = (await c2.getQueueAttributes(q)).body;
  assert.equal(a.VisibilityTimeout, '2');
  assert.equal(Number(a.ActiveMessages) + Number(a.InactiveMessages), 2, JSON.stringify(a));
  const m = (await c2.receiveMessage(q)).body;
  assert.equal(m.MessageBody, 'keep-2');
  const back = (await c2.receiveMessage(q, 5)).body;
  assert.equal(back.MessageBody, 'keep-1');
  assert.equal(back.DequeueCount, '2');
  await c2.batchDeleteMessage(q, [m.ReceiptHandle, back.ReceiptHandle]);
  const z = (await c2.getQueueAttributes(q)).body;
  assert.deepEqual([z.ActiveMessages, z.InactiveMessages], ['0', '0']);
});

it(ctx, 'flowd stops promptly while a long poll is waiting', async () => {
  const c = client();
  const q = qname();
  await c.createQueue(q, {});
  const pending = thrown(c.receiveMessage(q, 30));
  await u.sleep(300);
  // Without the interrupt the poll would hold its connection thread (and the shutdown) for
  // 30 s, and stop() would end in SIGKILL after its grace period.
  const t0 = Date.now();
  const info = await ctx.srv.stop(10000);
  const took = Date.now() - t0;
  assert.deepEqual(info, { code: 0, signal: null }, `took ${took} ms`);
  assert.ok(took < 8000, `stop took ${took} ms`);
  await pending; // MessageNotExist or a closed connection, but not a 30 s hang
  await ctx.srv.start();
});
