// `graft generate [--check]`: writes every generated file from its source of truth (the zod schemas
// in src/api). With --check it writes nothing and fails when a committed file differs.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generatedFiles } from '../api/generated-files.js';
import { CliError } from './errors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { check: { type: 'boolean', default: false } } });
  const drift: string[] = [];
  for (const [rel, content] of generatedFiles()) {
    const path = join(root, rel);
    const current = await readFile(path, 'utf8').catch(() => null);
    if (current === content) continue;
    if (values.check) drift.push(rel);
    else {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content);
      process.stdout.write(`wrote ${rel}\n`);
    }
  }
  if (drift.length) throw new CliError(`generated files differ from src/api (run \`make generate\` and commit):\n  ${drift.join('\n  ')}`, 1);
  return 0;
}
