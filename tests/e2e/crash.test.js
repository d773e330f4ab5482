'use strict';
// Crash consistency, short form: tests/crash/crash.js drives a mix of CreateFlow,
// StartExecution, ReportTaskSucceeded/Failed (some resent with the same RequestId),
// StopExecution and timeouts at concurrency 16 while flowd is SIGKILLed and restarted on the
// same data directory every 0.3-1.2 s; then it settles everything and checks every
// acknowledged write against the histories (see the harness's header). `make crash` runs the
// long form (10 minutes). With FLOWD_TEST_PG the harness runs on PostgreSQL, and a second
// test runs three nodes on one schema, killing and restarting a random one each time.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { test } = require('node:test');
const { FLOWD_BIN, REPO } = require('./lib/flowd');

// Runs the harness with extra arguments and checks its RESULT line.
async function runHarness(extra, min) {
  const args = [path.join(REPO, 'tests', 'crash', 'crash.js'), '--flowd', FLOWD_BIN,
    '--concurrency', '16', '--kill-min-ms', '300', '--kill-max-ms', '1200', '--quiet',
    ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? s)));
  const m = /^RESULT (.*)$/m.exec(out);
  const tail = out.length > 6000 ? '...' + out.slice(-6000) : out;
  assert.ok(m, `the harness printed no RESULT line (exit ${code}):\n${tail}`);
  const r = JSON.parse(m[1]);
  console.log(`# crash${r.nodes > 1 ? ` (${r.nodes} nodes)` : ''}: ${r.crashes} crashes, ` +
    `${r.acknowledgedChecked} acknowledged writes checked, ${r.executions} executions, ` +
    `${r.unknownReplies} unknown replies, ${r.violations} violations (seed ${r.seed})`);
  assert.equal(code, 0, `the harness found violations (exit ${code}):\n${tail}`);
  assert.equal(r.violations, 0, tail);
  assert.ok(r.crashes >= min.crashes, `only ${r.crashes} crashes injected:\n${tail}`);
  assert.ok(r.acknowledgedChecked >= 50, `only ${r.acknowledgedChecked} acknowledged writes ` +
    `checked:\n${tail}`);
  assert.ok(r.executions >= 20, `only ${r.executions} executions:\n${tail}`);
  assert.deepEqual(r.unexpectedReplies || {}, {}, `unexpected replies:\n${tail}`);
  return r;
}

test('crash harness: acknowledged writes survive SIGKILLs at random moments',
  { timeout: 90000 }, async () => {
    await runHarness(['--seconds', '15', '--settle-seconds', '30'], { crashes: 5 });
  });

test('crash harness, three nodes on PostgreSQL: a random node killed and restarted each time',
  { timeout: 150000, skip: !process.env.FLOWD_TEST_PG && 'needs FLOWD_TEST_PG' }, async () => {
    const r = await runHarness(['--nodes', '3', '--seconds', '25', '--settle-seconds', '60'],
      { crashes: 8 });
    assert.equal(r.nodes, 3);
  });
