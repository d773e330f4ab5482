'use strict';
// Request guards (README "Request guards and throttling", flowd's decisions 1 and 2), beyond what
// protocol.test.js covers: 16 minutes of skew either way (V1 and V3) against 14 inside the
// window, replayed nonces across actions and for state-changing requests (V1, pop-core and
// V3), a V3 request without x-acs-date, STS security tokens, and the audit lines they leave.

const assert = require('node:assert/strict');
const { setup, it } = require('./lib/harness');
const clients = require('./lib/clients');
const { expectError } = clients;
const raw = require('./lib/raw');
const u = require('./lib/util');
const adm = require('./lib/admin');
const { KEY_ID, KEY_SECRET, ACCOUNT_ID } = require('./lib/flowd');

const ctx = setup({ worker: false });
const MIN = 60 * 1000;

function assertError(r, status, code) {
  assert.equal(r.status, status, `status for ${code}: ${r.text}`);
  assert.ok(r.json, r.text);
  assert.equal(r.json.Code, code, r.text);
  for (const k of ['RequestId', 'HostId', 'Message']) assert.equal(typeof r.json[k], 'string', r.text);
}

it(ctx, 'V1: a Timestamp 16 minutes in the past or future is RequestTimeTooSkewed (403); 14 is fine', async () => {
  for (const off of [-16 * MIN, 16 * MIN]) {
    const ts = raw.timestamp(off);
    for (const place of ['query', 'form']) {
      const r = await raw.v1Request(ctx.srv, 'ListFlows', {}, { timestamp: ts, place });
      assertError(r, 403, 'RequestTimeTooSkewed');
      assert.ok(r.json.Message.includes(ts), `the request's time in: ${r.json.Message}`);
      assert.match(r.json.Message.replace(ts, ''), /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/,
        `the server's time in: ${r.json.Message}`);
    }
    await expectError(() => ctx.v1.listFlows({ Timestamp: ts }), 'RequestTimeTooSkewed');
    // A state-changing request is refused before it acts.
    const name = u.uniq('skew');
    const c = await raw.v1Request(ctx.srv, 'CreateFlow', { Name: name, Definition: u.passFlow(name),
      Description: '', Type: 'FDL' }, { timestamp: ts });
    assertError(c, 403, 'RequestTimeTooSkewed');
    await expectError(() => ctx.v1.describeFlow({ Name: name }), 'FlowNotExists');
  }
  for (const off of [-14 * MIN, 14 * MIN]) {
    const r = await raw.v1Request(ctx.srv, 'ListFlows', {}, { timestamp: raw.timestamp(off),
      place: 'query' });
    assert.equal(r.status, 200, r.text);
  }
});

it(ctx, 'V3: an x-acs-date 16 minutes in the past or future is RequestTimeTooSkewed (403); 14 is fine', async () => {
  for (const off of [-16 * MIN, 16 * MIN]) {
    const r = await raw.v3Request(ctx.srv, 'ListFlows', {}, null, { method: 'GET',
      date: raw.timestamp(off) });
    assertError(r, 403, 'RequestTimeTooSkewed');
    assert.match(r.json.Message, /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
  }
  for (const off of [-14 * MIN, 14 * MIN]) {
    const r = await raw.v3Request(ctx.srv, 'ListFlows', {}, null, { method: 'GET',
      date: raw.timestamp(off) });
    assert.equal(r.status, 200, r.text);
  }
});

it(ctx, 'V1: a replayed SignatureNonce is SignatureNonceUsed (400), whatever the action, and does nothing', async () => {
  const name = u.uniq('once');
  const n = raw.nonce();
  const params = { Name: name, Definition: u.passFlow(name), Description: 'once', Type: 'FDL' };
  const ts = raw.timestamp();
  const first = await raw.v1Request(ctx.srv, 'CreateFlow', params, { nonce: n, timestamp: ts });
  assert.equal(first.status, 200, first.text);
  await ctx.v1.deleteFlow({ Name: name });
  // The very same signed request again: refused, the flow is not created a second time.
  const again = await raw.v1Request(ctx.srv, 'CreateFlow', params, { nonce: n, timestamp: ts });
  assertError(again, 400, 'SignatureNonceUsed');
  await expectError(() => ctx.v1.describeFlow({ Name: name }), 'FlowNotExists');
  // The nonce with another action, method or placement.
  assertError(await raw.v1Request(ctx.srv, 'ListFlows', {}, { nonce: n, place: 'query' }), 400,
    'SignatureNonceUsed');
  assertError(await raw.v1Request(ctx.srv, 'DescribeFlow', { Name: name }, { nonce: n,
    place: 'split' }), 400, 'SignatureNonceUsed');
  // pop-core with a chosen nonce.
  const m = raw.nonce();
  await ctx.v1.listFlows({ SignatureNonce: m });
  const e = await expectError(() => ctx.v1.listFlows({ SignatureNonce: m }), 'SignatureNonceUsed');
  assert.ok(e.data.Message.length > 0);
  // A fresh nonce is fine.
  assert.equal((await raw.v1Request(ctx.srv, 'ListFlows', {}, { place: 'query' })).status, 200);
});

it(ctx, 'V3: a replayed x-acs-signature-nonce is SignatureNonceUsed (400) and does nothing', async () => {
  const name = u.uniq('once3');
  const n = raw.nonce();
  const date = raw.timestamp();
  const form = { Name: name, Definition: u.passFlow(name), Description: 'v3 once', Type: 'FDL' };
  const first = await raw.v3Request(ctx.srv, 'CreateFlow', {}, form, { nonce: n, date });
  assert.equal(first.status, 200, first.text);
  await ctx.v1.deleteFlow({ Name: name });
  const again = await raw.v3Request(ctx.srv, 'CreateFlow', {}, form, { nonce: n, date });
  assertError(again, 400, 'SignatureNonceUsed');
  await expectError(() => ctx.v1.describeFlow({ Name: name }), 'FlowNotExists');
  assertError(await raw.v3Request(ctx.srv, 'DescribeFlow', { Name: name }, null,
    { method: 'GET', nonce: n }), 400, 'SignatureNonceUsed');
  assert.equal((await raw.v3Request(ctx.srv, 'ListFlows', {}, null, { method: 'GET' })).status, 200);
});

it(ctx, 'a V3 request without x-acs-date is MissingRequiredHeader and does nothing', async () => {
  const name = u.uniq('nodate');
  const r = await raw.v3Request(ctx.srv, 'CreateFlow', {}, { Name: name,
    Definition: u.passFlow(name), Description: '', Type: 'FDL' },
  { omitHeaders: ['x-acs-date'] });
  assertError(r, 400, 'MissingRequiredHeader');
  assert.match(r.json.Message, /x-acs-date/i);
  await expectError(() => ctx.v1.describeFlow({ Name: name }), 'FlowNotExists');
  // Not signed over it either: the same answer.
  const r2 = await raw.v3Request(ctx.srv, 'ListFlows', {}, null, { method: 'GET',
    after: (h) => { delete h['x-acs-date']; } });
  assertError(r2, 400, 'MissingRequiredHeader');
});

it(ctx, 'a SecurityToken (STS) parameter is InvalidArgument: pop-core and raw V1', async () => {
  const { RPCClient } = require('@alicloud/pop-core');
  const sts = new RPCClient({ endpoint: ctx.srv.endpoint, apiVersion: '2019-03-15',
    accessKeyId: KEY_ID, accessKeySecret: KEY_SECRET, securityToken: 'CAIS-sts-token-e2e' });
  const e = await expectError(() => sts.request('ListFlows', {}, { method: 'GET' }),
    'InvalidArgument');
  assert.match(e.data.Message, /SecurityToken/);
  const r = await raw.v1Request(ctx.srv, 'ListFlows', { SecurityToken: 'CAIS-sts' },
    { place: 'query' });
  assertError(r, 400, 'InvalidArgument');
  assert.match(r.json.Message, /SecurityToken/);
  const name = u.uniq('sts');
  const c = await raw.v1Request(ctx.srv, 'CreateFlow', { Name: name, Definition: u.passFlow(name),
    Description: '', Type: 'FDL', SecurityToken: 'CAIS-sts' });
  assertError(c, 400, 'InvalidArgument');
  await expectError(() => ctx.v1.describeFlow({ Name: name }), 'FlowNotExists');
});

it(ctx, 'a SecurityToken parameter in a V3 request is InvalidArgument', async () => {
  const r = await raw.v3Request(ctx.srv, 'ListFlows', { SecurityToken: 'CAIS-sts' }, null,
    { method: 'GET' });
  assertError(r, 400, 'InvalidArgument');
  assert.match(r.json.Message, /SecurityToken/);
});

it(ctx, 'the V3 client\'s security token (header x-acs-security-token) is InvalidArgument', async () => {
  // openapi-client sends an STS token as the signed header x-acs-security-token.
  const e = await expectError(() => adm.v3WithSecurityToken(ctx.srv, 'CAIS-sts-v3')
    .call('ListFlows', {}), 'InvalidArgument');
  assert.equal(e.data.statusCode, 400);
  assert.match(e.data.Message, /SecurityToken|security-token/i);
});

it(ctx, 'skew and replay denials leave audit lines with account and key, no secret', async () => {
  const mark = ctx.srv.stderr.length;
  const n = raw.nonce();
  assert.equal((await raw.v1Request(ctx.srv, 'ListFlows', {}, { nonce: n, place: 'query' })).status,
    200);
  assertError(await raw.v1Request(ctx.srv, 'ListFlows', {}, { nonce: n, place: 'query' }), 400,
    'SignatureNonceUsed');
  assertError(await raw.v1Request(ctx.srv, 'ListFlows', {}, { timestamp: raw.timestamp(-16 * MIN),
    place: 'query' }), 403, 'RequestTimeTooSkewed');
  for (const code of ['SignatureNonceUsed', 'RequestTimeTooSkewed']) {
    const line = await u.waitFor(() => adm.auditLines(ctx.srv.stderr.slice(mark))
      .find((x) => x.code === code),
      5000, 50, `audit line ${code}`);
    assert.equal(line.key, KEY_ID, line.line);
    assert.equal(line.account, ACCOUNT_ID, line.line);
    assert.equal(line.action, 'ListFlows', line.line);
  }
  assert.ok(!ctx.srv.stderr.includes(KEY_SECRET), 'the secret is never logged');
});
