'use strict';
// Row locks on PostgreSQL (runs only with FLOWD_TEST_PG): a state change locks its
// execution's row. Here another session (standing in for another flowd node) holds that lock:
// a report waits and goes through once the lock is gone within the internal retries, and
// answers TaskInvalidState (409, retry) only when the lock outlasts them - leaving the task
// exactly as it was. Reads never wait for the lock.

const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const { setup, it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const u = require('./lib/util');

const PG = process.env.FLOWD_TEST_PG;
const ctx = setup();
const only = { skip: !PG && 'needs FLOWD_TEST_PG (a PostgreSQL URL)' };

// Holds the row lock of the execution for ms milliseconds in its own psql session, fed
// through stdin; returns {locked, done}: locked resolves once that session sits idle inside
// its transaction (the lock is taken), done when it ended (with psql's exit code).
function holdLock(schema, execName, ms) {
  const app = u.uniq('locker');
  const url = `${PG}${PG.includes('?') ? '&' : '?'}application_name=${app}`;
  const p = spawn('psql', [url, '-qAtX', '-v', 'ON_ERROR_STOP=1'],
    { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  const done = new Promise((resolve) => p.on('exit', (code) => resolve(code)));
  p.stdin.write(`BEGIN;\nSELECT id FROM ${schema}.executions WHERE name = '${execName}'` +
    ' FOR UPDATE;\n');
  const locked = u.waitFor(() => {
    const n = execFileSync('psql', [PG, '-qAtX', '-c', 'SELECT count(*) FROM pg_stat_activity' +
      ` WHERE application_name = '${app}' AND state = 'idle in transaction'`]).toString().trim();
    if (err) throw new Error(`psql: ${err}`);
    return n === '1';
  }, 10000, 50, 'the lock session').then(() => {
    setTimeout(() => p.stdin.end('COMMIT;\n'), ms);
  });
  return { locked, done };
}

async function waitingTask(flowTag) {
  const flow = u.uniq(flowTag);
  await u.createFlow(ctx.v1, flow, u.callbackFlow(flow, ctx.worker.url(), { timeout: 120 }));
  const ex = await u.startTagged(ctx.v1, flow);
  const token = (await ctx.worker.nextFor(ex.orderId)).body.token;
  return { flow, name: ex.name, token };
}

it(ctx, 'a report waits for a lock held briefly by another session and then succeeds', only, async () => {
  const t = await waitingTask('lockbrief');
  const lock = holdLock(ctx.srv.pgSchema, t.name, 800);
  await lock.locked;
  const t0 = Date.now();
  const r = await ctx.v1.reportTaskFailed({ TaskToken: t.token, Error: 'Brief', Cause: 'c',
    RequestId: 'brief-1' });
  const took = Date.now() - t0;
  assert.ok(r.EventId > 0, JSON.stringify(r));
  assert.ok(took >= 300, `the report waited for the lock (${took} ms)`);
  assert.equal(await lock.done, 0);
  const done = await u.waitDone(ctx.v1, t.flow, t.name);
  assert.equal(done.Status, 'Failed');
  const h = await u.fullHistory(ctx.v1, t.flow, t.name);
  assert.equal(u.types(h).filter((x) => x === 'TaskFailed').length, 1);
});

it(ctx, 'a lock that outlasts the retries gives TaskInvalidState and changes nothing', only, async () => {
  const t = await waitingTask('lockheld');
  const lock = holdLock(ctx.srv.pgSchema, t.name, 6000);
  await lock.locked;
  const before = await u.fullHistory(ctx.v1, t.flow, t.name);
  const t0 = Date.now();
  const e = await expectError(() => ctx.v3.call('ReportTaskFailed', { TaskToken: t.token,
    Error: 'Held', Cause: 'c', RequestId: 'held-1' }), 'TaskInvalidState');
  assert.equal(e.data.statusCode, 409);
  assert.match(e.data.Message, /invalid state, please retry/);
  assert.ok(Date.now() - t0 < 5500, 'answered before the lock ended');
  // Reads do not wait for row locks.
  const r0 = Date.now();
  const d = await ctx.v1.describeExecution({ FlowName: t.flow, ExecutionName: t.name });
  assert.equal(d.Status, 'Running');
  assert.ok(Date.now() - r0 < 1000, 'DescribeExecution did not wait');
  assert.equal(await lock.done, 0);
  const after = await u.fullHistory(ctx.v1, t.flow, t.name);
  assert.deepEqual(u.types(after), u.types(before));

  // The retry the 409 asks for goes through.
  const r = await ctx.v1.reportTaskFailed({ TaskToken: t.token, Error: 'Held', Cause: 'c',
    RequestId: 'held-1' });
  assert.ok(r.EventId > 0);
  const done = await u.waitDone(ctx.v1, t.flow, t.name);
  assert.equal(done.Status, 'Failed');
});
