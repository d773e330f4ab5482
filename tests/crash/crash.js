#!/usr/bin/env node
'use strict';
// crash.js - crash-consistency harness for flowd.
//
// A client drives a mix of work against one flowd data directory (flows with callback tasks
// that Retry `Transient` and Catch `Rejected`, task and execution Timeouts, a Wait state, a
// Parallel of two callbacks; executions started, reported succeeded / failed, reports retried
// with the same RequestId, executions stopped, tasks left to time out) at some concurrency,
// while another loop kills flowd with SIGKILL at random moments and restarts it on the same
// data directory. Every ACKNOWLEDGED reply is logged (acks.jsonl in the work directory); a
// request whose reply never came (reset, refused, timeout) is unknown: it may or may not have
// happened. At the end killing stops, everything still waiting is reported (or stopped) and
// timers run out; then the state is checked:
//   (a) every acknowledged report's EventId is a TaskSucceeded/TaskFailed of that attempt in the
//       execution's history, with the reported Error/Cause or Output;
//   (b) no task attempt has two outcomes (TaskSucceeded/TaskFailed/TaskTimedOut per
//       TaskScheduled), and every outcome names a TaskScheduled;
//   (c) after settling every execution has finished;
//   (d) EventIds are 1..n without gaps;
//   (e) the Status agrees with the last (and only terminal) event, ErrorCode with its Error;
//   (f) every acknowledged StopExecution left the execution Stopped (with its Error/Cause);
//   (g) every task the worker received belongs to a TaskScheduled in the history (no dispatch
//       of an uncommitted attempt);
//   and also: every acknowledged StartExecution / CreateFlow exists; a report answered
//   TaskAlreadyCompleted was not applied when its RequestId is the completing one (retries
//   with the same RequestId get the original answer); replies have only the expected codes;
//   flowd never exits by itself.
// Prints the counts and a final line "RESULT {json}"; exits 1 on any violation.
//
// Several nodes (PostgreSQL): with --pg URL (a libpq URL; FLOWD_TEST_PG is the default) the
// harness creates a fresh schema in that database and runs flowd on it (--store), with a
// config file whose dispatch.timeout_ms is 3000, so an outbox claim's lease is 3 + 15 = 18 s
// (a timer claim's is 10 s). --nodes N (default 1; more than 1 needs --pg) starts N nodes on
// that schema, each with its own data directory (DIR/flowd-<i>, so its own node id); every
// client call goes to the next live node in turn (a call without a reply goes to the next).
// Each kill cycle SIGKILLs one node chosen at random and starts it again on its data
// directory (same node id: it takes back its claims) while the others stay up. For the last
// 4 s of the load the killer rests, and one node is killed (the worker holding back its
// replies for up to 1.5 s meanwhile, so that the node dies holding the claims of dispatches
// it was sending) and stays down through the settle phase: the others must take over its
// claims when their leases end, so the settle phase lasts at least the outbox lease plus
// 15 s; checked: none of its claimed rows is left after settling (sent or fired by another
// node, or dropped with its ended execution). That node is started again before the checks.
// The schema is dropped after a clean run and kept (its name printed) after a violation.
//
// Usage: node tests/crash/crash.js [--seconds 20] [--concurrency 16] [--kill-min-ms 300]
//        [--kill-max-ms 2000] [--data DIR] [--flowd build/flowd] [--seed N] [--settle-seconds 40]
//        [--nodes N] [--pg URL] [--quiet]
// e.g.   node tests/crash/crash.js --nodes 3 --pg "$FLOWD_TEST_PG" --seconds 60
// The fnf SDK and the e2e helpers come from tests/e2e (run `npm ci` there, or `make test`).

const { execFile, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const E2E = path.join(REPO, 'tests', 'e2e');

// ---- options ----

function parseArgs(argv) {
  const o = { seconds: 20, concurrency: 16, killMinMs: 300, killMaxMs: 2000, data: null,
    flowd: path.join(REPO, 'build', 'flowd'), seed: null, settleSeconds: 40, quiet: false,
    nodes: 1, pg: process.env.FLOWD_TEST_PG || '' };
  const num = (k, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k} needs a number, got ${v}`);
    return n;
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const key = (eq > 0 ? a.slice(0, eq) : a).replace(/^--/, '');
    const val = () => (eq > 0 ? a.slice(eq + 1) : argv[++i]);
    switch (key) {
      case 'seconds': o.seconds = num(key, val()); break;
      case 'concurrency': o.concurrency = Math.max(1, Math.floor(num(key, val()))); break;
      case 'kill-min-ms': o.killMinMs = num(key, val()); break;
      case 'kill-max-ms': o.killMaxMs = num(key, val()); break;
      case 'data': o.data = path.resolve(val()); break;
      case 'flowd': o.flowd = path.resolve(val()); break;
      case 'seed': o.seed = Math.floor(num(key, val())); break;
      case 'settle-seconds': o.settleSeconds = num(key, val()); break;
      case 'nodes': o.nodes = Math.max(1, Math.floor(num(key, val()))); break;
      case 'pg': o.pg = val(); break;
      case 'quiet': o.quiet = true; break;
      case 'help': case 'h':
        console.log(fs.readFileSync(__filename, 'utf8').split('\n\n')[0]);
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (o.killMaxMs < o.killMinMs) o.killMaxMs = o.killMinMs;
  if (o.nodes > 1 && !o.pg) throw new Error('--nodes above 1 needs --pg URL (or FLOWD_TEST_PG)');
  if (o.seed === null) o.seed = (Date.now() ^ (process.pid << 8)) >>> 0;
  return o;
}

const opts = parseArgs(process.argv);
process.env.FLOWD_BIN = opts.flowd; // read by tests/e2e/lib/flowd.js when it is loaded

const { Flowd } = require(path.join(E2E, 'lib', 'flowd'));
const { startWorker } = require(path.join(E2E, 'lib', 'worker'));
const clients = require(path.join(E2E, 'lib', 'clients'));

// ---- small utilities ----

// mulberry32: a seeded PRNG, so a failing run's mix can be told apart by its seed (the
// timing of kills still differs from run to run).
let rngState = opts.seed >>> 0;
function rand() {
  rngState = (rngState + 0x6D2B79F5) >>> 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = (arr) => arr[Math.floor(rand() * arr.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const FINAL = new Set(['Succeeded', 'Failed', 'Stopped', 'TimedOut']);
const TERMINAL = { ExecutionSucceeded: 'Succeeded', ExecutionFailed: 'Failed',
  ExecutionStopped: 'Stopped', ExecutionTimedOut: 'TimedOut' };
const OUTCOMES = new Set(['TaskSucceeded', 'TaskFailed', 'TaskTimedOut']);
const log = (...a) => { if (!opts.quiet) console.log(`[${new Date().toISOString()}]`, ...a); };

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || !a || !b) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => deepEqual(a[k], b[k]));
}

function parseDetail(ev) {
  try { return ev && ev.EventDetail ? JSON.parse(ev.EventDetail) : {}; } catch (_) { return {}; }
}

// ---- state ----

const work = opts.data || fs.mkdtempSync(path.join(os.tmpdir(), 'flowd-crash-'));
const ackLog = fs.openSync(path.join(work, 'acks.jsonl'), 'a');

const stats = { crashes: 0, startFailures: 0, requests: 0, acks: 0, unknown: 0, starts: 0,
  reports: 0, sameRidResends: 0, stops: 0, ignored: 0, late: 0, checkedAcks: 0, executions: 0,
  finished: {}, tokens: 0, settleReports: 0, settleStops: 0 };
const violations = [];
const unexpected = {}; // "Action Code" -> count (replies outside the expected set)

function violation(kind, msg, extra) {
  violations.push({ kind, msg, ...(extra ? { extra } : {}) });
  console.log(`VIOLATION (${kind}): ${msg}${extra ? ' ' + JSON.stringify(extra) : ''}`);
}

function logAck(action, params, reply) {
  stats.acks++;
  fs.writeSync(ackLog, JSON.stringify({ t: Date.now(), action, params, reply }) + '\n');
}

// ---- PostgreSQL: one fresh schema for all nodes ----

const OUTBOX_LEASE_MS = 3000 + 15000; // dispatch.timeout_ms below + flowd's margin
const TIMER_LEASE_MS = 10000;
const pg = { schema: null, url: null, config: null };

function psql(sql) {
  execFileSync('psql',
    [opts.pg, '-qAtX', '-v', 'ON_ERROR_STOP=1', '-c', `SET client_min_messages = warning; ${sql}`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
}

if (opts.pg) {
  pg.schema = `crash_${process.pid}_${(opts.seed % 1e6).toString(36)}`;
  psql(`CREATE SCHEMA ${pg.schema}`);
  pg.url = `${opts.pg}${opts.pg.includes('?') ? '&' : '?'}options=-csearch_path%3D${pg.schema}`;
  pg.config = path.join(work, 'flowd.json');
  fs.writeFileSync(pg.config, JSON.stringify({ dispatch: { timeout_ms: 3000 } }));
}

// ---- flowd nodes under a killer ----

// One node: its process (Flowd), its V1 client, whether it is up, and the write requests
// sent to it and not answered yet.
const nodes = [];
for (let i = 0; i < opts.nodes; i++) {
  const dataDir = path.join(work, opts.nodes > 1 ? `flowd-${i}` : 'flowd');
  fs.mkdirSync(dataDir, { recursive: true });
  const args = pg.url ? ['--store', pg.url, '--config', pg.config] : [];
  nodes.push({ i, srv: new Flowd({ dataDir, args }), client: null, up: false, killingUs: false,
    inflight: 0, kills: 0 });
}
let upWaiters = [];
let killing = true;
let rr = 0;                 // round-robin position of the next call
let parked = null;          // the node left down through the settle phase (several nodes)
let killerPromise = null;
let dispatchHold = null;    // while set, the worker answers dispatches only once it resolves
// With several nodes, the last this many ms of the load run without the killer; one node is
// killed at their start and stays down.
const PARK_BEFORE_END_MS = 4000;

function watchExit(node) {
  const child = node.srv.child;
  node.srv.exited.then((info) => {
    if (node.srv.child !== child) return;
    if (!node.killingUs) {
      violation('server', `flowd (node ${node.i}) exited by itself: ${JSON.stringify(info)}`,
        { stderr: node.srv.stderr.slice(-2000) });
    }
    node.up = false;
  });
}

async function startServer(node) {
  for (let i = 0; ; i++) {
    try {
      await node.srv.start();
      break;
    } catch (e) {
      stats.startFailures++;
      if (i >= 4) {
        violation('server', `flowd (node ${node.i}) does not start on the crashed data dir: ` +
          e.message);
        throw e;
      }
      await sleep(200);
    }
  }
  node.killingUs = false;
  node.client = clients.v1(node.srv);
  node.up = true;
  watchExit(node);
  const w = upWaiters;
  upWaiters = [];
  for (const r of w) r();
}

const anyUp = () => nodes.some((n) => n.up);

function waitUp(timeoutMs = 15000) {
  if (anyUp()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    upWaiters.push(() => { clearTimeout(t); resolve(true); });
  });
}

// The next node that is up, round-robin (null when none is).
function nextNode() {
  for (let k = 0; k < nodes.length; k++) {
    const n = nodes[rr++ % nodes.length];
    if (n.up) return n;
  }
  return null;
}

// SIGKILLs a node (its replies in flight are lost).
async function killNode(node) {
  node.killingUs = true;
  node.up = false;
  const info = await node.srv.kill();
  if (info && info.signal !== 'SIGKILL') {
    violation('server', `flowd (node ${node.i}) had exited before the kill: ` +
      JSON.stringify(info));
  }
  stats.crashes++;
  node.kills++;
  node.srv.stdout = node.srv.stdout.slice(-4096);
}

async function killer() {
  while (killing) {
    await sleep(randInt(opts.killMinMs, opts.killMaxMs));
    if (!killing) break;
    const victim = nodes[Math.floor(rand() * nodes.length)];
    // Prefer a moment with a write in flight to the victim (at most 100 ms more), so that
    // some replies are lost; then a random extra 0-3 ms lands the kill anywhere inside the
    // request.
    for (let i = 0; i < 100 && victim.inflight === 0; i++) await sleep(1);
    if (rand() < 0.5) await sleep(randInt(0, 3));
    await killNode(victim);
    await startServer(victim);
  }
}

// One API call through the next node's client. Resolves {ok, res} (acknowledged), {code,
// status, data} (an error reply) or {unknown: true, err} (no reply: may or may not have
// happened).
const METHOD = { reportTaskSucceeded: 'POST', reportTaskFailed: 'POST', stopExecution: 'POST',
  startExecution: 'POST', createFlow: 'POST' };
async function call(method, params, action) {
  if (!(await waitUp())) return { unknown: true, err: new Error('flowd not up') };
  const node = nextNode();
  if (!node) return { unknown: true, err: new Error('flowd not up') };
  const c = node.client;
  stats.requests++;
  const write = METHOD[method] === 'POST';
  if (write) node.inflight++;
  try {
    const res = method === 'raw'
      ? await c.request(action, params, { method: 'GET', timeout: 8000 })
      : await c[method](params, { timeout: 8000 });
    return { ok: true, res };
  } catch (e) {
    if (e && e.code && e.data && typeof e.data === 'object' && e.data.Code) {
      const status = e.entry && e.entry.response ? e.entry.response.statusCode : 0;
      return { code: e.code, status, data: e.data };
    }
    stats.unknown++;
    return { unknown: true, err: e };
  } finally {
    if (write) node.inflight--;
  }
}

// A call that must get an answer: retried while no reply came (reads only, or writes that are
// safe to repeat). Gives up after tries.
async function callAnswered(method, params, action, tries = 40) {
  let r;
  for (let i = 0; i < tries; i++) {
    r = await call(method, params, action);
    if (!r.unknown && !(r.code === 'TaskInvalidState')) return r;
    await sleep(100);
  }
  return r;
}

function expectCodes(action, r, allowed) {
  if (r.ok || r.unknown) return;
  if (r.code === 'TaskInvalidState' && r.status === 409) return; // documented transient
  if (!allowed.includes(r.code)) {
    const k = `${action} ${r.status} ${r.code}`;
    unexpected[k] = (unexpected[k] || 0) + 1;
    if (unexpected[k] <= 3) {
      violation('reply', `${action} answered ${r.status} ${r.code}: ${r.data && r.data.Message}`);
    }
  }
}

// ---- worker: tokens by execution ----

const execs = new Map(); // name -> exec record
let worker = null;

function onDispatch(rec) {
  const b = rec.body;
  if (!b || typeof b.token !== 'string' || typeof b.orderId !== 'string') return;
  const ex = execs.get(b.orderId);
  if (!ex) return; // not ours (cannot happen: every name is registered before it starts)
  if (!ex.tokens.has(b.token)) {
    stats.tokens++;
    ex.tokens.set(b.token, { step: b.step, completed: false, at: Date.now() });
    ex.queue.push(b.token);
    const w = ex.wake;
    ex.wake = null;
    if (w) w();
  }
}

function nextToken(ex, timeoutMs) {
  if (ex.queue.length) return Promise.resolve(ex.queue.shift());
  return new Promise((resolve) => {
    const t = setTimeout(() => { ex.wake = null; resolve(null); }, timeoutMs);
    ex.wake = () => { clearTimeout(t); resolve(ex.queue.shift() || null); };
  });
}

// ---- flows ----

function task(name, url, { timeout, retry = true, catchRejected = true, indentBy = 2, next } = {}) {
  const lines = [
    '- Type: Task',
    `  Name: ${name}`,
    '  Action: HTTP:Request',
    '  TaskMode: WaitForCustomCallback',
    ...(timeout ? [`  Timeout: ${timeout}`] : []),
    '  Parameters:',
    `    URL: ${url}`,
    '    Method: POST',
    '    Body:',
    '      token.$: $Context.Current.TaskToken',
    '      orderId.$: $Context.Execution.Input.orderId',
    `      step: ${name}`,
    ...(retry ? ['  Retry:', '    - Errors: [Transient]', '      IntervalSeconds: 1',
      '      MaxAttempts: 2'] : []),
    ...(catchRejected ? ['  Catch:', '    - Errors: [Rejected]', '      Next: Rejected'] : []),
    next ? `  Next: ${next}` : '  End: true',
  ];
  return lines.map((l) => ' '.repeat(indentBy) + l).join('\n');
}

const REJECTED = '  - Type: Pass\n    Name: Rejected\n    End: true';

function flowDefs(url) {
  const head = (n, extra = '') => `Type: StateMachine\nSpecVersion: v1\nName: ${n}\n${extra}`;
  const parBranch = (name, timeout) => [
    `        - StartAt: ${name}`,
    '          States:',
    task(name, url, { timeout, catchRejected: false, indentBy: 12 }),
  ].join('\n');
  return {
    // A callback task without a task Timeout.
    cb: head('crash_cb') + 'StartAt: Work\nStates:\n' +
      task('Work', url, { next: 'Done' }) + '\n' + REJECTED +
      '\n  - Type: Succeed\n    Name: Done\n',
    // A callback task with a 3 s Timeout (FnF.TaskTimeout fails the execution).
    cbt: head('crash_cbt') + 'StartAt: Work\nStates:\n' +
      task('Work', url, { timeout: 3 }) + '\n' + REJECTED + '\n',
    // Wait 1 s, then a callback task with a Timeout.
    wait: head('crash_wait') + 'StartAt: Pause\nStates:\n' +
      '  - Type: Wait\n    Name: Pause\n    Seconds: 1\n    Next: Work\n' +
      task('Work', url, { timeout: 4 }) + '\n' + REJECTED + '\n',
    // A Parallel of two callbacks (A with a Timeout); Rejected in a branch is caught on P.
    par: head('crash_par') + 'StartAt: P\nStates:\n' +
      '  - Type: Parallel\n    Name: P\n    Branches:\n' +
      parBranch('A', 4) + '\n' + parBranch('B', 0) + '\n' +
      '    Catch:\n      - Errors: [Rejected]\n        Next: Rejected\n    End: true\n' +
      REJECTED + '\n',
    // An execution Timeout of 4 s around a task without one.
    etime: head('crash_etime', 'Timeout: 4\n') + 'StartAt: Work\nStates:\n' +
      task('Work', url) + '\n' + REJECTED + '\n',
  };
}

const flows = {}; // kind -> {name, acked}

async function createFlows() {
  const defs = flowDefs(worker.url('/crash'));
  for (const [kind, def] of Object.entries(defs)) {
    const name = `crash_${kind}`;
    const params = { Name: name, Definition: def, Description: 'crash harness', Type: 'FDL' };
    flows[kind] = { name, acked: false };
    for (let i = 0; i < 200; i++) {
      const r = await call('createFlow', params);
      if (r.ok) {
        flows[kind].acked = true;
        logAck('CreateFlow', { Name: name }, r.res);
        break;
      }
      if (r.code === 'FlowAlreadyExists') break; // an unknown earlier try happened
      expectCodes('CreateFlow', r, ['FlowAlreadyExists']);
      if (!r.unknown) throw new Error(`CreateFlow ${name}: ${r.code} ${r.data && r.data.Message}`);
      await sleep(50);
    }
  }
}

// ---- the client mix ----

let execSeq = 0;
let driving = true;

function newExec(kind) {
  execSeq++;
  const name = `x${execSeq}_${kind}`;
  const ex = { name, kind, flow: flows[kind].name, startAcked: false, startTried: false,
    tokens: new Map(), queue: [], wake: null, reports: [], stops: [], stopTried: false };
  execs.set(name, ex);
  return ex;
}

async function startExec(ex) {
  const params = { FlowName: ex.flow, ExecutionName: ex.name,
    Input: JSON.stringify({ orderId: ex.name }) };
  let unknownBefore = false;
  for (let i = 0; i < 50; i++) {
    ex.startTried = true;
    const r = await call('startExecution', params);
    if (r.ok) {
      ex.startAcked = true;
      stats.starts++;
      logAck('StartExecution', params, r.res);
      return true;
    }
    if (r.unknown) { unknownBefore = true; await sleep(50); continue; }
    if (r.code === 'ExecutionAlreadyExists') {
      if (!unknownBefore) violation('start', `${ex.name}: ExecutionAlreadyExists on its first try`);
      return true; // an earlier try whose reply was lost did start it
    }
    expectCodes('StartExecution', r, ['ExecutionAlreadyExists']);
    return false;
  }
  return false;
}

let ridSeq = 0;

// Reports on token: kind 'ok' | 'Transient' | 'Rejected' | 'Other'. Retries a lost reply with
// the same RequestId; sometimes resends an acknowledged report with the same RequestId.
async function report(ex, token, kind) {
  ridSeq++;
  const rid = `rid-${opts.seed}-${ridSeq}`;
  const rec = { token, kind, rid, acks: [], completedAnswers: 0, unknowns: 0 };
  let method;
  let params;
  if (kind === 'ok') {
    method = 'reportTaskSucceeded';
    rec.output = { rid, v: randInt(0, 1e6) };
    params = { TaskToken: token, Output: JSON.stringify(rec.output), RequestId: rid };
  } else {
    method = 'reportTaskFailed';
    rec.error = kind;
    rec.cause = `cause ${rid}`;
    params = { TaskToken: token, Error: kind, Cause: rec.cause, RequestId: rid };
  }
  ex.reports.push(rec);
  stats.reports++;
  const resend = rand() < 0.3;
  for (let i = 0; i < 30; i++) {
    const r = await call(method, params);
    if (r.ok) {
      rec.acks.push(Number(r.res.EventId));
      logAck(method === 'reportTaskSucceeded' ? 'ReportTaskSucceeded' : 'ReportTaskFailed',
        { ...params, ExecutionName: ex.name }, r.res);
      if (r.res.RequestId !== rid) {
        violation('report', `${ex.name}: the client RequestId ${rid} is not echoed (${r.res.RequestId})`);
      }
      if (resend && rec.acks.length === 1) { stats.sameRidResends++; continue; }
      break;
    }
    if (r.unknown) { rec.unknowns++; await sleep(30); continue; }
    if (r.code === 'TaskAlreadyCompleted') {
      rec.completedAnswers++;
      if (rec.acks.length) {
        violation('report', `${ex.name}: a resend with the same RequestId ${rid} answered ` +
          `TaskAlreadyCompleted after the report was acknowledged (EventId ${rec.acks[0]})`);
      }
      break;
    }
    if (r.code === 'TaskInvalidState') { await sleep(50); continue; }
    expectCodes(method, r, ['TaskAlreadyCompleted']);
    break;
  }
  const distinct = new Set(rec.acks);
  if (distinct.size > 1) {
    violation('report', `${ex.name}: the same report (RequestId ${rid}) acknowledged with ` +
      `different EventIds ${[...distinct].join(',')}`);
  }
  return rec;
}

async function stopExec(ex) {
  ridSeq++;
  const cause = `stop ${opts.seed}-${ridSeq}`;
  const params = { FlowName: ex.flow, ExecutionName: ex.name, Error: 'CrashStop', Cause: cause };
  const rec = { cause, acked: false };
  ex.stops.push(rec);
  ex.stopTried = true;
  for (let i = 0; i < 30; i++) {
    const r = await call('stopExecution', params);
    if (r.ok) {
      rec.acked = true;
      stats.stops++;
      logAck('StopExecution', params, r.res);
      return;
    }
    if (r.unknown) { await sleep(30); continue; }
    expectCodes('StopExecution', r, ['ExecutionAlreadyCompleted']);
    return;
  }
}

async function isFinished(ex) {
  const r = await call('describeExecution', { FlowName: ex.flow, ExecutionName: ex.name });
  if (r.ok && FINAL.has(r.res.Status)) ex.done = true;
  return !!ex.done;
}

// Kinds whose every callback has a timer (task or execution Timeout).
const TIMED = { cbt: true, wait: true, etime: true };
// When the timer of a kind's (first) callback fires, counted from its dispatch.
const TIMEOUT_MS = { cbt: 3000, wait: 4000, etime: 4000 };

// Drives one execution: reacts to its tokens until it ends (or the run ends).
async function drive(ex) {
  let idleSince = Date.now();
  while (driving) {
    const token = await nextToken(ex, 250);
    if (!token) {
      if (await isFinished(ex)) return;
      if (Date.now() - idleSince > 20000) return; // leave it to the settle phase
      continue;
    }
    idleSince = Date.now();
    const t = ex.tokens.get(token);
    const x = rand();
    if (x < 0.06 && !ex.stopTried) {
      await stopExec(ex);
    } else if (x < 0.16 && (TIMED[ex.kind] || (ex.kind === 'par' && t.step === 'A'))) {
      // Leave it: a task Timeout or the execution Timeout ends it.
      stats.ignored++;
      t.ignored = true;
      continue;
    } else if (x < 0.21 && TIMEOUT_MS[ex.kind]) {
      // A late report, fired around the task's (or the execution's) deadline.
      stats.late++;
      const due = t.at + TIMEOUT_MS[ex.kind] + randInt(-250, 150);
      await sleep(Math.max(0, due - Date.now()));
      await report(ex, token, pick(['ok', 'Other', 'Rejected']));
    } else if (x < 0.26) {
      // A report and a StopExecution at the same time.
      await Promise.all([report(ex, token, pick(['ok', 'Rejected', 'Other'])), stopExec(ex)]);
    } else if (x < 0.31) {
      // Two different reports of one token at the same time: one wins.
      await Promise.all([report(ex, token, 'ok'), report(ex, token, 'Other')]);
    } else {
      const y = rand();
      const kind = y < 0.6 ? 'ok' : y < 0.8 ? 'Transient' : y < 0.92 ? 'Rejected' : 'Other';
      if (rand() < 0.2) await sleep(randInt(0, 300));
      await report(ex, token, kind);
    }
  }
}

async function actor() {
  const kinds = ['cb', 'cb', 'cbt', 'wait', 'par', 'par', 'etime'];
  while (driving) {
    const ex = newExec(pick(kinds));
    if (!(await startExec(ex))) continue;
    await drive(ex);
  }
}

// ---- settle ----

async function settle() {
  // A node left down keeps its claims until their leases end: an outbox row it was sending
  // is sent by another node only then (a timer's lease is shorter).
  const settleMs = Math.max(opts.settleSeconds * 1000,
    parked ? Math.max(OUTBOX_LEASE_MS, TIMER_LEASE_MS) + 15000 : 0);
  const deadline = Date.now() + settleMs;
  const pending = new Set([...execs.values()].filter((e) => e.startTried && !e.done));
  let round = 0;
  while (pending.size && Date.now() < deadline) {
    round++;
    for (const ex of [...pending]) {
      const r = await callAnswered('describeExecution', { FlowName: ex.flow, ExecutionName: ex.name });
      if (r.code === 'ExecutionNotExists' || (r.ok && FINAL.has(r.res.Status))) {
        pending.delete(ex);
        continue;
      }
      // Report every token the worker got for it (old ones answer TaskAlreadyCompleted).
      // Ignored tokens of timed tasks are left alone for a while so their timers fire.
      for (const [token, t] of ex.tokens) {
        if (t.completed) continue;
        if (t.ignored && Date.now() - t.at < 6000) continue;
        const params = { TaskToken: token, Output: JSON.stringify({ settled: true }) };
        const rr = await callAnswered('reportTaskSucceeded', params);
        if (rr.ok) {
          stats.settleReports++;
          logAck('ReportTaskSucceeded', { ...params, ExecutionName: ex.name }, rr.res);
          ex.reports.push({ token, kind: 'ok', rid: null, output: { settled: true },
            acks: [Number(rr.res.EventId)], completedAnswers: 0, settle: true });
          t.completed = true;
        } else if (rr.code === 'TaskAlreadyCompleted') {
          t.completed = true;
        } else {
          expectCodes('ReportTaskSucceeded', rr, ['TaskAlreadyCompleted']);
        }
      }
    }
    if (pending.size) await sleep(round < 5 ? 300 : 1000);
  }
  // Still running: record what waits, then stop it so the checks see a final state.
  for (const ex of pending) {
    let waiting = [];
    const w = await callAnswered('raw', { FlowName: ex.flow, ExecutionName: ex.name },
      'ListWaitingTasks');
    if (w.ok) {
      waiting = (w.res.Tasks || []).map((t) => ({ step: t.StepName, attempt: t.Attempt,
        tokenSeenByWorker: ex.tokens.has(t.TaskToken), waitingSince: t.WaitingSince }));
    }
    violation('settle', `${ex.name} (${ex.kind}) still Running ${settleMs / 1000} s after ` +
      'killing stopped (lost timer or dispatch?)', { waiting, tokens: ex.tokens.size });
    ex.stuck = true;
    const params = { FlowName: ex.flow, ExecutionName: ex.name, Error: 'SettleStop',
      Cause: 'still running after settling' };
    const r = await callAnswered('stopExecution', params);
    if (r.ok) stats.settleStops++;
  }
}

// ---- checks ----

async function fullHistory(ex) {
  const events = [];
  let next;
  for (let i = 0; i < 100; i++) {
    const params = { FlowName: ex.flow, ExecutionName: ex.name, Limit: 999 };
    if (next) params.NextToken = next;
    const r = await callAnswered('getExecutionHistory', params);
    if (!r.ok) throw new Error(`GetExecutionHistory ${ex.name}: ${r.code || r.err}`);
    events.push(...r.res.Events);
    next = r.res.NextToken;
    if (!next) return events;
  }
  throw new Error('history paging did not end');
}

async function checkFlows() {
  for (const f of Object.values(flows)) {
    const r = await callAnswered('describeFlow', { Name: f.name });
    if (!r.ok) violation('flow', `flow ${f.name} (CreateFlow acknowledged: ${f.acked}) is gone: ${r.code}`);
    else if (f.acked) stats.checkedAcks++;
  }
}

async function checkExec(ex) {
  const d = await callAnswered('describeExecution', { FlowName: ex.flow, ExecutionName: ex.name });
  if (d.code === 'ExecutionNotExists') {
    if (ex.startAcked) violation('start', `${ex.name}: StartExecution was acknowledged but the execution does not exist`);
    const acked = ex.reports.filter((r) => r.acks.length);
    if (acked.length) violation('report', `${ex.name}: reports acknowledged for a missing execution`);
    if (ex.tokens.size) {
      violation('g', `${ex.name}: the worker got ${ex.tokens.size} task(s) of an execution that ` +
        'does not exist (a dispatch sent for a write that was not committed)');
    }
    return;
  }
  if (!d.ok) throw new Error(`DescribeExecution ${ex.name}: ${d.code || d.err}`);
  stats.executions++;
  if (ex.startAcked) stats.checkedAcks++;
  const desc = d.res;
  const ev = await fullHistory(ex);
  const where = `${ex.name} (${ex.kind})`;

  // (d) EventIds 1..n
  const ids = ev.map((e) => Number(e.EventId));
  if (ids.some((id, i) => id !== i + 1)) {
    violation('d', `${where}: EventIds are not 1..n: ${ids.join(',')}`);
  }
  const byId = new Map(ev.map((e) => [Number(e.EventId), e]));

  // (e) status vs the terminal event
  stats.finished[desc.Status] = (stats.finished[desc.Status] || 0) + 1;
  const terms = ev.filter((e) => TERMINAL[e.Type]);
  if (!FINAL.has(desc.Status)) {
    if (!ex.stuck) violation('c', `${where}: ${desc.Status} after settling`);
    if (terms.length) violation('e', `${where}: ${desc.Status} with a terminal event ${terms[0].Type}`);
  } else {
    const last = ev[ev.length - 1];
    if (terms.length !== 1) {
      violation('e', `${where}: ${terms.length} terminal events: ${terms.map((e) => e.Type).join(',')}`);
    }
    if (!last || TERMINAL[last.Type] !== desc.Status) {
      violation('e', `${where}: Status ${desc.Status} but the last event is ${last && last.Type}`);
    }
    if (last && (last.Type === 'ExecutionFailed' || last.Type === 'ExecutionStopped')) {
      const det = parseDetail(last);
      if (last.Type === 'ExecutionFailed' && (desc.ErrorCode || '') !== (det.Error || '')) {
        violation('e', `${where}: ErrorCode ${desc.ErrorCode} but ExecutionFailed.Error ${det.Error}`);
      }
      if (last.Type === 'ExecutionStopped' && det.Error && desc.ErrorCode !== det.Error) {
        violation('e', `${where}: ErrorCode ${desc.ErrorCode} but ExecutionStopped.Error ${det.Error}`);
      }
    }
  }

  // (b) at most one outcome per TaskScheduled; map tokens to their TaskScheduled
  const tokenOf = new Map();   // TaskScheduled EventId -> token
  const schedOf = new Map();   // token -> TaskScheduled EventId
  const outcomes = new Map();  // TaskScheduled EventId -> [outcome events]
  for (const e of ev) {
    if (e.Type === 'TaskScheduled') {
      const det = parseDetail(e);
      const tok = det.Input && det.Input.Body && det.Input.Body.token;
      if (tok) { tokenOf.set(Number(e.EventId), tok); schedOf.set(tok, Number(e.EventId)); }
      outcomes.set(Number(e.EventId), []);
    }
  }
  for (const e of ev) {
    if (!OUTCOMES.has(e.Type)) continue;
    const s = Number(e.ScheduleEventId);
    if (!outcomes.has(s)) {
      violation('b', `${where}: ${e.Type} #${e.EventId} names ScheduleEventId ${s}, not a TaskScheduled`);
      continue;
    }
    outcomes.get(s).push(e);
  }
  for (const [s, list] of outcomes) {
    if (list.length > 1) {
      violation('b', `${where}: task attempt #${s} has ${list.length} outcomes: ` +
        list.map((e) => `${e.Type}#${e.EventId}`).join(','));
    }
  }

  // (g) every token the worker got belongs to a TaskScheduled of this history (a dispatch is
  // sent only for a committed attempt)
  for (const [token, t] of ex.tokens) {
    if (!schedOf.has(token)) {
      violation('g', `${where}: the worker got a token (step ${t.step}) that no TaskScheduled ` +
        'of the history carries (a dispatch sent for a write that was not committed)');
    }
  }

  // (a) acknowledged reports
  const ridsApplied = new Map(); // rid -> event
  for (const e of ev) {
    if (e.Type !== 'TaskSucceeded' && e.Type !== 'TaskFailed') continue;
    const det = parseDetail(e);
    const rid = e.Type === 'TaskSucceeded' ? det.Output && det.Output.rid
      : (typeof det.Cause === 'string' && det.Cause.startsWith('cause ') ? det.Cause.slice(6) : null);
    if (rid) ridsApplied.set(rid, e);
  }
  const ackedByToken = new Map();
  for (const rec of ex.reports) {
    if (rec.rid && rec.acks.length === 0 && rec.completedAnswers > 0 && ridsApplied.has(rec.rid)) {
      violation('a', `${where}: report ${rec.rid} answered TaskAlreadyCompleted, yet it is the ` +
        `report that completed the task (EventId ${ridsApplied.get(rec.rid).EventId})`);
    }
    if (!rec.acks.length) continue;
    stats.checkedAcks++;
    const id = rec.acks[0];
    if (ackedByToken.has(rec.token) && ackedByToken.get(rec.token).id !== id) {
      violation('a', `${where}: two reports of one token acknowledged: EventIds ` +
        `${ackedByToken.get(rec.token).id} (${ackedByToken.get(rec.token).rid}) and ${id} (${rec.rid})`);
    }
    ackedByToken.set(rec.token, { id, rid: rec.rid });
    const e = byId.get(id);
    const want = rec.kind === 'ok' ? 'TaskSucceeded' : 'TaskFailed';
    if (!e) {
      violation('a', `${where}: acknowledged ${want} EventId ${id} (${rec.rid}) is not in the history ` +
        `(${ev.length} events)`);
      continue;
    }
    if (e.Type !== want) {
      violation('a', `${where}: acknowledged EventId ${id} (${rec.rid}) is ${e.Type}, not ${want}`);
      continue;
    }
    const det = parseDetail(e);
    if (rec.kind === 'ok') {
      if (!deepEqual(det.Output, rec.output)) {
        violation('a', `${where}: EventId ${id} Output ${JSON.stringify(det.Output)} is not the ` +
          `reported ${JSON.stringify(rec.output)}`);
      }
    } else if (det.Error !== rec.error || det.Cause !== rec.cause) {
      violation('a', `${where}: EventId ${id} Error/Cause ${det.Error}/${det.Cause} is not the ` +
        `reported ${rec.error}/${rec.cause}`);
    }
    const sched = Number(e.ScheduleEventId);
    if (tokenOf.has(sched) && tokenOf.get(sched) !== rec.token) {
      violation('a', `${where}: EventId ${id} (${rec.rid}) completes attempt #${sched}, ` +
        'whose token is not the reported one');
    }
  }

  // (f) acknowledged stops
  const ackedStops = ex.stops.filter((s) => s.acked);
  if (ackedStops.length) {
    stats.checkedAcks += ackedStops.length;
    if (ackedStops.length > 1) violation('f', `${where}: ${ackedStops.length} StopExecution acknowledged`);
    if (desc.Status !== 'Stopped') {
      violation('f', `${where}: StopExecution acknowledged but Status is ${desc.Status}`);
    } else {
      const det = parseDetail(ev[ev.length - 1]);
      if (det.Cause !== ackedStops[0].cause) {
        violation('f', `${where}: Stopped with Cause ${det.Cause}, not the acknowledged stop's ${ackedStops[0].cause}`);
      }
    }
  }
}

// ---- main ----

// The lines of a query's result (psql, unaligned: fields split at '|').
function pgLines(sql) {
  return new Promise((resolve, reject) => {
    execFile('psql', [opts.pg, '-qAtX', '-c', sql],
      (err, stdout, stderr) => (err ? reject(new Error(`psql: ${stderr || err.message}`))
        : resolve(stdout.split('\n').filter(Boolean))));
  });
}

// The live outbox and timer claims of a node (PostgreSQL): [{table, id}].
async function claimsOf(node) {
  const id = fs.readFileSync(path.join(node.srv.dataDir, 'node-id'), 'utf8').trim();
  const now = Date.now();
  const lines = await pgLines(`SELECT 'outbox', id FROM ${pg.schema}.outbox WHERE owner = ` +
    `'${id}' AND lease_ms > ${now} UNION ALL SELECT 'timers', id FROM ${pg.schema}.timers ` +
    `WHERE owner = '${id}' AND lease_ms > ${now}`);
  return lines.map((l) => {
    const [table, rid] = l.split('|');
    return { table, id: Number(rid) };
  });
}

// Which of the claimed rows still exist.
async function claimsLeft(claims) {
  if (!claims.length) return [];
  const ids = (t) => [0, ...claims.filter((c) => c.table === t).map((c) => c.id)].join(',');
  return pgLines(`SELECT 'outbox', id FROM ${pg.schema}.outbox WHERE id IN (${ids('outbox')}) ` +
    `UNION ALL SELECT 'timers', id FROM ${pg.schema}.timers WHERE id IN (${ids('timers')})`);
}

// Several nodes: stops the killer, then (the load going on) kills one node and leaves it
// down. Meanwhile the worker holds its replies (at most 1.5 s at a time, well inside the
// dispatch timeout), so the node dies holding the claims of the dispatches it was sending
// (when it gets any within two such holds). Resolves the claims it held.
async function park() {
  killing = false;
  await killerPromise;
  parked = nodes[Math.floor(rand() * nodes.length)];
  for (let attempt = 0; attempt < 2; attempt++) {
    let release;
    dispatchHold = new Promise((r) => { release = r; });
    const until = Date.now() + 1500;
    let holds = false;
    while (!holds && Date.now() < until) {
      holds = (await claimsOf(parked)).some((c) => c.table === 'outbox');
      if (!holds) await sleep(10);
    }
    if (holds || attempt === 1) await killNode(parked);
    dispatchHold = null;
    release();
    if (holds) break;
    await sleep(200); // the held replies go out before holding again
  }
  if (parked.up) await killNode(parked);
  const claims = await claimsOf(parked);
  log(`node ${parked.i} killed and left down, holding ${claims.length} claims ` +
    `${JSON.stringify(claims)}`);
  return claims;
}

async function main() {
  log(`seed ${opts.seed}; ${opts.seconds} s at concurrency ${opts.concurrency}, kills every ` +
    `${opts.killMinMs}-${opts.killMaxMs} ms; ${opts.nodes} node(s)` +
    `${pg.schema ? ` on PostgreSQL schema ${pg.schema}` : ''}; work dir ${work}; ` +
    `flowd ${opts.flowd}`);
  worker = await startWorker();
  worker.beforeReply = (rec) => {
    onDispatch(rec);
    return dispatchHold; // the reply waits for it (see park())
  };
  // The worker keeps every request; drop them now and then (tokens live in execs).
  const trim = setInterval(() => { worker.requests.length = 0; }, 5000);
  await Promise.all(nodes.map(startServer));
  killerPromise = killer();
  await createFlows();
  const progress = setInterval(() => {
    log(`crashes ${stats.crashes}, acks ${stats.acks}, unknown ${stats.unknown}, ` +
      `executions ${execSeq}, violations ${violations.length}`);
  }, 10000);
  const actors = [];
  for (let i = 0; i < opts.concurrency; i++) actors.push(actor());
  // One last crash. A single node is killed right at the end of the load and started again
  // at once; with several, a node is killed a few seconds before the end and stays down
  // through the settle phase, so the others take over its claims when their leases end.
  let parkedClaims = [];
  const loadEnd = Date.now() + opts.seconds * 1000;
  if (nodes.length > 1) {
    await sleep(Math.max(0, loadEnd - PARK_BEFORE_END_MS - Date.now()));
    parkedClaims = await park();
    await sleep(Math.max(0, loadEnd - Date.now()));
    driving = false;
  } else {
    await sleep(opts.seconds * 1000);
    driving = false;
    killing = false;
    await killerPromise;
    await killNode(nodes[0]);
    await startServer(nodes[0]);
  }
  for (const ex of execs.values()) if (ex.wake) ex.wake();
  await Promise.all(actors);
  clearInterval(progress);
  log(`load done: crashes ${stats.crashes}, acks ${stats.acks}, unknown ${stats.unknown}; settling`);
  await settle();
  if (parked) {
    const left = await claimsLeft(parkedClaims);
    if (left.length) {
      violation('lease', `claims of node ${parked.i} (down since the end of the load) still ` +
        `there after settling: ${left.join(', ')}`);
    }
    await startServer(parked);
  }
  log('checking');
  await checkFlows();
  for (const ex of execs.values()) {
    if (!ex.startTried) continue;
    try {
      await checkExec(ex);
    } catch (e) {
      violation('check', `${ex.name}: ${e.message}`);
    }
  }
  clearInterval(trim);
  for (const node of nodes) {
    if (!node.up || node.srv.exitInfo) {
      violation('server', `flowd (node ${node.i}) is not running at the end`);
    }
    node.killingUs = true;
    await node.srv.stop();
  }
  await worker.close();
  fs.closeSync(ackLog);

  const result = { seed: opts.seed, seconds: opts.seconds, concurrency: opts.concurrency,
    crashes: stats.crashes, acknowledgedWrites: stats.acks, acknowledgedChecked: stats.checkedAcks,
    executions: stats.executions, tokens: stats.tokens, reports: stats.reports,
    sameRidResends: stats.sameRidResends, stops: stats.stops, ignoredTokens: stats.ignored, lateReports: stats.late,
    unknownReplies: stats.unknown, requests: stats.requests, settleReports: stats.settleReports,
    statuses: stats.finished, unexpectedReplies: unexpected, violations: violations.length,
    nodes: nodes.length, killsPerNode: nodes.map((n) => n.kills), pg: !!pg.schema,
    parkedClaims: parkedClaims.length };
  console.log(`crashes injected:            ${result.crashes}` +
    (nodes.length > 1 ? ` (per node ${result.killsPerNode.join('/')})` : ''));
  console.log(`acknowledged writes:         ${result.acknowledgedWrites} (checked ${result.acknowledgedChecked})`);
  console.log(`executions:                  ${result.executions} ${JSON.stringify(result.statuses)}`);
  console.log(`requests / unknown replies:  ${result.requests} / ${result.unknownReplies}`);
  console.log(`violations:                  ${violations.length}`);
  if (violations.length) {
    const byKind = {};
    for (const v of violations) byKind[v.kind] = (byKind[v.kind] || 0) + 1;
    console.log(`violations by kind: ${JSON.stringify(byKind)}; work dir kept: ${work}`);
    fs.writeFileSync(path.join(work, 'violations.json'), JSON.stringify(violations, null, 1));
    for (const node of nodes) {
      fs.writeFileSync(path.join(work, nodes.length > 1 ? `flowd-${node.i}.stderr` :
        'flowd.stderr'), node.srv.stderr);
    }
    if (pg.schema) console.log(`PostgreSQL schema kept: ${pg.schema}`);
  } else {
    if (pg.schema) {
      try { psql(`DROP SCHEMA ${pg.schema} CASCADE`); } catch (_) { /* left for the cluster */ }
    }
    if (!opts.data) fs.rmSync(work, { recursive: true, force: true });
  }
  console.log(`RESULT ${JSON.stringify(result)}`);
  return violations.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`crash harness error: ${e && e.stack ? e.stack : e}`);
  console.log(`work dir kept: ${work}`);
  for (const node of nodes) {
    try { node.srv.kill(); } catch (_) { /* gone */ }
  }
  if (pg.schema) console.log(`PostgreSQL schema kept: ${pg.schema}`);
  process.exit(2);
});
