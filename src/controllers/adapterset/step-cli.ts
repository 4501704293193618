// `graft merge step --request JSON`: the command of an AdapterSet's merge Job. It prints the step's
// result as JSON on stdout and writes it to the termination message file (the kubelet's
// /dev/termination-log; GRAFT_TERMINATION_LOG overrides the path), where the operator reads it.
// Exit 0 when the step decided (Rejected included), 1 when it could not (S3 unreachable, …): the
// Job then retries the pod, and the served version never moves.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CliError } from '../../cli/errors.js';
import { mergeS3Client } from '../../merge/s3-store.js';
import { createLogger } from '../../util/log.js';
import { encodeResult, StepRequest, TERMINATION_MESSAGE_MAX } from './protocol.js';
import { runStep } from './step.js';

const USAGE = 'usage: graft merge step --request JSON   (the request an AdapterSet\'s merge Job carries; see docs/continual-learning.md)\n';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { request: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) { process.stdout.write(USAGE); return 0; }
  if (!values.request) throw new CliError(`--request is required\n${USAGE}`);
  let raw: unknown;
  try { raw = JSON.parse(values.request); } catch (err) { throw new CliError(`--request is not JSON: ${(err as Error).message}`); }
  const req = StepRequest.safeParse(raw);
  if (!req.success) throw new CliError(`--request: ${req.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const log = createLogger({ name: 'merge-step', destination: process.stderr });
  const terminationLog = process.env.GRAFT_TERMINATION_LOG ?? '/dev/termination-log';
  try {
    const result = await runStep(req.data, mergeS3Client(), log);
    const text = encodeResult(result);
    await writeFile(terminationLog, text).catch((err: unknown) => log.warn({ err, terminationLog }, 'could not write the termination message'));
    log.info({ action: result.action, module: result.module, digest: result.version?.digest, seconds: result.seconds }, result.reason);
    process.stdout.write(`${text}\n`);
    return 0;
  } catch (err) {
    const message = `merge step failed: ${err instanceof Error ? err.message : String(err)}`;
    await writeFile(terminationLog, message.slice(0, TERMINATION_MESSAGE_MAX)).catch(() => {});
    log.error({ err }, 'merge step failed');
    return 1;
  }
}
