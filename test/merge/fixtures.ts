// Locations of the test data (test/fixtures/peft). The fixtures are read-only: tests copy what they change.
import { resolve } from 'node:path';
import { FIXTURES, REPO_ROOT } from '../support/fixtures-dir.js';

export { FIXTURES };
export const repoRoot = REPO_ROOT;
export const GPT2_SEQCLS = resolve(FIXTURES, 'gpt2-seqcls-c_attn');
export const GPT2_CAUSAL = resolve(FIXTURES, 'gpt2-causal-tigrinya');
export const DISTILBERT = resolve(FIXTURES, 'distilbert-imdb');
export const ALL_FIXTURES = [GPT2_SEQCLS, GPT2_CAUSAL, DISTILBERT];
