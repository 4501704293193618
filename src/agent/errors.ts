// The agent API's one error catalogue: every error answer carries a code from this table, with its
// HTTP status, as `{"error": {code, field?, message}}` (ErrorBody in src/contracts/agent-api.ts).
// Clients branch on the code; the message says what to fix.
import type { FastifyReply } from 'fastify';
import type { ErrorBody } from '../contracts/agent-api.js';

export const API_ERRORS = {
  Unauthorized: { status: 401, message: 'missing or wrong bearer token: send "Authorization: Bearer <the agent token>"' },
  NotFound: { status: 404, message: 'no such route' },
  AdapterNotFound: { status: 404, message: 'no such adapter' },
  InvalidName: { status: 400, message: 'invalid adapter name' },
  InvalidBody: { status: 400, message: 'invalid request body' },
  BadRequest: { status: 400, message: 'malformed request' },
  SourceNotAllowed: { status: 403, message: 'the source is outside the allowed sources' },
  BodyTooLarge: { status: 413, message: 'the request body is too large' },
  UnsupportedMediaType: { status: 415, message: 'the body must be application/json' },
  Internal: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;
export const API_ERROR_CODES = Object.keys(API_ERRORS) as ApiErrorCode[];

export function errorBody(code: ApiErrorCode, message?: string, field?: string): ErrorBody {
  return { error: { code, ...(field ? { field } : {}), message: message ?? API_ERRORS[code].message } };
}

export function sendError(reply: FastifyReply, code: ApiErrorCode, message?: string, field?: string): FastifyReply {
  if (code === 'Unauthorized') void reply.header('www-authenticate', 'Bearer');
  return reply.code(API_ERRORS[code].status).send(errorBody(code, message, field));
}

// fastify's own errors (body parsing, limits) in the catalogue's terms. Only 4xx messages are
// passed on; anything else is Internal and its details stay in the log.
export function fromFrameworkError(e: { code?: string; name?: string; statusCode?: number; message: string }): { code: ApiErrorCode; message?: string } {
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return { code: 'BodyTooLarge', message: e.message };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return { code: 'UnsupportedMediaType' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY': return { code: 'InvalidBody', message: e.message };
    default: break;
  }
  if (e.statusCode === 413) return { code: 'BodyTooLarge', message: e.message };
  if (e.statusCode === 415) return { code: 'UnsupportedMediaType' };
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return { code: e.statusCode === 400 && e.name === 'SyntaxError' ? 'InvalidBody' : 'BadRequest', message: e.message };
  return { code: 'Internal' };
}
