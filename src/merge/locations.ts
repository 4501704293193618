// Inputs and outputs by location: s3:// prefixes go to S3, anything else is a local folder.
import { LocalOutput, type OutputTarget } from './output.js';
import { S3AdapterStore, S3Output } from './s3-store.js';
import { LocalAdapterStore, type AdapterStore } from './store.js';

export function isS3(location: string): boolean {
  return location.startsWith('s3://');
}

export function openStore(location: string, field = 'input'): AdapterStore {
  return isS3(location) ? new S3AdapterStore(location, field) : new LocalAdapterStore(location);
}

export function openOutput(location: string, force: boolean): OutputTarget {
  return isS3(location) ? new S3Output(location, force) : new LocalOutput(location, force);
}
