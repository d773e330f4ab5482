'use strict';
// lang.js - helpers for the flow-language tests (lang-*.test.js): a worker that can also play
// Function Compute functions (per-path replies with a chosen status and JSON body), a flowd
// started with `--config` whose `functions:` map points at that worker, and small helpers to
// report tasks and read histories.
//
// setupLang({functions: {key: '/path'}}) registers before/after hooks like harness.setup()
// and returns ctx {srv, worker, v1, configFile}. Each functions entry becomes
// `functions: {key: http://127.0.0.1:<worker port>/path}` in the config file.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const assert = require('node:assert/strict');
const { before, after } = require('node:test');
const { Worker } = require('./worker');
const { startFlowd } = require('./flowd');
const clients = require('./clients');
const u = require('./util');

// A Worker whose answer can be chosen per path: replyFor[path] is either {status, body} or
// a function (rec) -> {status, body} (possibly async). body is sent as JSON (a string is
// sent as is). Everything else (requests, next(), beforeReply, statusFor) works as in Worker.
class FnWorker extends Worker {
  constructor() {
    super();
    this.replyFor = {};
  }

  start() {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body = null;
        try { body = raw ? JSON.parse(raw) : null; } catch (_) { body = undefined; }
        const rec = { method: req.method, url: req.url, path: req.url.split('?')[0],
          headers: req.headers, raw, body, at: Date.now(), taken: false };
        const reply = async () => {
          let r = this.replyFor[rec.path];
          if (typeof r === 'function') {
            try { r = await r(rec); } catch (e) { r = { status: 599, body: { hookError: e.message } }; }
          }
          r = r || {};
          const status = r.status || this.statusFor[rec.path] || this.status;
          const text = r.body === undefined ? '{"ok":true}' :
            (typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
          this.requests.push(rec);
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(text);
          this.wake();
        };
        if (this.beforeReply) {
          Promise.resolve().then(() => this.beforeReply(rec))
            .then((v) => { rec.hookResult = v; }, (e) => { rec.hookError = e; })
            .then(reply);
        } else {
          reply();
        }
      });
    });
    this.server.keepAliveTimeout = 1000;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve(this);
      });
    });
  }

  // The next request to a path (optionally also matching filter).
  nextOn(p, timeoutMs = 10000, filter = null) {
    return this.next(timeoutMs, (r) => r.path === p && (!filter || filter(r)));
  }

  // Requests received so far on a path.
  allOn(p) { return this.requests.filter((r) => r.path === p); }
}

// Writes a flowd config file (JSON, which flowd reads as YAML too) into a new temporary
// directory and returns its path.
function writeConfig(obj) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowd-lang-cfg-'));
  const file = path.join(dir, 'flowd.json');
  fs.writeFileSync(file, JSON.stringify(obj, null, 2));
  return file;
}

function setupLang(opts = {}) {
  const ctx = { srv: null, worker: null, v1: null, configFile: null };
  before(async () => {
    ctx.worker = new FnWorker();
    await ctx.worker.start();
    const functions = {};
    for (const [k, p] of Object.entries(opts.functions || {})) functions[k] = ctx.worker.url(p);
    ctx.configFile = writeConfig({ functions, ...(opts.config || {}) });
    ctx.srv = await startFlowd({ args: ['--config', ctx.configFile], env: opts.env });
    ctx.v1 = clients.v1(ctx.srv);
  });
  after(async () => {
    if (ctx.srv) await ctx.srv.close();
    if (ctx.worker) await ctx.worker.close();
    if (ctx.configFile) fs.rmSync(path.dirname(ctx.configFile), { recursive: true, force: true });
  });
  return ctx;
}

// Creates a flow (Definition text) and starts one execution with input; returns
// {flow, exec}.
async function createAndStart(client, def, input = {}, flow = u.uniq('f')) {
  await u.createFlow(client, flow, typeof def === 'function' ? def(flow) : def);
  const exec = u.uniq('ex');
  await client.startExecution({ FlowName: flow, ExecutionName: exec,
    Input: JSON.stringify(input) });
  return { flow, exec };
}

function succeed(client, token, out = {}) {
  return client.reportTaskSucceeded({ TaskToken: token, Output: JSON.stringify(out) });
}

function fail(client, token, error, cause) {
  const p = { TaskToken: token, Error: error };
  if (cause !== undefined) p.Cause = cause;
  return client.reportTaskFailed(p);
}

// Waits for the end of an execution and returns {d (DescribeExecution), out (parsed Output),
// ev (full history, EventIds checked)}.
async function finish(client, flow, exec, timeoutMs = 15000) {
  const d = await u.waitDone(client, flow, exec, timeoutMs);
  const ev = await u.fullHistory(client, flow, exec);
  u.assertEventIds(ev);
  return { d, out: u.output(d), ev };
}

// The events of a type (optionally of a step).
function eventsOf(ev, type, stepName) {
  return ev.filter((e) => e.Type === type && (stepName === undefined || e.StepName === stepName));
}

// Asserts that events of the given types appear in this relative order in ev.
function assertOrder(ev, typesInOrder) {
  let i = 0;
  for (const e of ev) if (i < typesInOrder.length && e.Type === typesInOrder[i]) i++;
  assert.equal(i, typesInOrder.length,
    `expected ${typesInOrder.join(',')} in order in ${u.types(ev).join(',')}`);
}

module.exports = { FnWorker, writeConfig, setupLang, createAndStart, succeed, fail, finish,
  eventsOf, assertOrder };
