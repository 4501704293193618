// Adapter names are DNS-1123 labels: they become folder names and engine model ids, so nothing
// that could climb out of a folder or confuse a URL gets through.

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

// null when valid, else why not.
export function dns1123LabelProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 63) return `must be at most 63 characters (it has ${name.length})`;
  if (!DNS1123_LABEL.test(name)) return 'must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit';
  return null;
}
