// Locations of the shared test data. The fixtures are read-only: tests copy what they change.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES = resolve(repoRoot, '..', 'shared', 'fixtures', 'peft');
export const GPT2_SEQCLS = resolve(FIXTURES, 'gpt2-seqcls-c_attn');
export const GPT2_CAUSAL = resolve(FIXTURES, 'gpt2-causal-tigrinya');
export const DISTILBERT = resolve(FIXTURES, 'distilbert-imdb');
export const ALL_FIXTURES = [GPT2_SEQCLS, GPT2_CAUSAL, DISTILBERT];
