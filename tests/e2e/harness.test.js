'use strict';
// The hand-made V1 signer of lib/raw.js must agree with the spec's test vector and with what
// pop-core really sends; otherwise the hostile-request tests would prove nothing. No flowd
// is needed here.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { RPCClient } = require('@alicloud/pop-core');
const raw = require('./lib/raw');

test('signer: the CloudFlow API reference test vector B', () => {
  const params = {
    Action: 'ReportTaskSucceeded', Format: 'json', Version: '2019-03-15',
    Timestamp: '2024-01-01T00:00:00Z', SignatureNonce: '0123456789abcdef0123456789abcdef',
    SignatureMethod: 'HMAC-SHA1', SignatureVersion: '1.0', AccessKeyId: 'testid',
    TaskToken: 'tok en/+=', Output: '{"k":"v"}',
  };
  assert.equal(raw.stringToSign('POST', params),
    'POST&%2F&AccessKeyId%3Dtestid%26Action%3DReportTaskSucceeded%26Format%3Djson%26Output%3D' +
    '%257B%2522k%2522%253A%2522v%2522%257D%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D' +
    '0123456789abcdef0123456789abcdef%26SignatureVersion%3D1.0%26TaskToken%3Dtok%2520en%252F' +
    '%252B%253D%26Timestamp%3D2024-01-01T00%253A00%253A00Z%26Version%3D2019-03-15');
  assert.equal(raw.signV1('POST', params, 'testsecret'), 'XewJxQla/Cat38QJ1GcyqCSuaHc=');
});

test('signer: agrees with what pop-core sends', async () => {
  let seen;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      seen = { method: req.method, url: req.url, body: Buffer.concat(chunks).toString() };
      res.setHeader('content-type', 'application/json');
      res.end('{"RequestId":"X"}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const client = new RPCClient({ endpoint: `http://127.0.0.1:${server.address().port}`,
      apiVersion: '2019-03-15', accessKeyId: 'id', accessKeySecret: 's3cr+t' });
    await client.request('ReportTaskFailed',
      { TaskToken: 'a+b/c=d e*~', Error: 'Bad "thing" é', Cause: '100% & more' },
      { method: 'POST' });
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/');
    const form = new URLSearchParams(seen.body);
    const params = Object.fromEntries(form);
    const sig = params.Signature;
    delete params.Signature;
    assert.equal(params.TaskToken, 'a+b/c=d e*~');
    assert.equal(raw.signV1('POST', params, 's3cr+t'), sig);
    // Our canonical text is byte-for-byte the body pop-core sends, minus the signature.
    assert.equal(seen.body.replace(/&Signature=[^&]*$/, ''), raw.canonical(params));
  } finally {
    server.close();
  }
});

test('V3 signer: the CloudFlow API reference test vectors C and D', () => {
  const c = raw.signV3({
    method: 'POST', path: '/',
    query: { ImageId: 'win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd', RegionId: 'cn-shanghai' },
    headers: { host: 'ecs.cn-shanghai.aliyuncs.com', 'x-acs-action': 'RunInstances',
      'x-acs-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'x-acs-date': '2023-10-26T09:01:01Z', 'x-acs-signature-nonce': 'd410180a5abf7fe235dd9b74aca91fc0',
      'x-acs-version': '2014-05-26' },
    signedHeaders: ['host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date',
      'x-acs-signature-nonce', 'x-acs-version'],
    payloadHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    secret: 'YourAccessKeySecret',
  });
  assert.equal(c.stringToSign,
    'ACS3-HMAC-SHA256\n29622f5feb1e9fcaaa2e276a72889c975f7b16f00e02be1ca34965b18cd85015');
  assert.equal(c.signature, 'e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804');

  const body = 'Output=%7B%22k%22%3A%22v%22%7D';
  assert.equal(raw.sha256hex(body), 'f4083461250889fa9e2454fe38770a7778fb68379f65832dec03683ebe1a688f');
  const d = raw.signV3({
    method: 'POST', path: '/', query: { TaskToken: 'tok' },
    headers: { 'content-type': 'application/x-www-form-urlencoded',
      host: 'cn-hangzhou.fnf.aliyuncs.com', 'x-acs-action': 'ReportTaskSucceeded',
      'x-acs-content-sha256': raw.sha256hex(body), 'x-acs-date': '2024-01-01T00:00:00Z',
      'x-acs-signature-nonce': '0123456789abcdef0123456789abcdef', 'x-acs-version': '2019-03-15' },
    signedHeaders: ['content-type', 'host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date',
      'x-acs-signature-nonce', 'x-acs-version'],
    payloadHash: raw.sha256hex(body),
    secret: 'testsecret',
  });
  assert.equal(d.signature, '5ff5707b67b42d886fbc27d81df1209dc6ba5fc67c693238957080466a1bcef2');
});
