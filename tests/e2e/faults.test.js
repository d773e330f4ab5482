'use strict';
// Store faults (InternalServerError): flowd started with FL_FAULT_STORE=N makes the Nth
// statement its writer runs after start-up fail as an I/O error would. Looping N over the
// statements of a create-start-report sequence puts the fault into every step once, among
// them the ReportTaskFailed transaction. Each time: the request that hit the fault gets
// 500 InternalServerError, and nothing of it remains (the task still waits, the report can
// be retried and wins).

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { startFlowd } = require('./lib/flowd');
const { startWorker } = require('./lib/worker');
const clients = require('./lib/clients');
const u = require('./lib/util');

// Retries fn while it fails with InternalServerError (the one injected fault); returns
// [result, number of 500s seen].
async function through(fn) {
  for (let seen = 0; ; seen++) {
    try {
      return [await fn(), seen];
    } catch (e) {
      if (e.code !== 'InternalServerError' || seen > 0) throw e;
    }
  }
}

test('a store fault in any write gives InternalServerError and leaves no trace',
  { timeout: 120000 }, async () => {
    const worker = await startWorker();
    let reportFaults = 0;
    try {
      for (let n = 1; n <= 40; n++) {
        const srv = await startFlowd({ env: { FL_FAULT_STORE: String(n) } });
        try {
          const c = clients.v1(srv);
          const flow = `f${n}`;
          const def = u.callbackFlow(flow, worker.url(), { timeout: 60 });
          await through(() => u.createFlow(c, flow, def));
          const exec = `e${n}`;
          const orderId = u.uniq('order');
          await through(() => c.startExecution({ FlowName: flow, ExecutionName: exec,
            Input: JSON.stringify({ orderId }) }));
          const req = await worker.nextFor(orderId);
          const report = () => c.reportTaskFailed({ TaskToken: req.body.token, Error: 'Boom',
            Cause: `n=${n}` });
          let first;
          try {
            first = await report();
          } catch (e) {
            assert.equal(e.code, 'InternalServerError', `n=${n}: ${e.message}`);
            assert.equal(e.data.Message, 'An internal error has occurred. Please retry.');
            reportFaults++;
            // Nothing of the failed report remains: still running, no TaskFailed event.
            const d = await c.describeExecution({ FlowName: flow, ExecutionName: exec });
            assert.equal(d.Status, 'Running', `n=${n}`);
            const h = await u.fullHistory(c, flow, exec);
            assert.ok(!u.types(h).includes('TaskFailed'), `n=${n}: ${u.types(h)}`);
            first = await report(); // the retry wins
          }
          assert.ok(Number(first.EventId) > 0);
          const d = await u.waitDone(c, flow, exec);
          assert.equal(d.Status, 'Failed');
          assert.equal(d.ErrorCode, 'Boom');
          const h = await u.fullHistory(c, flow, exec);
          u.assertEventIds(h);
          assert.equal(u.types(h).filter((t) => t === 'TaskFailed').length, 1, `n=${n}`);
        } finally {
          await srv.close();
        }
      }
    } finally {
      await worker.close();
    }
    assert.ok(reportFaults >= 1, 'no value of N put the fault into the report transaction');
  });
