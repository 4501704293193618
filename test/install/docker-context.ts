// What a Docker build of this repository would see, worked out without a container engine: the
// Dockerfile's stages and instructions, and the build context as .dockerignore filters it (the
// rules of moby/patternmatcher: patterns in order, the last match wins, `!` re-includes, a pattern
// that matches a folder excludes what is inside it, `**` spans folders).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export type Instruction = { op: string; args: string; line: number };
export type Stage = { from: string; name?: string; instructions: Instruction[] };

/** Dockerfile → stages (continuation lines joined, comments and parser directives dropped). */
export function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const lines = text.split('\n');
  const instructions: Instruction[] = [];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    const start = i;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      line = line.slice(0, -1) + ' ' + lines[++i]!.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot parse "${line}"`);
    instructions.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 });
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'ARG' && stages.length === 0) {
      const [k, v] = ins.args.split('=', 2);
      args[k!] = v ?? '';
    } else if (ins.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile line ${ins.line}: cannot parse FROM ${ins.args}`);
      const from = m[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args[a ?? b] ?? '');
      stages.push({ from, name: m[2], instructions: [] });
    } else {
      if (!stages.length) throw new Error(`Dockerfile line ${ins.line}: ${ins.op} before FROM`);
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { args, stages };
}

export type Copy = { from?: string; sources: string[]; dest: string };

/** A COPY instruction's sources and destination (shell form, or the JSON array form). */
export function parseCopy(ins: Instruction): Copy {
  let rest = ins.args;
  let from: string | undefined;
  for (let m = /^--(\w+)=(\S+)\s+/.exec(rest); m; m = /^--(\w+)=(\S+)\s+/.exec(rest)) {
    if (m[1] === 'from') from = m[2];
    rest = rest.slice(m[0].length);
  }
  const parts = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
  return { from, sources: parts.slice(0, -1), dest: parts.at(-1)! };
}

/** The exec-form ENTRYPOINT or CMD of a stage (the last one wins), undefined when absent. */
export function execForm(stage: Stage, op: 'ENTRYPOINT' | 'CMD'): string[] | undefined {
  const ins = stage.instructions.filter((i) => i.op === op).at(-1);
  if (!ins) return undefined;
  if (!ins.args.startsWith('[')) throw new Error(`Dockerfile line ${ins.line}: ${op} must use the exec form (a JSON array) so signals reach node`);
  return JSON.parse(ins.args) as string[];
}

type Pattern = { negate: boolean; text: string; re: RegExp };

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        // `**/` matches zero or more folders; a trailing `**` anything below.
        i++;
        if (glob[i + 1] === '/') { i++; re += '(?:.*/)?'; } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i);
      if (end < 0) re += '\\[';
      else { re += glob.slice(i, end + 1).replace(/^\[!/, '[^'); i = end; }
    } else if (c === '\\' && i + 1 < glob.length) re += `\\${glob[++i]}`;
    else re += c.replace(/[.+^${}()|]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function parseDockerignore(text: string): Pattern[] {
  const out: Pattern[] = [];
  for (let line of text.split('\n')) {
    line = line.trim();
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    // Cleaned like filepath.Clean: no leading or trailing slash, no "./".
    line = line.replace(/^\/+/, '').replace(/\/+$/, '').replace(/^(\.\/)+/, '');
    if (!line) continue;
    out.push({ negate, text: line, re: globToRegExp(line) });
  }
  return out;
}

/** Whether a context-relative path is excluded: the last pattern matching it or a parent decides. */
export function isExcluded(patterns: Pattern[], path: string): boolean {
  const parts = path.split('/');
  let excluded = false;
  for (const p of patterns) {
    let matched = false;
    for (let n = parts.length; n >= 1 && !matched; n--) matched = p.re.test(parts.slice(0, n).join('/'));
    if (matched) excluded = !p.negate;
  }
  return excluded;
}

/** Every file of the build context rooted at dir (paths relative to it), .dockerignore applied. */
export function contextFiles(dir: string): string[] {
  let patterns: Pattern[] = [];
  try { patterns = parseDockerignore(readFileSync(join(dir, '.dockerignore'), 'utf8')); } catch { /* none: everything */ }
  // An excluded folder is skipped whole unless an exception could re-include something inside it
  // (an exception naming a path below it, or one starting with a wildcard).
  const mayReinclude = (rel: string) => patterns.some((p) => p.negate && (p.text.startsWith(`${rel}/`) || /^[*?[]/.test(p.text)));
  const out: string[] = [];
  const walk = (abs: string) => {
    for (const e of readdirSync(abs, { withFileTypes: true })) {
      const full = join(abs, e.name);
      const rel = relative(dir, full);
      if (e.isDirectory()) {
        if (!isExcluded(patterns, rel) || mayReinclude(rel)) walk(full);
      } else if (!isExcluded(patterns, rel)) out.push(rel);
    }
  };
  walk(dir);
  return out.sort();
}
