// When each object of one kind in one namespace first became Ready, seen through one informer
// (list, then watch) instead of listing every object on each poll: a LIST of a thousand Adapters
// with their status four times a second cost the API server more than the controller under test
// did, and on two cores that slowed both sides of a comparison.
import type { KubeConfig } from '@kubernetes/client-node';
import { Informer } from '../../src/runtime/informer.js';
import { KubeClient } from '../../src/runtime/kube-client.js';
import type { Kind, KubeObject } from '../../src/runtime/object.js';

type Obj = Record<string, any>;

export class ReadyWatch {
  readonly readyAt = new Map<string, number>();
  private readonly informer: Informer;

  constructor(kubeConfig: KubeConfig, kind: Kind, private readonly namespace: string, isReady: (o: Obj) => boolean) {
    this.informer = new Informer({ client: new KubeClient(kubeConfig), kind, namespace });
    const seen = (o: KubeObject) => {
      const name = o.metadata?.name;
      if (name && !this.readyAt.has(name) && isReady(o as Obj)) this.readyAt.set(name, Date.now());
    };
    this.informer.on('add', seen);
    this.informer.on('update', seen);
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  // The objects as last seen (the informer's cache).
  list(): Obj[] { return this.informer.list(this.namespace) as Obj[]; }

  stop(): Promise<void> { return this.informer.stop(); }
}
