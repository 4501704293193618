import { VERSION } from '../version.js';

export async function run(): Promise<number> {
  process.stdout.write(`graft ${VERSION} (node ${process.version})\n`);
  return 0;
}
