'use strict';
// clients.js - the official clients pointed at a test flowd.
//
// v1(): @alicloud/fnf-2019-03-15 1.2.0 (pop-core, signature V1). It throws an Error whose
//       .code is the reply's Code; it never looks at the HTTP status.
// pop(): a bare pop-core RPCClient, for what the fnf client does not let us choose (another
//       API version, an unknown action).
// v3(): @alicloud/openapi-client 0.4.15 (signature V3, ACS3-HMAC-SHA256) with RPC-style
//       calls. It throws on HTTP >= 400 with .code and .data (the error body plus statusCode).

const FnfClient = require('@alicloud/fnf-2019-03-15');
const { RPCClient } = require('@alicloud/pop-core');
const OpenApi = require('@alicloud/openapi-client');
const Util = require('@alicloud/tea-util');
const { KEY_ID, KEY_SECRET } = require('./flowd');

const API_VERSION = '2019-03-15';

// Actions the SDK sends with GET; every other action is POST (the CloudFlow API reference 1.9).
const GET_ACTIONS = new Set(['DescribeExecution', 'DescribeFlow', 'GetExecutionHistory',
  'ListExecutions', 'ListFlows', 'DescribeSchedule', 'ListSchedules']);

function v1(srv, creds = {}) {
  return new FnfClient({
    endpoint: srv.endpoint,
    accessKeyId: creds.accessKeyId || KEY_ID,
    accessKeySecret: creds.accessKeySecret || KEY_SECRET,
  });
}

function pop(srv, opts = {}) {
  return new RPCClient({
    endpoint: srv.endpoint,
    apiVersion: opts.apiVersion || API_VERSION,
    accessKeyId: opts.accessKeyId || KEY_ID,
    accessKeySecret: opts.accessKeySecret || KEY_SECRET,
  });
}

class V3Client {
  constructor(srv, creds = {}) {
    this.client = new OpenApi.default(new OpenApi.Config({
      accessKeyId: creds.accessKeyId || KEY_ID,
      accessKeySecret: creds.accessKeySecret || KEY_SECRET,
      endpoint: srv.hostPort,
      protocol: 'http',
      readTimeout: 10000,
      connectTimeout: 3000,
    }));
  }

  // Calls action and resolves with the reply body. Placement follows the generated fnf
  // SDK: GET actions put everything in the query; POST actions put TaskToken in the query
  // and the other parameters in a form body. opts.query / opts.body override that.
  async call(action, params = {}, opts = {}) {
    const method = opts.method || (GET_ACTIONS.has(action) ? 'GET' : 'POST');
    let query = {};
    let body = {};
    if (opts.query || opts.body) {
      query = opts.query || {};
      body = opts.body || {};
    } else if (method === 'GET') {
      query = { ...params };
    } else {
      for (const [k, v] of Object.entries(params)) {
        if (k === 'TaskToken') query[k] = v;
        else body[k] = v;
      }
    }
    const stringify = (o) => Object.fromEntries(
      Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
    const req = new OpenApi.OpenApiRequest({
      query: stringify(query),
      body: Object.keys(body).length ? stringify(body) : undefined,
    });
    const p = new OpenApi.Params({
      action,
      version: opts.version || API_VERSION,
      protocol: 'HTTP',
      pathname: '/',
      method,
      authType: 'AK',
      style: 'RPC',
      reqBodyType: 'formData',
      bodyType: 'json',
    });
    const runtime = new Util.RuntimeOptions({ autoretry: false, readTimeout: 10000 });
    const res = await this.client.callApi(p, req, runtime);
    return res.body;
  }
}

function v3(srv, creds) {
  return new V3Client(srv, creds);
}

// Runs fn, expects it to throw, and returns the error (assert.rejects hides it).
async function expectError(fn, code) {
  let res;
  try {
    res = await fn();
  } catch (e) {
    if (code && e.code !== code) {
      const d = e.data ? JSON.stringify(e.data) : e.message;
      const err = new Error(`expected error ${code}, got ${e.code}: ${d}`);
      err.cause = e;
      throw err;
    }
    return e;
  }
  throw new Error(`expected error ${code || ''}, got success: ${JSON.stringify(res)}`);
}

module.exports = { v1, pop, v3, V3Client, expectError, API_VERSION, GET_ACTIONS };
