// Which s3:// sources a BaseModel's adapters may come from (spec.adapters.allowedSources, handed to
// the agent as GRAFT_AGENT_ALLOWED_SOURCES). The operator and the agent decide with this one
// function, so the two cannot disagree.
//
// Semantics, on parsed locations (never on the text):
// - the buckets must be equal (s3://bucket-evil/ never matches s3://bucket/);
// - the source is taken as a folder, as the agent lists it (s3://b/a means the keys under "a/");
// - an entry matches when that folder prefix starts with the entry's key prefix exactly as
//   written: s3://b/ (or s3://b) allows the whole bucket, s3://b/team/ allows the keys under
//   "team/" only, and s3://b/team (no slash) is a plain key prefix that also allows "team-x/".
// Sources and entries with "." or ".." segments are refused by parseS3Uri, and keys are never
// URL-decoded anywhere ("%2e" is three literal characters of an S3 key), so nothing can climb
// out of an allowed prefix.
import { folderPrefix, parseS3Uri, type S3Location } from '../storage/s3-uri.js';

export class AllowedSources {
  private constructor(readonly entries: readonly S3Location[]) {}

  // null or [] = any source.
  static of(list: readonly string[] | null | undefined, field = 'allowedSources'): AllowedSources {
    return new AllowedSources((list ?? []).map((s, i) => parseS3Uri(s, `${field}[${i}]`)));
  }

  // A comma-separated list (the agent's environment variable); empty items are ignored.
  static parse(text: string | undefined, field: string): AllowedSources {
    return AllowedSources.of((text ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0), field);
  }

  get any(): boolean { return this.entries.length === 0; }

  allows(source: S3Location | string): boolean {
    if (this.any) return true;
    const loc = typeof source === 'string' ? parseS3Uri(source, 'source') : source;
    const keys = folderPrefix(loc.prefix);
    return this.entries.some((e) => e.bucket === loc.bucket && keys.startsWith(e.prefix));
  }

  describe(): string {
    return this.any ? 'any source' : this.entries.map((e) => `s3://${e.bucket}/${e.prefix}`).join(', ');
  }
}
