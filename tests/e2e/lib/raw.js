'use strict';
// raw.js - hand-made HTTP requests for what the SDKs will not send: stale timestamps, wrong
// signatures, missing parameters, oversized or mistyped bodies, odd paths and methods.
//
// The V1 signer follows the CloudFlow API reference 2.3 (HMAC-SHA1 over METHOD&%2F&pe(canonical query),
// key = secret + "&"); harness.test.js checks it against the spec's test vector B and against
// what pop-core sends.

const crypto = require('node:crypto');
const http = require('node:http');
const { KEY_ID, KEY_SECRET } = require('./flowd');

// RFC 3986 percent-encoding: only A-Z a-z 0-9 - _ . ~ stay as they are.
function pe(s) {
  return encodeURIComponent(String(s)).replace(/[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

// k=v&... over the sorted keys (byte order), keys and values encoded.
function canonical(params) {
  return Object.keys(params).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((k) => `${pe(k)}=${pe(params[k])}`).join('&');
}

function stringToSign(method, params) {
  const p = { ...params };
  delete p.Signature;
  return `${method}&${pe('/')}&${pe(canonical(p))}`;
}

function signV1(method, params, secret = KEY_SECRET) {
  return crypto.createHmac('sha1', secret + '&').update(stringToSign(method, params))
    .digest('base64');
}

// UTC yyyy-MM-ddTHH:mm:ssZ, offsetMs from now.
function timestamp(offsetMs = 0) {
  return new Date(Date.now() + offsetMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function nonce() { return crypto.randomBytes(16).toString('hex'); }

// The complete V1 parameter map for action (common parameters, then params). opts:
// version, timestamp, keyId, nonce; omit: list of common parameter names to leave out.
function v1Params(action, params = {}, opts = {}) {
  const p = {
    AccessKeyId: opts.keyId || KEY_ID,
    Format: 'JSON',
    SignatureMethod: 'HMAC-SHA1',
    SignatureNonce: opts.nonce || nonce(),
    SignatureVersion: '1.0',
    Timestamp: opts.timestamp || timestamp(),
    Version: opts.version || '2019-03-15',
  };
  if (action !== null) p.Action = action;
  for (const k of opts.omit || []) delete p[k];
  return Object.assign(p, params);
}

// Sends one HTTP request and resolves with {status, headers, text, json}. body: string or
// Buffer; headers are sent as given (a Content-Length is added for a body unless
// opts.chunked).
function send(srv, { method = 'GET', path = '/', headers = {}, body = null, chunked = false,
  timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const h = { host: srv.hostPort, ...headers };
    if (body != null && !chunked && h['content-length'] === undefined) {
      h['content-length'] = Buffer.byteLength(body);
    }
    let settled = false;
    const req = http.request({ host: '127.0.0.1', port: srv.port, method, path, headers: h,
      agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch (_) { json = undefined; }
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', (e) => { if (!settled) { settled = true; reject(e); } });
    });
    const timer = setTimeout(() => {
      if (!settled) {
        settled = true;
        req.destroy();
        reject(new Error(`raw ${method} ${path}: no reply within ${timeoutMs} ms`));
      }
    }, timeoutMs);
    req.on('error', (e) => {
      // A server may answer early (EntityTooLarge) and close while we still write: the reply
      // wins if it arrives; give it a moment.
      setTimeout(() => {
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new Error(`raw ${method} ${path}: ${e.code || e.message} before any reply`));
        }
      }, 200);
    });
    if (body != null) req.write(body);
    req.end();
  });
}

// Sends a signed V1 request. place: 'query' (GET-style, everything in the query string),
// 'form' (pop-core style: everything in a form body of POST /), 'split' (common parameters
// and Signature in the query, action parameters in the form body) or 'json' (common in the
// query, action parameters in a JSON body). opts: version, timestamp, keyId, secret, nonce,
// omit, method, after(params) to tamper with the signed map, headers, path.
function v1Request(srv, action, params = {}, opts = {}) {
  const place = opts.place || 'form';
  const method = opts.method || (place === 'query' ? 'GET' : 'POST');
  const all = v1Params(action, params, opts);
  if (!opts.unsigned) all.Signature = signV1(method, all, opts.secret || KEY_SECRET);
  if (opts.after) opts.after(all);
  const headers = { ...(opts.headers || {}) };
  let reqPath = opts.path || '/';
  let body = null;
  if (place === 'query') {
    reqPath += '?' + canonical(all);
  } else if (place === 'form') {
    body = canonical(all);
    headers['content-type'] = headers['content-type'] || 'application/x-www-form-urlencoded';
  } else {
    const common = {};
    const rest = {};
    const commonNames = new Set(['AccessKeyId', 'Action', 'Format', 'SignatureMethod',
      'SignatureNonce', 'SignatureVersion', 'Timestamp', 'Version', 'Signature']);
    for (const [k, v] of Object.entries(all)) (commonNames.has(k) ? common : rest)[k] = v;
    reqPath += '?' + canonical(common);
    if (place === 'json') {
      body = JSON.stringify(rest);
      headers['content-type'] = headers['content-type'] || 'application/json';
    } else {
      body = canonical(rest);
      headers['content-type'] = headers['content-type'] || 'application/x-www-form-urlencoded';
    }
  }
  return send(srv, { method, path: reqPath, headers, body });
}

// ---- Signature V3 (ACS3-HMAC-SHA256), the CloudFlow API reference 2.4 ----

const sha256hex = (b) => crypto.createHash('sha256').update(b).digest('hex');

// Returns {canonicalRequest, stringToSign, signature} for a request whose headers (lower-case
// names) include every header named in signedHeaders.
function signV3({ method, path = '/', query = {}, headers, signedHeaders, payloadHash, secret }) {
  const canonQuery = canonical(query);
  const names = [...signedHeaders].sort();
  const canonHeaders = names.map((n) => `${n}:${String(headers[n] === undefined ? '' :
    headers[n]).trim()}\n`).join('');
  const canonicalRequest = [method, path, canonQuery, canonHeaders, names.join(';'),
    payloadHash].join('\n');
  const sts = 'ACS3-HMAC-SHA256\n' + sha256hex(canonicalRequest);
  const signature = crypto.createHmac('sha256', secret).update(sts).digest('hex');
  return { canonicalRequest, stringToSign: sts, signature };
}

// Sends a V3-signed RPC request: query parameters in the URL, optional form body. opts:
// version, date, nonce, keyId, secret, omitHeaders (left out after signing), extraSigned
// (header names listed in SignedHeaders without being sent), method, after(headers),
// sendForm (a different form body sent in place of the signed one).
function v3Request(srv, action, query = {}, form = null, opts = {}) {
  const method = opts.method || 'POST';
  const body = form ? canonical(form) : '';
  const headers = {
    host: srv.hostPort,
    'x-acs-action': action,
    'x-acs-version': opts.version || '2019-03-15',
    'x-acs-date': opts.date || timestamp(),
    'x-acs-signature-nonce': opts.nonce || nonce(),
    'x-acs-content-sha256': sha256hex(body),
  };
  if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
  const signed = [...Object.keys(headers), ...(opts.extraSigned || [])];
  const { signature } = signV3({ method, query, headers, signedHeaders: signed,
    payloadHash: headers['x-acs-content-sha256'], secret: opts.secret || KEY_SECRET });
  headers.authorization = `ACS3-HMAC-SHA256 Credential=${opts.keyId || KEY_ID},` +
    `SignedHeaders=${[...signed].sort().join(';')},Signature=${signature}`;
  for (const h of opts.omitHeaders || []) delete headers[h];
  if (opts.after) opts.after(headers);
  const q = canonical(query);
  const sent = opts.sendForm ? canonical(opts.sendForm) : (form ? body : null);
  return send(srv, { method, path: q ? '/?' + q : '/', headers, body: sent });
}

module.exports = { pe, canonical, stringToSign, signV1, timestamp, nonce, v1Params, send,
  v1Request, signV3, v3Request, sha256hex };
