import type { ControllerFactory } from '../runtime/controller.js';

// The controllers `graft operator` runs, in registration order. Each factory receives the
// manager's context (client, informer caches, events, logger, clock) and returns a Controller.
export const controllers: ControllerFactory[] = [];
