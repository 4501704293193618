// Where the real PEFT adapters used as test data live: inside the repository (test/fixtures/peft,
// provenance in its README), so a fresh clone runs every test and the demo with nothing beside it.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES = resolve(REPO_ROOT, 'test', 'fixtures', 'peft');
