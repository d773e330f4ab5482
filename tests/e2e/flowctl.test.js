'use strict';
// flowctl against a real flowd: `flowctl call <Action> --<Param> <value>` prints the JSON
// reply; an error reply exits 1 with "Code: Message" on stderr. `--Definition @file` reads
// the file; `--sign v3` signs with V3.

const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { setup, it } = require('./lib/harness');
const { FLOWCTL_BIN, KEY_ID, KEY_SECRET } = require('./lib/flowd');
const u = require('./lib/util');

const ctx = setup();

// Runs flowctl; resolves {code, stdout, stderr, json} (never rejects on exit status).
function flowctl(args, env = {}) {
  return new Promise((resolve, reject) => {
    execFile(FLOWCTL_BIN, args, {
      env: { ...process.env, FLOWD_ENDPOINT: ctx.srv.endpoint, FLOWD_ACCESS_KEY_ID: KEY_ID,
        FLOWD_ACCESS_KEY_SECRET: KEY_SECRET, ...env },
      timeout: 15000,
    }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      let json;
      try { json = JSON.parse(stdout); } catch (_) { json = undefined; }
      resolve({ code: err ? err.code : 0, stdout, stderr, json });
    });
  });
}

function ok(r) {
  assert.equal(r.code, 0, `flowctl failed: ${r.stderr}`);
  assert.ok(r.json && typeof r.json === 'object', `JSON on stdout: ${r.stdout}`);
  assert.equal(r.json.Code, undefined);
  return r.json;
}

it(ctx, 'flowctl: create from @file, start, report failed, second report exits 1', async () => {
  assert.ok(fs.existsSync(FLOWCTL_BIN), `flowctl at ${FLOWCTL_BIN}`);
  const flow = u.uniq('ctl');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowctl-e2e-'));
  try {
    const file = path.join(dir, 'flow.yaml');
    const def = u.callbackFlow(flow, ctx.worker.url('/ctl'), {
      catch: '- Errors: [Rejected]\n  Next: Handle', next: 'Handle',
      extraStates: '- Type: Pass\n  Name: Handle\n  End: true',
    });
    fs.writeFileSync(file, def);
    const c = ok(await flowctl(['call', 'CreateFlow', '--Name', flow, '--Definition', '@' + file,
      '--Description', 'from flowctl', '--Type', 'FDL']));
    assert.equal(c.Name, flow);
    assert.equal(c.Definition, def, 'the file content, not the @path');

    const d = ok(await flowctl(['call', 'DescribeFlow', '--Name', flow]));
    assert.equal(d.Description, 'from flowctl');

    const orderId = u.uniq('order');
    const ex = u.uniq('ex');
    const s = ok(await flowctl(['call', 'StartExecution', '--FlowName', flow, '--ExecutionName', ex,
      '--Input', JSON.stringify({ orderId })]));
    assert.equal(s.Name, ex);
    const req = await ctx.worker.nextFor(orderId);

    const rep = ok(await flowctl(['call', 'ReportTaskFailed', '--TaskToken', req.body.token,
      '--Error', 'Rejected', '--Cause', 'said no via flowctl']));
    assert.ok(Number(rep.EventId) > 0);

    const again = await flowctl(['call', 'ReportTaskFailed', '--TaskToken', req.body.token,
      '--Error', 'Rejected']);
    assert.equal(again.code, 1, `exit code: ${again.code} ${again.stdout}`);
    assert.match(again.stderr, /TaskAlreadyCompleted: \S/);

    const done = await u.waitDone(ctx.v1, flow, ex);
    assert.equal(done.Status, 'Succeeded');
    assert.deepEqual(u.output(done), { Error: 'Rejected', Cause: 'said no via flowctl' });

    // V3 signing through flowctl.
    const d3 = ok(await flowctl(['call', 'DescribeExecution', '--FlowName', flow,
      '--ExecutionName', ex, '--sign', 'v3']));
    assert.equal(d3.Status, 'Succeeded');
    const h = ok(await flowctl(['call', 'GetExecutionHistory', '--FlowName', flow,
      '--ExecutionName', ex]));
    u.assertEventIds(h.Events);
    assert.ok(h.Events.some((e) => e.Type === 'TaskFailed' &&
      Number(e.EventId) === Number(rep.EventId)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it(ctx, 'flowctl: error replies exit 1 with Code: Message; bad credentials too', async () => {
  const missing = u.uniq('missing');
  let r = await flowctl(['call', 'DescribeFlow', '--Name', missing]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`FlowNotExists: .*${missing}`));
  r = await flowctl(['call', 'DescribeFlow', '--Name', missing, '--sign', 'v3']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /FlowNotExists: /);
  r = await flowctl(['call', 'ListFlows'], { FLOWD_ACCESS_KEY_SECRET: 'wrong' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SignatureNotMatch: /);
  r = await flowctl(['call', 'ListFlows', '--sign', 'v3'], { FLOWD_ACCESS_KEY_SECRET: 'wrong' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /SignatureNotMatch: /);
  r = await flowctl(['call', 'NoSuchAction']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ActionNotSupported: /);
  const list = ok(await flowctl(['call', 'ListFlows', '--Limit', '5']));
  assert.ok(Array.isArray(list.Flows));
});
