'use strict';
// The protocol front (flowd's decisions 1 and 2): actions, versions, signatures, time skew, keys,
// nonces, body sizes and types, paths and methods. Every error is a JSON body
// {RequestId, HostId, Code, Message} with the documented HTTP status, and pop-core (which only
// reads Code) sees it as well as a raw client.

const assert = require('node:assert/strict');
const { setup, it } = require('./lib/harness');
const clients = require('./lib/clients');
const { expectError } = clients;
const raw = require('./lib/raw');
const u = require('./lib/util');

const ctx = setup({ worker: false });

function assertErrorBody(r, status, code) {
  assert.equal(r.status, status, `status for ${code}: ${r.text}`);
  assert.ok(r.json && typeof r.json === 'object', `JSON error body: ${r.text}`);
  assert.equal(r.json.Code, code, r.text);
  for (const k of ['RequestId', 'HostId', 'Message']) {
    assert.equal(typeof r.json[k], 'string', `${k} in ${r.text}`);
  }
  assert.ok(r.json.Message.length > 0);
  assert.match(r.headers['content-type'] || '', /application\/json/);
}

it(ctx, 'a success reply has an uppercase-UUID RequestId (body and header) and no Code', async () => {
  const r = await raw.v1Request(ctx.srv, 'ListFlows', {}, { place: 'query' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.Code, undefined);
  assert.match(r.json.RequestId, /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
  assert.equal(r.headers['x-acs-request-id'], r.json.RequestId);
  assert.ok(Array.isArray(r.json.Flows));
  // An error reply carries the header too.
  const e = await raw.v1Request(ctx.srv, 'NoSuchAction', {});
  assert.equal(e.headers['x-acs-request-id'], e.json.RequestId);
});

it(ctx, 'an unknown Action is ActionNotSupported (400)', async () => {
  const e = await expectError(() => clients.pop(ctx.srv).request('FrobnicateFlow', {},
    { method: 'POST' }), 'ActionNotSupported');
  assert.match(e.data.Message, /FrobnicateFlow/);
  assertErrorBody(await raw.v1Request(ctx.srv, 'FrobnicateFlow', {}), 400, 'ActionNotSupported');
  // Action names are case-sensitive.
  assertErrorBody(await raw.v1Request(ctx.srv, 'listflows', {}, { place: 'query' }), 400,
    'ActionNotSupported');
  // Known in the public catalogue but not served in this version.
  assertErrorBody(await raw.v1Request(ctx.srv, 'CreateSchedule', { FlowName: 'x',
    ScheduleName: 'y', CronExpression: '0 * * * * *' }), 400, 'ActionNotSupported');
  const e3 = await expectError(() => ctx.v3.call('FrobnicateFlow', {}), 'ActionNotSupported');
  assert.equal(e3.data.statusCode, 400);
});

it(ctx, 'another Version is APIVersionNotSupported (400); none is MissingRequiredParams', async () => {
  const e = await expectError(() => clients.pop(ctx.srv, { apiVersion: '2024-06-28' })
    .request('ListFlows', {}), 'APIVersionNotSupported');
  assert.match(e.data.Message, /2024-06-28/);
  assertErrorBody(await raw.v1Request(ctx.srv, 'ListFlows', {}, { version: '2018-01-01',
    place: 'query' }), 400, 'APIVersionNotSupported');
  const e3 = await expectError(() => ctx.v3.call('ListFlows', {}, { version: '2024-06-28' }),
    'APIVersionNotSupported');
  assert.equal(e3.data.statusCode, 400);
  const r = await raw.v1Request(ctx.srv, 'ListFlows', {}, { omit: ['Version'], place: 'query' });
  assertErrorBody(r, 400, 'MissingRequiredParams');
  assert.match(r.json.Message, /Version/);
});

it(ctx, 'a wrong signature is SignatureNotMatch (403), and the secret never leaks', async () => {
  const e = await expectError(() => clients.v1(ctx.srv, { accessKeySecret: 'wrong-secret' })
    .listFlows({}), 'SignatureNotMatch');
  assert.ok(!e.data.Message.includes(require('./lib/flowd').KEY_SECRET));
  let r = await raw.v1Request(ctx.srv, 'ListFlows', {}, { secret: 'nope', place: 'query' });
  assertErrorBody(r, 403, 'SignatureNotMatch');
  // A parameter changed after signing.
  r = await raw.v1Request(ctx.srv, 'DescribeFlow', { Name: 'a' }, { place: 'query',
    after: (p) => { p.Name = 'b'; } });
  assertErrorBody(r, 403, 'SignatureNotMatch');
  // Signed as GET, sent as POST.
  r = await raw.v1Request(ctx.srv, 'ListFlows', {}, { place: 'form', method: 'POST',
    after: (p) => { p.Signature = raw.signV1('GET', p); } });
  assertErrorBody(r, 403, 'SignatureNotMatch');
  const e3 = await expectError(() => clients.v3(ctx.srv, { accessKeySecret: 'wrong' })
    .call('ListFlows', {}), 'SignatureNotMatch');
  assert.equal(e3.data.statusCode, 403);
});

it(ctx, 'a Timestamp 20 minutes off is RequestTimeTooSkewed (403), both ways', async () => {
  const v1 = ctx.v1;
  for (const off of [-20 * 60 * 1000, 20 * 60 * 1000]) {
    const e = await expectError(() => v1.listFlows({ Timestamp: raw.timestamp(off) }),
      'RequestTimeTooSkewed');
    assert.match(e.data.Message, /\d{4}-\d{2}-\d{2}T/, 'both times in the message');
    assertErrorBody(await raw.v1Request(ctx.srv, 'ListFlows', {},
      { timestamp: raw.timestamp(off), place: 'query' }), 403, 'RequestTimeTooSkewed');
  }
  // 5 minutes off is inside the window.
  const ok = await v1.listFlows({ Timestamp: raw.timestamp(-5 * 60 * 1000) });
  assert.equal(ok.Code, undefined);
});

it(ctx, 'an unknown AccessKeyId is InvalidAccessKeyID (403)', async () => {
  const e = await expectError(() => clients.v1(ctx.srv, { accessKeyId: 'LTAInobodyHere' })
    .listFlows({}), 'InvalidAccessKeyID');
  assert.match(e.data.Message, /LTAInobodyHere/);
  assertErrorBody(await raw.v1Request(ctx.srv, 'ListFlows', {}, { keyId: 'LTAInobodyHere',
    place: 'query' }), 403, 'InvalidAccessKeyID');
  const e3 = await expectError(() => clients.v3(ctx.srv, { accessKeyId: 'LTAInobodyHere' })
    .call('ListFlows', {}), 'InvalidAccessKeyID');
  assert.equal(e3.data.statusCode, 403);
});

it(ctx, 'missing V1 common parameters are MissingRequiredParams', async () => {
  for (const name of ['AccessKeyId', 'SignatureNonce', 'Timestamp', 'SignatureMethod',
    'SignatureVersion']) {
    const r = await raw.v1Request(ctx.srv, 'ListFlows', {}, { omit: [name], place: 'query' });
    assertErrorBody(r, 400, 'MissingRequiredParams');
    assert.match(r.json.Message, new RegExp(name));
  }
  const r = await raw.v1Request(ctx.srv, 'ListFlows', {}, { place: 'query', unsigned: true });
  assertErrorBody(r, 400, 'MissingRequiredParams');
  assert.match(r.json.Message, /Signature/);
});

it(ctx, 'a reused SignatureNonce is SignatureNonceUsed (400)', async () => {
  const n = raw.nonce();
  const a = await raw.v1Request(ctx.srv, 'ListFlows', {}, { nonce: n, place: 'query' });
  assert.equal(a.status, 200, a.text);
  const b = await raw.v1Request(ctx.srv, 'ListFlows', {}, { nonce: n, place: 'query' });
  assertErrorBody(b, 400, 'SignatureNonceUsed');
});

it(ctx, 'a body over 1 MiB is EntityTooLarge (400)', async () => {
  const name = u.uniq('big');
  const def = '# ' + 'x'.repeat(1024 * 1024 + 10) + '\n' + u.passFlow(name);
  const r = await raw.v1Request(ctx.srv, 'CreateFlow', { Name: name, Definition: def,
    Description: '', Type: 'FDL' });
  assertErrorBody(r, 400, 'EntityTooLarge');
  assert.match(r.json.Message, /1048576/);
  // A plain oversized body, not even signed.
  const big = Buffer.alloc(1024 * 1024 + 1, 0x61);
  const r2 = await raw.send(ctx.srv, { method: 'POST', path: '/',
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: big });
  assertErrorBody(r2, 400, 'EntityTooLarge');
  // Chunked (no Content-Length), as openapi-client sends.
  const r3 = await raw.send(ctx.srv, { method: 'POST', path: '/', chunked: true,
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: big });
  assertErrorBody(r3, 400, 'EntityTooLarge');
  // The flow was not created, and the server still answers.
  await expectError(() => ctx.v1.describeFlow({ Name: name }), 'FlowNotExists');
});

it(ctx, 'a non-empty text/plain body is UnsupportedMediaType (415)', async () => {
  const p = raw.v1Params('ListFlows');
  p.Signature = raw.signV1('POST', p);
  const r = await raw.send(ctx.srv, { method: 'POST', path: '/?' + raw.canonical(p),
    headers: { 'content-type': 'text/plain' }, body: 'hello' });
  assertErrorBody(r, 415, 'UnsupportedMediaType');
  const r2 = await raw.send(ctx.srv, { method: 'POST', path: '/?' + raw.canonical(p),
    headers: { 'content-type': 'application/xml' }, body: '<a/>' });
  assertErrorBody(r2, 415, 'UnsupportedMediaType');
});

it(ctx, 'a JSON object body is accepted as parameters', async () => {
  const name = u.uniq('json');
  const r = await raw.v1Request(ctx.srv, 'CreateFlow', { Name: name, Definition: u.passFlow(name),
    Description: 'via json', Type: 'FDL' }, { place: 'json' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.Name, name);
  const d = await ctx.v1.describeFlow({ Name: name });
  assert.equal(d.Description, 'via json');
});

it(ctx, 'the same parameter with different values in query and body is InvalidArgument', async () => {
  const name = u.uniq('dup');
  const p = raw.v1Params('CreateFlow', { Name: name, Definition: u.passFlow(name),
    Description: '', Type: 'FDL' });
  p.Signature = raw.signV1('POST', p);
  const r = await raw.send(ctx.srv, { method: 'POST',
    path: '/?' + raw.canonical({ Name: name + 'x' }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: raw.canonical(p) });
  assertErrorBody(r, 400, 'InvalidArgument');
  assert.match(r.json.Message, /Name/);
});

it(ctx, 'other paths are 404 NotFound, other methods 405 MethodNotAllowed', async () => {
  const q = '?' + raw.canonical({ ...raw.v1Params('ListFlows') });
  assertErrorBody(await raw.send(ctx.srv, { path: '/flows' + q }), 404, 'NotFound');
  assertErrorBody(await raw.send(ctx.srv, { path: '/index.html' }), 404, 'NotFound');
  assertErrorBody(await raw.send(ctx.srv, { method: 'POST', path: '/api/v1' }), 404, 'NotFound');
  for (const m of ['PUT', 'DELETE', 'PATCH']) {
    assertErrorBody(await raw.send(ctx.srv, { method: m, path: '/' }), 405, 'MethodNotAllowed');
  }
});

it(ctx, 'Format=XML is answered in JSON', async () => {
  const r = await raw.v1Request(ctx.srv, 'ListFlows', { Format: 'XML' }, { place: 'query' });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json && Array.isArray(r.json.Flows));
});

it(ctx, 'the server keeps serving after hostile requests', async () => {
  const junk = [
    { method: 'POST', path: '/', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '%%%%&&&===' },
    { method: 'POST', path: '/', headers: { 'content-type': 'application/json' }, body: '{"a":' },
    { method: 'POST', path: '/', headers: { 'content-type': 'application/json' }, body: '[1,2]' },
    { method: 'GET', path: '/?Action=' + 'A'.repeat(5000) },
  ];
  for (const j of junk) {
    const r = await raw.send(ctx.srv, j);
    assert.ok(r.status >= 400 && r.status < 500, `${j.body || j.path}: ${r.status} ${r.text}`);
    assert.ok(r.json && r.json.Code, r.text);
  }
  const ok = await ctx.v1.listFlows({});
  assert.ok(Array.isArray(ok.Flows));
});

it(ctx, 'V3 hand-signed: accepted as is; missing x-acs-* headers are MissingRequiredHeader', async () => {
  const ok = await raw.v3Request(ctx.srv, 'ListFlows', { Limit: '1' }, null, { method: 'GET' });
  assert.equal(ok.status, 200, ok.text);
  assert.ok(Array.isArray(ok.json.Flows));
  for (const h of ['x-acs-date', 'x-acs-signature-nonce', 'x-acs-content-sha256', 'x-acs-action',
    'x-acs-version']) {
    const r = await raw.v3Request(ctx.srv, 'ListFlows', {}, null, { method: 'GET', omitHeaders: [h] });
    assertErrorBody(r, 400, 'MissingRequiredHeader');
    assert.match(r.json.Message, new RegExp(h, 'i'));
  }
  // A header listed in SignedHeaders but not sent.
  const r = await raw.v3Request(ctx.srv, 'ListFlows', {}, null, { method: 'GET',
    extraSigned: ['x-acs-extra'] });
  assertErrorBody(r, 400, 'MissingRequiredHeader');
  assert.match(r.json.Message, /x-acs-extra/);
});

it(ctx, 'V3 hand-signed: skew, nonce reuse, wrong payload hash, unknown key', async () => {
  let r = await raw.v3Request(ctx.srv, 'ListFlows', {}, null, { method: 'GET',
    date: raw.timestamp(-20 * 60 * 1000) });
  assertErrorBody(r, 403, 'RequestTimeTooSkewed');
  const n = raw.nonce();
  r = await raw.v3Request(ctx.srv, 'ListFlows', {}, null, { method: 'GET', nonce: n });
  assert.equal(r.status, 200, r.text);
  r = await raw.v3Request(ctx.srv, 'ListFlows', {}, null, { method: 'GET', nonce: n });
  assertErrorBody(r, 400, 'SignatureNonceUsed');
  // The body does not match x-acs-content-sha256 (signed over the declared hash).
  // A body other than the one whose hash was signed.
  const flow = u.uniq('v3hash');
  r = await raw.v3Request(ctx.srv, 'CreateFlow', {}, { Name: flow, Definition: u.passFlow(flow),
    Description: 'signed', Type: 'FDL' }, { sendForm: { Name: flow, Definition: u.passFlow(flow),
    Description: 'swapped', Type: 'FDL' } });
  assert.ok([400, 403].includes(r.status), r.text);
  assert.ok(['SignatureNotMatch', 'InvalidArgument'].includes(r.json.Code), r.text);
  await expectError(() => ctx.v1.describeFlow({ Name: flow }), 'FlowNotExists');
  r = await raw.v3Request(ctx.srv, 'ListFlows', {}, null, { method: 'GET', keyId: 'LTAInobody' });
  assertErrorBody(r, 403, 'InvalidAccessKeyID');
  r = await raw.v3Request(ctx.srv, 'ListFlows', {}, null, { method: 'GET', secret: 'wrong' });
  assertErrorBody(r, 403, 'SignatureNotMatch');
  r = await raw.v3Request(ctx.srv, 'ListFlows', {}, null, { method: 'GET', version: '2024-06-28' });
  assertErrorBody(r, 400, 'APIVersionNotSupported');
});
