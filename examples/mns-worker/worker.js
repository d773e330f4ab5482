'use strict';
// A flowd worker that takes callback tasks from a queue, as an existing MNS worker would.
//
// The flow hands each task to the built-in queue (CloudFlow `Action: MNS:SendMessage` or FDL
// `resourceArn: acs:mns:::/queues/<q>/messages`) with the task token mapped into the message.
// This worker long-polls the queue with the official MNS client, does the work, reports the
// outcome with the official CloudFlow client, and only then deletes the message: if it dies
// in between, the message becomes visible again and another worker picks it up (at least
// once); a report that was already accepted answers TaskAlreadyCompleted, which is fine.
//
// Environment: FLOWD_ENDPOINT (http://127.0.0.1:8080), FLOWD_ACCOUNT_ID, FLOWD_ACCESS_KEY_ID,
// FLOWD_ACCESS_KEY_SECRET, QUEUE (orders), and optionally MAX_MESSAGES (stop after that many).
//
// The message body is the JSON the flow put there, e.g. {"taskToken": "...", "amount": 42}.
// "Work" here: amounts up to 100 are approved, larger ones are rejected with ApprovalRejected.

const MNS = require('@alicloud/mns');
const Fnf = require('@alicloud/fnf-2019-03-15');

const endpoint = process.env.FLOWD_ENDPOINT || 'http://127.0.0.1:8080';
const accountId = process.env.FLOWD_ACCOUNT_ID || '0';
const accessKeyId = process.env.FLOWD_ACCESS_KEY_ID;
const accessKeySecret = process.env.FLOWD_ACCESS_KEY_SECRET;
const queue = process.env.QUEUE || 'orders';
const maxMessages = Number(process.env.MAX_MESSAGES || 0);

const mns = new MNS(accountId, { endpoint, accessKeyId, accessKeySecret });
const fnf = new Fnf({ endpoint, accessKeyId, accessKeySecret });

async function handle(body) {
  const task = JSON.parse(body);
  if (!task.taskToken) throw new Error('message without taskToken');
  // The RequestId makes the report safe to retry after a timeout: the same id gets the
  // first answer again instead of TaskAlreadyCompleted.
  const RequestId = `worker-${task.taskToken.slice(-20)}`;
  try {
    if (Number(task.amount) <= 100) {
      await fnf.reportTaskSucceeded({ TaskToken: task.taskToken, RequestId,
        Output: JSON.stringify({ approved: true, approver: 'mns-worker' }) });
      console.log(`approved ${task.orderId}`);
    } else {
      await fnf.reportTaskFailed({ TaskToken: task.taskToken, RequestId,
        Error: 'ApprovalRejected', Cause: `amount ${task.amount} is above 100` });
      console.log(`rejected ${task.orderId}`);
    }
  } catch (e) {
    if (e.code !== 'TaskAlreadyCompleted') throw e; // someone reported it already
  }
}

async function main() {
  let done = 0;
  for (;;) {
    let res;
    try {
      res = await mns.receiveMessage(queue, 10); // long poll, 10 s
    } catch (e) {
      if (e.name === 'MNSMessageNotExistError' || e.code === 'MessageNotExist') continue;
      throw e;
    }
    const msg = res.body;
    try {
      await handle(msg.MessageBody);
      await mns.deleteMessage(queue, msg.ReceiptHandle);
    } catch (e) {
      // Not deleted: the message comes back after its visibility timeout.
      console.error(`task failed, will be retried: ${e.message}`);
    }
    if (maxMessages && ++done >= maxMessages) return;
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
