export { freePort, waitFor } from '../../src/sandbox/wait.js';
