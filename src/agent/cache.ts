// The pod's adapter cache on disk:
//   <root>/adapters/<name>/<digest hex>/   staged folders: the source's files + .graft-manifest.json
//   <root>/.staging/<name>-<random>/       downloads in progress (emptied at start)
// A folder appears under adapters/ only by rename, with its manifest already inside, so a staged
// folder is never partly written.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../util/log.js';
import { digestHex, type ManifestEntry } from '../storage/manifest.js';
import { pickEvictions } from './lru.js';

export const MANIFEST_FILE = '.graft-manifest.json';

export interface StagedFileInfo extends ManifestEntry {
  etag?: string;
}

export interface CacheEntry {
  name: string;
  digest: string;
  dir: string;
  bytes: number;
  source: string;
  files: StagedFileInfo[];
  rank?: number;
  stagedAt: string;
  lastUsed: number;
}

interface ManifestFile {
  version: 1;
  name: string;
  digest: string;
  source: string;
  bytes: number;
  rank?: number;
  stagedAt: string;
  files: StagedFileInfo[];
}

export class AdapterCache {
  private readonly entries = new Map<string, CacheEntry>(); // by dir
  private readonly byName = new Map<string, Map<string, CacheEntry>>(); // name → dir → entry
  private reserved = 0; // bytes of downloads in progress

  constructor(readonly root: string, readonly budgetBytes: number, private readonly log: Logger, private readonly onEvict: () => void = () => {}) {}

  get adaptersDir(): string { return join(this.root, 'adapters'); }
  get stagingDir(): string { return join(this.root, '.staging'); }

  // Creates the folders, drops leftovers of interrupted downloads, and indexes staged folders.
  async init(): Promise<void> {
    await mkdir(this.adaptersDir, { recursive: true });
    await rm(this.stagingDir, { recursive: true, force: true });
    await mkdir(this.stagingDir, { recursive: true });
    for (const name of await readdir(this.adaptersDir)) {
      const nameDir = join(this.adaptersDir, name);
      if (!(await stat(nameDir)).isDirectory()) continue;
      for (const hex of await readdir(nameDir)) {
        const dir = join(nameDir, hex);
        try {
          const m = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as ManifestFile;
          if (m.version !== 1 || m.name !== name || digestHex(m.digest) !== hex) throw new Error('manifest does not match its folder');
          const st = await stat(join(dir, MANIFEST_FILE));
          this.add({ ...m, dir, lastUsed: st.mtimeMs });
        } catch (err) {
          // Not written by this agent's rename protocol: nothing may load it.
          this.log.warn({ dir, err }, 'removing a cache folder without a valid manifest');
          await rm(dir, { recursive: true, force: true });
        }
      }
    }
    this.log.info({ entries: this.entries.size, bytes: this.usedBytes() }, 'adapter cache indexed');
  }

  usedBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.bytes;
    return n;
  }

  all(): CacheEntry[] { return [...this.entries.values()]; }

  // The staged versions of one adapter.
  versionsOf(name: string): CacheEntry[] { return [...(this.byName.get(name)?.values() ?? [])]; }

  private add(e: CacheEntry): void {
    this.entries.set(e.dir, e);
    let m = this.byName.get(e.name);
    if (!m) this.byName.set(e.name, (m = new Map()));
    m.set(e.dir, e);
  }

  private drop(e: CacheEntry): void {
    this.entries.delete(e.dir);
    const m = this.byName.get(e.name);
    m?.delete(e.dir);
    if (m?.size === 0) this.byName.delete(e.name);
  }

  find(name: string, digest: string): CacheEntry | undefined {
    return this.entries.get(this.dirFor(name, digest));
  }

  // A staged folder of `name` holding exactly these remote files (same paths, sizes and ETags).
  findMatching(name: string, source: string, files: ReadonlyArray<{ path: string; size: number; etag?: string }>): CacheEntry | undefined {
    const want = new Map(files.map((f) => [f.path, f]));
    for (const e of this.byName.get(name)?.values() ?? []) {
      if (e.source !== source || e.files.length !== want.size) continue;
      if (e.files.every((f) => { const w = want.get(f.path); return w && w.size === f.size && !!w.etag && w.etag === f.etag; })) return e;
    }
    return undefined;
  }

  dirFor(name: string, digest: string): string {
    return join(this.adaptersDir, name, digestHex(digest));
  }

  async newStagingDir(name: string): Promise<string> {
    const dir = join(this.stagingDir, `${name}-${randomBytes(6).toString('hex')}`);
    await mkdir(dir);
    return dir;
  }

  // Writes the manifest into the finished download and renames it into place. When the same
  // digest is already staged, the download is dropped and the existing folder returned.
  async commit(tmpDir: string, m: Omit<ManifestFile, 'version' | 'stagedAt'>): Promise<CacheEntry> {
    const dir = this.dirFor(m.name, m.digest);
    const existing = this.entries.get(dir);
    if (existing) {
      await rm(tmpDir, { recursive: true, force: true });
      this.touch(existing);
      return existing;
    }
    const manifest: ManifestFile = { version: 1, ...m, stagedAt: new Date().toISOString() };
    await writeFile(join(tmpDir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
    await mkdir(join(this.adaptersDir, m.name), { recursive: true });
    try {
      await rename(tmpDir, dir);
    } catch (err) {
      // A folder of that digest left behind without an index entry: replace it.
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      await rm(dir, { recursive: true, force: true });
      await rename(tmpDir, dir);
    }
    const entry: CacheEntry = { ...manifest, dir, lastUsed: Date.now() };
    this.add(entry);
    return entry;
  }

  touch(e: CacheEntry): void {
    e.lastUsed = Date.now();
  }

  // Holds `bytes` of budget for a download, evicting least recently used unprotected folders
  // when needed. Returns a release function, or null when the budget cannot make room.
  async reserve(bytes: number, isProtected: (e: CacheEntry) => boolean): Promise<(() => void) | null> {
    if (this.budgetBytes > 0) {
      const evict = pickEvictions(
        this.all().map((e) => ({ key: e.dir, bytes: e.bytes, lastUsed: e.lastUsed, protected: isProtected(e) })),
        this.usedBytes() + this.reserved, bytes, this.budgetBytes,
      );
      if (evict === null) return null;
      for (const dir of evict) {
        await this.remove(this.entries.get(dir)!, 'disk budget');
        this.onEvict();
      }
    }
    this.reserved += bytes;
    let released = false;
    return () => {
      if (!released) this.reserved -= bytes;
      released = true;
    };
  }

  // Every staged version of an adapter, and its folder under adapters/.
  async removeAdapter(name: string): Promise<void> {
    for (const e of this.versionsOf(name)) await this.remove(e, 'adapter deleted');
    await rmdir(join(this.adaptersDir, name)).catch(() => {}); // only when empty: a new version may be arriving
  }

  async remove(e: CacheEntry, why: string): Promise<void> {
    this.drop(e);
    this.log.info({ adapter: e.name, digest: e.digest, bytes: e.bytes, why }, 'evicting staged adapter');
    // Rename first so a half-deleted folder never sits under adapters/.
    const trash = join(this.stagingDir, `evict-${randomBytes(6).toString('hex')}`);
    try {
      await rename(e.dir, trash);
    } catch {
      await rm(e.dir, { recursive: true, force: true });
      return;
    }
    await rm(trash, { recursive: true, force: true });
  }
}
