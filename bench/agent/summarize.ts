// Summarizes a PROFILE=<dir> run of bench-agent again (after changing the categories):
//   node --import tsx bench/agent/summarize.ts DIR FROM_S TO_S CPU_MS
// FROM_S and TO_S: the load window in seconds after the main thread's profile started (bench-agent
// prints them); CPU_MS: the load phase's CPU from /proc (loads × cpu_ms_per_load).
import { loadProfiles, summarizeLoad, topFunctions } from '../common/cpu-profile.js';

const [dir, from, to, cpu] = process.argv.slice(2);
if (!dir || !from || !to || !cpu) throw new Error('usage: summarize.ts DIR FROM_S TO_S CPU_MS');
const profiles = await loadProfiles(dir);
const t0 = profiles.find((p) => p.thread === 0)!.profile.startTime;
const window: [number, number] = [t0 + Number(from) * 1e6, t0 + Number(to) * 1e6];
for (const line of summarizeLoad(profiles, window, Number(cpu))) console.log(line);
for (const line of topFunctions(profiles, window, 40)) console.log(line);
