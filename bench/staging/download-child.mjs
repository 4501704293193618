// One timed download in its own process, so its peak memory is its own. Plain JavaScript so that
// the same file runs the compiled agent (plain node, modules from a `tsc -p tsconfig.build.json`
// output folder) and the TypeScript source (node --import tsx, modules from src/):
//   node download-child.mjs <agent|naive> <modulesDir> <bucket> <prefix> <dest> [partSize] [concurrency]
// Prints one JSON line: {bytes, seconds, cpuSeconds, maxRssKb} (CPU of the download, all threads). Credentials and endpoint come from AWS_* env.
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { GetObjectCommand } from '@aws-sdk/client-s3';

const [mode, modules, bucket, prefix, dest, partSizeArg, concurrencyArg] = process.argv.slice(2);
if (!mode || !modules || !bucket || !prefix || !dest) throw new Error('usage: download-child.mjs <agent|naive> <modulesDir> <bucket> <prefix> <dest> [partSize] [concurrency]');
const load = (rel) => import(pathToFileURL(join(modules, rel)).href);
const { downloadPrefix, listRemoteFiles } = await load('storage/download.js');
const { createS3Client, s3SettingsFromEnv } = await load('storage/s3-client.js');

const settings = { ...s3SettingsFromEnv(process.env), forcePathStyle: true };
const concurrency = Number(concurrencyArg ?? 16);
const client = createS3Client({ ...settings, maxSockets: Math.max(64, concurrency) }, {
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY },
});
const source = { bucket, prefix };

const cpu0 = process.cpuUsage();
const started = process.hrtime.bigint();
let bytes = 0;
if (mode === 'agent') {
  const r = await downloadPrefix({ client, source, dest, partSize: Number(partSizeArg ?? 16 * 1024 * 1024), concurrency });
  bytes = r.bytes;
} else if (mode === 'naive') {
  // One GetObject per file, one file after another, streamed to disk.
  for (const f of await listRemoteFiles(client, source)) {
    const out = join(dest, f.path);
    await mkdir(dirname(out), { recursive: true });
    const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: f.key }));
    await pipeline(r.Body, createWriteStream(out));
    bytes += f.size;
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpu0);
client.destroy();
process.stdout.write(`${JSON.stringify({ bytes, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssKb: process.resourceUsage().maxRSS })}\n`);
