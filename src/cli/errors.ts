// Exit codes shared by every subcommand: 2 means the input was wrong, 1 that something else failed.
export const EXIT_USAGE = 2;

export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT_USAGE) {
    super(message);
    this.name = 'CliError';
  }
}
