'use strict';
// worker.js - a tiny HTTP worker on 127.0.0.1 that stands in for the service a callback task
// calls. It records every request (method, url, headers, parsed JSON body) and lets a test
// await the next one it has not consumed yet. It answers 200 {"ok":true} unless told otherwise.

const http = require('node:http');

class Worker {
  constructor() {
    this.requests = [];   // every request ever received, in order
    this.waiters = [];
    this.status = 200;
    this.statusFor = {};  // path -> HTTP status to answer instead of this.status
    // Optional async hook run before the reply is sent: hook(rec) -> anything. Lets a test
    // report a task while flowd's dispatch of it is still in flight.
    this.beforeReply = null;
    this.server = null;
    this.port = 0;
  }

  start() {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let body = null;
        try { body = raw ? JSON.parse(raw) : null; } catch (_) { body = undefined; }
        const rec = { method: req.method, url: req.url, headers: req.headers, raw, body,
          at: Date.now(), taken: false };
        // A request is recorded once its hook (if any) has run, so next() sees the result.
        const reply = () => {
          this.requests.push(rec);
          const path = req.url.split('?')[0];
          res.writeHead(this.statusFor[path] || this.status, { 'content-type': 'application/json' });
          res.end('{"ok":true}');
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

  url(p = '/work') { return `http://127.0.0.1:${this.port}${p}`; }

  wake() {
    const still = [];
    for (const w of this.waiters) {
      const idx = this.findUntaken(w.filter);
      if (idx >= 0) {
        this.requests[idx].taken = true;
        clearTimeout(w.timer);
        w.resolve(this.requests[idx]);
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
  }

  findUntaken(filter) {
    for (let i = 0; i < this.requests.length; i++) {
      if (this.requests[i].taken) continue;
      if (!filter || filter(this.requests[i])) return i;
    }
    return -1;
  }

  // Resolves with the oldest request not handed out yet (optionally the next that matches
  // filter); rejects after timeoutMs.
  next(timeoutMs = 10000, filter = null) {
    const idx = this.findUntaken(filter);
    if (idx >= 0) {
      this.requests[idx].taken = true;
      return Promise.resolve(this.requests[idx]);
    }
    return new Promise((resolve, reject) => {
      const w = { resolve, filter, timer: null };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`worker: no request within ${timeoutMs} ms ` +
          `(received ${this.requests.length} so far)`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  // The next request whose JSON body has the given orderId (the tests tag executions so that
  // several of them can share one worker).
  nextFor(orderId, timeoutMs = 10000) {
    return this.next(timeoutMs, (r) => r.body && r.body.orderId === orderId);
  }

  // All requests received so far whose body carries orderId.
  allFor(orderId) {
    return this.requests.filter((r) => r.body && r.body.orderId === orderId);
  }

  close() {
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters = [];
    if (!this.server) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      if (this.server.closeAllConnections) this.server.closeAllConnections();
    });
  }
}

async function startWorker() {
  const w = new Worker();
  await w.start();
  return w;
}

module.exports = { Worker, startWorker };
