// The authorize helper's entry point: started by the agent (src/agent/tasks/authorize-helper.ts) as the
// target user, it answers one JSON request per stdin line with one JSON reply line on stdout, one at a
// time, and exits when stdin closes (the agent went idle, closed, or died).
import { createInterface } from 'node:readline';
import { helperRequestSchema, HELPER_ERRORS, type HelperErrorCode, type HelperReply } from '../agent/tasks/authorize-helper-protocol.js';
import { describeHelperFailure, editAuthorizedKeys } from '../agent/tasks/authorized-keys-file.js';

async function answer(line: string): Promise<HelperReply> {
  let id = -1;
  try {
    const req = helperRequestSchema.parse(JSON.parse(line));
    id = req.id;
    return { id, ok: true, status: await editAuthorizedKeys(req.op, req.home, req.publicKey) };
  } catch (err) {
    const { code, message } = describeHelperFailure(err);
    const known = (HELPER_ERRORS as readonly string[]).includes(code) ? (code as HelperErrorCode) : 'AUTHORIZE_FAILED';
    return { id, ok: false, code: known, message: message.slice(0, 2048) };
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  process.stdout.write(JSON.stringify(await answer(line)) + '\n');
}
