'use strict';
// util.js - polling, unique names, flow definitions and history helpers shared by the tests.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls predicate (sync or async) every intervalMs until it returns a truthy value, which is
// returned; throws after timeoutMs with the last value or error in the message.
async function waitFor(predicate, timeoutMs = 10000, intervalMs = 50, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? `${last.code || ''} ${last.message}` :
        JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${detail}`);
    }
    await sleep(intervalMs);
  }
}

// A name valid under the N128 rule, unique per call.
let counter = 0;
function uniq(prefix = 'n') {
  counter += 1;
  return `${prefix}_${process.pid}_${counter}_${crypto.randomBytes(3).toString('hex')}`;
}

const FINAL = new Set(['Succeeded', 'Failed', 'Stopped', 'TimedOut']);

// Polls DescribeExecution (V1 client) until the execution reaches a final status.
async function waitDone(client, flowName, execName, timeoutMs = 15000) {
  return waitFor(async () => {
    const r = await client.describeExecution({ FlowName: flowName, ExecutionName: execName });
    return FINAL.has(r.Status) ? r : null;
  }, timeoutMs, 50, `execution ${execName} to finish`);
}

// Polls DescribeExecution until Status equals status.
async function waitStatus(client, flowName, execName, status, timeoutMs = 15000) {
  return waitFor(async () => {
    const r = await client.describeExecution({ FlowName: flowName, ExecutionName: execName });
    return r.Status === status ? r : null;
  }, timeoutMs, 50, `execution ${execName} to be ${status}`);
}

// Polls the history until it holds an event of the given type (default TaskSubmitted: the
// worker can have the token before flowd has recorded the submission) and returns the events.
async function waitEvent(client, flowName, execName, type = 'TaskSubmitted', timeoutMs = 10000) {
  return waitFor(async () => {
    const ev = await fullHistory(client, flowName, execName);
    return ev.some((e) => e.Type === type) ? ev : null;
  }, timeoutMs, 20, `a ${type} event in ${execName}`);
}

// Every history event, following NextToken with the given page size.
async function fullHistory(client, flowName, execName, limit) {
  const events = [];
  let next;
  const pages = [];
  for (let i = 0; i < 1000; i++) {
    const params = { FlowName: flowName, ExecutionName: execName };
    if (limit) params.Limit = limit;
    if (next) params.NextToken = next;
    const r = await client.getExecutionHistory(params);
    assert.ok(Array.isArray(r.Events), `Events must be an array: ${JSON.stringify(r)}`);
    pages.push(r.Events.length);
    events.push(...r.Events);
    next = r.NextToken;
    if (!next) return limit ? { events, pages } : events;
  }
  throw new Error('history paging did not end after 1000 pages');
}

// Asserts EventIds are 1..n in order with no gaps.
function assertEventIds(events) {
  const ids = events.map((e) => Number(e.EventId));
  assert.deepEqual(ids, ids.map((_, i) => i + 1), `EventIds must be 1..n: ${ids.join(',')}`);
}

function types(events) { return events.map((e) => e.Type); }

function detail(ev) {
  if (!ev || !ev.EventDetail) return {};
  return JSON.parse(ev.EventDetail);
}

// Parses DescribeExecution.Output (JSON text; an empty string counts as {}).
function output(desc) {
  return desc.Output ? JSON.parse(desc.Output) : {};
}

// Indents a YAML block by n spaces.
function indent(text, n) {
  const pad = ' '.repeat(n);
  return text.split('\n').map((l) => (l ? pad + l : l)).join('\n');
}

// A CloudFlow definition whose first state is an HTTP:Request callback task named Approve
// that posts {token, orderId} to the worker. opts:
//   timeout (seconds, default 30), retry (YAML list text), catch (YAML list text),
//   outputConstructor (YAML map text), next (name of the following state; End otherwise),
//   extraStates (YAML text of further list items), url.
function callbackFlow(name, url, opts = {}) {
  const lines = [
    'Type: StateMachine',
    'SpecVersion: v1',
    `Name: ${name}`,
    'StartAt: Approve',
    'States:',
    '  - Type: Task',
    '    Name: Approve',
    '    Action: HTTP:Request',
    '    TaskMode: WaitForCustomCallback',
    `    Timeout: ${opts.timeout === undefined ? 30 : opts.timeout}`,
    '    Parameters:',
    `      URL: ${url}`,
    '      Method: POST',
    '      Body:',
    '        token.$: $Context.Current.TaskToken',
    '        orderId.$: $Input.orderId',
  ];
  if (opts.retry) lines.push('    Retry:', indent(opts.retry, 6));
  if (opts.catch) lines.push('    Catch:', indent(opts.catch, 6));
  if (opts.outputConstructor) lines.push('    OutputConstructor:', indent(opts.outputConstructor, 6));
  lines.push(opts.next ? `    Next: ${opts.next}` : '    End: true');
  if (opts.extraStates) lines.push(indent(opts.extraStates, 2));
  return lines.join('\n') + '\n';
}

// A flow with a single Pass state.
function passFlow(name) {
  return [
    'Type: StateMachine',
    'SpecVersion: v1',
    `Name: ${name}`,
    'StartAt: Only',
    'States:',
    '  - Type: Pass',
    '    Name: Only',
    '    End: true',
    '',
  ].join('\n');
}

// Creates a flow through the V1 client and returns its name.
async function createFlow(client, name, definition, description = 'e2e') {
  await client.createFlow({ Name: name, Definition: definition, Description: description,
    Type: 'FDL' });
  return name;
}

// Starts an execution whose Input carries orderId and returns {name, orderId}.
async function startTagged(client, flowName, extraInput = {}) {
  const name = uniq('ex');
  const orderId = uniq('order');
  await client.startExecution({ FlowName: flowName, ExecutionName: name,
    Input: JSON.stringify({ orderId, ...extraInput }) });
  return { name, orderId };
}

module.exports = { sleep, waitFor, uniq, waitDone, waitStatus, waitEvent, fullHistory,
  assertEventIds, types, detail, output, indent, callbackFlow, passFlow, createFlow, startTagged,
  FINAL };
