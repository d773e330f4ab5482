'use strict';
// Store faults over every write action. flowd started with FL_FAULT_STORE=N makes the Nth
// statement its writer runs after start-up fail as an I/O error would (reads never fail). For
// N = 1, 2, ... one fresh flowd runs the same sequence of writes: CreateFlow, UpdateFlow,
// StartExecution, ReportTaskSucceeded, ReportTaskFailed, StopExecution, CreateUser (admin),
// DeleteFlow, with the setup each needs (retried on InternalServerError, since the fault may
// land there). The fault lands in whichever statement is the Nth, so across the loop it falls
// into each action. Each action is sent once: it succeeds, or it answers 500
// InternalServerError "An internal error has occurred. Please retry." and then the state is
// exactly as before (no flow / the old definition / no execution and no dispatch / the task
// still waiting with the history unchanged / still Running / no user / the flow still there),
// and the same request sent again succeeds. The loop ends after several values of N in a row
// saw no fault at all; every action must have met the fault at least once, and flowd must be
// alive after every run.

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { startFlowd, ACCOUNT_ID } = require('./lib/flowd');
const { startWorker } = require('./lib/worker');
const clients = require('./lib/clients');
const adm = require('./lib/admin');
const u = require('./lib/util');

const ACTIONS = ['CreateFlow', 'UpdateFlow', 'StartExecution', 'ReportTaskSucceeded',
  'ReportTaskFailed', 'StopExecution', 'CreateUser', 'DeleteFlow'];
const MAX_N = 250;      // safety cap
const CLEAN_RUNS = 12;  // (a dispatch's background write takes 5 statements: gaps are short)
const PARALLEL = 6;     // values of N run at the same time  // stop after this many values of N in a row without any fault seen
const ISE_MESSAGE = 'An internal error has occurred. Please retry.';

function isInjected(e) {
  return e && e.code === 'InternalServerError';
}

function assertInjected(e, where) {
  assert.equal(e.code, 'InternalServerError', `${where}: ${e.code}: ${e.message}`);
  assert.equal(e.data.Message, ISE_MESSAGE, where);
  const status = e.entry && e.entry.response && e.entry.response.statusCode;
  assert.equal(status, 500, `${where}: HTTP status`);
}

// History without the TaskSubmitted events: the dispatcher records those in the background,
// so one may land between two reads; everything else must be identical.
function stable(events) {
  return events.filter((e) => e.Type !== 'TaskSubmitted')
    .map((e) => ({ EventId: e.EventId, Type: e.Type, StepName: e.StepName,
      ScheduleEventId: e.ScheduleEventId, EventDetail: e.EventDetail }));
}

// Resolves when fn fails with code; rethrows any other error as it is (an injected 500 then
// reaches setup(), which retries).
async function answers(fn, code) {
  try {
    await fn();
  } catch (e) {
    if (e.code === code) return;
    throw e;
  }
  throw new Error(`expected ${code}, got success`);
}

async function waitingTokens(c, flow, exec) {
  const r = await c.request('ListWaitingTasks', { FlowName: flow, ExecutionName: exec },
    { method: 'GET' });
  return (r.Tasks || []).map((t) => t.TaskToken);
}

// One run of the whole sequence against a flowd with FL_FAULT_STORE=n. Resolves
// {faults: number of 500s seen, hits: [actions whose single request got the 500], notes}.
async function runOnce(n, worker) {
  const srv = await startFlowd({ env: { FL_FAULT_STORE: String(n) } });
  const c = clients.v1(srv);
  const admin = adm.admin(srv);
  const out = { faults: 0, hits: [], notes: [] };
  const where = (s) => `N=${n} ${s}`;

  // Setup: retried once when the fault lands in it.
  async function setup(what, fn) {
    try {
      return await fn();
    } catch (e) {
      if (!isInjected(e)) throw new Error(`${where(what)}: ${e.code}: ${e.message}`);
      assertInjected(e, where(what));
      out.faults++;
      return fn();
    }
  }

  // The action: sent once; on the injected 500, verify() checks nothing changed, then the
  // same request (fn(1)) must succeed.
  async function action(name, fn, verify) {
    try {
      return await fn(0);
    } catch (e) {
      if (!isInjected(e)) throw new Error(`${where(name)}: ${e.code}: ${e.message}`);
      assertInjected(e, where(name));
      out.faults++;
      out.hits.push(name);
      await verify();
      try {
        return await fn(1);
      } catch (e2) {
        throw new Error(`${where(name)}: the retry after the 500 failed: ${e2.code}: ${e2.message}`);
      }
    }
  }

  // Waits for the dispatch of an execution and (best effort) its TaskSubmitted event.
  async function waiting(flow, exec, orderId) {
    const req = await worker.nextFor(orderId, 10000);
    try {
      await u.waitEvent(c, flow, exec, 'TaskSubmitted', 3000);
    } catch (_) {
      out.notes.push(`${exec}: no TaskSubmitted within 3 s`);
    }
    return req.body.token;
  }

  try {
    const url = worker.url('/faults');
    const f1 = `fa${n}`;
    const def1 = u.callbackFlow(f1, url, { timeout: 60 });
    const def2 = u.callbackFlow(f1, url, { timeout: 120 });

    // CreateFlow: a failed one leaves no flow.
    await action('CreateFlow', () => c.createFlow({ Name: f1, Definition: def1,
      Description: 'v1', Type: 'FDL' }), async () => {
      await clients.expectError(() => c.describeFlow({ Name: f1 }), 'FlowNotExists');
      const l = await c.listFlows({ Limit: 100 });
      assert.ok(!(l.Flows || []).some((f) => f.Name === f1), where('CreateFlow: listed'));
    });
    assert.equal((await c.describeFlow({ Name: f1 })).Description, 'v1');

    // UpdateFlow: a failed one leaves the old description and definition.
    await action('UpdateFlow', () => c.updateFlow({ Name: f1, Definition: def2,
      Description: 'v2' }), async () => {
      const d = await c.describeFlow({ Name: f1 });
      assert.equal(d.Description, 'v1', where('UpdateFlow: Description'));
      assert.equal(d.Definition, def1, where('UpdateFlow: Definition'));
    });
    const fd = await c.describeFlow({ Name: f1 });
    assert.equal(fd.Description, 'v2');
    assert.equal(fd.Definition, def2);

    // StartExecution: a failed one leaves no execution and sends no dispatch; the retry (same
    // ExecutionName, another orderId so that its dispatch is told apart) starts it.
    const e1 = `e1_${n}`;
    const o1 = [u.uniq('o1a'), u.uniq('o1b')];
    let used = 0;
    await action('StartExecution', (i) => {
      used = i;
      return c.startExecution({ FlowName: f1, ExecutionName: e1,
        Input: JSON.stringify({ orderId: o1[i] }) });
    }, async () => {
      await clients.expectError(() => c.describeExecution({ FlowName: f1, ExecutionName: e1 }),
        'ExecutionNotExists');
      const l = await c.listExecutions({ FlowName: f1 });
      assert.equal((l.Executions || []).length, 0, where('StartExecution: listed'));
      await u.sleep(300);
      assert.equal(worker.allFor(o1[0]).length, 0, where('StartExecution: a dispatch was sent'));
    });
    const t1 = await waiting(f1, e1, o1[used]);

    // ReportTaskSucceeded: a failed one leaves the task waiting and the history unchanged.
    const h1 = stable(await u.fullHistory(c, f1, e1));
    await action('ReportTaskSucceeded', () => c.reportTaskSucceeded({ TaskToken: t1,
      Output: '{"ok":1}', RequestId: `rs-${n}` }), async () => {
      const d = await c.describeExecution({ FlowName: f1, ExecutionName: e1 });
      assert.equal(d.Status, 'Running', where('ReportTaskSucceeded: status'));
      assert.deepEqual(stable(await u.fullHistory(c, f1, e1)), h1,
        where('ReportTaskSucceeded: history'));
      assert.deepEqual(await waitingTokens(c, f1, e1), [t1], where('ReportTaskSucceeded: waiting'));
    });
    const d1 = await u.waitDone(c, f1, e1);
    assert.equal(d1.Status, 'Succeeded', where(JSON.stringify(d1)));
    const ev1 = await u.fullHistory(c, f1, e1);
    u.assertEventIds(ev1);
    assert.equal(ev1.filter((e) => e.Type === 'TaskSucceeded').length, 1, where(u.types(ev1)));

    // ReportTaskFailed: the same.
    const e2 = `e2_${n}`;
    const o2 = u.uniq('o2');
    await setup('StartExecution e2', () => c.startExecution({ FlowName: f1, ExecutionName: e2,
      Input: JSON.stringify({ orderId: o2 }) }));
    const t2 = await waiting(f1, e2, o2);
    const h2 = stable(await u.fullHistory(c, f1, e2));
    await action('ReportTaskFailed', () => c.reportTaskFailed({ TaskToken: t2, Error: 'Boom',
      Cause: `n=${n}`, RequestId: `rf-${n}` }), async () => {
      const d = await c.describeExecution({ FlowName: f1, ExecutionName: e2 });
      assert.equal(d.Status, 'Running', where('ReportTaskFailed: status'));
      assert.deepEqual(stable(await u.fullHistory(c, f1, e2)), h2,
        where('ReportTaskFailed: history'));
      assert.deepEqual(await waitingTokens(c, f1, e2), [t2], where('ReportTaskFailed: waiting'));
    });
    const d2 = await u.waitDone(c, f1, e2);
    assert.equal(d2.Status, 'Failed');
    assert.equal(d2.ErrorCode, 'Boom');
    const ev2 = await u.fullHistory(c, f1, e2);
    u.assertEventIds(ev2);
    assert.equal(ev2.filter((e) => e.Type === 'TaskFailed').length, 1, where(u.types(ev2)));

    // StopExecution: a failed one leaves it Running, its task waiting, the history unchanged.
    const e3 = `e3_${n}`;
    const o3 = u.uniq('o3');
    await setup('StartExecution e3', () => c.startExecution({ FlowName: f1, ExecutionName: e3,
      Input: JSON.stringify({ orderId: o3 }) }));
    const t3 = await waiting(f1, e3, o3);
    const h3 = stable(await u.fullHistory(c, f1, e3));
    await action('StopExecution', () => c.stopExecution({ FlowName: f1, ExecutionName: e3,
      Error: 'Halt', Cause: `n=${n}` }), async () => {
      const d = await c.describeExecution({ FlowName: f1, ExecutionName: e3 });
      assert.equal(d.Status, 'Running', where('StopExecution: status'));
      assert.deepEqual(stable(await u.fullHistory(c, f1, e3)), h3, where('StopExecution: history'));
      assert.deepEqual(await waitingTokens(c, f1, e3), [t3], where('StopExecution: waiting'));
    });
    const d3 = await u.waitDone(c, f1, e3);
    assert.equal(d3.Status, 'Stopped');
    assert.equal(d3.ErrorCode, 'Halt');
    // (The report runs in a write job too, so the fault may land in it.)
    await setup('report after the stop', () => answers(() => c.reportTaskSucceeded({
      TaskToken: t3, Output: '{}' }), 'TaskAlreadyCompleted'));

    // CreateUser (admin): a failed one leaves no user.
    const user = `user${n}`;
    await action('CreateUser', () => admin.call('CreateUser', { AccountId: ACCOUNT_ID,
      UserName: user }), async () => {
      const l = await admin.call('ListUsers', { AccountId: ACCOUNT_ID });
      assert.ok(!JSON.stringify(l).includes(`"${user}"`), where(`CreateUser: ${JSON.stringify(l)}`));
    });
    const ul = await admin.call('ListUsers', { AccountId: ACCOUNT_ID });
    assert.ok(JSON.stringify(ul).includes(`"${user}"`), where(JSON.stringify(ul)));

    // DeleteFlow: a failed one leaves the flow.
    const f2 = `fb${n}`;
    await setup('CreateFlow f2', () => c.createFlow({ Name: f2, Definition: u.passFlow(f2),
      Description: 'doomed', Type: 'FDL' }));
    await action('DeleteFlow', () => c.deleteFlow({ Name: f2 }), async () => {
      const d = await c.describeFlow({ Name: f2 });
      assert.equal(d.Description, 'doomed', where('DeleteFlow'));
    });
    await clients.expectError(() => c.describeFlow({ Name: f2 }), 'FlowNotExists');

    // Nothing of a failed StartExecution was ever dispatched.
    if (used === 1) assert.equal(worker.allFor(o1[0]).length, 0, where('late dispatch'));
    // flowd is alive and still writes.
    assert.equal(srv.exitInfo, null, where(`flowd exited: ${srv.diag(1500)}`));
    await setup('CreateFlow fc', () => c.createFlow({ Name: `fc${n}`,
      Definition: u.passFlow(`fc${n}`), Description: 'x', Type: 'FDL' }));
    assert.equal(srv.exitInfo, null, where('flowd exited'));
    return out;
  } catch (e) {
    e.message = `${e.message}\n${srv.diag(2000)}`;
    throw e;
  } finally {
    await srv.close();
  }
}

test('a store fault in any write action: 500 InternalServerError, nothing half-applied, ' +
  'the retry succeeds', { timeout: 180000 }, async () => {
  const worker = await startWorker();
  const hits = Object.fromEntries(ACTIONS.map((a) => [a, 0]));
  let injected = 0;
  let clean = 0;
  let n = 0;
  const notes = [];
  try {
    // Several values of N at once (each its own flowd and data directory), in order.
    while (clean < CLEAN_RUNS) {
      assert.ok(n < MAX_N, `the sequence still meets faults at N=${MAX_N}`);
      const batch = [];
      for (let i = 0; i < PARALLEL; i++) batch.push(n + 1 + i);
      const results = await Promise.all(batch.map((m) => runOnce(m, worker)));
      for (const r of results) {
        n++;
        injected += r.faults;
        for (const a of r.hits) hits[a]++;
        notes.push(...r.notes.map((x) => `N=${n} ${x}`));
        clean = r.faults === 0 ? clean + 1 : 0;
        if (process.env.FAULTS_DEBUG) console.log(`# N=${n} ${JSON.stringify(r)}`);
      }
    }
  } finally {
    await worker.close();
  }
  console.log(`# faults-all: N=1..${n}, ${injected} faults seen as 500, per action ` +
    `${JSON.stringify(hits)}${notes.length ? `; notes: ${notes.join('; ')}` : ''}`);
  for (const a of ACTIONS) assert.ok(hits[a] >= 1, `the fault never landed in ${a}: ${JSON.stringify(hits)}`);
});
