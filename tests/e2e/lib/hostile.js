'use strict';
// hostile.js - the machinery behind hostile.test.js: loads the corpus of malformed and hostile
// requests (tests/cases/http/<case>/{request,expect}), turns each request into bytes (raw files
// verbatim; JSON specs signed with V1, V3 or the MNS scheme over byte strings, so invalid UTF-8
// and NUL bytes can be signed), sends them over a plain TCP socket (optionally a few bytes at
// a time) and parses whatever comes back. The corpus format is described in
// tests/cases/http/README.md.

const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { KEY_ID, KEY_SECRET, REPO } = require('./flowd');

const CASES_DIR = path.join(REPO, 'tests', 'cases', 'http');

// ---- the corpus ----

// Parses an expect file: first line "<status> <Code>" ("<status> -": any body), "close", or
// alternatives separated by "|"; an optional second line is a Message fragment.
function parseExpect(text) {
  const lines = text.replace(/\r/g, '').split('\n');
  const alts = lines[0].trim().split('|').map((s) => s.trim()).filter(Boolean).map((a) => {
    if (a === 'close') return { close: true };
    const m = /^(\d{3})(?:\s+(\S+))?$/.exec(a);
    if (!m) throw new Error(`bad expect line: ${lines[0]}`);
    return { status: Number(m[1]), code: m[2] && m[2] !== '-' ? m[2] : null };
  });
  const message = lines.length > 1 && lines[1].trim() ? lines[1].trim() : null;
  return { alts, message, text: lines[0].trim() + (message ? ` / ${message}` : '') };
}

function loadCases(dir = CASES_DIR) {
  const out = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const d = path.join(dir, name);
    if (!fs.statSync(d).isDirectory()) continue;
    const req = fs.readFileSync(path.join(d, 'request'));
    const expect = parseExpect(fs.readFileSync(path.join(d, 'expect'), 'utf8'));
    const first = req.toString('latin1').trimStart()[0];
    const spec = first === '{' ? JSON.parse(req.toString('utf8')) : null;
    out.push({ name, dir: d, raw: spec ? null : req, spec, expect });
  }
  return out;
}

// ---- values: strings, {pct}, {repeat, count}, {concat}, {json}; placeholders ----

// ${NAME} or ${NAME|op:arg|op...} in strings; ctx.vars holds the names.
function subst(s, ctx) {
  return s.replace(/\$\{([A-Z_0-9]+)(?::([^}|]*))?((?:\|[^}]*)?)\}/g, (all, name, arg, ops) => {
    let v;
    if (name === 'REP') {
      // ${REP:x*1000}: "x" repeated 1000 times.
      const i = arg.lastIndexOf('*');
      v = arg.slice(0, i).repeat(Number(arg.slice(i + 1)));
    } else {
      v = ctx.resolve(name, arg);
    }
    for (const op of ops.split('|').filter(Boolean)) {
      const [o, a = ''] = op.split(':');
      if (o === 'cut') v = v.slice(0, v.length - Number(a));
      else if (o === 'append') v += a;
      else if (o === 'prepend') v = a + v;
      else if (o === 'upper') v = v.toUpperCase();
      else if (o === 'lower') v = v.toLowerCase();
      else if (o === 'flip') {
        const i = Number(a);
        v = v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1);
      } else if (o === 'std') v = v.replace(/-/g, '+').replace(/_/g, '/');
      else throw new Error(`unknown placeholder op ${o}`);
    }
    return v;
  });
}

// A value of the spec as a Buffer.
function bytes(v, ctx) {
  if (v == null) return Buffer.alloc(0);
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string') return Buffer.from(subst(v, ctx), 'utf8');
  if (typeof v === 'number' || typeof v === 'boolean') return Buffer.from(String(v));
  if (Array.isArray(v)) return Buffer.concat(v.map((x) => bytes(x, ctx)));
  if ('pct' in v) return pctDecode(subst(v.pct, ctx));
  if ('repeat' in v) {
    const one = bytes(v.repeat, ctx);
    return one.length ? Buffer.alloc(one.length * v.count, one) : one;
  }
  if ('seq' in v) {
    // "{i}" in the template counts from 0 to count - 1.
    const parts = [];
    for (let i = 0; i < v.count; i++) parts.push(v.seq.replace(/\{i\}/g, String(i)));
    return Buffer.from(parts.join(''), 'utf8');
  }
  if ('concat' in v) return Buffer.concat(v.concat.map((x) => bytes(x, ctx)));
  if ('json' in v) return Buffer.from(JSON.stringify(v.json), 'utf8');
  if ('file' in v) return fs.readFileSync(path.join(ctx.caseDir, v.file));
  throw new Error(`unknown value form ${JSON.stringify(v).slice(0, 80)}`);
}

function pctDecode(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(...Buffer.from(s[i], 'utf8'));
    }
  }
  return Buffer.from(out);
}

// RFC 3986 percent-encoding of bytes (what flowd's signer does). Valid UTF-8 takes the fast
// native path; anything else goes byte by byte.
function pe(buf) {
  const str = buf.toString('utf8');
  if (Buffer.byteLength(str) === buf.length && !str.includes('\ufffd')) {
    return encodeURIComponent(str).replace(/[!'()*]/g,
      (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  }
  const out = [];
  for (const c of buf) {
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ||
      c === 0x2d || c === 0x5f || c === 0x2e || c === 0x7e) out.push(String.fromCharCode(c));
    else out.push('%' + c.toString(16).toUpperCase().padStart(2, '0'));
  }
  return out.join('');
}

// [[keyBuf, valBuf], ...] sorted by key bytes, then value bytes; duplicates (same key and
// value) merged, as flowd merges them before it signs.
function sortPairs(pairs) {
  const s = [...pairs].sort((a, b) => Buffer.compare(a[0], b[0]) || Buffer.compare(a[1], b[1]));
  return s.filter((p, i) => i === 0 || Buffer.compare(p[0], s[i - 1][0]) ||
    Buffer.compare(p[1], s[i - 1][1]));
}
const canonical = (pairs) => sortPairs(pairs).map(([k, v]) => `${pe(k)}=${pe(v)}`).join('&');
const encodePairs = (pairs) => pairs.map(([k, v]) => `${pe(k)}=${pe(v)}`).join('&');

const isoNow = (offS = 0) => new Date(Date.now() + offS * 1000).toISOString()
  .replace(/\.\d{3}Z$/, 'Z');
const nonce = () => crypto.randomBytes(16).toString('hex');
const sha256hex = (b) => crypto.createHash('sha256').update(b).digest('hex');

// ---- building the request bytes ----

function headerList(h, ctx) {
  if (!h) return [];
  const list = Array.isArray(h) ? h : Object.entries(h);
  return list.map(([k, v]) => [subst(k, ctx), v == null ? null : bytes(v, ctx)]);
}

function setHeader(list, name, value) {
  const i = list.findIndex(([k]) => k.toLowerCase() === name.toLowerCase());
  if (value == null) { if (i >= 0) list.splice(i, 1); return; }
  if (i >= 0) list[i][1] = value; else list.push([name, value]);
}

// Builds {head: Buffer, body: Buffer|null, chunked} from a JSON spec.
function buildSpec(spec, ctx) {
  const sign = spec.sign || 'none';
  const method = spec.method || 'POST';
  let reqPath = bytes(spec.path || '/', ctx).toString('latin1');
  const headers = headerList(spec.headers, ctx);
  const mut = spec.mutate || [];
  const params = Object.entries(spec.params || {}).map(([k, v]) => [Buffer.from(subst(k, ctx)),
    bytes(v, ctx)]);
  let body = spec.body !== undefined ? bytes(spec.body, ctx) : null;
  const extraQuery = spec.query !== undefined ? (typeof spec.query === 'string' ?
    subst(spec.query, ctx) : encodePairs(Object.entries(spec.query).map(([k, v]) =>
    [Buffer.from(k), bytes(v, ctx)]))) : '';

  if (sign === 'v1') {
    const common = {
      AccessKeyId: KEY_ID, Format: 'JSON', SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: nonce(), SignatureVersion: '1.0', Timestamp: isoNow(), Version: '2019-03-15',
    };
    const all = Object.entries(common).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]);
    const at = new Map(all.map(([k], i) => [k.toString('latin1'), i]));
    for (const [k, v] of params) {
      const i = at.get(k.toString('latin1'));
      if (i !== undefined) all[i][1] = v; else all.push([k, v]);
    }
    // Parameters that travel in a JSON body are signed as flowd reads them: strings as they
    // are, other values as their compact JSON text.
    const jsonParams = [];
    if (spec.place === 'json' && spec.jsonBody !== undefined) {
      try {
        const o = JSON.parse(bytes(spec.jsonBody, ctx).toString('utf8'));
        if (o && typeof o === 'object' && !Array.isArray(o)) {
          for (const [k, v] of Object.entries(o)) if (v !== null) jsonParams.push([k, v]);
        }
      } catch (_) { /* not JSON: flowd refuses it before the signature */ }
    }
    for (const [k, v] of Object.entries(spec.jsonValues || {})) jsonParams.push([k, v]);
    for (const [k, v] of jsonParams) {
      all.push([Buffer.from(k), Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))]);
    }
    for (const m of mut.filter((x) => x.op === 'omit-param')) {
      const i = all.findIndex(([k]) => k.toString() === m.name);
      if (i >= 0) all.splice(i, 1);
    }
    const sts = `${method}&%2F&${pe(Buffer.from(canonical(all)))}`;
    const sig = crypto.createHmac('sha1', (spec.secret || KEY_SECRET) + '&').update(sts)
      .digest('base64');
    all.push([Buffer.from('Signature'), Buffer.from(sig)]);
    for (const [k] of jsonParams) {
      const i = all.findIndex(([ak]) => ak.toString() === k);
      if (i >= 0) all.splice(i, 1);
    }
    for (const m of mut) {
      if (m.op !== 'set-param') continue;
      const i = all.findIndex(([k]) => k.toString() === m.name);
      const v = bytes(m.value, ctx);
      if (i >= 0) all[i][1] = v; else all.push([Buffer.from(m.name), v]);
    }
    const place = spec.place || (method === 'GET' ? 'query' : 'form');
    const commonNames = new Set(['AccessKeyId', 'Action', 'Format', 'SignatureMethod',
      'SignatureNonce', 'SignatureVersion', 'Timestamp', 'Version', 'Signature']);
    if (place === 'query') {
      reqPath += '?' + encodePairs(all);
    } else if (place === 'form') {
      body = Buffer.from(encodePairs(all));
      if (!spec.headers || !headers.some(([k]) => k.toLowerCase() === 'content-type')) {
        setHeader(headers, 'content-type', Buffer.from('application/x-www-form-urlencoded'));
      }
    } else {
      const c = all.filter(([k]) => commonNames.has(k.toString()));
      const rest = all.filter(([k]) => !commonNames.has(k.toString()));
      reqPath += '?' + encodePairs(c);
      if (place === 'json') {
        if (spec.jsonBody !== undefined) {
          body = bytes(spec.jsonBody, ctx);
        } else {
          const o = {};
          for (const [k, v] of rest) o[k.toString()] = v.toString('utf8');
          for (const [k, v] of Object.entries(spec.jsonValues || {})) o[k] = v;
          body = Buffer.from(JSON.stringify(o));
        }
        setHeader(headers, 'content-type', Buffer.from('application/json'));
      } else {
        body = Buffer.from(encodePairs(rest));
        setHeader(headers, 'content-type', Buffer.from('application/x-www-form-urlencoded'));
      }
    }
  } else if (sign === 'v3') {
    body = body || Buffer.alloc(0);
    const h = {
      host: ctx.hostPort,
      'x-acs-action': spec.action,
      'x-acs-version': spec.version || '2019-03-15',
      'x-acs-date': isoNow(),
      'x-acs-signature-nonce': nonce(),
      'x-acs-content-sha256': sha256hex(body),
    };
    for (const [k, v] of headers) h[k.toLowerCase()] = v.toString('latin1');
    for (const m of mut) if (m.op === 'pre-header') h[m.name] = subst(m.value, ctx);
    const signed = Object.keys(h).concat(spec.extraSigned || []).sort();
    const canonQuery = canonical(params);
    const canonHeaders = signed.map((n) => `${n}:${String(h[n] === undefined ? '' : h[n])
      .trim()}\n`).join('');
    const cr = [method, '/', canonQuery, canonHeaders, signed.join(';'),
      h['x-acs-content-sha256']].join('\n');
    const sig = crypto.createHmac('sha256', spec.secret || KEY_SECRET)
      .update('ACS3-HMAC-SHA256\n' + sha256hex(cr)).digest('hex');
    h.authorization = `ACS3-HMAC-SHA256 Credential=${spec.keyId || KEY_ID},` +
      `SignedHeaders=${signed.join(';')},Signature=${sig}`;
    headers.length = 0;
    for (const [k, v] of Object.entries(h)) headers.push([k, Buffer.from(v, 'latin1')]);
    if (params.length) reqPath += '?' + encodePairs(params);
  } else if (sign === 'mns') {
    if (!headers.some(([k]) => k.toLowerCase() === 'date')) {
      setHeader(headers, 'Date', Buffer.from(new Date().toUTCString()));
    }
    if (!headers.some(([k]) => k.toLowerCase() === 'x-mns-version')) {
      setHeader(headers, 'x-mns-version', Buffer.from('2015-06-06'));
    }
    if (body && body.length && !headers.some(([k]) => k.toLowerCase() === 'content-type')) {
      setHeader(headers, 'Content-Type', Buffer.from('text/xml;charset=utf-8'));
    }
    const get = (n) => {
      const e = headers.find(([k]) => k.toLowerCase() === n);
      return e ? e[1].toString('latin1') : '';
    };
    if (extraQuery) reqPath += '?' + extraQuery;
    const xm = headers.filter(([k]) => k.toLowerCase().startsWith('x-mns-'))
      .map(([k, v]) => [k.toLowerCase(), v.toString('latin1')])
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const sts = `${method}\n${get('content-md5')}\n${get('content-type')}\n${get('date')}\n` +
      xm.map(([k, v]) => `${k}:${v}\n`).join('') + reqPath;
    const sig = crypto.createHmac('sha1', spec.secret || KEY_SECRET).update(sts).digest('base64');
    setHeader(headers, 'Authorization', Buffer.from(`MNS ${spec.keyId || KEY_ID}:${sig}`));
  }
  if (sign !== 'mns' && extraQuery) reqPath += (reqPath.includes('?') ? '&' : '?') + extraQuery;

  if (sign === 'raw') {
    return { head: bytes(spec.data, ctx), body: Buffer.alloc(0),
      method: bytes(spec.data, ctx).toString('latin1').split(' ')[0] };
  }
  // Mutations after signing.
  for (const m of mut) {
    if (m.op === 'set-header') setHeader(headers, m.name, bytes(m.value, ctx));
    else if (m.op === 'del-header') setHeader(headers, m.name, null);
    else if (m.op === 'add-header') headers.push([m.name, bytes(m.value, ctx)]);
    else if (m.op === 'body') body = bytes(m.value, ctx);
    else if (m.op === 'path') reqPath = bytes(m.value, ctx).toString('latin1');
  }
  let flood = null;
  if (spec.floodHeaders) {
    const f = spec.floodHeaders;
    const v = bytes(f.value, ctx).toString('latin1');
    const lines = [];
    for (let i = 0; i < f.count; i++) lines.push(`${f.name.replace('{i}', String(i))}: ${v}\r\n`);
    flood = Buffer.from(lines.join(''), 'latin1');
  }
  if (!headers.some(([k]) => k.toLowerCase() === 'host') && spec.host !== false) {
    headers.unshift(['Host', Buffer.from(ctx.hostPort)]);
  }
  const chunked = !!spec.chunked;
  if (body && !chunked && spec.contentLength === undefined &&
    !headers.some(([k]) => k.toLowerCase() === 'content-length')) {
    headers.push(['Content-Length', Buffer.from(String(body.length))]);
  }
  if (spec.contentLength !== undefined) {
    headers.push(['Content-Length', Buffer.from(String(spec.contentLength))]);
  }
  if (chunked) headers.push(['Transfer-Encoding', Buffer.from('chunked')]);
  const parts = [Buffer.from(`${method} ${reqPath} ${spec.httpVersion || 'HTTP/1.1'}\r\n`,
    'latin1')];
  for (const [k, v] of headers) parts.push(Buffer.from(k + ': ', 'latin1'), v, Buffer.from('\r\n'));
  if (flood) parts.push(flood);
  parts.push(Buffer.from('\r\n'));
  let payload = body || Buffer.alloc(0);
  if (chunked) {
    const cs = spec.chunkSize || 65536;
    const ch = [];
    for (let i = 0; i < payload.length; i += cs) {
      const piece = payload.subarray(i, i + cs);
      ch.push(Buffer.from(piece.length.toString(16) + '\r\n'), piece, Buffer.from('\r\n'));
    }
    ch.push(Buffer.from('0\r\n\r\n'));
    payload = Buffer.concat(ch);
  }
  return { head: Buffer.concat(parts), body: payload, method };
}

// ---- sending and reading ----

// Parses one HTTP/1.x response out of buf. Returns null while incomplete.
function parseResponse(buf, method, ended) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const headText = buf.subarray(0, end).toString('latin1');
  const lines = headText.split('\r\n');
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(lines[0]);
  if (!m) return { status: 0, headers: {}, rawHeaders: lines, body: buf, bad: true };
  const status = Number(m[1]);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) {
      const k = l.slice(0, i).trim().toLowerCase();
      headers[k] = headers[k] !== undefined ? headers[k] + ', ' + l.slice(i + 1).trim() :
        l.slice(i + 1).trim();
    }
  }
  const rest = buf.subarray(end + 4);
  let body;
  if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    body = Buffer.alloc(0);
  } else if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (rest.length < n) return ended ? { status, headers, rawHeaders: lines, body: rest,
      truncated: true } : null;
    body = rest.subarray(0, n);
  } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    const parts = [];
    let p = 0;
    for (;;) {
      const e = rest.indexOf('\r\n', p);
      if (e < 0) return ended ? { status, headers, rawHeaders: lines, body: Buffer.concat(parts),
        truncated: true } : null;
      const size = parseInt(rest.subarray(p, e).toString(), 16);
      if (size === 0) break;
      if (rest.length < e + 2 + size + 2) return ended ? { status, headers, rawHeaders: lines,
        body: Buffer.concat(parts), truncated: true } : null;
      parts.push(rest.subarray(e + 2, e + 2 + size));
      p = e + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else {
    if (!ended) return null;
    body = rest;
  }
  return { status, headers, rawHeaders: lines, body };
}

// Extracts Code and Message from a JSON or MNS XML body.
function errorFields(body) {
  const text = body.toString('utf8');
  try {
    const j = JSON.parse(text);
    if (j && typeof j === 'object') return { json: j, code: j.Code, message: j.Message };
  } catch (_) { /* not JSON */ }
  const c = /<Code>([^<]*)<\/Code>/.exec(text);
  const msg = /<Message>([^<]*)<\/Message>/.exec(text);
  return { xml: /^<\?xml/.test(text), code: c ? c[1] : undefined,
    message: msg ? msg[1] : undefined };
}

// Sends bytes (head then body) and resolves with {status, headers, body, code, message} or
// {closed: true} when the connection ends without a complete response, or {timeout: true}.
// opts.slow: {bytesPerSecond, stallAfter (bytes sent before going silent)}; opts.timeoutMs.
function exchange(port, head, body, method, opts = {}) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks = [];
    let done = false;
    let ended = false;
    let timer = null;
    let slowTimer = null;
    const t0 = Date.now();
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(slowTimer);
      sock.destroy();
      r.ms = Date.now() - t0;
      if (r.body) Object.assign(r, errorFields(r.body));
      resolve(r);
    };
    const check = () => {
      const r = parseResponse(Buffer.concat(chunks), method, ended);
      if (r) finish(r);
      else if (ended) finish({ closed: true, partial: Buffer.concat(chunks) });
    };
    sock.on('data', (d) => { chunks.push(d); check(); });
    sock.on('end', () => { ended = true; check(); });
    sock.on('close', () => { ended = true; check(); });
    sock.on('error', () => { /* close follows */ });
    timer = setTimeout(() => finish({ timeout: true, partial: Buffer.concat(chunks) }),
      opts.timeoutMs || 15000);
    sock.on('connect', () => {
      const all = Buffer.concat([head, body || Buffer.alloc(0)]);
      if (opts.slow) {
        const per = Math.max(1, Math.round(opts.slow.bytesPerSecond / 10));
        const stop = opts.slow.stallAfter !== undefined ? Math.min(opts.slow.stallAfter, all.length)
          : all.length;
        let off = 0;
        slowTimer = setInterval(() => {
          if (done) return;
          if (off >= stop) {
            clearInterval(slowTimer);
            if (opts.slow.halfClose) sock.end();
            return;
          }
          sock.write(all.subarray(off, Math.min(stop, off + per)));
          off += per;
        }, 100);
      } else {
        sock.write(all, () => { if (opts.halfClose) sock.end(); });
      }
    });
  });
}

// Runs one case against srv with the context (placeholders). Returns the outcome.
async function runCase(c, srv, ctx) {
  const spec = c.spec || {};
  const cctx = Object.assign(Object.create(ctx), { caseDir: c.dir, hostPort: srv.hostPort,
    nonces: {} });
  if (c.spec && /\$\{(TOKEN_NEW|EXEC_NEW)/.test(JSON.stringify(spec))) cctx.fresh = await ctx.fresh();
  const opts = { timeoutMs: spec.timeoutMs || 15000, slow: spec.slow,
    halfClose: spec.halfClose };
  const pre = [];
  for (const p of spec.pre || []) {
    const b = buildSpec(p, cctx);
    pre.push(await exchange(srv.port, b.head, b.body, b.method, { timeoutMs: 15000 }));
  }
  let r;
  if (!c.spec) {
    r = await exchange(srv.port, c.raw, null, c.raw.toString('latin1').split(' ')[0], opts);
  } else {
    const { head, body, method } = buildSpec(spec, cctx);
    if (spec.replay) pre.push(await exchange(srv.port, head, body, method, opts));
    r = await exchange(srv.port, head, body, method, opts);
  }
  r.pre = pre;
  if (spec.after) {
    const a = spec.after;
    const deadline = Date.now() + 3000;
    for (;;) {
      const b = buildSpec({ sign: 'v1', method: 'GET', params: { Action: a.action,
        ...(a.params || {}) } }, cctx);
      const x = await exchange(srv.port, b.head, b.body, b.method, { timeoutMs: 5000 });
      const bad = Object.entries(a.fields || {}).filter(([k, v]) => !x.json || x.json[k] !==
        subst(v, cctx));
      if (!bad.length) break;
      if (Date.now() > deadline) {
        r.afterFail = `after ${a.action}: ${bad.map(([k, v]) => `${k} != ${JSON.stringify(
          subst(v, cctx))}`).join(', ')}; got ${x.body ? x.body.toString().slice(0, 300) : '-'}`;
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  return r;
}

// Checks an outcome against the expectation; returns null or a reason.
function judge(c, r) {
  const e = c.expect;
  if (r.afterFail) return { ok: false, got: r.afterFail };
  const got = r.timeout ? 'no reply (timeout)' : r.closed ? 'connection closed' :
    `${r.status} ${r.code || '-'}${r.message ? ` (${String(r.message).slice(0, 200)})` : ''}`;
  for (const a of e.alts) {
    if (a.close) {
      if (r.closed || (r.status && (r.status < 200 || r.status >= 300))) return { ok: true, got };
      continue;
    }
    if (r.status !== a.status) continue;
    if (a.code && r.code !== a.code) continue;
    if (e.message && !(String(r.message || '').includes(e.message))) continue;
    return { ok: true, got };
  }
  return { ok: false, got };
}

// Resident set size of pid in KiB (VmRSS), or NaN.
function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch (_) {
    return NaN;
  }
}

module.exports = { CASES_DIR, loadCases, parseExpect, buildSpec, exchange, runCase, judge,
  rssKiB, pe, canonical, isoNow, nonce, subst, bytes };
