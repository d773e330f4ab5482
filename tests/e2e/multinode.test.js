'use strict';
// Several flowd nodes on one PostgreSQL schema (runs only with FLOWD_TEST_PG set to a
// PostgreSQL URL; skipped otherwise). Three nodes share a fresh schema, each with its own
// data directory (and so its own node id) and a config file with a 3 s dispatch timeout,
// which makes an outbox claim's lease 3 + 15 = 18 s (a timer claim's is 10 s).
//
// The workload: callback tasks (HTTP:Request, WaitForCustomCallback) dispatched to a local
// worker that holds each request 100-700 ms (so dispatches are in flight when a node dies),
// one flow with Retry (Transient, 1 s interval, 2 retries) and Catch (Rejected) whose client
// reports a token once its TaskSubmitted is recorded, one with a 1 s Wait state and a 2 s
// task Timeout that some tokens are left to hit. Eight clients start executions and report
// their tokens (each report with its own RequestId, a quarter of the acknowledged ones sent
// again to the next node with the same RequestId), every call going to the next live node
// in turn; a call without a reply is sent again to the next node. A few seconds in, node0 is
// SIGKILLed while it holds the claim of a dispatch whose reply the worker holds back, and
// stays down (its claims come free only when their leases end); a little later node1 is
// restarted (SIGTERM, then started on the same data directory: same node id). When all is
// finished, node0 is started again on its data directory (same node id) and serves a second
// round. Checks:
//   - node0's claims are all gone before it comes back, none was sent by another node while
//     its lease ran, and the held dispatch was sent again after its lease (its execution
//     could not go on otherwise); no dispatch was sent by two nodes at once (the same token
//     twice within a second, away from node1's restart);
// and for every execution:
//   - it finished, with the status its reports call for; exactly one terminal event, last;
//   - EventIds are 1..n; GetExecutionHistory through two different nodes is the same;
//   - every acknowledged report's EventId is in the history, of the reported type, on the
//     attempt of the reported token, with the reported Output / Error and Cause, and a resend
//     with the same RequestId to another node got the same EventId;
//   - every TaskScheduled's token reached the worker (at least once), every token the worker
//     got belongs to a TaskScheduled, the clients decided each token once, and each attempt
//     has exactly one outcome (TaskSucceeded / TaskFailed / TaskTimedOut: a timeout never
//     fires twice nor after a report), at most one TaskSubmitted, no TaskSubmitFailed;
//   - the Wait state was entered and left once; retry timers fired once per retry (the
//     number of attempts is 1 + the Transient failures that had retries left).
// Identity across nodes: an access key created through the admin API on one node works on
// another within 2 s (and once deleted is refused everywhere within 2 s); a signature nonce
// used on one node is SignatureNonceUsed on the others (V1 and V3, reads and writes).

const assert = require('node:assert/strict');
const { execFile, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { test, before, after } = require('node:test');
const { Flowd, ACCOUNT_ID } = require('./lib/flowd');
const { startWorker } = require('./lib/worker');
const { writeConfig } = require('./lib/lang');
const clients = require('./lib/clients');
const raw = require('./lib/raw');
const adm = require('./lib/admin');
const u = require('./lib/util');

const PG = process.env.FLOWD_TEST_PG || '';
const SKIP = PG ? false : 'needs FLOWD_TEST_PG (a PostgreSQL URL)';

const NODES = 3;
const DISPATCH_TIMEOUT_MS = 3000;
const OUTBOX_LEASE_MS = DISPATCH_TIMEOUT_MS + 15000;
const LOAD_MS = 12000;        // executions are started for this long
const KILL_AT_MS = 3500;      // node 0 is SIGKILLed this far into the load
const RESTART_AT_MS = 7000;   // node 1 is restarted (SIGTERM + start) this far into it
const ACTORS = 8;
const RETRIES = 2;            // MaxAttempts of the Retry rule (retries after the first try)
const TIMED_TIMEOUT_S = 2;

const OUTCOMES = new Set(['TaskSucceeded', 'TaskFailed', 'TaskTimedOut']);
const TERMINAL = { ExecutionSucceeded: 'Succeeded', ExecutionFailed: 'Failed',
  ExecutionStopped: 'Stopped', ExecutionTimedOut: 'TimedOut' };

function psql(sql) {
  execFileSync('psql', [PG, '-qAtX', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    { stdio: ['ignore', 'pipe', 'pipe'] });
}

// Rows of a query (psql, unaligned, fields split at \x1f).
function pgRows(sql) {
  return new Promise((resolve, reject) => {
    execFile('psql', [PG, '-qAtX', '-F', '\x1f', '-v', 'ON_ERROR_STOP=1', '-c', sql],
      (err, stdout, stderr) => (err ? reject(new Error(`psql: ${stderr || err.message}`))
        : resolve(stdout.split('\n').filter(Boolean).map((l) => l.split('\x1f')))));
  });
}

// The token of an outbox payload (its Parameters.Body.token), or null.
function payloadToken(text) {
  try {
    const p = JSON.parse(text);
    return (p.Parameters && p.Parameters.Body && p.Parameters.Body.token) || null;
  } catch (_) {
    return null;
  }
}

function parseDetail(ev) {
  try { return ev && ev.EventDetail ? JSON.parse(ev.EventDetail) : {}; } catch (_) { return {}; }
}

// ---- the cluster ----

const cl = { schema: null, url: null, configFile: null, nodes: [], worker: null, rr: 0 };

function nodeName(i) { return `node${i}`; }

function diag() {
  return cl.nodes.map((n, i) => `=== ${nodeName(i)} ===\n${n.diag(1500)}`).join('\n');
}

async function startNode(n) {
  await n.start();
  n.client = clients.v1(n);
  n.nodeId = fs.readFileSync(path.join(n.dataDir, 'node-id'), 'utf8').trim();
  n.up = true;
}

// The live outbox and timer claims of a node: [{table, id, lease, token, exec}].
async function claimsOf(n) {
  const now = Date.now();
  const out = await pgRows(`SELECT 'outbox', id, lease_ms, payload, exec_id FROM ` +
    `${cl.schema}.outbox WHERE owner = '${n.nodeId}' AND lease_ms > ${now} UNION ALL ` +
    `SELECT 'timers', id, lease_ms, '', exec_id FROM ${cl.schema}.timers ` +
    `WHERE owner = '${n.nodeId}' AND lease_ms > ${now}`);
  return out.map(([table, id, lease, payload, exec]) => ({ table, id: Number(id),
    lease: Number(lease), token: table === 'outbox' ? payloadToken(payload) : null,
    exec: Number(exec) }));
}

if (PG) {
  before(async () => {
    cl.schema = `mn_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    psql(`CREATE SCHEMA ${cl.schema}`);
    cl.url = `${PG}${PG.includes('?') ? '&' : '?'}options=-csearch_path%3D${cl.schema}`;
    cl.configFile = writeConfig({ dispatch: { timeout_ms: DISPATCH_TIMEOUT_MS } });
    cl.worker = await startWorker();
    for (let i = 0; i < NODES; i++) {
      const n = new Flowd({ args: ['--store', cl.url, '--config', cl.configFile] });
      n.up = false;
      n.acks = 0;
      cl.nodes.push(n);
    }
    // All at once: the schema's migrations run under an advisory lock.
    await Promise.all(cl.nodes.map(startNode));
  });
  after(async () => {
    for (const n of cl.nodes) await n.close();
    if (cl.worker) await cl.worker.close();
    if (cl.configFile) fs.rmSync(path.dirname(cl.configFile), { recursive: true, force: true });
    if (cl.schema) {
      try { psql(`DROP SCHEMA ${cl.schema} CASCADE`); } catch (_) { /* left for the cluster */ }
    }
  });
}

// The next live node, round-robin.
function nextNode() {
  for (let k = 0; k < NODES; k++) {
    const i = cl.rr++ % NODES;
    if (cl.nodes[i].up) return i;
  }
  return -1;
}

const stats = { calls: 0, unknown: 0, startUnknown: 0, reports: 0, acked: 0, resends: 0,
  ignored: 0, alreadyCompleted: 0, invalidState: 0 };
const problems = []; // what the clients saw that they should not have

// One call through the next live node: {ok, res, node} | {code, data, node} | {unknown}.
// A call without a reply (the node died, or is restarting) is sent again to the next node.
async function call(method, params, tries = 40) {
  let last;
  for (let t = 0; t < tries; t++) {
    const i = nextNode();
    if (i < 0) { await u.sleep(100); continue; }
    const n = cl.nodes[i];
    stats.calls++;
    n.inflight = (n.inflight || 0) + 1;
    try {
      const res = await n.client[method](params, { timeout: 8000 });
      return { ok: true, res, node: i };
    } catch (e) {
      if (e && e.code && e.data && typeof e.data === 'object' && e.data.Code) {
        return { code: e.code, data: e.data, node: i };
      }
      stats.unknown++;
      last = { unknown: true, err: e, node: i };
    } finally {
      n.inflight--;
    }
    await u.sleep(30);
  }
  return last || { unknown: true, err: new Error('no live node') };
}

// ---- the worker: tokens by execution ----

const execs = new Map();      // name (= orderId) -> execution record
const deliveries = new Map(); // token -> {orderId, step, count, at: [epoch ms]}
const inflight = new Set();   // tokens of dispatches received and not answered yet
const pinned = new Map();     // token -> promise: its dispatch is answered once it resolves
let clock0 = 0;

function onDispatch(rec) {
  const b = rec.body;
  if (!b || typeof b.token !== 'string') return null;
  let d = deliveries.get(b.token);
  if (!d) {
    d = { orderId: b.orderId, step: b.step, count: 0, at: [] };
    deliveries.set(b.token, d);
    const ex = execs.get(b.orderId);
    if (ex) {
      ex.queue.push(b.token);
      if (ex.wake) { const w = ex.wake; ex.wake = null; w(); }
    }
  }
  d.count++;
  d.at.push(Date.now());
  inflight.add(b.token);
  // Held a moment (well inside the dispatch timeout), so that dispatches are in flight when
  // a node is killed.
  return u.sleep(100 + Math.floor(Math.random() * 600))
    .then(() => pinned.get(b.token))
    .then(() => inflight.delete(b.token));
}

function nextToken(ex, ms) {
  if (ex.queue.length) return Promise.resolve(ex.queue.shift());
  return new Promise((resolve) => {
    const t = setTimeout(() => { ex.wake = null; resolve(null); }, ms);
    ex.wake = () => { clearTimeout(t); resolve(ex.queue.shift() || null); };
  });
}

// ---- flows ----

function taskState(url, timeout) {
  return [
    '  - Type: Task',
    '    Name: Work',
    '    Action: HTTP:Request',
    '    TaskMode: WaitForCustomCallback',
    `    Timeout: ${timeout}`,
    '    Parameters:',
    `      URL: ${url}`,
    '      Method: POST',
    '      Body:',
    '        token.$: $Context.Current.TaskToken',
    '        orderId.$: $Context.Execution.Input.orderId',
    '        step: Work',
    '    Retry:',
    '      - Errors: [Transient]',
    '        IntervalSeconds: 1',
    `        MaxAttempts: ${RETRIES}`,
    '    Catch:',
    '      - Errors: [Rejected]',
    '        Next: Rejected',
    '    End: true',
    '  - Type: Pass',
    '    Name: Rejected',
    '    End: true',
  ].join('\n');
}

function cbFlow(name, url) {
  return `Type: StateMachine\nSpecVersion: v1\nName: ${name}\nStartAt: Work\nStates:\n` +
    taskState(url, 60) + '\n';
}

function timedFlow(name, url) {
  return `Type: StateMachine\nSpecVersion: v1\nName: ${name}\nStartAt: Pause\nStates:\n` +
    '  - Type: Wait\n    Name: Pause\n    Seconds: 1\n    Next: Work\n' +
    taskState(url, TIMED_TIMEOUT_S) + '\n';
}

const flows = {};

async function createFlows() {
  const url = cl.worker.url('/mn');
  const defs = { cb: cbFlow, timed: timedFlow };
  for (const [kind, def] of Object.entries(defs)) {
    const name = u.uniq(`mn_${kind}`);
    const r = await call('createFlow', { Name: name, Definition: def(name, url),
      Description: 'multinode', Type: 'FDL' });
    assert.ok(r.ok, `CreateFlow ${name}: ${JSON.stringify(r.data || r.err && r.err.message)}`);
    flows[kind] = name;
  }
}

// ---- clients ----

let seq = 0;

function newExec(kind) {
  seq++;
  const name = `mn${seq}_${kind}_${process.pid}`;
  const ex = { name, kind, flow: flows[kind], queue: [], wake: null, decisions: [],
    started: false, final: null, gaveUp: false };
  execs.set(name, ex);
  return ex;
}

async function startExec(ex) {
  const params = { FlowName: ex.flow, ExecutionName: ex.name,
    Input: JSON.stringify({ orderId: ex.name }) };
  let unknownBefore = false;
  for (let t = 0; t < 20; t++) {
    const r = await call('startExecution', params, 1);
    if (r.ok) { ex.started = true; cl.nodes[r.node].acks++; return true; }
    if (r.unknown) { unknownBefore = true; stats.startUnknown++; await u.sleep(50); continue; }
    if (r.code === 'ExecutionAlreadyExists' && unknownBefore) { ex.started = true; return true; }
    problems.push(`${ex.name}: StartExecution answered ${r.code}: ${r.data.Message}`);
    execs.delete(ex.name);
    return false;
  }
  problems.push(`${ex.name}: StartExecution never answered`);
  ex.started = true; // it may exist: the checks will find out
  return true;
}

function choose(kind) {
  const x = Math.random();
  if (kind === 'timed') {
    if (x < 0.25) return 'ignore';
    if (x < 0.75) return 'ok';
    if (x < 0.85) return 'Transient';
    if (x < 0.95) return 'Rejected';
    return 'Other';
  }
  if (x < 0.55) return 'ok';
  if (x < 0.75) return 'Transient';
  if (x < 0.9) return 'Rejected';
  return 'Other';
}

let ridSeq = 0;

// Reports dec.token as dec.kind with a fresh RequestId; a call without a reply goes again
// (same RequestId) to the next node; a quarter of the acknowledged reports are resent to the
// next node with the same RequestId, which must answer the same EventId.
async function report(ex, dec) {
  ridSeq++;
  const rid = `mn-${process.pid}-${ridSeq}`;
  dec.rid = rid;
  dec.acks = [];
  let method;
  let params;
  if (dec.kind === 'ok') {
    method = 'reportTaskSucceeded';
    dec.output = { rid, n: ridSeq };
    params = { TaskToken: dec.token, Output: JSON.stringify(dec.output), RequestId: rid };
  } else {
    method = 'reportTaskFailed';
    dec.cause = `cause ${rid}`;
    params = { TaskToken: dec.token, Error: dec.kind, Cause: dec.cause, RequestId: rid };
  }
  stats.reports++;
  const resend = Math.random() < 0.25;
  for (let t = 0; t < 300; t++) {
    const r = await call(method, params, 1);
    if (r.ok) {
      dec.acks.push({ eventId: Number(r.res.EventId), node: r.node });
      cl.nodes[r.node].acks++;
      if (r.res.RequestId !== rid) {
        problems.push(`${ex.name}: RequestId ${rid} echoed as ${r.res.RequestId}`);
      }
      if (dec.acks.length === 1) stats.acked++;
      if (resend && dec.acks.length === 1) { stats.resends++; continue; }
      break;
    }
    if (r.unknown) { await u.sleep(30); continue; }
    if (r.code === 'TaskInvalidState') { stats.invalidState++; await u.sleep(100); continue; }
    if (r.code === 'TaskAlreadyCompleted') {
      dec.alreadyCompleted = { node: r.node, afterAck: dec.acks.length > 0 };
      stats.alreadyCompleted++;
      break;
    }
    problems.push(`${ex.name}: ${method} ${rid} answered ${r.code}: ${r.data.Message}`);
    break;
  }
  if (!dec.acks.length && !dec.alreadyCompleted) {
    problems.push(`${ex.name}: ${method} ${rid} got no answer`);
  }
}

async function finished(ex) {
  const r = await call('describeExecution', { FlowName: ex.flow, ExecutionName: ex.name });
  if (r.ok && u.FINAL.has(r.res.Status)) { ex.final = r.res; return true; }
  return false;
}

// Decides each new token of the execution until it ends. A dispatch stuck in a dead node's
// claim comes after the claim's lease, so the client waits well beyond it.
async function drive(ex, chooser = choose) {
  let idleSince = Date.now();
  for (;;) {
    const token = await nextToken(ex, 300);
    if (!token) {
      if (await finished(ex)) return;
      if (Date.now() - idleSince > OUTBOX_LEASE_MS + 20000) { ex.gaveUp = true; return; }
      continue;
    }
    idleSince = Date.now();
    const dec = { token, kind: chooser(ex.kind), step: deliveries.get(token).step };
    ex.decisions.push(dec);
    if (dec.kind === 'ignore') { stats.ignored++; continue; }
    // The callback flow's worker reports once flowd has recorded the submission: a dispatch
    // whose result died with its node holds the execution up until another node sends it
    // again, after the claim's lease.
    if (ex.kind === 'cb') await submitted(ex, dec);
    await report(ex, dec);
  }
}

// Waits for the TaskSubmitted of dec.token's attempt (or any outcome of it).
async function submitted(ex, dec) {
  const t0 = Date.now();
  while (Date.now() - t0 < OUTBOX_LEASE_MS + 15000) {
    const r = await call('getExecutionHistory', { FlowName: ex.flow, ExecutionName: ex.name,
      Limit: 999 });
    if (r.ok) {
      const sched = r.res.Events.find((e) => e.Type === 'TaskScheduled' &&
        (parseDetail(e).Input || {}).Body && parseDetail(e).Input.Body.token === dec.token);
      if (sched && r.res.Events.some((e) => Number(e.ScheduleEventId) === Number(sched.EventId) &&
        (e.Type === 'TaskSubmitted' || OUTCOMES.has(e.Type)))) {
        dec.submittedAfter = Date.now() - t0;
        return;
      }
    }
    await u.sleep(100);
  }
  problems.push(`${ex.name}: no TaskSubmitted for a token ${Date.now() - t0} ms after it came`);
}

// ---- checks ----

async function history(ex, node) {
  const events = [];
  let next;
  for (let i = 0; i < 100; i++) {
    const params = { FlowName: ex.flow, ExecutionName: ex.name, Limit: 999 };
    if (next) params.NextToken = next;
    const r = await cl.nodes[node].client.getExecutionHistory(params);
    events.push(...r.Events);
    next = r.NextToken;
    if (!next) return events;
  }
  throw new Error('history paging did not end');
}

// The status (and ErrorCode) the execution's decisions call for.
function expectedEnd(ex) {
  const last = ex.decisions[ex.decisions.length - 1];
  if (!last) return null;
  if (last.alreadyCompleted || last.kind === 'ignore') {
    return { status: 'Failed', error: 'FnF.TaskTimeout' };
  }
  if (last.kind === 'ok' || last.kind === 'Rejected') return { status: 'Succeeded' };
  return { status: 'Failed', error: last.kind };
}

async function checkExec(ex, bad, counts) {
  const where = `${ex.name} (${ex.kind})`;
  const nodesUp = cl.nodes.map((n, i) => i).filter((i) => cl.nodes[i].up);
  const a = nodesUp[counts.checked % nodesUp.length];
  const b = nodesUp[(counts.checked + 1) % nodesUp.length];
  counts.checked++;
  const d = await cl.nodes[a].client.describeExecution({ FlowName: ex.flow,
    ExecutionName: ex.name });
  const ev = await history(ex, a);
  const ev2 = await history(ex, b);
  if (JSON.stringify(ev) !== JSON.stringify(ev2)) {
    bad.push(`${where}: the history read through ${nodeName(a)} and ${nodeName(b)} differs`);
  }
  const ids = ev.map((e) => Number(e.EventId));
  if (ids.some((id, i) => id !== i + 1)) bad.push(`${where}: EventIds not 1..n: ${ids}`);
  const typesList = ev.map((e) => e.Type).join(',');

  // Finished, with one terminal event, last, agreeing with the status.
  if (!u.FINAL.has(d.Status)) {
    bad.push(`${where}: ${d.Status} at the end (${typesList})`);
  }
  const terms = ev.filter((e) => TERMINAL[e.Type]);
  if (terms.length !== 1 || TERMINAL[ev[ev.length - 1].Type] !== d.Status) {
    bad.push(`${where}: Status ${d.Status} with terminal events ${terms.map((e) => e.Type)}`);
  }
  if (ev.filter((e) => e.Type === 'ExecutionStarted').length !== 1) {
    bad.push(`${where}: not one ExecutionStarted: ${typesList}`);
  }
  const want = expectedEnd(ex);
  if (want && u.FINAL.has(d.Status)) {
    if (d.Status !== want.status || (want.error && d.ErrorCode !== want.error)) {
      bad.push(`${where}: ended ${d.Status}/${d.ErrorCode}, its decisions call for ` +
        `${want.status}/${want.error || ''}: ${ex.decisions.map((x) => x.kind)}; ${typesList}`);
    }
  }

  // Task attempts: tokens, outcomes, submissions.
  const sched = ev.filter((e) => e.Type === 'TaskScheduled');
  const tokenOf = new Map();
  const schedOfToken = new Map();
  const outcomes = new Map();
  const submitted = new Map();
  for (const e of sched) {
    const det = parseDetail(e);
    const tok = det.Input && det.Input.Body && det.Input.Body.token;
    if (!tok) bad.push(`${where}: TaskScheduled #${e.EventId} carries no token`);
    tokenOf.set(Number(e.EventId), tok);
    schedOfToken.set(tok, Number(e.EventId));
    outcomes.set(Number(e.EventId), []);
    submitted.set(Number(e.EventId), 0);
  }
  for (const e of ev) {
    const s = Number(e.ScheduleEventId);
    if (OUTCOMES.has(e.Type)) {
      if (!outcomes.has(s)) bad.push(`${where}: ${e.Type} #${e.EventId} names no TaskScheduled`);
      else outcomes.get(s).push(e);
    } else if (e.Type === 'TaskSubmitted') {
      if (submitted.has(s)) submitted.set(s, submitted.get(s) + 1);
    } else if (e.Type === 'TaskSubmitFailed') {
      bad.push(`${where}: TaskSubmitFailed #${e.EventId} (the worker was always up)`);
    }
  }
  for (const [s, list] of outcomes) {
    counts.attempts++;
    if (list.length !== 1) {
      bad.push(`${where}: attempt #${s} has ${list.length} outcomes: ` +
        list.map((e) => `${e.Type}#${e.EventId}`).join(','));
    }
    if (submitted.get(s) > 1) {
      bad.push(`${where}: attempt #${s} submitted ${submitted.get(s)} times`);
    }
    const tok = tokenOf.get(s);
    const dl = deliveries.get(tok);
    if (!dl) bad.push(`${where}: the token of attempt #${s} never reached the worker`);
    else if (dl.count > 1) counts.redelivered++;
  }
  for (const [tok, dl] of deliveries) {
    if (dl.orderId === ex.name && !schedOfToken.has(tok)) {
      bad.push(`${where}: the worker got a token no TaskScheduled carries`);
    }
  }
  // The clients decided each attempt's token once, in order.
  const decided = ex.decisions.map((x) => x.token);
  const scheduled = sched.map((e) => tokenOf.get(Number(e.EventId)));
  if (JSON.stringify(decided) !== JSON.stringify(scheduled)) {
    bad.push(`${where}: ${decided.length} tokens decided for ${scheduled.length} attempts`);
  }

  // Timers: the Wait state once; a retry timer once per retry.
  if (ex.kind === 'timed') {
    for (const type of ['StepEntered', 'StepExited']) {
      const n = ev.filter((e) => e.Type === type && e.StepName === 'Pause').length;
      if (n !== 1) bad.push(`${where}: ${n} ${type} of the Wait state: ${typesList}`);
    }
  }
  const transients = ev.filter((e) => e.Type === 'TaskFailed' &&
    parseDetail(e).Error === 'Transient').length;
  if (sched.length !== 1 + Math.min(transients, RETRIES)) {
    bad.push(`${where}: ${sched.length} attempts after ${transients} Transient failures ` +
      `(${RETRIES} retries allowed): ${typesList}`);
  }

  // Acknowledged reports.
  const byId = new Map(ev.map((e) => [Number(e.EventId), e]));
  for (const dec of ex.decisions) {
    const s = schedOfToken.get(dec.token);
    const out = s !== undefined ? outcomes.get(s) : [];
    if (dec.kind === 'ignore' || dec.alreadyCompleted) {
      if (dec.alreadyCompleted && dec.alreadyCompleted.afterAck) {
        bad.push(`${where}: a resend of acknowledged ${dec.rid} answered TaskAlreadyCompleted ` +
          `on ${nodeName(dec.alreadyCompleted.node)}`);
      } else if (!out.length || out[0].Type !== 'TaskTimedOut') {
        bad.push(`${where}: token ${dec.kind === 'ignore' ? 'left to time out' :
          `reported ${dec.rid} (TaskAlreadyCompleted)`} ended ${out.map((e) => e.Type)}`);
      }
      if (dec.alreadyCompleted && ex.kind !== 'timed') {
        bad.push(`${where}: ${dec.rid} answered TaskAlreadyCompleted on a task without a ` +
          'timeout that only this report decides');
      }
      continue;
    }
    if (!dec.acks.length) continue; // reported in problems
    counts.acks++;
    const ids2 = new Set(dec.acks.map((x) => x.eventId));
    if (ids2.size !== 1) {
      bad.push(`${where}: ${dec.rid} acknowledged with different EventIds ${[...ids2]} by ` +
        dec.acks.map((x) => nodeName(x.node)).join(','));
    }
    const id = dec.acks[0].eventId;
    const e = byId.get(id);
    const type = dec.kind === 'ok' ? 'TaskSucceeded' : 'TaskFailed';
    if (!e) {
      bad.push(`${where}: acknowledged ${type} ${dec.rid} EventId ${id} (by ` +
        `${nodeName(dec.acks[0].node)}) is not in the history (${ev.length} events)`);
      continue;
    }
    if (e.Type !== type) {
      bad.push(`${where}: acknowledged EventId ${id} is ${e.Type}`);
      continue;
    }
    if (Number(e.ScheduleEventId) !== s) {
      bad.push(`${where}: ${dec.rid} EventId ${id} decides attempt #${e.ScheduleEventId}, ` +
        `the token's is #${s}`);
    }
    const det = parseDetail(e);
    if (dec.kind === 'ok' ? JSON.stringify(det.Output) !== JSON.stringify(dec.output)
      : det.Error !== dec.kind || det.Cause !== dec.cause) {
      bad.push(`${where}: EventId ${id} holds ${e.EventDetail}, not what ${dec.rid} reported`);
    }
  }
}

// ---- the tests ----

test('three nodes on one schema: a node SIGKILLed mid-run, another restarted; no ' +
  'acknowledged report lost, every task and timer decided once', { skip: SKIP, timeout: 85000 },
async () => {
  try {
    clock0 = Date.now();
    cl.worker.beforeReply = onDispatch;
    await createFlows();
    const nodeIdOf = cl.nodes.map((n) => fs.readFileSync(path.join(n.dataDir, 'node-id'), 'utf8'));
    assert.equal(new Set(nodeIdOf).size, NODES, 'each node has its own id');

    // Load, with the kill and the restart in the middle of it.
    let loading = true;
    const chaos = { killedAt: 0, callsAtKill: 0, orphans: [], restartMs: 0 };
    const chaosDone = (async () => {
      await u.sleep(KILL_AT_MS);
      // Kill node 0 while it holds the claim of a dispatch the worker is still holding (so
      // its result cannot have been recorded), preferably with calls of ours in flight.
      // The worker holds that dispatch's reply until the node is dead. The callback flow's
      // client waits for the TaskSubmitted, so that execution needs the claim taken over.
      const victim = cl.nodes[0];
      let release;
      const killed = new Promise((r) => { release = r; });
      const until = Date.now() + 6000;
      while (Date.now() < until && !chaos.pinned) {
        for (const c of await claimsOf(victim)) {
          const dl = c.token && deliveries.get(c.token);
          const ex = dl && execs.get(dl.orderId);
          if (!ex || ex.kind !== 'cb') continue;
          pinned.set(c.token, killed);
          if (inflight.has(c.token)) { chaos.pinned = c.token; break; }
          pinned.delete(c.token); // answered meanwhile
        }
        if (!chaos.pinned) await u.sleep(20);
      }
      // Preferably with calls of ours in flight to it, whose replies will never come.
      for (let k = 0; k < 100 && !victim.inflight; k++) await u.sleep(5);
      victim.up = false;
      chaos.callsAtKill = victim.inflight || 0;
      const info = await victim.kill();
      chaos.killedAt = Date.now();
      release();
      assert.equal(info.signal, 'SIGKILL');
      chaos.orphans = await claimsOf(victim);
      await u.sleep(RESTART_AT_MS - KILL_AT_MS);
      const t0 = Date.now();
      chaos.restartFrom = t0;
      cl.nodes[1].up = false;
      await cl.nodes[1].stop();
      await startNode(cl.nodes[1]);
      chaos.restartMs = Date.now() - t0;
      chaos.restartTo = Date.now();
      assert.equal(cl.nodes[1].nodeId, nodeIdOf[1].trim(), 'a restarted node keeps its id');
    })();
    const actors = [];
    for (let k = 0; k < ACTORS; k++) {
      actors.push((async () => {
        while (loading) {
          const ex = newExec(Math.random() < 0.6 ? 'cb' : 'timed');
          if (await startExec(ex)) await drive(ex);
        }
      })());
    }
    await u.sleep(LOAD_MS);
    loading = false;
    await chaosDone;
    await Promise.all(actors); // every execution driven to its end (or given up on)
    const settledAt = Date.now() - clock0;
    const round1 = [...execs.values()];
    const bad = []; // everything found wrong, reported together at the end

    // A dispatch is sent by one node at a time: the same token twice within a second means
    // two nodes sent it at once (unless the node sending it was just restarted: it takes its
    // claims back at start).
    for (const [tok, dl] of deliveries) {
      for (let k = 1; k < dl.at.length; k++) {
        const gap = dl.at[k] - dl.at[k - 1];
        const nearRestart = dl.at[k] >= chaos.restartFrom - 1000 &&
          dl.at[k - 1] <= chaos.restartTo + 2000;
        if (gap < 1000 && !nearRestart) {
          bad.push(`${dl.orderId}: token ...${tok.slice(-10)} sent twice ${gap} ms apart ` +
            '(two nodes sent one dispatch at once)');
        }
      }
    }

    // What the dead node had claimed: each claim is gone (sent or fired by another node, or
    // dropped with its ended execution) before the node comes back, and no other node sent
    // a claimed dispatch while the claim's lease ran.
    const orphanOut = chaos.orphans.filter((c) => c.table === 'outbox');
    const orphanTimers = chaos.orphans.filter((c) => c.table === 'timers');
    const pinnedClaim = orphanOut.find((c) => c.token === chaos.pinned);
    if (!pinnedClaim) {
      bad.push(`the kill did not land while ${nodeName(0)} held the claim of a dispatch the ` +
        `worker was holding (pinned: ${!!chaos.pinned}; claims after the kill: ` +
        `${JSON.stringify(chaos.orphans.map((c) => ({ ...c, token: !!c.token })))})`);
    }
    if (chaos.orphans.length) {
      const left = await pgRows(`SELECT 'outbox', id FROM ${cl.schema}.outbox WHERE id IN ` +
        `(${[0, ...orphanOut.map((c) => c.id)].join(',')}) UNION ALL SELECT 'timers', id FROM ` +
        `${cl.schema}.timers WHERE id IN (${[0, ...orphanTimers.map((c) => c.id)].join(',')})`);
      if (left.length) {
        bad.push(`claims of the dead ${nodeName(0)} still there when all executions had ` +
          `finished: ${JSON.stringify(left)}`);
      }
    }
    let takenOver = 0;
    for (const c of orphanOut) {
      const dl = c.token && deliveries.get(c.token);
      if (!dl) continue;
      const early = dl.at.filter((t) => t >= chaos.killedAt + 1000 && t < c.lease - 100);
      if (early.length) {
        bad.push(`outbox row ${c.id}, claimed by the dead ${nodeName(0)} until ` +
          `${c.lease - chaos.killedAt} ms after the kill, was sent again before that, at ` +
          `${early.map((t) => t - chaos.killedAt)} ms`);
      }
      if (dl.at.some((t) => t >= c.lease - 100)) takenOver++;
    }
    // The held dispatch's execution could only go on once another node sent it again.
    if (pinnedClaim) {
      const at = deliveries.get(chaos.pinned).at;
      if (!at.some((t) => t >= pinnedClaim.lease - 100)) {
        bad.push(`the dispatch ${nodeName(0)} was sending when it died was not sent again ` +
          `after its lease (${pinnedClaim.lease - chaos.killedAt} ms after the kill); sent at ` +
          `${at.map((t) => t - chaos.killedAt)} ms after the kill`);
      }
    }

    // The killed node again, on its data directory: same node id, and it serves.
    await startNode(cl.nodes[0]);
    assert.equal(fs.readFileSync(path.join(cl.nodes[0].dataDir, 'node-id'), 'utf8'), nodeIdOf[0],
      'a node started again on its data directory keeps its id');
    const acks0 = cl.nodes[0].acks;
    await Promise.all([0, 1, 2, 3, 4, 5].map(async (k) => {
      const ex = newExec('cb');
      if (k === 0) {
        // One start sent to the restarted node itself.
        await cl.nodes[0].client.startExecution({ FlowName: ex.flow, ExecutionName: ex.name,
          Input: JSON.stringify({ orderId: ex.name }) });
        ex.started = true;
        cl.nodes[0].acks++;
      } else if (!(await startExec(ex))) {
        return;
      }
      await drive(ex, () => 'ok');
    }));
    assert.ok(cl.nodes[0].acks > acks0, `the restarted ${nodeName(0)} served no write in round 2`);

    // Checks.
    const counts = { checked: 0, attempts: 0, acks: 0, redelivered: 0 };
    for (const ex of execs.values()) {
      if (ex.gaveUp) bad.push(`${ex.name} (${ex.kind}): no progress for a long time; ` +
        `decisions ${ex.decisions.map((x) => x.kind)}`);
      try {
        await checkExec(ex, bad, counts);
      } catch (e) {
        bad.push(`${ex.name}: ${e.code || ''} ${e.message}`);
      }
    }
    console.log(`# multinode: ${execs.size} executions (${round1.length} in round 1), ` +
      `${counts.attempts} task attempts, ${deliveries.size} tokens (${counts.redelivered} ` +
      `delivered more than once), ${counts.acks} acknowledged reports checked ` +
      `(${stats.resends} resent to another node), ${stats.ignored} left to time out, ` +
      `${stats.alreadyCompleted} TaskAlreadyCompleted, ${stats.invalidState} TaskInvalidState, ` +
      `${stats.unknown} calls without a reply; ${nodeName(0)} killed at ` +
      `${chaos.killedAt - clock0} ms with ${chaos.callsAtKill} calls in flight and ` +
      `${orphanOut.length} outbox / ${orphanTimers.length} timer claims (${takenOver} sent ` +
      `again after the lease), ${nodeName(1)} restart took ${chaos.restartMs} ms, all settled ` +
      `at ${settledAt} ms; writes per node ${cl.nodes.map((n) => n.acks).join('/')}`);
    const problemsText = [...problems, ...bad];
    assert.deepEqual(problemsText, [], problemsText.slice(0, 30).join('\n'));
    assert.ok(round1.length >= 30, `only ${round1.length} executions in round 1`);
    assert.ok(counts.acks >= 40, `only ${counts.acks} acknowledged reports`);
    for (let i = 0; i < NODES; i++) {
      assert.ok(cl.nodes[i].acks > 0, `${nodeName(i)} served no write`);
    }
    for (const kind of ['ok', 'Transient', 'Rejected', 'ignore']) {
      assert.ok([...execs.values()].some((ex) => ex.decisions.some((x) => x.kind === kind)),
        `no token was decided ${kind}`);
    }
  } catch (e) {
    e.message = `${e.message}\n${diag()}`;
    throw e;
  }
});

test('an access key created on one node works on another within 2 s; deleted, it is ' +
  'refused on every node within 2 s', { skip: SKIP, timeout: 20000 }, async () => {
  const [A, B, C] = cl.nodes;
  const k = await adm.admin(A).call('CreateAccessKey', { AccountId: ACCOUNT_ID });
  assert.ok(k.AccessKeyId && k.AccessKeySecret, JSON.stringify(k));
  const creds = { accessKeyId: k.AccessKeyId, accessKeySecret: k.AccessKeySecret };
  const t0 = Date.now();
  await u.waitFor(async () => {
    const l = await clients.v1(B, creds).listFlows({});
    return Array.isArray(l.Flows);
  }, 2000, 50, `the key created on ${nodeName(0)} to work on ${nodeName(1)}`);
  console.log(`# multinode: a key created on node0 worked on node1 after ${Date.now() - t0} ms`);
  // A write with it on the third node, to be sure it is a key, not a cache, that works.
  const name = u.uniq('mnkey');
  await u.waitFor(async () => {
    await clients.v1(C, creds).createFlow({ Name: name, Definition: u.passFlow(name),
      Description: 'new key', Type: 'FDL' });
    return true;
  }, 2000, 50, `the key to work on ${nodeName(2)}`);

  await adm.admin(B).call('DeleteAccessKey', { AccountId: ACCOUNT_ID,
    UserAccessKeyId: k.AccessKeyId });
  for (const n of [A, C, B]) {
    await u.waitFor(async () => {
      try {
        await clients.v1(n, creds).listFlows({});
        return false;
      } catch (e) {
        return e.code === 'InvalidAccessKeyID';
      }
    }, 2000, 50, `the key deleted on ${nodeName(1)} to be refused by ` +
      nodeName(cl.nodes.indexOf(n)));
  }
});

function assertNonceUsed(r, what) {
  const text = r.text.length > 300 ? `${r.text.slice(0, 300)}...` : r.text;
  assert.equal(r.status, 400, `${what}: ${r.status} ${text}`);
  assert.equal(r.json && r.json.Code, 'SignatureNonceUsed', `${what}: ${text}`);
}

// The same bytes sent to node `to` as if to `from` (V3 signs the Host header; a replay
// behind a load balancer carries the same Host).
function via(to, from) { return { port: to.port, hostPort: from.hostPort }; }

test('a signature nonce used on one node is SignatureNonceUsed on the others (V1 and V3)',
  { skip: SKIP, timeout: 20000 }, async () => {
    const [A, B, C] = cl.nodes;
    // V1, a read: used on A, replayed on B and C.
    const n1 = raw.nonce();
    const ts = raw.timestamp();
    const first = await raw.v1Request(A, 'ListFlows', {}, { nonce: n1, timestamp: ts,
      place: 'query' });
    assert.equal(first.status, 200, first.text);
    assertNonceUsed(await raw.v1Request(B, 'ListFlows', {}, { nonce: n1, timestamp: ts,
      place: 'query' }), 'V1 ListFlows replayed on node1');
    assertNonceUsed(await raw.v1Request(C, 'ListFlows', {}, { nonce: n1, timestamp: ts,
      place: 'query' }), 'V1 ListFlows replayed on node2');

    // V1, a write: CreateFlow on B, the flow deleted, the same request replayed on C.
    const name = u.uniq('mnonce');
    const params = { Name: name, Definition: u.passFlow(name), Description: 'once', Type: 'FDL' };
    const n2 = raw.nonce();
    const ts2 = raw.timestamp();
    const c1 = await raw.v1Request(B, 'CreateFlow', params, { nonce: n2, timestamp: ts2 });
    assert.equal(c1.status, 200, c1.text);
    await A.client.deleteFlow({ Name: name });
    assertNonceUsed(await raw.v1Request(C, 'CreateFlow', params, { nonce: n2, timestamp: ts2 }),
      'V1 CreateFlow replayed on node2');
    await clients.expectError(() => A.client.describeFlow({ Name: name }), 'FlowNotExists');

    // V3: used on C, replayed (same Host) on A.
    const n3 = raw.nonce();
    const date = raw.timestamp();
    const v = await raw.v3Request(C, 'ListFlows', {}, null, { method: 'GET', nonce: n3, date });
    assert.equal(v.status, 200, v.text);
    assertNonceUsed(await raw.v3Request(via(A, C), 'ListFlows', {}, null,
      { method: 'GET', nonce: n3, date }), 'V3 ListFlows replayed on node0');
    // A fresh nonce is fine on every node.
    for (const n of cl.nodes) {
      assert.equal((await raw.v1Request(n, 'ListFlows', {}, { place: 'query' })).status, 200);
    }
  });
