'use strict';
// Throttling (README "Request guards and throttling", flowd's decisions 2): a token bucket per
// account and action, set in the config file (`flowd --config FILE`). Over the limit: 429
// ResourceThrottled with a Retry-After header; other actions and other accounts have their
// own buckets; the bucket refills at its rate; each refusal leaves an audit line.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test, after } = require('node:test');
const { setup, it } = require('./lib/harness');
const clients = require('./lib/clients');
const { expectError } = clients;
const raw = require('./lib/raw');
const u = require('./lib/util');
const adm = require('./lib/admin');
const { startFlowd, KEY_ID, KEY_SECRET, ACCOUNT_ID } = require('./lib/flowd');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowd-throttle-'));
const config = path.join(dir, 'flowd.yaml');
fs.writeFileSync(config, 'throttle:\n  ListFlows: {burst: 3, rate: 1}\n');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const ctx = setup({ worker: false, flowd: { args: ['--config', config] } });

const listFlows = (creds = {}) => raw.v1Request(ctx.srv, 'ListFlows', {}, { place: 'query',
  keyId: creds.accessKeyId, secret: creds.accessKeySecret });

function assertThrottled(r) {
  assert.equal(r.status, 429, r.text);
  assert.equal(r.json.Code, 'ResourceThrottled', r.text);
  for (const k of ['RequestId', 'HostId', 'Message']) assert.equal(typeof r.json[k], 'string', r.text);
  const ra = r.headers['retry-after'];
  assert.ok(ra !== undefined, `a Retry-After header: ${JSON.stringify(r.headers)}`);
  assert.match(ra, /^\d+$/, `Retry-After in seconds: ${ra}`);
  assert.ok(Number(ra) >= 1, `Retry-After ${ra} >= 1`);
}

let flow;

it(ctx, 'ListFlows {burst: 3, rate: 1}: three pass, the fourth is 429 ResourceThrottled with Retry-After', async () => {
  flow = u.uniq('thr');
  await u.createFlow(ctx.v1, flow, u.passFlow(flow));
  for (let i = 0; i < 3; i++) {
    const r = await listFlows();
    assert.equal(r.status, 200, `request ${i + 1}: ${r.text}`);
  }
  const r = await listFlows();
  assertThrottled(r);
  // Both clients see it while the bucket is empty.
  await expectError(() => ctx.v1.listFlows({}), 'ResourceThrottled');
  const e3 = await expectError(() => ctx.v3.call('ListFlows', {}), 'ResourceThrottled');
  assert.equal(e3.data.statusCode, 429);

  // Other actions are not limited by ListFlows' bucket.
  for (let i = 0; i < 10; i++) {
    assert.equal((await ctx.v1.describeFlow({ Name: flow })).Name, flow);
    const ex = await ctx.v1.startExecution({ FlowName: flow, ExecutionName: u.uniq('e'), Input: '{}' });
    assert.ok(ex.Name);
  }
  assert.ok(Array.isArray((await ctx.v1.listExecutions({ FlowName: flow })).Executions));

  // Drain whatever refilled meanwhile; after a bit more than a second one token is back: one
  // ListFlows passes, the next does not.
  await u.waitFor(async () => (await listFlows()).status === 429, 5000, 0, 'an empty bucket');
  await u.sleep(1100);
  const again = await listFlows();
  assert.equal(again.status, 200, again.text);
  assertThrottled(await listFlows());
});

it(ctx, 'a second account has its own ListFlows bucket', async () => {
  // A's bucket is (nearly) empty after the previous test.
  assertThrottled(await listFlows());
  const b = await adm.createAccount(ctx.srv);
  for (let i = 0; i < 3; i++) {
    const r = await listFlows(b);
    assert.equal(r.status, 200, `B request ${i + 1}: ${r.text}`);
  }
  assertThrottled(await listFlows(b));
  // A second root key of A shares A's bucket (per account, not per key).
  const k = await adm.admin(ctx.srv).call('CreateAccessKey', { AccountId: ACCOUNT_ID });
  assertThrottled(await listFlows({ accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret }));
});

it(ctx, 'a throttled request leaves an audit line; Retry-After is honest', async () => {
  await u.waitFor(async () => (await listFlows()).status === 429, 3000, 10, 'A throttled');
  const r = await listFlows();
  assertThrottled(r);
  const line = await u.waitFor(() => adm.auditLines(ctx.srv.stderr).find((x) =>
    x.code === 'ResourceThrottled' && x.key === KEY_ID), 5000, 50, 'audit line');
  assert.equal(line.account, ACCOUNT_ID, line.line);
  assert.equal(line.action, 'ListFlows', line.line);
  assert.ok(!ctx.srv.stderr.includes(KEY_SECRET), 'no secret in the log');
  // Waiting as long as Retry-After says is enough.
  await u.sleep(Number(r.headers['retry-after']) * 1000 + 50);
  const ok = await listFlows();
  assert.equal(ok.status, 200, ok.text);
});

test('throttle default and burst 0 (off) from FLOWD_CONFIG, JSON', { timeout: 30000 }, async () => {
  const file = path.join(dir, 'flowd.json');
  fs.writeFileSync(file, JSON.stringify({ throttle: { default: { burst: 2, rate: 1 },
    ListFlows: { burst: 0, rate: 0 } } }));
  const srv = await startFlowd({ env: { FLOWD_CONFIG: file } });
  try {
    const v = clients.v1(srv, { accessKeyId: KEY_ID, accessKeySecret: KEY_SECRET });
    for (let i = 0; i < 8; i++) assert.ok(Array.isArray((await v.listFlows({})).Flows), `#${i}`);
    const name = u.uniq('d');
    await expectError(() => v.describeFlow({ Name: name }), 'FlowNotExists');
    await expectError(() => v.describeFlow({ Name: name }), 'FlowNotExists');
    const r = await raw.v1Request(srv, 'DescribeFlow', { Name: name }, { place: 'query' });
    assertThrottled(r);
    // The default applies per action: another action has its own bucket.
    await expectError(() => v.listExecutions({ FlowName: name }), 'FlowNotExists');
  } finally {
    await srv.close();
  }
});
