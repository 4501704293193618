export { Proc } from '../../src/sandbox/proc.js';
