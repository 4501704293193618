// Inputs and outputs by location: s3:// prefixes go to S3, anything else is a local folder.
import type { S3Client } from '@aws-sdk/client-s3';
import { LocalOutput, type OutputTarget } from './output.js';
import { S3AdapterStore, S3Output } from './s3-store.js';
import { LocalAdapterStore, type AdapterStore } from './store.js';

export function isS3(location: string): boolean {
  return location.startsWith('s3://');
}

// `s3` overrides the client built from the environment (tests, the operator's own client).
export function openStore(location: string, field = 'input', s3?: S3Client): AdapterStore {
  return isS3(location) ? new S3AdapterStore(location, field, s3) : new LocalAdapterStore(location);
}

export function openOutput(location: string, force: boolean, s3?: S3Client): OutputTarget {
  return isS3(location) ? new S3Output(location, force, s3) : new LocalOutput(location, force);
}
