'use strict';
// Races on one waiting callback task (flowd's decisions 4 and 5), thousands of times: in each round
// ReportTaskFailed, ReportTaskSucceeded and StopExecution are fired at the same moment (in a
// shuffled order, each on its own connection), and in some rounds the task's 1 s Timeout
// races too (the requests are fired around its deadline). Exactly one outcome wins: the one
// 200 (or the timeout when nobody got a 200); every losing reporter gets 400
// TaskAlreadyCompleted and a losing StopExecution 400 ExecutionAlreadyCompleted, nothing
// else. The history holds exactly one TaskSucceeded/TaskFailed/TaskTimedOut for the attempt
// (none when the stop won), the winner's EventId names it, and the final status is the
// winner's. Also: the same report twice at once with the same RequestId gets 200 twice with
// the same EventId (alone, and racing a StopExecution).

const assert = require('node:assert/strict');
const { setup, it } = require('./lib/harness');
const raw = require('./lib/raw');
const u = require('./lib/util');

const ctx = setup();

const ROUNDS = 800;          // report-failed / report-succeeded / stop (+ timeout) rounds
const TIMEOUT_EVERY = 4;     // every 4th round races the 1 s task Timeout as well
const SAME_RID_ROUNDS = 300; // the same report twice at once (a third of them against a stop)
const PIPELINE = 16;         // rounds in flight at once

const OUTCOME_TYPES = new Set(['TaskSucceeded', 'TaskFailed', 'TaskTimedOut']);

// A single callback task (no Retry, no Catch) that ends the execution.
function raceFlow(name, url, timeout) {
  return u.callbackFlow(name, url, { timeout });
}

function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

// Runs fn(i) for i in 0..n-1 with at most width calls in flight; rejects on the first error.
async function pipelined(n, width, fn) {
  let next = 0;
  const lanes = [];
  for (let l = 0; l < Math.min(width, n); l++) {
    lanes.push((async () => {
      while (next < n) {
        const i = next++;
        await fn(i);
      }
    })());
  }
  await Promise.all(lanes);
}

// One signed V1 request (form body), resolved with {status, json}; action parameters only.
async function send(action, params) {
  const r = await raw.v1Request(ctx.srv, action, params);
  return { status: r.status, json: r.json || { text: r.text } };
}

const describe = (flow, name) => `${flow}/${name}`;

// Starts an execution and waits for its token (the dispatch). Resolves {name, token, at}.
async function startWaiting(flow) {
  const { name, orderId } = await u.startTagged(ctx.v1, flow);
  const req = await ctx.worker.nextFor(orderId, 10000);
  return { name, orderId, token: req.body.token, at: req.at };
}

// The outcome events of the (only) task attempt, and the whole history.
async function attemptOutcomes(flow, name) {
  const ev = await u.fullHistory(ctx.v1, flow, name);
  u.assertEventIds(ev);
  const sched = ev.filter((e) => e.Type === 'TaskScheduled');
  assert.equal(sched.length, 1, `${describe(flow, name)}: one attempt: ${u.types(ev)}`);
  const outs = ev.filter((e) => OUTCOME_TYPES.has(e.Type));
  for (const e of outs) {
    assert.equal(Number(e.ScheduleEventId), Number(sched[0].EventId),
      `${describe(flow, name)}: ${e.Type} names its TaskScheduled`);
  }
  return { ev, outs };
}

it(ctx, `${ROUNDS} rounds: ReportTaskFailed vs ReportTaskSucceeded vs StopExecution ` +
  `(vs the task Timeout every ${TIMEOUT_EVERY}th): exactly one wins`, { timeout: 120000 },
async () => {
  const flowLong = u.uniq('race');
  const flowShort = u.uniq('racet');
  await u.createFlow(ctx.v1, flowLong, raceFlow(flowLong, ctx.worker.url('/race'), 60));
  await u.createFlow(ctx.v1, flowShort, raceFlow(flowShort, ctx.worker.url('/race'), 1));
  const wins = { TaskFailed: 0, TaskSucceeded: 0, Stop: 0, TaskTimedOut: 0 };
  let contenders = 0;

  await pipelined(ROUNDS, PIPELINE, async (i) => {
    const timed = i % TIMEOUT_EVERY === TIMEOUT_EVERY - 1;
    const flow = timed ? flowShort : flowLong;
    const w = await startWaiting(flow);
    const where = `round ${i} ${describe(flow, w.name)}`;
    if (timed) {
      // Fire around the deadline (1 s after the dispatch, give or take).
      const fireAt = w.at + 1000 + Math.floor(Math.random() * 160) - 60;
      await u.sleep(Math.max(0, fireAt - Date.now()));
    }
    const rid = `race-${i}`;
    const output = { winner: 'succeeded', round: i };
    const calls = {
      fail: () => send('ReportTaskFailed', { TaskToken: w.token, Error: 'RaceFail',
        Cause: `round ${i}`, RequestId: `${rid}-f` }),
      succeed: () => send('ReportTaskSucceeded', { TaskToken: w.token,
        Output: JSON.stringify(output), RequestId: `${rid}-s` }),
      stop: () => send('StopExecution', { FlowName: flow, ExecutionName: w.name,
        Error: 'RaceStop', Cause: `round ${i}` }),
    };
    const order = shuffle(Object.keys(calls));
    const replies = await Promise.all(order.map((k) => calls[k]()));
    contenders += order.length + (timed ? 1 : 0);
    const res = Object.fromEntries(order.map((k, j) => [k, replies[j]]));
    const show = JSON.stringify(res);

    const winners = Object.keys(res).filter((k) => res[k].status === 200);
    assert.ok(winners.length <= 1, `${where}: more than one 200: ${show}`);
    for (const k of Object.keys(res)) {
      if (res[k].status === 200) continue;
      const want = k === 'stop' ? 'ExecutionAlreadyCompleted' : 'TaskAlreadyCompleted';
      assert.equal(res[k].status, 400, `${where}: ${k} lost with ${res[k].status}: ${show}`);
      assert.equal(res[k].json.Code, want, `${where}: ${k} lost with ${res[k].json.Code}: ${show}`);
    }
    if (!timed) assert.equal(winners.length, 1, `${where}: nobody won: ${show}`);

    const d = await u.waitDone(ctx.v1, flow, w.name);
    const { ev, outs } = await attemptOutcomes(flow, w.name);
    const last = ev[ev.length - 1];
    const winner = winners[0];
    if (winner === 'stop') {
      wins.Stop++;
      assert.equal(outs.length, 0, `${where}: stopped, yet ${u.types(outs)}: ${show}`);
      assert.equal(d.Status, 'Stopped', `${where}: ${show}`);
      assert.equal(last.Type, 'ExecutionStopped');
      assert.equal(u.detail(last).Error, 'RaceStop');
    } else {
      assert.equal(outs.length, 1, `${where}: outcomes ${u.types(outs)}: ${show}`);
      const o = outs[0];
      if (winner === 'fail') {
        wins.TaskFailed++;
        assert.equal(o.Type, 'TaskFailed', `${where}: ${show}`);
        assert.equal(Number(o.EventId), Number(res.fail.json.EventId), `${where}: ${show}`);
        assert.equal(u.detail(o).Error, 'RaceFail');
        assert.equal(d.Status, 'Failed');
        assert.equal(d.ErrorCode, 'RaceFail');
        assert.equal(last.Type, 'ExecutionFailed');
      } else if (winner === 'succeed') {
        wins.TaskSucceeded++;
        assert.equal(o.Type, 'TaskSucceeded', `${where}: ${show}`);
        assert.equal(Number(o.EventId), Number(res.succeed.json.EventId), `${where}: ${show}`);
        assert.deepEqual(u.detail(o).Output, output);
        assert.equal(d.Status, 'Succeeded');
        assert.deepEqual(u.output(d), output);
        assert.equal(last.Type, 'ExecutionSucceeded');
      } else {
        wins.TaskTimedOut++;
        assert.ok(timed, `${where}: no winner without a timeout`);
        assert.equal(o.Type, 'TaskTimedOut', `${where}: ${show}`);
        assert.equal(d.Status, 'Failed');
        assert.equal(d.ErrorCode, 'FnF.TaskTimeout');
        assert.equal(last.Type, 'ExecutionFailed');
      }
    }
  });
  console.log(`# races: ${ROUNDS} rounds, ${contenders} contenders, winners ` +
    JSON.stringify(wins));
  assert.ok(contenders >= 1200, `only ${contenders} contenders`);
  for (const [k, n] of Object.entries(wins)) {
    assert.ok(n >= 1, `${k} never won in ${ROUNDS} rounds: ${JSON.stringify(wins)}`);
  }
});

it(ctx, `${SAME_RID_ROUNDS} rounds: the same report twice at once with the same RequestId ` +
  'gets 200 twice with the same EventId', { timeout: 60000 }, async () => {
  const flow = u.uniq('racerid');
  await u.createFlow(ctx.v1, flow, raceFlow(flow, ctx.worker.url('/rid'), 60));
  let stopWins = 0;
  let reportWins = 0;
  await pipelined(SAME_RID_ROUNDS, PIPELINE, async (i) => {
    const w = await startWaiting(flow);
    const where = `round ${i} ${describe(flow, w.name)}`;
    const rid = `same-${i}-${w.name}`;
    const failed = i % 2 === 0;
    const withStop = i % 3 === 0;
    const output = { same: i };
    const rep = () => (failed
      ? send('ReportTaskFailed', { TaskToken: w.token, Error: 'SameRid', Cause: rid,
        RequestId: rid })
      : send('ReportTaskSucceeded', { TaskToken: w.token, Output: JSON.stringify(output),
        RequestId: rid }));
    const stop = () => send('StopExecution', { FlowName: flow, ExecutionName: w.name,
      Error: 'RaceStop' });
    const fns = withStop ? [rep, rep, stop] : [rep, rep];
    const [a, b, s] = await Promise.all(fns.map((f) => f()));
    const show = JSON.stringify({ a, b, s });
    const d = await u.waitDone(ctx.v1, flow, w.name);
    const { outs } = await attemptOutcomes(flow, w.name);
    if (s && s.status === 200) {
      stopWins++;
      for (const r of [a, b]) {
        assert.equal(r.status, 400, `${where}: ${show}`);
        assert.equal(r.json.Code, 'TaskAlreadyCompleted', `${where}: ${show}`);
      }
      assert.equal(outs.length, 0, `${where}: ${show}`);
      assert.equal(d.Status, 'Stopped');
      return;
    }
    reportWins++;
    assert.equal(a.status, 200, `${where}: first copy: ${show}`);
    assert.equal(b.status, 200, `${where}: second copy: ${show}`);
    assert.equal(Number(a.json.EventId), Number(b.json.EventId), `${where}: ${show}`);
    assert.equal(a.json.RequestId, rid);
    assert.equal(b.json.RequestId, rid);
    if (s) {
      assert.equal(s.status, 400, `${where}: ${show}`);
      assert.equal(s.json.Code, 'ExecutionAlreadyCompleted', `${where}: ${show}`);
    }
    assert.equal(outs.length, 1, `${where}: ${u.types(outs)}`);
    assert.equal(Number(outs[0].EventId), Number(a.json.EventId));
    assert.equal(outs[0].Type, failed ? 'TaskFailed' : 'TaskSucceeded');
    assert.equal(d.Status, failed ? 'Failed' : 'Succeeded');
  });
  console.log(`# same RequestId: ${SAME_RID_ROUNDS} rounds, report won ${reportWins}, ` +
    `stop won ${stopWins}`);
});
