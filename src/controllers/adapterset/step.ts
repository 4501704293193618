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
import { meanErrorBound, meanKey, meanMarkerUri, meanUpdateWeights, meanUri, versionErrorBound } from './running-mean.js';
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

type Marker = {
  digest: string; uri: string; rank: number; method: string; truncationError: number;
  inputs: { task: string; digest: string; weight: number }[];
  mean?: { uri: string; errorBound: number }; // the running mean of the earlier tasks it was merged over
  committed: string;
};

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
  // Seconds per phase, reported with the result (and in the Job's log) to show where a step's time goes.
  const phases: Record<string, number> = {};
  let mark = started;
  const lap = (name: string) => { const now = performance.now(); phases[name] = Math.round(now - mark) / 1000 + (phases[name] ?? 0); mark = now; };
  const done = (r: Omit<StepResult, 'v' | 'task' | 'seconds'>): StepResult => ({ v: 1, task: t.task, ...r, seconds: (performance.now() - started) / 1000, phases });
  let task: Inspected, taskDigest: string;
  // Listing first tells a missing adapter (nothing there, no such bucket: Rejected) from S3
  // refusing the Job (credentials, permissions, outage: the Job fails and is retried, the task is
  // not rejected). Some S3 servers answer an unknown access key with 404, so a 404 on a read after
  // a successful listing is the only "not found" that counts.
  try {
    taskDigest = await prefixDigest(t.uri, s3);
    lap('taskDigest');
  } catch (err) {
    if (err instanceof SourceEmptyError || err instanceof UnsafeKeyError || s3ErrorCode(err) === 'NoSuchBucket') {
      return done({ action: 'Rejected', reason: `the task adapter cannot be used: ${(err as Error).message}` });
    }
    throw err;
  }
  try {
    task = await inspect(t.uri, s3);
    lap('inspect');
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
  const newTask: Digested = { task: t.task, uri: t.uri, digest: taskDigest, weight: t.weight };

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
      lap('novelty');
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
  const inputs: Digested[] = [];
  for (const inp of earlier) inputs.push({ ...inp, digest: inp.digest ?? await prefixDigest(inp.uri, s3) });
  inputs.push(newTask);
  // ema over two or more earlier tasks reads their running mean (running-mean.ts) instead of all of
  // them. Its key is the inputs and the parameters, which decide how it runs, so a committed
  // version is found before any mean is read.
  const viaMean = req.merge.method === 'ema' && earlier.length >= 2;
  const meanRank = req.merge.meanRank ?? req.maxRank;
  let choice: MergeChoice | undefined, uri: string;
  if (viaMean) {
    uri = versionUri(req.output, module, versionKey(inputs, { via: 'running-mean', method: 'ema', alpha: req.merge.alpha, rank: req.merge.rank, meanRank, maxRank: req.maxRank }));
  } else {
    const layouts: AdapterLayout[] = [];
    for (const inp of earlier) layouts.push((await inspect(inp.uri, s3)).layout);
    layouts.push(task.layout);
    const c = chooseMerge(req.merge, catRank(layouts), req.maxRank);
    if ('error' in c) return done({ ...facts, action: 'Rejected', reason: c.error });
    choice = c;
    uri = versionUri(req.output, module, versionKey(inputs, c));
  }
  lap('earlierInputs');
  const found = await readMarker(uri, s3);
  if (found) {
    log.info({ uri, digest: found.digest }, 'this merge is already committed; nothing to do');
    return done({ ...facts, ...scores, action, module, reason, version: { uri, digest: found.digest, rank: found.rank }, method: found.method, truncationError: found.truncationError, reused: true });
  }
  await clearPrefix(uri, s3, log);
  lap('lookup');
  let runInputs: { uri: string; weight: number }[] = inputs;
  let mean: Mean | undefined;
  if (viaMean) {
    try {
      mean = await ensureMean(req, module, inputs.slice(0, -1), meanRank, s3, log);
    } catch (err) {
      if (isInputError(err)) return done({ ...facts, ...scores, action: 'Rejected', module, reason: `the merge refused the inputs: ${(err as Error).message}` });
      throw err;
    }
    lap('mean');
    const seen = await inspect(mean.uri, s3);
    const meanRankSeen = seen.rank;
    const cat = catRank([seen.layout, task.layout]);
    let c = chooseMerge(req.merge, cat, req.maxRank);
    if ('error' in c) return done({ ...facts, action: 'Rejected', reason: c.error });
    // svd at the full rank is the same exact merge as cat, and measures ‖ΔW‖ for the bound.
    if (mean.bound > 0 && c.rank === undefined) c = { ...c, rank: cat, label: `ema alpha=${req.merge.alpha} via svd rank=${cat} (exact)` };
    choice = { ...c, label: `${c.label}, over the running mean of the ${earlier.length} earlier tasks (rank ${meanRankSeen}, ${mean.bound > 0 ? `truncated to meanRank ${meanRank}` : 'exact'})` };
    runInputs = [{ uri: mean.uri, weight: mean.coef }, { uri: t.uri, weight: t.weight }];
  }
  log.info({ uri, method: choice!.label, inputs: inputs.map((i) => i.task), mean: mean?.uri }, 'merging');
  let summary;
  try {
    summary = await runMerge({ ...mergeOptions(choice!), inputs: runInputs.map((i) => i.uri), weights: runInputs.map((i) => i.weight), out: uri, force: true, dropExtraTensors: req.merge.dropExtraTensors, s3 });
  } catch (err) {
    // Input the engine refuses will be refused again: a decision, not a retry.
    if (isInputError(err)) return done({ ...facts, ...scores, action: 'Rejected', module, reason: `the merge refused the inputs: ${(err as Error).message}` });
    throw err;
  }
  lap('merge');
  const truncationError = mean
    ? versionErrorBound({ absolute: summary.truncationError.absolute, norm: summary.truncationError.norm ?? NaN }, req.merge.alpha, mean.bound)
    : summary.truncationError.relative;
  const digest = await prefixDigest(uri, s3);
  lap('versionDigest');
  const marker: Marker = {
    digest, uri, rank: summary.rank, method: choice!.label, truncationError,
    inputs: inputs.map((i) => ({ task: i.task, digest: i.digest, weight: i.weight })),
    ...(mean ? { mean: { uri: mean.uri, errorBound: mean.bound } } : {}), committed: new Date().toISOString(),
  };
  const m = parseS3Uri(markerUri(uri), 'marker');
  await putObject(s3, m.bucket, m.prefix, Buffer.from(`${JSON.stringify(marker, null, 2)}\n`));
  lap('commit');
  const dropped = summary.extrasDropped.length ? `; whole tensors left out: ${summary.extrasDropped.join(', ')}` : '';
  return done({ ...facts, ...scores, action, module, reason: reason + dropped, version: { uri, digest, rank: summary.rank }, method: choice!.label, truncationError });
}

type Digested = StepInput & { digest: string };
// A mean as the next merge uses it: its location, the coefficient it enters with (1 for a stored
// mean; w_1 when the mean of one task is that task), and how far it may be from the exact mean.
type Mean = { uri: string; coef: number; bound: number };
type MeanMarker = { uri: string; rank: number; errorBound: number; inputs: { task: string; digest: string; weight: number }[]; committed: string };

// M_k of these tasks (oldest first): found committed, or made from M_{k−1} (found or made the same
// way) and task k, then committed by its marker, written last. Deterministic, so a re-run, a
// retried pod or a step whose previous mean is missing all produce the same bytes at the same key.
async function ensureMean(req: StepRequest, module: string, tasks: readonly Digested[], meanRank: number, s3: S3Client, log: Logger): Promise<Mean> {
  const k = tasks.length;
  if (k === 1) return { uri: tasks[0].uri, coef: tasks[0].weight, bound: 0 };
  const uri = meanUri(req.output, module, meanKey(tasks, meanRank));
  const loc = parseS3Uri(meanMarkerUri(uri), 'mean marker');
  try {
    const found = JSON.parse((await getObjectBytes(s3, loc.bucket, loc.prefix)).toString('utf8')) as MeanMarker;
    return { uri, coef: 1, bound: found.errorBound };
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const prev = await ensureMean(req, module, tasks.slice(0, -1), meanRank, s3, log);
  const last = tasks[k - 1];
  const cat = catRank([(await inspect(prev.uri, s3)).layout, (await inspect(last.uri, s3)).layout]);
  await clearPrefix(uri, s3, log);
  const summary = await runMerge({
    method: cat <= meanRank ? 'cat' : 'svd', rank: cat <= meanRank ? undefined : meanRank, dtype: 'F32',
    inputs: [prev.uri, last.uri], weights: meanUpdateWeights(k, prev.coef, last.weight), out: uri, force: true, dropExtraTensors: req.merge.dropExtraTensors, s3,
  });
  const bound = meanErrorBound(k, prev.bound, summary.truncationError.absolute);
  const marker: MeanMarker = { uri, rank: summary.rank, errorBound: bound, inputs: tasks.map((i) => ({ task: i.task, digest: i.digest, weight: i.weight })), committed: new Date().toISOString() };
  await putObject(s3, loc.bucket, loc.prefix, Buffer.from(`${JSON.stringify(marker, null, 2)}\n`));
  log.info({ uri, tasks: k, rank: summary.rank, errorBound: bound }, 'committed the running mean of the earlier tasks');
  return { uri, coef: 1, bound };
}

function mergeOptions(c: MergeChoice) {
  return { method: c.method, rank: c.rank, alpha: c.alpha, density: c.density, majoritySign: c.majoritySign, seed: c.seed };
}
