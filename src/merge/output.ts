// Atomic output to a local folder: everything is written into a temporary sibling folder, flushed,
// then renamed into place, so a failed merge leaves nothing at the destination.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { MergeInputError } from './plan.js';

export interface OutputTarget {
  readonly where: string;
  // A local folder to write the files into before commit.
  prepare(): Promise<string>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

export class LocalOutput implements OutputTarget {
  readonly where: string;
  private tmp?: string;

  constructor(dir: string, private readonly force = false) {
    this.where = resolve(dir);
  }

  async prepare(): Promise<string> {
    if (await exists(this.where)) {
      const entries = await readdir(this.where).catch(() => null);
      if (entries === null) throw new MergeInputError(`--out ${this.where} exists and is not a folder`);
      if (entries.length > 0 && !this.force) throw new MergeInputError(`--out ${this.where} already exists and is not empty; choose a new folder or pass --force to replace it`);
    }
    await mkdir(dirname(this.where), { recursive: true });
    this.tmp = join(dirname(this.where), `.${basename(this.where)}.graft-tmp-${randomBytes(6).toString('hex')}`);
    await mkdir(this.tmp);
    return this.tmp;
  }

  async commit(): Promise<void> {
    if (!this.tmp) throw new Error('LocalOutput.commit before prepare');
    for (const f of await readdir(this.tmp)) await fsyncPath(join(this.tmp, f));
    await fsyncPath(this.tmp);
    let old: string | undefined;
    if (await exists(this.where)) {
      old = `${this.tmp}-old`;
      await rename(this.where, old);
    }
    await rename(this.tmp, this.where);
    this.tmp = undefined;
    await fsyncPath(dirname(this.where));
    if (old) await rm(old, { recursive: true, force: true });
  }

  async abort(): Promise<void> {
    if (this.tmp) await rm(this.tmp, { recursive: true, force: true });
    this.tmp = undefined;
  }
}
