// The merge Job's side of one AdapterSet step (`graft merge step`): read the task adapter, refuse
// it with a reason when it cannot be used, decide (the same pure rules the controller uses),
// merge with the engine, commit, and report. Idempotent: every version is content-addressed and
// committed by a marker object written last, so a re-run (a retried pod, a re-created Job, a new
// leader) finds the committed result and does nothing.
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import { isInputError, runMerge } from '../../merge/merge.js';
import { adapterNovelty, readFactors, type ModuleFactors } from '../../merge/novelty.js';
import { openStore } from '../../merge/locations.js';
import { describeAdapter, type AdapterLayout } from '../../merge/peft/adapter.js';
import { parsePeftConfig } from '../../merge/peft/config.js';
import { readHeader } from '../../merge/safetensors/reader.js';
import { CONFIG_FILE, WEIGHTS_FILE } from '../../merge/store.js';
import { listRemoteFiles, SourceEmptyError } from '../../storage/download.js';
import { manifestDigest } from '../../storage/manifest.js';
import { getObjectBytes, listObjects, putObject } from '../../storage/s3-objects.js';
import { httpStatusOf, s3ErrorCode } from '../../storage/s3-errors.js';
import { folderPrefix, parseS3Uri } from '../../storage/s3-uri.js';
import { UnsafeKeyError } from '../../storage/rel-path.js';
import { silentLogger } from '../../util/log.js';
import { chooseMerge, decideExpand, markerUri, versionKey, versionUri, type MergeChoice } from './decide.js';
import type { StepInput, StepRequest, StepResult } from './protocol.js';

type Inspected = { layout: AdapterLayout; base?: string; rank: number };

async function inspect(uri: string, s3: S3Client): Promise<Inspected> {
  const store = openStore(uri, 'task', s3);
  const config = parsePeftConfig(await store.readText(CONFIG_FILE), uri);
  const src = await store.open(WEIGHTS_FILE);
  try {
    const layout = describeAdapter(config, await readHeader(src), uri);
    const rank = Math.max(...[...layout.modules.values()].map((m) => m.rank));
    return { layout, base: config.base_model_name_or_path ?? undefined, rank };
  } finally {
    await src.close();
  }
}

// The digest the agent computes when it stages the prefix (src/storage/manifest.ts).
export async function prefixDigest(uri: string, s3: S3Client): Promise<string> {
  const loc = parseS3Uri(uri, 'uri');
  const files = await listRemoteFiles(s3, loc);
  const entries = [];
  for (const f of files) {
    const bytes = await getObjectBytes(s3, loc.bucket, f.key);
    entries.push({ path: f.path, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  return manifestDigest(entries);
}

function isNotFound(err: unknown): boolean {
  const code = s3ErrorCode(err);
  return httpStatusOf(err) === 404 || code === 'NoSuchKey' || code === 'NotFound';
}

type Marker = { digest: string; uri: string; rank: number; method: string; truncationError: number; inputs: { task: string; digest: string; weight: number }[]; committed: string };

async function readMarker(uri: string, s3: S3Client): Promise<Marker | undefined> {
  const loc = parseS3Uri(markerUri(uri), 'marker');
  try {
    return JSON.parse((await getObjectBytes(s3, loc.bucket, loc.prefix)).toString('utf8')) as Marker;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

// Objects under an uncommitted version prefix are what an earlier, interrupted run left.
async function clearPrefix(uri: string, s3: S3Client, log: Logger): Promise<void> {
  const loc = parseS3Uri(uri, 'uri');
  for (const o of await listObjects(s3, loc.bucket, folderPrefix(loc.prefix))) {
    await s3.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: o.key }));
    log.info({ key: o.key }, 'removed a leftover of an interrupted merge');
  }
}

function catRank(layouts: readonly AdapterLayout[]): number {
  const sums = new Map<string, number>();
  for (const l of layouts) for (const m of l.modules.values()) sums.set(m.module, (sums.get(m.module) ?? 0) + m.rank);
  return Math.max(0, ...sums.values());
}

export async function runStep(req: StepRequest, s3: S3Client, log: Logger = silentLogger): Promise<StepResult> {
  const started = performance.now();
  const t = req.task;
  const done = (r: Omit<StepResult, 'v' | 'task' | 'seconds'>): StepResult => ({ v: 1, task: t.task, ...r, seconds: (performance.now() - started) / 1000 });
  let task: Inspected, taskDigest: string;
  // Listing first tells a missing adapter (nothing there, no such bucket: Rejected) from S3
  // refusing the Job (credentials, permissions, outage: the Job fails and is retried, the task is
  // not rejected). Some S3 servers answer an unknown access key with 404, so a 404 on a read after
  // a successful listing is the only "not found" that counts.
  try {
    taskDigest = await prefixDigest(t.uri, s3);
  } catch (err) {
    if (err instanceof SourceEmptyError || err instanceof UnsafeKeyError || s3ErrorCode(err) === 'NoSuchBucket') {
      return done({ action: 'Rejected', reason: `the task adapter cannot be used: ${(err as Error).message}` });
    }
    throw err;
  }
  try {
    task = await inspect(t.uri, s3);
  } catch (err) {
    if (isInputError(err)) return done({ taskDigest, action: 'Rejected', reason: `the task adapter cannot be used: ${(err as Error).message}` });
    throw err;
  }
  const facts = { taskDigest, base: task.base };
  if (t.digest && t.digest !== taskDigest) {
    return done({ ...facts, action: 'Rejected', reason: `${t.uri} has digest ${taskDigest}, but the task's source.digest is ${t.digest}; fix the digest or the files` });
  }
  if (req.expectBase && task.base && task.base !== req.expectBase) {
    return done({ ...facts, action: 'Rejected', reason: `the adapter was trained on ${task.base}, but this set's adapters are for ${req.expectBase}; adapters of another base model cannot be served or merged here` });
  }
  if (task.rank > req.maxRank) {
    return done({ ...facts, action: 'Rejected', reason: `the adapter has rank ${task.rank}, above the BaseModel's adapters.maxRank ${req.maxRank}; retrain at a lower rank or raise maxRank` });
  }
  const newTask: StepInput & { digest: string } = { task: t.task, uri: t.uri, digest: taskDigest, weight: t.weight };

  let action: StepResult['action'], module: string, reason: string, scores: Pick<StepResult, 'score' | 'scoreKind' | 'threshold'> = {};
  if (req.strategy === 'Merge') {
    const m = req.modules[0];
    module = m?.name ?? req.newModule;
    action = m ? 'MergedInto' : 'NewModule';
    const n = (m?.inputs.length ?? 0) + 1;
    reason = m ? `MOS: version ${n} of module ${module} merges the ${n} accepted tasks so far` : `the first accepted task: version 1 of module ${module}`;
  } else {
    const novelty: Record<string, number> = {};
    if (req.modules.length > 0) {
      const mine = await readFactors(t.uri, s3);
      for (const m of req.modules) {
        const theirs: Map<string, ModuleFactors> = await readFactors(m.served.uri, s3);
        novelty[m.name] = adapterNovelty(mine, theirs).score;
      }
      log.info({ novelty }, 'weight-space novelty against each module');
    }
    const c = decideExpand({
      modules: req.modules.map((m) => m.name), novelty, shiftScore: t.shiftScore, closest: t.closest,
      threshold: req.expand.threshold, noveltyThreshold: req.expand.noveltyThreshold, maxModules: req.expand.maxModules, newModule: req.newModule,
    });
    ({ action, module, reason } = c);
    scores = { score: c.score, scoreKind: c.scoreKind, threshold: c.threshold };
    if (action === 'NewModule') {
      // A new module serves the task adapter itself, as trained.
      return done({ ...facts, ...scores, action, module, reason, version: { uri: t.uri, digest: taskDigest, rank: task.rank }, method: 'none (the task adapter as trained)', truncationError: 0 });
    }
  }

  const earlier = req.strategy === 'Merge' ? (req.modules[0]?.inputs ?? []) : req.modules.find((m) => m.name === module)!.inputs;
  const inputs: (StepInput & { digest: string })[] = [];
  const layouts: AdapterLayout[] = [];
  for (const inp of earlier) {
    const seen = await inspect(inp.uri, s3);
    layouts.push(seen.layout);
    inputs.push({ ...inp, digest: inp.digest ?? await prefixDigest(inp.uri, s3) });
  }
  inputs.push(newTask);
  layouts.push(task.layout);
  const choice = chooseMerge(req.merge, catRank(layouts), req.maxRank);
  if ('error' in choice) return done({ ...facts, action: 'Rejected', reason: choice.error });
  const uri = versionUri(req.output, module, versionKey(inputs, choice));
  const found = await readMarker(uri, s3);
  if (found) {
    log.info({ uri, digest: found.digest }, 'this merge is already committed; nothing to do');
    return done({ ...facts, ...scores, action, module, reason, version: { uri, digest: found.digest, rank: found.rank }, method: found.method, truncationError: found.truncationError, reused: true });
  }
  await clearPrefix(uri, s3, log);
  log.info({ uri, method: choice.label, inputs: inputs.map((i) => i.task) }, 'merging');
  let summary;
  try {
    summary = await runMerge({ ...mergeOptions(choice), inputs: inputs.map((i) => i.uri), weights: inputs.map((i) => i.weight), out: uri, force: true, dropExtraTensors: req.merge.dropExtraTensors, s3 });
  } catch (err) {
    // Input the engine refuses will be refused again: a decision, not a retry.
    if (isInputError(err)) return done({ ...facts, ...scores, action: 'Rejected', module, reason: `the merge refused the inputs: ${(err as Error).message}` });
    throw err;
  }
  const digest = await prefixDigest(uri, s3);
  const marker: Marker = {
    digest, uri, rank: summary.rank, method: choice.label, truncationError: summary.truncationError.relative,
    inputs: inputs.map((i) => ({ task: i.task, digest: i.digest, weight: i.weight })), committed: new Date().toISOString(),
  };
  const m = parseS3Uri(markerUri(uri), 'marker');
  await putObject(s3, m.bucket, m.prefix, Buffer.from(`${JSON.stringify(marker, null, 2)}\n`));
  const dropped = summary.extrasDropped.length ? `; whole tensors left out: ${summary.extrasDropped.join(', ')}` : '';
  return done({ ...facts, ...scores, action, module, reason: reason + dropped, version: { uri, digest, rank: summary.rank }, method: choice.label, truncationError: summary.truncationError.relative });
}

function mergeOptions(c: MergeChoice) {
  return { method: c.method, rank: c.rank, alpha: c.alpha, density: c.density, majoritySign: c.majoritySign, seed: c.seed };
}
