'use strict';
// Flow CRUD and executions of non-callback states through the fnf SDK: CreateFlow,
// DescribeFlow, ListFlows paging, UpdateFlow, DeleteFlow and their errors; StartExecution,
// DescribeExecution, ListExecutions; Pass, Choice, Wait, Succeed and Fail flows.

const assert = require('node:assert/strict');
const { setup, it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const raw = require('./lib/raw');
const u = require('./lib/util');

const ctx = setup({ worker: false });

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/;

it(ctx, 'CreateFlow, DescribeFlow, UpdateFlow, DeleteFlow', async () => {
  const name = u.uniq('crud');
  const def = u.passFlow(name);
  const c = await ctx.v1.createFlow({ Name: name, Definition: def, Description: 'first',
    Type: 'FDL' });
  assert.equal(c.Code, undefined);
  assert.equal(c.Name, name);
  assert.equal(c.Definition, def);
  assert.equal(c.Description, 'first');
  assert.equal(c.Type, 'FDL');
  assert.match(c.Id, /^[0-9a-fA-F-]{36}$/);
  assert.match(c.CreatedTime, ISO);
  assert.match(c.LastModifiedTime, ISO);
  assert.equal(typeof c.RequestId, 'string');

  const d = await ctx.v1.describeFlow({ Name: name });
  for (const k of ['Name', 'Id', 'Definition', 'Description', 'Type', 'CreatedTime']) {
    assert.equal(d[k], c[k], k);
  }

  await u.sleep(1100); // so that LastModifiedTime can move
  const def2 = def.replace('StartAt: Only', 'Description: updated\nStartAt: Only');
  assert.notEqual(def2, def);
  const up = await ctx.v1.updateFlow({ Name: name, Description: 'second', Definition: def2 });
  assert.equal(up.Description, 'second');
  assert.equal(up.Id, c.Id);
  assert.equal(up.CreatedTime, c.CreatedTime);
  assert.ok(Date.parse(up.LastModifiedTime) > Date.parse(c.LastModifiedTime),
    `${up.LastModifiedTime} > ${c.LastModifiedTime}`);
  const d2 = await ctx.v1.describeFlow({ Name: name });
  assert.equal(d2.Description, 'second');
  assert.equal(d2.Definition, def2);
  // Updating only the description keeps the definition.
  await ctx.v1.updateFlow({ Name: name, Description: 'third' });
  assert.equal((await ctx.v1.describeFlow({ Name: name })).Definition, def2);

  const del = await ctx.v1.deleteFlow({ Name: name });
  assert.equal(del.Code, undefined);
  assert.equal(typeof del.RequestId, 'string');
  const e = await expectError(() => ctx.v1.describeFlow({ Name: name }), 'FlowNotExists');
  assert.match(e.data.Message, new RegExp(name));
  const r = await raw.v1Request(ctx.srv, 'DescribeFlow', { Name: name }, { place: 'query' });
  assert.equal(r.status, 404);
  assert.equal(r.json.Code, 'FlowNotExists');
  // The name is free again.
  await u.createFlow(ctx.v1, name, def);
});

it(ctx, 'FlowAlreadyExists (409) and FlowNotExists (404)', async () => {
  const name = u.uniq('dup');
  await u.createFlow(ctx.v1, name, u.passFlow(name));
  const e = await expectError(() => u.createFlow(ctx.v1, name, u.passFlow(name)),
    'FlowAlreadyExists');
  assert.match(e.data.Message, new RegExp(name));
  const r = await raw.v1Request(ctx.srv, 'CreateFlow', { Name: name, Definition: u.passFlow(name),
    Description: '', Type: 'FDL' });
  assert.equal(r.status, 409);
  const missing = u.uniq('missing');
  await expectError(() => ctx.v1.describeFlow({ Name: missing }), 'FlowNotExists');
  await expectError(() => ctx.v1.updateFlow({ Name: missing, Description: 'x' }), 'FlowNotExists');
  await expectError(() => ctx.v1.deleteFlow({ Name: missing }), 'FlowNotExists');
  await expectError(() => ctx.v1.startExecution({ FlowName: missing }), 'FlowNotExists');
  const e3 = await expectError(() => ctx.v3.call('DescribeFlow', { Name: missing }),
    'FlowNotExists');
  assert.equal(e3.data.statusCode, 404);
});

it(ctx, 'ListFlows pages with Limit and NextToken', async () => {
  // A server of its own, so that no other test's flows interfere.
  const { startFlowd } = require('./lib/flowd');
  const clients = require('./lib/clients');
  const srv = await startFlowd();
  try {
    const v1 = clients.v1(srv);
    const names = [];
    for (let i = 0; i < 5; i++) {
      const n = u.uniq('list');
      names.push(await u.createFlow(v1, n, u.passFlow(n)));
    }
    const seen = [];
    const pages = [];
    let next;
    for (let i = 0; i < 10; i++) {
      const p = { Limit: 2 };
      if (next) p.NextToken = next;
      const r = await v1.listFlows(p);
      assert.ok(r.Flows.length <= 2);
      pages.push(r.Flows.length);
      for (const f of r.Flows) {
        assert.ok(f.Name && f.Definition && f.CreatedTime, JSON.stringify(f));
        seen.push(f.Name);
      }
      next = r.NextToken;
      if (!next) break;
    }
    assert.ok(!next, 'paging ends');
    assert.deepEqual([...seen].sort(), [...names].sort(), 'every flow exactly once');
    assert.ok(pages.length >= 3, `pages: ${pages}`);
    const all = await v1.listFlows({});
    assert.equal(all.Flows.length, 5);
    assert.ok(!all.NextToken);
    const e = await expectError(() => v1.listFlows({ Limit: 0 }));
    assert.equal(e.code, 'InvalidArgument');
  } finally {
    await srv.close();
  }
});

it(ctx, 'an invalid definition is InvalidArgument naming a line', async () => {
  const name = u.uniq('bad');
  const cases = [
    // Unknown state type on line 7.
    ['Type: StateMachine', 'SpecVersion: v1', `Name: ${name}`, 'StartAt: A', 'States:',
      '  - Name: A', '    Type: Teleport', '    End: true'].join('\n'),
    // Next names a state that does not exist.
    ['Type: StateMachine', 'SpecVersion: v1', `Name: ${name}`, 'StartAt: A', 'States:',
      '  - Type: Pass', '    Name: A', '    Next: Nowhere'].join('\n'),
    // Broken YAML.
    ['Type: StateMachine', 'SpecVersion: v1', `Name: ${name}`, 'StartAt: A', 'States:',
      '  - Type: Pass', '   Name: [A', '    End: true'].join('\n'),
  ];
  for (const def of cases) {
    const e = await expectError(() => u.createFlow(ctx.v1, name, def), 'InvalidArgument');
    assert.match(e.data.Message, /line\s*:?\s*\d+/i, `message names a line: ${e.data.Message}`);
  }
  // StartAt naming no state, and a missing StartAt.
  for (const def of [
    ['Type: StateMachine', 'SpecVersion: v1', `Name: ${name}`, 'StartAt: Z', 'States:',
      '  - Type: Pass', '    Name: A', '    End: true'].join('\n'),
    ['Type: StateMachine', 'SpecVersion: v1', `Name: ${name}`, 'States:',
      '  - Type: Pass', '    Name: A', '    End: true'].join('\n'),
  ]) {
    await expectError(() => u.createFlow(ctx.v1, name, def), 'InvalidArgument');
  }
  await expectError(() => ctx.v1.describeFlow({ Name: name }), 'FlowNotExists');
  // Bad flow names.
  for (const bad of ['1starts-with-digit', 'has space', 'a'.repeat(129), 'dot.ted']) {
    const e = await expectError(() => u.createFlow(ctx.v1, bad, u.passFlow(bad)),
      'InvalidArgument');
    assert.match(e.data.Message, /Name/);
  }
});

it(ctx, 'StartExecution: duplicate name, unknown execution, bad Input', async () => {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.passFlow(flow));
  const ex = u.uniq('ex');
  const s = await ctx.v1.startExecution({ FlowName: flow, ExecutionName: ex, Input: '{"a":1}' });
  assert.equal(s.Name, ex);
  assert.equal(s.FlowName, flow);
  assert.match(s.StartedTime, ISO);
  let e = await expectError(() => ctx.v1.startExecution({ FlowName: flow, ExecutionName: ex,
    Input: '{"a":2}' }), 'ExecutionAlreadyExists');
  assert.match(e.data.Message, new RegExp(ex));
  const r = await raw.v1Request(ctx.srv, 'StartExecution', { FlowName: flow, ExecutionName: ex });
  assert.equal(r.status, 400);
  assert.equal(r.json.Code, 'ExecutionAlreadyExists');

  e = await expectError(() => ctx.v1.describeExecution({ FlowName: flow,
    ExecutionName: 'never-started' }), 'ExecutionNotExists');
  assert.match(e.data.Message, /never-started/);
  const r2 = await raw.v1Request(ctx.srv, 'DescribeExecution', { FlowName: flow,
    ExecutionName: 'never-started' }, { place: 'query' });
  assert.equal(r2.status, 404);
  await expectError(() => ctx.v1.stopExecution({ FlowName: flow, ExecutionName: 'never-started' }),
    'ExecutionNotExists');

  for (const bad of ['[1]', 'nope', '"str"']) {
    e = await expectError(() => ctx.v1.startExecution({ FlowName: flow, Input: bad }),
      'InvalidArgument');
    assert.match(e.data.Message, /Input/);
  }
  // Without ExecutionName a name is generated.
  const g = await ctx.v1.startExecution({ FlowName: flow });
  assert.ok(g.Name && g.Name.length > 0);
  const d = await u.waitDone(ctx.v1, flow, g.Name);
  assert.equal(d.Status, 'Succeeded');
  const d1 = await u.waitDone(ctx.v1, flow, ex);
  assert.deepEqual(JSON.parse(d1.Output), { a: 1 }, 'Pass passes its input through');
  assert.deepEqual(JSON.parse(d1.Input), { a: 1 });
});

it(ctx, 'ListExecutions lists the flow executions with paging', async () => {
  const flow = u.uniq('f');
  await u.createFlow(ctx.v1, flow, u.passFlow(flow));
  const names = [];
  for (let i = 0; i < 3; i++) {
    const n = u.uniq('ex');
    names.push(n);
    await ctx.v1.startExecution({ FlowName: flow, ExecutionName: n });
  }
  for (const n of names) await u.waitDone(ctx.v1, flow, n);
  const seen = [];
  let next;
  do {
    const p = { FlowName: flow, Limit: 2 };
    if (next) p.NextToken = next;
    const r = await ctx.v1.listExecutions(p);
    assert.ok(r.Executions.length <= 2);
    for (const x of r.Executions) {
      assert.equal(x.FlowName, flow);
      assert.equal(x.Status, 'Succeeded');
      seen.push(x.Name);
    }
    next = r.NextToken;
  } while (next);
  assert.deepEqual(seen.sort(), [...names].sort());
});

it(ctx, 'Choice picks the branch whose Condition holds, else Default', async () => {
  const flow = u.uniq('choice');
  const def = [
    'Type: StateMachine', 'SpecVersion: v1', `Name: ${flow}`, 'StartAt: Decide', 'States:',
    '  - Type: Choice',
    '    Name: Decide',
    '    Branches:',
    '      - Condition: $Input.n > 3 && $Input.kind == "big"',
    '        Next: Big',
    '      - Condition: $Input.n > 3',
    '        Next: Medium',
    '    Default: Small',
    '  - Type: Pass', '    Name: Big', '    OutputConstructor:', '      size: big',
    '      n.$: $Input.n', '    End: true',
    '  - Type: Pass', '    Name: Medium', '    OutputConstructor:', '      size: medium',
    '    End: true',
    '  - Type: Pass', '    Name: Small', '    OutputConstructor:', '      size: small',
    '    End: true',
    '',
  ].join('\n');
  await u.createFlow(ctx.v1, flow, def);
  const want = [
    [{ n: 5, kind: 'big' }, { size: 'big', n: 5 }],
    [{ n: 5, kind: 'other' }, { size: 'medium' }],
    [{ n: 1, kind: 'big' }, { size: 'small' }],
  ];
  for (const [input, out] of want) {
    const ex = u.uniq('ex');
    await ctx.v1.startExecution({ FlowName: flow, ExecutionName: ex, Input: JSON.stringify(input) });
    const d = await u.waitDone(ctx.v1, flow, ex);
    assert.equal(d.Status, 'Succeeded', JSON.stringify(d));
    assert.deepEqual(u.output(d), out, JSON.stringify(input));
  }
});

it(ctx, 'Wait Seconds: 1 waits about a second and passes the input on', async () => {
  const flow = u.uniq('wait');
  const def = [
    'Type: StateMachine', 'SpecVersion: v1', `Name: ${flow}`, 'StartAt: Pause', 'States:',
    '  - Type: Wait', '    Name: Pause', '    Seconds: 1', '    Next: Done',
    '  - Type: Pass', '    Name: Done', '    OutputConstructor:', '      waited: true',
    '      v.$: $Input.v', '    End: true',
    '',
  ].join('\n');
  await u.createFlow(ctx.v1, flow, def);
  const ex = u.uniq('ex');
  const t0 = Date.now();
  await ctx.v1.startExecution({ FlowName: flow, ExecutionName: ex, Input: '{"v":42}' });
  const mid = await ctx.v1.describeExecution({ FlowName: flow, ExecutionName: ex });
  assert.ok(['Starting', 'Running'].includes(mid.Status), `still waiting: ${mid.Status}`);
  const d = await u.waitDone(ctx.v1, flow, ex, 10000);
  assert.ok(Date.now() - t0 >= 900, `waited ${Date.now() - t0} ms`);
  assert.equal(d.Status, 'Succeeded');
  assert.deepEqual(u.output(d), { waited: true, v: 42 });
  assert.ok(Date.parse(d.StoppedTime) - Date.parse(d.StartedTime) >= 900,
    `${d.StartedTime} .. ${d.StoppedTime}`);
});

it(ctx, 'Fail ends the execution Failed with Code and Detail; Succeed ends it', async () => {
  const flow = u.uniq('fail');
  const def = [
    'Type: StateMachine', 'SpecVersion: v1', `Name: ${flow}`, 'StartAt: Check', 'States:',
    '  - Type: Choice', '    Name: Check', '    Branches:',
    '      - Condition: $Input.ok == true', '        Next: Good',
    '    Default: Bad',
    '  - Type: Succeed', '    Name: Good',
    '  - Type: Fail', '    Name: Bad', '    Code: Order.Rejected', '    Detail: not ok',
    '',
  ].join('\n');
  await u.createFlow(ctx.v1, flow, def);
  const a = u.uniq('ex');
  await ctx.v1.startExecution({ FlowName: flow, ExecutionName: a, Input: '{"ok":false}' });
  const da = await u.waitDone(ctx.v1, flow, a);
  assert.equal(da.Status, 'Failed');
  assert.equal(da.ErrorCode, 'Order.Rejected');
  assert.equal(da.ErrorMessage, 'not ok');
  const b = u.uniq('ex');
  await ctx.v1.startExecution({ FlowName: flow, ExecutionName: b, Input: '{"ok":true}' });
  const db = await u.waitDone(ctx.v1, flow, b);
  assert.equal(db.Status, 'Succeeded');
  const ev = await u.fullHistory(ctx.v1, flow, a);
  u.assertEventIds(ev);
  assert.equal(ev[ev.length - 1].Type, 'ExecutionFailed');
});

it(ctx, 'a running execution keeps its definition after UpdateFlow', async () => {
  const flow = u.uniq('snap');
  const mk = (secs, tag) => [
    'Type: StateMachine', 'SpecVersion: v1', `Name: ${flow}`, 'StartAt: W', 'States:',
    '  - Type: Wait', '    Name: W', `    Seconds: ${secs}`, '    Next: P',
    '  - Type: Pass', '    Name: P', '    OutputConstructor:', `      tag: ${tag}`, '    End: true',
    '',
  ].join('\n');
  await u.createFlow(ctx.v1, flow, mk(1, 'old'));
  const ex = u.uniq('ex');
  await ctx.v1.startExecution({ FlowName: flow, ExecutionName: ex });
  await ctx.v1.updateFlow({ Name: flow, Definition: mk(0, 'new') });
  const d = await u.waitDone(ctx.v1, flow, ex, 10000);
  assert.deepEqual(u.output(d), { tag: 'old' });
  assert.equal(d.FlowDefinition, mk(1, 'old'));
});
