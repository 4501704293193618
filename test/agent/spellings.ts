// Ways to spell a request to the agent's /v1 routes that a check on the raw URL could miss: the
// router decodes percent-encoding ("%76" is "v"), and clients, proxies or the router itself may
// treat dot segments, doubled or trailing slashes, queries and case differently. Shared by the
// unit test (fastify inject) and the test against the real agent process (raw sockets, so that
// no client library normalises the target first).

export const METHODS = ['GET', 'HEAD', 'PUT', 'DELETE', 'POST', 'PATCH', 'OPTIONS'] as const;

// Request targets that name /v1/adapters or /v1/adapters/<name>, or try to, in many spellings.
export function targets(name: string): string[] {
  const enc = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
  const encUpper = (s: string) => enc(s).toUpperCase();
  const list = `/v1/adapters`;
  const one = `/v1/adapters/${name}`;
  const out = new Set<string>();
  for (const p of [list, one]) {
    out.add(p);
    out.add(`${p}/`);
    out.add(`${p}?x=1`);
    out.add(`${p}?`);
    out.add(`${p}?token=x&authorization=Bearer%20x`);
    out.add(`${p}#frag`);
    out.add(`${p};a=b`);
    out.add(`/${p}`); // doubled leading slash
    out.add(p.replace('/adapters', '//adapters'));
    out.add(p.replace('/v1/', '/./v1/'));
    out.add(p.replace('/v1/', '/v1/./'));
    out.add(p.replace('/v1/', '/v1/../v1/'));
    out.add(p.replace('/v1/', '/x/../v1/'));
    out.add(p.replace('/v1/', '/%2e/v1/'));
    out.add(p.replace('/v1/', '/v1/%2e%2e/v1/'));
    out.add(p.replace('/v1/', '/v1/%2E%2E/v1/'));
    out.add(p.replace('/v1/', '/healthz/../v1/'));
    out.add(p.replace('/v1/', '/metrics/%2e%2e/v1/'));
    out.add(p.replace('/v1/', '/readyz/..%2fv1/'));
    out.add(p.replace('/v1/', `/healthz%2f..%2fv1/`));
    out.add(p.replace('/v1/', '/%761/'));
    out.add(p.replace('/v1/', '/v%31/'));
    out.add(p.replace('/v1/', `/${enc('v1')}/`));
    out.add(p.replace('/v1/', `/${encUpper('v1')}/`));
    out.add(p.replace('/adapters', `/${enc('adapters')}`));
    out.add(p.replace('/adapters', '/%61dapters'));
    out.add(p.replace('/v1/adapters', `/${enc('v1/adapters')}`)); // %2F between the segments
    out.add(p.replace('/v1/adapters', '/v1%2Fadapters'));
    out.add(p.replace('/v1/adapters', '/v1%2fadapters'));
    out.add(p.replace('/v1/', '/V1/'));
    out.add(p.replace('/adapters', '/Adapters'));
    out.add(p.toUpperCase());
    out.add(p.replace('/v1/', '/v1\\'));
    out.add(p.replace('/v1/', '/%5cv1/'));
    out.add(p.replace('/v1/', '/v1%00/'));
    out.add(p.replace('/v1/', '/%20v1/'));
  }
  out.add(one.replace(`/${name}`, `/${enc(name)}`));
  out.add(one.replace(`/${name}`, `%2F${name}`));
  out.add(one.replace(`/${name}`, `/./${name}`));
  out.add(one.replace(`/${name}`, `/x/../${name}`));
  out.add(`/v1`);
  out.add(`/v1/`);
  out.add(`/%76%31`);
  out.add(`/v1/anything`);
  out.add(`/nope`);
  out.add(`/`);
  return [...out];
}

// Authorization headers that must not pass (undefined: no header at all).
export function badAuthorizations(token: string): Array<string | undefined> {
  return [
    undefined,
    '',
    'Bearer',
    'Bearer ',
    'Bearer wrong',
    `Bearer ${token.slice(0, -1)}`, // one character short
    `Bearer ${token}x`, // one character long
    `Bearer ${token}${token}`,
    `Bearer ${'a'.repeat(4096)}`,
    `Bearer ${token.toUpperCase() === token ? token.toLowerCase() : token.toUpperCase()}`,
    `Basic ${token}`,
    `Token ${token}`,
    token, // no scheme
    `Bearer ${token} ${token}`,
    `Bearer\t${token}x`,
    `Bearer ${token.slice(1)}`,
  ];
}
