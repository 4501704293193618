import { CallBackoff, type CallBackoffOptions } from './act.js';

// What the controller remembers between passes of one BaseModel, none of which the API holds:
// since when each pod's agent has been unreachable, since when the BaseModel has been missing,
// the backoff of failing agent calls, the version each Adapter was last Ready with (for the
// RolledOut event), and the inputs of the last pass (a settled pass over unchanged inputs is
// skipped, which makes a short recheck cheap). Lost on restart, which only delays decisions.
export class BaseModelMemory {
  readonly unreachableSince = new Map<string, number>();
  missingSince: number | undefined;
  readonly backoff: CallBackoff;
  // Adapter uid → the digest and generation it was last Ready with.
  readonly ready = new Map<string, { digest?: string; generation?: number }>();
  last: { fingerprint: string; validUntil: number } | undefined;
  // Adapter uid → when its status was last written (write.ts mayDefer).
  readonly statusWrittenAt = new Map<string, number>();

  constructor(backoff: CallBackoffOptions) {
    this.backoff = new CallBackoff(backoff);
  }
}

export class ControllerMemory {
  private readonly byBaseModel = new Map<string, BaseModelMemory>();

  constructor(private readonly backoff: CallBackoffOptions = {}) {}

  of(key: string): BaseModelMemory {
    let m = this.byBaseModel.get(key);
    if (!m) { m = new BaseModelMemory(this.backoff); this.byBaseModel.set(key, m); }
    return m;
  }

  drop(key: string): void { this.byBaseModel.delete(key); }

  keys(): Set<string> { return new Set(this.byBaseModel.keys()); }
}
