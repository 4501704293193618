// What the agent needs from an inference engine: list, load, unload.

export interface EngineAdapter {
  name: string;
  path: string; // the lora_path it was loaded from (vLLM and SGLang report it as `root`)
}

export type LoadOutcome = 'loaded' | 'already-loaded';

export interface EngineClient {
  readonly kind: 'vllm' | 'sglang';
  // Adapters the engine holds now.
  list(): Promise<EngineAdapter[]>;
  // Loads `name` from `path`. With `replace`, an adapter already registered under the name is
  // swapped for the new path; without it, an existing registration answers 'already-loaded'.
  load(name: string, path: string, opts?: { replace?: boolean }): Promise<LoadOutcome>;
  // 'absent' when the engine did not know the name.
  unload(name: string): Promise<'unloaded' | 'absent'>;
  // The engine answers its API.
  ready(): Promise<boolean>;
}

// The engine could not be reached, or failed on its side (5xx): try again later.
export class EngineUnavailableError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'EngineUnavailableError';
  }
}

// No answer at all (connection refused, timeout): the engine is starting or restarting. Waiting
// for it is not a failure of the adapter.
export class EngineUnreachableError extends EngineUnavailableError {
  constructor(message: string, cause?: unknown) {
    super(message, cause);
    this.name = 'EngineUnreachableError';
  }
}

// The engine refused the request (4xx): repeating it will not help.
export class EngineRejectedError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'EngineRejectedError';
  }
}
