'use strict';
// delivery.js - helpers for the task delivery tests (delivery-*.test.js): flowd's outbox,
// re-sends of dispatches, the per-target limit, the function map and ListWaitingTasks.
//
//   freePort()                  a port nothing listens on (bound once, then released)
//   DeliveryWorker              an FnWorker (lib/lang.js) that can listen on a chosen port,
//                               records each request when it arrives (arrived[]) and can
//                               hold requests open (hold(path) / release())
//   ResetServer                 a TCP endpoint that reads each HTTP request and then resets
//                               the connection (a "connection reset" failure you can count)
//   startConfigured(config)     a flowd started with --config <file with config>
//   listWaiting(srv, params)    ListWaitingTasks (GET, signed V1 through pop-core)

const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { FnWorker, writeConfig } = require('./lang');
const { startFlowd } = require('./flowd');
const clients = require('./clients');

// A port on 127.0.0.1 that was free a moment ago and has no listener now.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// The first JSON body of a raw HTTP request text (or null).
function parseRawBody(text) {
  const i = text.indexOf('\r\n\r\n');
  if (i < 0) return null;
  try { return JSON.parse(text.slice(i + 4)); } catch (_) { return null; }
}

class DeliveryWorker extends FnWorker {
  constructor() {
    super();
    this.arrived = [];      // every request, recorded when its body has been read
    this.held = [];         // resolvers of held requests
    this.sockets = new Set();
  }

  // Listens on port (0: the kernel picks one).
  start(port = 0) {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body = null;
        try { body = raw ? JSON.parse(raw) : null; } catch (_) { body = undefined; }
        const rec = { method: req.method, url: req.url, path: req.url.split('?')[0],
          headers: req.headers, raw, body, at: Date.now(), taken: false };
        this.arrived.push(rec);
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
          if (!res.destroyed) {
            res.writeHead(status, { 'content-type': 'application/json' });
            res.end(text);
          }
          this.wake();
        };
        reply();
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.keepAliveTimeout = 1000;
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 60000;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve(this);
      });
    });
  }

  // Requests to path are answered only when release() is called (then with 200 {"ok":true},
  // or with what release(reply) says).
  hold(p) {
    this.replyFor[p] = () => new Promise((resolve) => this.held.push(resolve));
  }

  release(reply = { status: 200 }) {
    const h = this.held;
    this.held = [];
    for (const r of h) r(reply);
  }

  arrivedOn(p) { return this.arrived.filter((r) => r.path === p); }

  close() {
    this.release();
    for (const s of this.sockets) s.destroy();
    return super.close();
  }
}

async function startDeliveryWorker(port = 0) {
  const w = new DeliveryWorker();
  await w.start(port);
  return w;
}

// Accepts connections, reads one HTTP request from each (headers and Content-Length bytes of
// body) and answers with a TCP reset. requests[] holds {raw, body, at}.
class ResetServer {
  constructor() {
    this.requests = [];
    this.connections = 0;
    this.server = null;
    this.port = 0;
    this.sockets = new Set();
  }

  start(port = 0) {
    this.server = net.createServer((sock) => {
      this.connections += 1;
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => { /* the reset we send */ });
      let buf = Buffer.alloc(0);
      let done = false;
      sock.on('data', (d) => {
        if (done) return;
        buf = Buffer.concat([buf, d]);
        const text = buf.toString('utf8');
        const i = text.indexOf('\r\n\r\n');
        if (i < 0) return;
        const m = /content-length:\s*(\d+)/i.exec(text.slice(0, i));
        const need = m ? Number(m[1]) : 0;
        if (Buffer.byteLength(text.slice(i + 4)) < need) return;
        done = true;
        this.requests.push({ raw: text, body: parseRawBody(text), at: Date.now() });
        if (sock.resetAndDestroy) sock.resetAndDestroy();
        else sock.destroy();
      });
    });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve(this);
      });
    });
  }

  url(p = '/work') { return `http://127.0.0.1:${this.port}${p}`; }

  close() {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function startResetServer(port = 0) {
  const s = new ResetServer();
  await s.start(port);
  return s;
}

// Starts a flowd with a config file holding config (e.g. {dispatch: {...}, functions: {...}});
// resolves {srv, v1, configFile, close()}. opts.dataDir reuses a data directory.
async function startConfigured(config, opts = {}) {
  const configFile = writeConfig(config);
  const srv = await startFlowd({ args: ['--config', configFile], env: opts.env,
    dataDir: opts.dataDir });
  return {
    srv,
    v1: clients.v1(srv),
    configFile,
    async close() {
      await srv.close();
      fs.rmSync(path.dirname(configFile), { recursive: true, force: true });
    },
  };
}

// ListWaitingTasks with a signed GET; resolves the reply body. creds: {accessKeyId,
// accessKeySecret} (default: the root key). Errors are pop-core's (e.code).
function listWaiting(srv, params, creds) {
  const clean = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, String(v)]));
  return clients.pop(srv, creds || {}).request('ListWaitingTasks', clean, { method: 'GET' });
}

// A CloudFlow callback task (HTTP:Request, WaitForCustomCallback) posting {token, orderId} to
// url. opts: mode (TaskMode, default WaitForCustomCallback), timeout (seconds; omitted when
// null), retry, catch (YAML list texts), extraStates (YAML list items), name (the step).
function httpTaskFlow(flowName, url, opts = {}) {
  const step = opts.name || 'Deliver';
  const lines = [
    'Type: StateMachine', 'SpecVersion: v1', `Name: ${flowName}`, `StartAt: ${step}`, 'States:',
    '  - Type: Task',
    `    Name: ${step}`,
    '    Action: HTTP:Request',
    `    TaskMode: ${opts.mode || 'WaitForCustomCallback'}`,
  ];
  if (opts.timeout !== null) lines.push(`    Timeout: ${opts.timeout === undefined ? 30 : opts.timeout}`);
  lines.push(
    '    Parameters:',
    `      URL: ${url}`,
    '      Method: POST',
    '      Body:',
    '        token.$: $Context.Current.TaskToken',
    '        orderId.$: $Input.orderId',
  );
  const ind = (t, n) => t.split('\n').map((l) => (l ? ' '.repeat(n) + l : l)).join('\n');
  if (opts.retry) lines.push('    Retry:', ind(opts.retry, 6));
  if (opts.catch) lines.push('    Catch:', ind(opts.catch, 6));
  lines.push('    End: true');
  if (opts.extraStates) lines.push(ind(opts.extraStates, 2));
  return lines.join('\n') + '\n';
}

module.exports = { freePort, parseRawBody, DeliveryWorker, startDeliveryWorker, ResetServer,
  startResetServer, startConfigured, listWaiting, httpTaskFlow };
