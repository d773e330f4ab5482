'use strict';
// Credentials (flowd's decisions 2): without FLOWD_ACCESS_KEY_* flowd creates an account with a
// root key on first start, prints it, stores it in the data directory with mode 0600 and
// keeps it across restarts; FLOWD_ACCOUNT_ID sets the account id.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Flowd } = require('./lib/flowd');
const clients = require('./lib/clients');
const u = require('./lib/util');

test('without credentials flowd creates, prints and keeps a root key', { timeout: 30000 }, async () => {
  const srv = new Flowd({ env: { FLOWD_ACCESS_KEY_ID: undefined,
    FLOWD_ACCESS_KEY_SECRET: undefined } });
  try {
    await srv.start();
    const out = srv.stdout + srv.stderr;
    const id = /FLOWD_ACCESS_KEY_ID=(\S+)/.exec(out);
    const secret = /FLOWD_ACCESS_KEY_SECRET=(\S+)/.exec(out);
    assert.ok(id && secret, `the new key is printed:\n${out}`);
    const creds = { accessKeyId: id[1], accessKeySecret: secret[1] };
    const name = u.uniq('f');
    await u.createFlow(clients.v1(srv, creds), name, u.passFlow(name));

    // Stored in the data directory, readable by the owner only.
    const holders = fs.readdirSync(srv.dataDir).map((f) => path.join(srv.dataDir, f))
      .filter((f) => fs.statSync(f).isFile() && fs.readFileSync(f).includes(secret[1]));
    assert.ok(holders.length >= 1, 'a file in the data directory holds the secret');
    for (const f of holders) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);

    // The test's own key does not exist in this account.
    await clients.expectError(() => clients.v1(srv).listFlows({}), 'InvalidAccessKeyID');

    await srv.restart();
    const d = await clients.v1(srv, creds).describeFlow({ Name: name });
    assert.equal(d.Name, name, 'the same key works after a restart');
  } finally {
    await srv.close();
  }
});

test('FLOWD_ACCESS_KEY_* choose the key, created if absent on an existing data dir', { timeout: 30000 }, async () => {
  const srv = new Flowd();
  try {
    await srv.start();
    const name = u.uniq('f');
    await u.createFlow(clients.v1(srv), name, u.passFlow(name));
    assert.match(srv.stdout + srv.stderr, /1234567890123456/, 'the account id is announced');
    // A second key chosen by the environment on the same data directory is created too.
    await srv.stop();
    srv.extraEnv = { FLOWD_ACCESS_KEY_ID: 'LTAIsecondKeyForE2e', FLOWD_ACCESS_KEY_SECRET: 'second-secret' };
    await srv.start();
    const second = clients.v1(srv, { accessKeyId: 'LTAIsecondKeyForE2e',
      accessKeySecret: 'second-secret' });
    assert.equal((await second.describeFlow({ Name: name })).Name, name);
  } finally {
    await srv.close();
  }
});
