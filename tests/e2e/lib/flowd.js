'use strict';
// flowd.js - starts, restarts, stops and kills a real flowd for the e2e tests.
//
// Each server listens on 127.0.0.1 with a kernel-chosen port and a fresh temporary data
// directory. With FLOWD_TEST_PG set (a PostgreSQL URL), each data directory also gets its
// own schema of that database, and flowd runs on it with --store (the schema's name is kept
// in the data directory, so a server started again on the same directory finds its data). flowd announces readiness with a stdout line "listening on http://127.0.0.1:<port>";
// we wait for it (10 s at most). stderr is kept so a failing test can show what the server said.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');
const FLOWD_BIN = process.env.FLOWD_BIN || path.join(REPO, 'build', 'flowd');
const FLOWCTL_BIN = process.env.FLOWCTL_BIN || path.join(REPO, 'build', 'flowctl');

// The credentials every test server is started with (FLOWD_ACCESS_KEY_* set the root key).
const KEY_ID = 'LTAI5tFlowdE2eTestKey01';
const KEY_SECRET = 'e2eSecret+/=WithOddChars0123456789';
const ACCOUNT_ID = '1234567890123456';

const READY_RE = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
const READY_TIMEOUT_MS = 10000;
const STDERR_KEEP = 64 * 1024;

const PG = process.env.FLOWD_TEST_PG || '';

// Runs SQL on the test database with psql.
function psql(sql) {
  execFileSync('psql', [PG, '-qAtX', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    { stdio: ['ignore', 'pipe', 'pipe'] });
}

// The --store URL of a data directory's schema (created on first use), or null.
function pgStore(dataDir) {
  if (!PG) return null;
  const file = path.join(dataDir, 'pg-schema');
  let schema;
  if (fs.existsSync(file)) {
    schema = fs.readFileSync(file, 'utf8').trim();
  } else {
    schema = 'e2e_' + process.pid + '_' + Math.random().toString(36).slice(2, 10);
    psql(`CREATE SCHEMA ${schema}`);
    fs.writeFileSync(file, schema, { mode: 0o600 });
  }
  return { schema, url: `${PG}${PG.includes('?') ? '&' : '?'}options=-csearch_path%3D${schema}` };
}

const live = new Set(); // every child still running, killed if the test process exits

process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch (_) { /* already gone */ }
  }
});

class Flowd {
  constructor(opts = {}) {
    this.dataDir = opts.dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'flowd-e2e-'));
    this.ownsDataDir = !opts.dataDir;
    this.extraEnv = opts.env || {};
    this.extraArgs = opts.args || [];
    this.child = null;
    this.port = 0;
    this.stderr = '';
    this.stdout = '';
    this.exitInfo = null;
  }

  get endpoint() { return `http://127.0.0.1:${this.port}`; }
  get hostPort() { return `127.0.0.1:${this.port}`; }

  // Starts the process and resolves once it accepts connections.
  start() {
    if (!fs.existsSync(FLOWD_BIN)) {
      return Promise.reject(new Error(`flowd binary not found at ${FLOWD_BIN} (set FLOWD_BIN)`));
    }
    const args = ['--listen', '127.0.0.1:0', '--data', this.dataDir, ...this.extraArgs];
    const pg = this.extraArgs.includes('--store') ? null : pgStore(this.dataDir);
    if (pg) {
      args.push('--store', pg.url);
      this.pgSchema = pg.schema;
    }
    const env = {
      ...process.env,
      FLOWD_ACCESS_KEY_ID: KEY_ID,
      FLOWD_ACCESS_KEY_SECRET: KEY_SECRET,
      FLOWD_ACCOUNT_ID: ACCOUNT_ID,
      ...this.extraEnv,
    };
    // undefined in opts.env removes a variable (e.g. to start without credentials).
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const child = spawn(FLOWD_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let startOut = ''; // what this process printed (this.stdout spans restarts)
    this.child = child;
    this.exitInfo = null;
    this.port = 0;
    live.add(child);
    child.stderr.setEncoding('utf8');
    child.stdout.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      this.stderr += d;
      if (this.stderr.length > STDERR_KEEP) this.stderr = this.stderr.slice(-STDERR_KEEP);
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        live.delete(child);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (err) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          try { child.kill('SIGKILL'); } catch (_) { /* gone */ }
          reject(err);
        } else {
          resolve(this);
        }
      };
      const timer = setTimeout(() => finish(new Error(
        `flowd did not print "listening on" within ${READY_TIMEOUT_MS} ms\n${this.diag()}`)),
      READY_TIMEOUT_MS);
      child.stdout.on('data', (d) => {
        this.stdout += d;
        if (this.stdout.length > STDERR_KEEP) this.stdout = this.stdout.slice(-STDERR_KEEP);
        if (startOut.length < STDERR_KEEP) startOut += d;
        const m = READY_RE.exec(startOut);
        if (m && !this.port) {
          this.port = Number(m[1]);
          finish(null);
        }
      });
      child.on('error', (e) => finish(new Error(`cannot start flowd: ${e.message}`)));
      child.on('exit', (code, signal) => finish(new Error(
        `flowd exited before it was ready (code ${code}, signal ${signal})\n${this.diag()}`)));
    });
  }

  // SIGKILL: no chance to flush anything that is not already durable.
  async kill() {
    if (!this.child || this.exitInfo) return this.exitInfo;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  // SIGTERM, then SIGKILL if flowd has not exited within graceMs.
  async stop(graceMs = 5000) {
    if (!this.child || this.exitInfo) return this.exitInfo;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => { try { this.child.kill('SIGKILL'); } catch (_) { /* gone */ } },
      graceMs);
    const info = await this.exited;
    clearTimeout(t);
    return info;
  }

  // Starts a new process on the same data directory (the port changes).
  async restart() {
    await this.stop();
    this.stdout += '\n--- restart ---\n';
    this.stderr += '\n--- restart ---\n';
    return this.start();
  }

  // Stops the server and removes its data directory.
  async close() {
    await this.stop();
    if (this.ownsDataDir && this.pgSchema) {
      try { psql(`DROP SCHEMA ${this.pgSchema} CASCADE`); } catch (_) { /* left for the cluster's end */ }
    }
    if (this.ownsDataDir) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  // The tail of what flowd wrote, for assertion messages.
  diag(max = 4000) {
    const tail = (s) => (s.length > max ? '...' + s.slice(-max) : s);
    return `--- flowd stderr (tail) ---\n${tail(this.stderr)}\n--- flowd stdout (tail) ---\n` +
      `${tail(this.stdout)}\n--- exit: ${JSON.stringify(this.exitInfo)}`;
  }
}

// Starts a flowd with a fresh data directory.
async function startFlowd(opts) {
  const f = new Flowd(opts);
  await f.start();
  return f;
}

module.exports = { Flowd, startFlowd, FLOWD_BIN, FLOWCTL_BIN, KEY_ID, KEY_SECRET, ACCOUNT_ID, REPO };
