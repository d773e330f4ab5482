'use strict';
// Definition errors in both languages through CreateFlow / UpdateFlow (README "definitions
// validated with line, column and path in the error"; conformance cases tests/cases/spec):
// the reply is InvalidArgument, the message names the line and the path of the offending
// node, and nothing is stored.

const assert = require('node:assert/strict');
const { it } = require('./lib/harness');
const { expectError } = require('./lib/clients');
const L = require('./lib/lang');
const u = require('./lib/util');

const ctx = L.setupLang({ functions: { f: '/fn/f' } });

// CreateFlow with def must fail with InvalidArgument naming `line <line>` and path; the flow
// must not exist afterwards. Returns the message.
async function rejects(def, line, pathText, what) {
  const name = u.uniq('bad');
  const e = await expectError(() => u.createFlow(ctx.v1, name, def), 'InvalidArgument');
  const msg = e.data && e.data.Message;
  assert.ok(msg, JSON.stringify(e.data));
  assert.match(msg, new RegExp(`\\bline ${line}\\b`), `line ${line} in: ${msg}`);
  assert.ok(msg.includes(pathText), `path ${pathText} in: ${msg}`);
  if (what) assert.match(msg, what, msg);
  await expectError(() => ctx.v1.describeFlow({ Name: name }), 'FlowNotExists');
  return msg;
}

it(ctx, 'CloudFlow: a Parallel branch state with an unknown Next', async () => {
  const def = [
    'Type: StateMachine', //              1
    'SpecVersion: v1', //                 2
    'StartAt: P', //                      3
    'States:', //                         4
    '  - Type: Parallel', //              5
    '    Name: P', //                     6
    '    Branches:', //                   7
    '      - StartAt: A', //              8
    '        States:', //                 9
    '          - Type: Pass', //          10
    '            Name: A', //             11
    '            Next: Nowhere', //       12
    '      - StartAt: B', //              13
    '        States:', //                 14
    '          - {Type: Pass, Name: B, End: true}', // 15
    '    End: true', //                   16
    '',
  ].join('\n');
  await rejects(def, 12, 'States[0].Branches[0].States[0].Next', /Nowhere/);
});

it(ctx, 'CloudFlow: a branch Next that names a state outside the branch', async () => {
  const def = [
    'Type: StateMachine', //              1
    'SpecVersion: v1', //                 2
    'StartAt: P', //                      3
    'States:', //                         4
    '  - Type: Parallel', //              5
    '    Name: P', //                     6
    '    Branches:', //                   7
    '      - StartAt: A', //              8
    '        States:', //                 9
    '          - {Type: Pass, Name: A, Next: Outside}', // 10
    '    Next: Outside', //               11
    '  - {Type: Succeed, Name: Outside}', // 12
    '',
  ].join('\n');
  await rejects(def, 10, 'States[0].Branches[0].States[0].Next', /Outside/);
});

it(ctx, 'CloudFlow: a Map Processor whose StartAt is unknown', async () => {
  const def = [
    'Type: StateMachine', //              1
    'SpecVersion: v1', //                 2
    'StartAt: M', //                      3
    'States:', //                         4
    '  - Type: Map', //                   5
    '    Name: M', //                     6
    '    ItemsPath: $Input.items', //     7
    '    Processor:', //                  8
    '      StartAt: Nope', //             9
    '      States: [{Type: Succeed, Name: P}]', // 10
    '    End: true', //                   11
    '',
  ].join('\n');
  await rejects(def, 9, 'States[0].Processor.StartAt', /Nope/);
});

it(ctx, 'CloudFlow in JSON: the line of the bad Next', async () => {
  const def = [
    '{', //                                                1
    '  "Type": "StateMachine",', //                        2
    '  "SpecVersion": "v1",', //                           3
    '  "StartAt": "A",', //                                4
    '  "States": [', //                                    5
    '    {"Name": "A", "Type": "Pass",', //                6
    '     "Next": "Nope"}', //                             7
    '  ]', //                                              8
    '}', //                                                9
  ].join('\n');
  await rejects(def, 7, 'States[0].Next', /Nope/);
});

it(ctx, 'FDL: a catch goto to a missing step', async () => {
  const def = [
    'version: v1', //                                      1
    'type: flow', //                                       2
    'steps:', //                                           3
    '  - type: task', //                                   4
    '    name: t', //                                      5
    '    resourceArn: acs:fc:::services/s/functions/f', // 6
    '    catch:', //                                       7
    '      - errors: [FnF.ALL]', //                        8
    '        goto: handler', //                            9
    '  - type: pass', //                                   10
    '    name: handle', //                                 11
    '',
  ].join('\n');
  await rejects(def, 9, 'steps[0].catch[0].goto', /handler/);
});

it(ctx, 'FDL: a choice goto to a missing step, and a goto out of a parallel branch', async () => {
  await rejects([
    'version: v1', //                     1
    'type: flow', //                      2
    'steps:', //                          3
    '  - type: choice', //                4
    '    name: c', //                     5
    '    choices:', //                    6
    '      - condition: $.x == 1', //     7
    '        goto: nowhere', //           8
    '    default:', //                    9
    '      goto: p', //                   10
    '  - type: pass', //                  11
    '    name: p', //                     12
    '',
  ].join('\n'), 8, 'steps[0].choices[0].goto', /nowhere/);
  await rejects([
    'version: v1', //                                          1
    'type: flow', //                                           2
    'steps:', //                                               3
    '  - type: parallel', //                                   4
    '    name: par', //                                        5
    '    branches:', //                                        6
    '      - steps:', //                                       7
    '          - type: task', //                               8
    '            name: t', //                                  9
    '            resourceArn: acs:fc:::services/s/functions/f', // 10
    '            catch:', //                                   11
    '              - errors: [FnF.ALL]', //                    12
    '                goto: after', //                          13
    '  - type: pass', //                                       14
    '    name: after', //                                      15
    '',
  ].join('\n'), 13, 'steps[0].branches[0].steps[0].catch[0].goto', /after/);
});

it(ctx, 'FDL: a foreach without collection', async () => {
  await rejects([
    'version: v1', //              1
    'type: flow', //               2
    'steps:', //                   3
    '  - type: foreach', //        4
    '    name: each', //           5
    '    iterationMapping:', //    6
    '      item: it', //           7
    '    steps:', //               8
    '      - {type: pass, name: p}', // 9
    '',
  ].join('\n'), 7, 'steps[0].iterationMapping.collection', /required/);
});

it(ctx, 'UpdateFlow with a bad definition is refused and keeps the old one', async () => {
  const name = u.uniq('upd');
  await u.createFlow(ctx.v1, name, u.passFlow(name));
  const before = await ctx.v1.describeFlow({ Name: name });
  const bad = [
    'version: v1', //                 1
    'type: flow', //                  2
    'steps:', //                      3
    '  - type: pass', //              4
    '    name: a', //                 5
    '  - type: wait', //              6
    '    name: w', //                 7
    '    duration: 1', //             8
    '    timestamp: $.at', //         9
    '',
  ].join('\n');
  const e = await expectError(() => ctx.v1.updateFlow({ Name: name, Definition: bad }),
    'InvalidArgument');
  assert.match(e.data.Message, /\bline \d+\b/, e.data.Message);
  assert.match(e.data.Message, /steps\[1\]/, e.data.Message);
  const after = await ctx.v1.describeFlow({ Name: name });
  assert.equal(after.Definition, before.Definition);
  // The old definition still runs.
  const exec = u.uniq('ex');
  await ctx.v1.startExecution({ FlowName: name, ExecutionName: exec, Input: '{"k":1}' });
  const d = await u.waitDone(ctx.v1, name, exec);
  assert.equal(d.Status, 'Succeeded');
});
