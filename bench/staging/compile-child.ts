// Compiles download-child.ts and the src/ modules it imports with tsc, as `make build` compiles the
// agent that ships, into node_modules/.cache (where node still finds the packages). Returns the
// path of the compiled child, to run with plain node.
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function compileChild(repoRoot: string): Promise<string> {
  const out = join(repoRoot, 'node_modules', '.cache', 'graft-bench-staging');
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const tsconfig = join(out, 'tsconfig.json');
  await writeFile(tsconfig, JSON.stringify({
    extends: join(repoRoot, 'tsconfig.json'),
    compilerOptions: { noEmit: false, rootDir: repoRoot, outDir: join(out, 'js'), sourceMap: false },
    files: [join(repoRoot, 'bench', 'staging', 'download-child.ts')],
    include: [],
  }));
  await run(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', tsconfig], { cwd: repoRoot, maxBuffer: 16 << 20 });
  await writeFile(join(out, 'js', 'package.json'), '{"type":"module"}\n'); // the repo's ESM setting
  return join(out, 'js', 'bench', 'staging', 'download-child.js');
}
