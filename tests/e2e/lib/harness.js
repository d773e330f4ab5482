'use strict';
// harness.js - per-file setup: one flowd and one worker shared by the tests of a file, and a
// test() wrapper that appends flowd's stderr to the message of a failing test.

const { test, before, after } = require('node:test');
const { startFlowd } = require('./flowd');
const { startWorker } = require('./worker');
const clients = require('./clients');

// Registers before/after hooks and returns a context whose fields (srv, worker, v1, v3) are
// filled once the hooks have run. opts.worker: also start a worker (default true).
function setup(opts = {}) {
  const ctx = { srv: null, worker: null, v1: null, v3: null };
  before(async () => {
    if (opts.worker !== false) ctx.worker = await startWorker();
    ctx.srv = await startFlowd(opts.flowd);
    ctx.v1 = clients.v1(ctx.srv);
    ctx.v3 = clients.v3(ctx.srv);
  });
  after(async () => {
    if (ctx.srv) await ctx.srv.close();
    if (ctx.worker) await ctx.worker.close();
  });
  return ctx;
}

// test() with a default timeout whose failures carry the server's recent output.
function it(ctx, name, opts, fn) {
  if (typeof opts === 'function') { fn = opts; opts = {}; }
  return test(name, { timeout: 30000, ...opts }, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      const srv = ctx.srv;
      if (srv && e && typeof e === 'object') {
        try { e.message = `${e.message}\n${srv.diag(2000)}`; } catch (_) { /* read-only */ }
      }
      throw e;
    }
  });
}

module.exports = { setup, it };
