'use strict';
// Access keys (README "Accounts, users, keys and policies"): CreateAccessKey makes root keys
// (no UserName) and user keys; a disabled (UpdateAccessKey Status=Inactive) or deleted key is
// InvalidAccessKeyID (403), an enabled one works again; ListAccessKeys shows ids, users and
// status but never a secret; keys of another account are out of reach. Also through
// `flowctl admin key ...`.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { setup, it } = require('./lib/harness');
const clients = require('./lib/clients');
const { expectError } = clients;
const raw = require('./lib/raw');
const u = require('./lib/util');
const adm = require('./lib/admin');
const { ACCOUNT_ID, KEY_ID, KEY_SECRET } = require('./lib/flowd');

const ctx = setup();
const secrets = [KEY_SECRET];

let B = null;
async function accountB() {
  if (!B) {
    B = await adm.createAccount(ctx.srv);
    secrets.push(B.accessKeySecret);
  }
  return B;
}

async function rootKey(accountId, creds) {
  const r = await adm.admin(ctx.srv, creds).call('CreateAccessKey', { AccountId: accountId });
  assert.ok(r.AccessKeyId && r.AccessKeySecret, JSON.stringify(r));
  assert.equal(String(r.AccountId), accountId);
  assert.ok(!r.UserName, `a root key has no user: ${JSON.stringify(r)}`);
  secrets.push(r.AccessKeySecret);
  return { accessKeyId: r.AccessKeyId, accessKeySecret: r.AccessKeySecret };
}

// Asserts the key is refused: V1 (pop-core and raw, 403) and V3.
async function refused(creds) {
  const e = await expectError(() => clients.v1(ctx.srv, creds).listFlows({}), 'InvalidAccessKeyID');
  assert.ok(!e.data.Message.includes(creds.accessKeySecret), 'no secret in the message');
  const r = await raw.v1Request(ctx.srv, 'ListFlows', {}, { keyId: creds.accessKeyId,
    secret: creds.accessKeySecret, place: 'query' });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.Code, 'InvalidAccessKeyID');
  const e3 = await expectError(() => clients.v3(ctx.srv, creds).call('ListFlows', {}),
    'InvalidAccessKeyID');
  assert.equal(e3.data.statusCode, 403);
}

async function works(creds) {
  const l = await clients.v1(ctx.srv, creds).listFlows({});
  assert.ok(Array.isArray(l.Flows), JSON.stringify(l));
}

function setStatus(accountId, key, status, creds) {
  return adm.admin(ctx.srv, creds).call('UpdateAccessKey', { AccountId: accountId,
    UserAccessKeyId: key, Status: status });
}

it(ctx, 'a root key: disabled is InvalidAccessKeyID (403), enabled works again, deleted is InvalidAccessKeyID', async () => {
  const k = await rootKey(ACCOUNT_ID);
  await works(k);
  const up = await setStatus(ACCOUNT_ID, k.accessKeyId, 'Inactive');
  assert.equal(up.Code, undefined);
  await refused(k);
  // The other root key of the account is unaffected.
  await works({ accessKeyId: KEY_ID, accessKeySecret: KEY_SECRET });
  await setStatus(ACCOUNT_ID, k.accessKeyId, 'Active');
  await works(k);
  await adm.admin(ctx.srv).call('DeleteAccessKey', { AccountId: ACCOUNT_ID,
    UserAccessKeyId: k.accessKeyId });
  await refused(k);
  const l = await adm.admin(ctx.srv).call('ListAccessKeys', { AccountId: ACCOUNT_ID });
  assert.ok(!JSON.stringify(l).includes(k.accessKeyId), 'a deleted key is not listed');
  // Gone for good: updating or deleting it again is AccessKeyNotExists (404).
  await expectError(() => setStatus(ACCOUNT_ID, k.accessKeyId, 'Active'), 'AccessKeyNotExists');
  await expectError(() => adm.admin(ctx.srv).call('DeleteAccessKey', { AccountId: ACCOUNT_ID,
    UserAccessKeyId: k.accessKeyId }), 'AccessKeyNotExists');
  const r = await raw.v1Request(ctx.srv, 'DeleteAccessKey', { AccountId: ACCOUNT_ID,
    UserAccessKeyId: k.accessKeyId });
  assert.equal(r.status, 404, r.text);
  await refused(k);
});

it(ctx, "a disabled worker key cannot report, and the execution is untouched until it is enabled", async () => {
  const user = u.uniq('worker');
  const k = await adm.createUserWithKey(ctx.srv, ACCOUNT_ID, user);
  secrets.push(k.accessKeySecret);
  await adm.attachPolicy(ctx.srv, ACCOUNT_ID, user, 'reports',
    adm.policy(adm.allow('fnf:Report*', '*')));
  const flow = u.uniq('kf');
  await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, ctx.worker.url('/k')));
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const token = (await ctx.worker.nextFor(orderId)).body.token;
  await u.waitEvent(ctx.v1, flow, name);
  const hist = await u.fullHistory(ctx.v1, flow, name);

  await setStatus(ACCOUNT_ID, k.accessKeyId, 'Inactive');
  const v = clients.v1(ctx.srv, k);
  await expectError(() => v.reportTaskFailed({ TaskToken: token, Error: 'E' }), 'InvalidAccessKeyID');
  await expectError(() => v.reportTaskSucceeded({ TaskToken: token, Output: '{}' }),
    'InvalidAccessKeyID');
  assert.equal((await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: name })).Status,
    'Running');
  assert.deepEqual(await u.fullHistory(ctx.v1, flow, name), hist);
  const ks = await adm.admin(ctx.srv).call('ListAccessKeys', { AccountId: ACCOUNT_ID, UserName: user });
  const mine = (ks.AccessKeys || []).find((x) => x.AccessKeyId === k.accessKeyId);
  assert.ok(mine, JSON.stringify(ks));
  assert.equal(mine.Status, 'Inactive');
  assert.equal(mine.UserName, user);

  await setStatus(ACCOUNT_ID, k.accessKeyId, 'Active');
  await v.reportTaskSucceeded({ TaskToken: token, Output: '{"enabled":true}' });
  const d = await u.waitDone(ctx.v1, flow, name);
  assert.equal(d.Status, 'Succeeded');
  assert.deepEqual(u.output(d), { enabled: true });
});

it(ctx, 'ListAccessKeys shows ids, users and status, never a secret', async () => {
  const b = await accountB();
  const root2 = await rootKey(ACCOUNT_ID);
  const user = u.uniq('lister');
  const uk = await adm.createUserWithKey(ctx.srv, ACCOUNT_ID, user);
  secrets.push(uk.accessKeySecret);
  await setStatus(ACCOUNT_ID, root2.accessKeyId, 'Inactive');

  const all = await adm.admin(ctx.srv).call('ListAccessKeys', { AccountId: ACCOUNT_ID });
  const ofUser = await adm.admin(ctx.srv).call('ListAccessKeys', { AccountId: ACCOUNT_ID,
    UserName: user });
  const ofB = await adm.admin(ctx.srv, b).call('ListAccessKeys', {});
  for (const l of [all, ofUser, ofB]) {
    assert.ok(Array.isArray(l.AccessKeys), JSON.stringify(l));
    const text = JSON.stringify(l);
    for (const s of secrets) assert.ok(!text.includes(s), `a secret is listed: ${text}`);
    for (const k of l.AccessKeys) {
      for (const f of Object.keys(k)) assert.ok(!/secret/i.test(f), `field ${f} in ${text}`);
      assert.ok(['Active', 'Inactive'].includes(k.Status), text);
      assert.ok(k.CreatedTime, text);
    }
  }
  const byId = (l, id) => l.AccessKeys.find((k) => k.AccessKeyId === id);
  assert.ok(byId(all, KEY_ID), 'the admin root key is listed');
  assert.equal(byId(all, KEY_ID).Status, 'Active');
  assert.equal(byId(all, root2.accessKeyId).Status, 'Inactive');
  assert.ok(!byId(all, KEY_ID).UserName, 'a root key has no user');
  assert.equal(byId(ofUser, uk.accessKeyId).UserName, user);
  assert.equal(ofUser.AccessKeys.length, 1, JSON.stringify(ofUser));
  assert.ok(byId(ofB, b.accessKeyId), JSON.stringify(ofB));
  assert.ok(!byId(ofB, KEY_ID), "B does not see A's keys");

  const r = await adm.flowctl(ctx.srv, ['admin', 'key', 'list', '--account', ACCOUNT_ID, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(KEY_ID), r.stdout);
  for (const s of secrets) assert.ok(!r.stdout.includes(s), `flowctl printed a secret: ${r.stdout}`);
});

it(ctx, "another account's keys are out of reach; a bad Status is InvalidArgument", async () => {
  const b = await accountB();
  const k = await rootKey(ACCOUNT_ID);
  // B names A's key in its own account: no such key there.
  let e = await expectError(() => setStatus(b.accountId, k.accessKeyId, 'Inactive', b));
  assert.ok(['AccessKeyNotExists', 'AccessDenied'].includes(e.code), `${e.code} ${e.message}`);
  // B names A's account: not its to administer.
  e = await expectError(() => setStatus(ACCOUNT_ID, k.accessKeyId, 'Inactive', b), 'AccessDenied');
  e = await expectError(() => adm.admin(ctx.srv, b).call('DeleteAccessKey', { AccountId: ACCOUNT_ID,
    UserAccessKeyId: k.accessKeyId }), 'AccessDenied');
  e = await expectError(() => adm.admin(ctx.srv, b).call('ListAccessKeys', { AccountId: ACCOUNT_ID }),
    'AccessDenied');
  e = await expectError(() => adm.admin(ctx.srv, b).call('CreateAccessKey', { AccountId: ACCOUNT_ID }),
    'AccessDenied');
  await works(k);
  e = await expectError(() => setStatus(ACCOUNT_ID, k.accessKeyId, 'Paused'), 'InvalidArgument');
  assert.match(e.data.Message, /Status/);
  await works(k);
  await expectError(() => adm.admin(ctx.srv).call('CreateAccessKey', { AccountId: ACCOUNT_ID,
    UserName: u.uniq('ghost') }), 'UserNotExists');
  await expectError(() => adm.admin(ctx.srv).call('CreateAccessKey',
    { AccountId: '9999999999999998' }), 'AccountNotExists');
});

it(ctx, 'flowctl admin key create/disable/enable/delete', async () => {
  const b = await accountB();
  let r = await adm.flowctl(ctx.srv, ['admin', 'key', 'create', '--account', b.accountId, '--json'], b);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const k = { accessKeyId: r.json.AccessKeyId, accessKeySecret: r.json.AccessKeySecret };
  assert.ok(k.accessKeyId && k.accessKeySecret, r.stdout);
  secrets.push(k.accessKeySecret);
  await works(k);
  r = await adm.flowctl(ctx.srv, ['admin', 'key', 'disable', '--account', b.accountId,
    '--key', k.accessKeyId], b);
  assert.equal(r.code, 0, r.stderr);
  await refused(k);
  r = await adm.flowctl(ctx.srv, ['admin', 'key', 'enable', '--account', b.accountId,
    '--key', k.accessKeyId, '--json'], b);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.json, {});
  await works(k);
  r = await adm.flowctl(ctx.srv, ['admin', 'key', 'delete', '--account', b.accountId,
    '--key', k.accessKeyId], b);
  assert.equal(r.code, 0, r.stderr);
  await refused(k);
  r = await adm.flowctl(ctx.srv, ['admin', 'key', 'delete', '--account', b.accountId,
    '--key', k.accessKeyId], b);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /AccessKeyNotExists: /);
  // The refused key was audited as InvalidAccessKeyID, and no secret was ever logged.
  const line = await u.waitFor(() => adm.auditLines(ctx.srv.stderr).find((x) =>
    x.code === 'InvalidAccessKeyID' && x.key === k.accessKeyId), 5000, 50, 'audit line');
  assert.match(line.line, /audit: denied code=InvalidAccessKeyID/);
  for (const s of secrets) assert.ok(!ctx.srv.stderr.includes(s), `secret ${s.slice(0, 4)}... logged`);
});

it(ctx, 'the files that hold secrets in the data directory are mode 0600', async () => {
  const k = await rootKey(ACCOUNT_ID);
  await works(k);
  const files = fs.readdirSync(ctx.srv.dataDir).map((f) => path.join(ctx.srv.dataDir, f))
    .filter((f) => fs.statSync(f).isFile());
  assert.ok(files.length > 0);
  const holders = files.filter((f) => fs.readFileSync(f).includes(k.accessKeySecret) ||
    /\.(db|sqlite\d?)(-wal|-shm|-journal)?$/.test(f));
  // On PostgreSQL (FLOWD_TEST_PG) the keys live in the database, not in the data directory.
  if (!process.env.FLOWD_TEST_PG) {
    assert.ok(holders.length > 0, `some file holds the key: ${files.join(', ')}`);
  }
  for (const f of holders) {
    assert.equal((fs.statSync(f).mode & 0o777).toString(8), '600', f);
  }
});
