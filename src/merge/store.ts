// Where an adapter lives: a local folder, or an s3:// prefix (see s3-store.ts). Both expose the two
// files of a PEFT adapter by name.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileSource, type ByteSource } from './safetensors/source.js';

export const CONFIG_FILE = 'adapter_config.json';
export const WEIGHTS_FILE = 'adapter_model.safetensors';

export interface AdapterStore {
  readonly where: string;
  readText(name: string): Promise<string>;
  open(name: string): Promise<ByteSource>;
  close(): Promise<void>;
}

export class LocalAdapterStore implements AdapterStore {
  constructor(readonly where: string) {}

  async readText(name: string): Promise<string> {
    try {
      return await readFile(join(this.where, name), 'utf8');
    } catch (err) {
      throw missing(this.where, name, err);
    }
  }

  async open(name: string): Promise<ByteSource> {
    try {
      return await FileSource.open(join(this.where, name));
    } catch (err) {
      throw missing(this.where, name, err);
    }
  }

  async close(): Promise<void> {}
}

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

function missing(where: string, name: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new StoreError(`${where}: no ${name} there; an input must be a folder (or s3:// prefix) holding ${CONFIG_FILE} and ${WEIGHTS_FILE}`);
  return err as Error;
}
