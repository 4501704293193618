// `graft merge`: combine PEFT LoRA adapters (local folders or s3:// prefixes) into one adapter.
import { parseArgs } from 'node:util';
import { isInputError, runMerge, type MergeProgress, type MergeSummary } from '../merge/merge.js';
import { METHODS, type Method } from '../merge/methods/index.js';
import { FLOAT_DTYPES, type FloatDtype } from '../merge/safetensors/dtype.js';
import { CliError } from './errors.js';

const USAGE = `usage: graft merge --method METHOD --out DIR_OR_S3 [flags] IN1 IN2 …

Inputs are folders or s3:// prefixes holding adapter_config.json and adapter_model.safetensors,
oldest first (ema treats the last one as the newest task).

flags:
  --method M              ${METHODS.join(' | ')} (default svd)
  --rank N                output rank (svd, ties, dare; ema uses svd when given, cat otherwise)
  --weights W1,W2,…       one weight per input (default 1 each)
  --alpha A               ema: weight of the earlier tasks' mean (default 0.1)
  --density D             ties (default 0.2), dare (default 0.5): fraction of entries kept
  --majority-sign S       total | frequency (ties; dare elects signs only when given)
  --seed N                dare: seed of the drop mask (default 0)
  --dtype T               F32 | F16 | BF16 for the output (default: the inputs' dtype)
  --drop-extra-tensors    leave out whole saved tensors that cannot be averaged
  --out DIR_OR_S3         where to write the merged adapter (must not exist unless --force)
  --force                 replace an existing output
  --workers N             worker threads (default: one per core)
  --json                  print a JSON summary on stdout
`;

function number(flag: string, v: string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new CliError(`${flag}: "${v}" is not ${integer ? 'an integer' : 'a number'}`);
  return n;
}

function progressPrinter(): (p: MergeProgress) => void {
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  return (p) => {
    if (tty) {
      const width = 30;
      const filled = Math.round((p.done / p.total) * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total} modules, ${(p.bytesRead / 1e6).toFixed(0)} MB read`);
      if (p.done === p.total) process.stderr.write('\n');
    } else if (p.done === p.total || Date.now() - lastLine > 2000 || p.done === 1) {
      lastLine = Date.now();
      process.stderr.write(`merge: ${p.done}/${p.total} modules, ${(p.bytesRead / 1e6).toFixed(0)} MB read\n`);
    }
  };
}

function describe(s: MergeSummary): string {
  const lines = [
    `merged ${s.inputs.length} adapters with ${s.method}${s.method !== s.kernel ? ` (via ${s.kernel})` : ''}${s.approximate ? ' (approximate)' : ''} into ${s.out}`,
    `rank ${s.rank}, ${s.modules} modules, ${s.outputDtype}, ${s.seconds.toFixed(2)} s`,
    `truncation error ${s.truncationError.absolute.toExponential(3)} (${(s.truncationError.relative * 100).toFixed(4)}% of ‖ΔW‖, worst module ${(s.truncationError.worstModule * 100).toFixed(4)}%)`,
  ];
  if (s.extrasAveraged.length) lines.push(`averaged whole tensors: ${s.extrasAveraged.join(', ')}`);
  if (s.extrasDropped.length) lines.push(`left out (--drop-extra-tensors): ${s.extrasDropped.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

export async function run(argv: string[]): Promise<number> {
  // `graft merge step`: one AdapterSet step, the command of its merge Jobs.
  if (argv[0] === 'step') return (await import('../controllers/adapterset/step-cli.js')).run(argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        method: { type: 'string' }, rank: { type: 'string' }, weights: { type: 'string' }, alpha: { type: 'string' },
        density: { type: 'string' }, 'majority-sign': { type: 'string' }, seed: { type: 'string' }, dtype: { type: 'string' },
        'drop-extra-tensors': { type: 'boolean' }, out: { type: 'string' }, force: { type: 'boolean' },
        workers: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`);
  }
  const v = parsed.values;
  if (v.help) { process.stdout.write(USAGE); return 0; }
  const method = (v.method ?? 'svd') as Method;
  if (!METHODS.includes(method)) throw new CliError(`--method: "${v.method}" is not one of ${METHODS.join(', ')}`);
  if (!v.out) throw new CliError(`--out is required: the folder or s3:// prefix to write the merged adapter to\n\n${USAGE}`);
  if (parsed.positionals.length === 0) throw new CliError(`no inputs: give one or more adapter folders or s3:// prefixes\n\n${USAGE}`);
  const ms = v['majority-sign'];
  if (ms !== undefined && ms !== 'total' && ms !== 'frequency') throw new CliError(`--majority-sign: "${ms}" is not total or frequency`);
  const dtype = v.dtype?.toUpperCase();
  if (dtype !== undefined && !FLOAT_DTYPES.includes(dtype as FloatDtype)) throw new CliError(`--dtype: "${v.dtype}" is not one of ${FLOAT_DTYPES.join(', ')}`);
  const weights = v.weights === undefined ? undefined : v.weights.split(',').map((w, i) => number(`--weights value ${i + 1}`, w.trim())!);
  const workers = number('--workers', v.workers, true);
  if (workers !== undefined && workers < 0) throw new CliError('--workers must be 0 or more');

  try {
    const summary = await runMerge({
      inputs: parsed.positionals, out: v.out, force: v.force, workers, method,
      rank: number('--rank', v.rank, true), weights, alpha: number('--alpha', v.alpha), density: number('--density', v.density),
      majoritySign: ms as 'total' | 'frequency' | undefined, seed: number('--seed', v.seed, true),
      dropExtraTensors: v['drop-extra-tensors'], dtype: dtype as FloatDtype | undefined,
    }, progressPrinter());
    process.stdout.write(v.json ? `${JSON.stringify(summary)}\n` : describe(summary));
    return 0;
  } catch (err) {
    if (isInputError(err)) throw new CliError((err as Error).message);
    throw err;
  }
}
