import { z } from 'zod';
import { GROUP, VERSION } from './common.js';
import type { KindDef } from './kinds.js';

type Json = Record<string, unknown>;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// zod's JSON Schema is close to what the API server needs; these rewrites make it structural:
// no $schema, no additionalProperties next to properties (false) or open ({} → preserve unknown
// fields), no propertyNames, integer enums typed integer, int-or-string unions in the one anyOf
// shape the API server accepts, and none of the ±2^53 bounds zod adds to every .int().
export function structural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(structural);
  if (!node || typeof node !== 'object') return node;
  const n: Json = {};
  for (const [k, v] of Object.entries(node as Json)) {
    if (k === '$schema' || k === 'propertyNames' || k === 'id') continue;
    n[k] = structural(v);
  }
  if (n.maximum === MAX_SAFE) delete n.maximum;
  if (n.minimum === -MAX_SAFE) delete n.minimum;
  if (n.additionalProperties === false) delete n.additionalProperties;
  if (n.additionalProperties && typeof n.additionalProperties === 'object' && Object.keys(n.additionalProperties).length === 0) {
    delete n.additionalProperties;
    n['x-kubernetes-preserve-unknown-fields'] = true;
  }
  if (n['x-kubernetes-int-or-string']) {
    // Bounds and enums of the branches move to CEL rules (attached by the schema author).
    n.anyOf = [{ type: 'integer' }, { type: 'string' }];
    delete n.type;
  }
  if (Array.isArray(n.enum) && n.type === 'number' && (n.enum as unknown[]).every((x) => Number.isInteger(x))) n.type = 'integer';
  // A zod union of literals becomes anyOf of consts; the API server wants one enum.
  if (Array.isArray(n.anyOf) && !n['x-kubernetes-int-or-string']) {
    const alts = n.anyOf as Json[];
    if (alts.every((a) => 'const' in a || Array.isArray(a.enum))) {
      const values = alts.flatMap((a) => ('const' in a ? [a.const] : (a.enum as unknown[])));
      delete n.anyOf;
      n.type = values.every((v) => Number.isInteger(v)) ? 'integer' : typeof values[0];
      n.enum = values;
    }
  }
  if ('const' in n) {
    n.enum = [n.const];
    delete n.const;
  }
  return n;
}

export function openApiOf(schema: z.ZodTypeAny): Json {
  return structural(z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' })) as Json;
}

export function crdOf(k: KindDef): Json {
  const spec = openApiOf(k.spec);
  const status = openApiOf(k.status);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'graft', 'app.kubernetes.io/part-of': 'graft' } },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular: k.singular, shortNames: k.shortNames, categories: ['graft'] },
      versions: [{
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {}, ...(k.scale ? { scale: k.scale } : {}) },
        additionalPrinterColumns: k.columns,
        schema: {
          openAPIV3Schema: {
            description: k.description,
            type: 'object',
            required: ['spec'],
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec,
              status,
            },
          },
        },
      }],
    },
  };
}
