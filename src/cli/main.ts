// The `graft` command: one subcommand per entry point, each loaded only when called.
import { CliError, EXIT_USAGE } from './errors.js';

// The AWS SDK warns on every start under Node < 22 that its releases after January 2027 need
// Node 22. package-lock.json pins a release that supports Node 20; the warning would only clutter
// every agent's and operator's log.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

type Command = { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number | void> }> };

const commands: Record<string, Command> = {
  generate: { summary: 'write generated files (CRDs) from src/api; --check fails on drift', load: () => import('./generate.js') },
  version: { summary: 'print the version', load: () => import('./version.js') },
  agent: { summary: 'run the serving-pod sidecar (or: agent stage-base)', load: () => import('./agent.js') },
  merge: { summary: 'merge LoRA adapters (cat, svd, linear, ema, ties, dare)', load: () => import('./merge.js') },
  operator: { summary: 'run the controllers (leader election, /healthz, /readyz, /metrics)', load: () => import('./operator.js') },
  check: { summary: 'check an install: CRDs served, operator ready (the helm test Pod)', load: () => import('./check.js') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: graft <command> [flags]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : EXIT_USAGE;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`graft: unknown command "${name}"\n\n${usage()}`);
    return EXIT_USAGE;
  }
  const mod = await cmd.load();
  return (await mod.run(rest)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    if (err instanceof CliError) {
      process.stderr.write(`graft: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`graft: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
