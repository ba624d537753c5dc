import { STATUS_CODES } from 'node:http';
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { QueryFailedError } from 'typeorm';
import { excerpt } from '../excerpt';
import { InjectLogger } from '../logging.module';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string | string[];
}

// PostgreSQL SQLSTATE codes a client's input can cause; https://www.postgresql.org/docs/current/errcodes-appendix.html
const CLIENT_SQLSTATES: Record<string, HttpStatus> = {
  '23505': HttpStatus.CONFLICT, // unique_violation
  '22P02': HttpStatus.BAD_REQUEST, // invalid_text_representation (e.g. a malformed uuid)
  '22021': HttpStatus.BAD_REQUEST, // character_not_in_repertoire (NUL bytes)
  '22001': HttpStatus.BAD_REQUEST, // string_data_right_truncation
  '22003': HttpStatus.BAD_REQUEST, // numeric_value_out_of_range
  '22007': HttpStatus.BAD_REQUEST, // invalid_datetime_format
  '22008': HttpStatus.BAD_REQUEST, // datetime_field_overflow
  '23502': HttpStatus.BAD_REQUEST, // not_null_violation
  '23514': HttpStatus.BAD_REQUEST, // check_violation
};

// The database is down, overloaded or restarting, or rolled the statement back to end a
// deadlock or a serialization failure (class 40): the client may retry later.
const UNAVAILABLE_SQLSTATES = /^(08|40|53|57)/;
const UNAVAILABLE_ERRORS =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|Connection terminated|timeout exceeded|Query read timeout|not queryable|terminating connection|the database system is/i;

/** Longest message string and most message strings an error body carries. */
const MAX_MESSAGE_LENGTH = 120;
const MAX_MESSAGES = 20;

/**
 * Messages can quote what the client sent (Nest's "Cannot GET <path>", Fastify's errors):
 * never more than a short, cut excerpt of it.
 */
function bounded(message: string | string[]): string | string[] {
  if (Array.isArray(message))
    return message.slice(0, MAX_MESSAGES).map((m) => excerpt(m, MAX_MESSAGE_LENGTH));
  return excerpt(message, MAX_MESSAGE_LENGTH);
}

export function errorBody(status: number, message: string | string[]): ErrorBody {
  return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: bounded(message) };
}

function fromHttpException(exception: HttpException): ErrorBody {
  const status = exception.getStatus();
  const response = exception.getResponse();
  let message: unknown = typeof response === 'string' ? response : undefined;
  if (typeof response === 'object' && response !== null && 'message' in response) {
    message = response.message;
  }
  // Nest's answer to an unknown route quotes its whole path.
  const unknownRoute = typeof message === 'string' && /^Cannot ([A-Z]+) (.*)$/s.exec(message);
  if (status === 404 && unknownRoute) {
    return errorBody(status, `Cannot ${unknownRoute[1]} ${excerpt(unknownRoute[2])}`);
  }
  const valid =
    typeof message === 'string' ||
    (Array.isArray(message) && message.every((m) => typeof m === 'string'));
  return errorBody(
    status,
    valid ? (message as string | string[]) : (STATUS_CODES[status] ?? 'Error'),
  );
}

/** The SQLSTATE of a PostgreSQL error, whether TypeORM wrapped it or node-postgres threw it. */
function sqlState(exception: unknown): string | undefined {
  const error =
    exception instanceof QueryFailedError
      ? (exception.driverError as unknown)
      : (exception as { severity?: unknown } | null)?.severity !== undefined
        ? exception
        : undefined;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Maps any thrown value to the contract's error body; never leaks SQL, stacks or driver text. */
export function toErrorBody(exception: unknown): ErrorBody {
  if (exception instanceof HttpException) return fromHttpException(exception);

  const state = sqlState(exception);
  if (state && CLIENT_SQLSTATES[state]) {
    const status = CLIENT_SQLSTATES[state];
    return errorBody(status, status === HttpStatus.CONFLICT ? 'Conflict' : 'Invalid input');
  }
  // Duck-typed, not `instanceof Error`: socket errors can come from another realm.
  const { message, code } = (exception ?? {}) as { message?: unknown; code?: unknown };
  const text = `${typeof message === 'string' ? message : ''} ${typeof code === 'string' ? code : ''}`;
  if ((state && UNAVAILABLE_SQLSTATES.test(state)) || UNAVAILABLE_ERRORS.test(text)) {
    return errorBody(HttpStatus.SERVICE_UNAVAILABLE, 'Service temporarily unavailable');
  }
  // Fastify's own errors (malformed JSON, unsupported media type, oversized body) carry a 4xx.
  const statusCode = (exception as { statusCode?: unknown } | null)?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    const reason = typeof message === 'string' ? message.replace(/^FST_\w+:\s*/, '') : '';
    return errorBody(statusCode, reason || (STATUS_CODES[statusCode] ?? 'Error'));
  }
  return errorBody(HttpStatus.INTERNAL_SERVER_ERROR, 'Internal server error');
}

@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  constructor(@InjectLogger() private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();
    const body = toErrorBody(exception);

    if (body.statusCode >= 500) {
      // Name and code only: messages of driver errors can quote SQL or parameters.
      const err = exception as { name?: unknown; code?: unknown };
      this.logger.error(
        {
          context: AllExceptionsFilter.name,
          reqId: request.id,
          errType: err?.name,
          errCode: sqlState(exception) ?? err?.code,
          status: body.statusCode,
        },
        `${request.method} ${request.routeOptions?.url ?? 'unmatched route'} failed`,
      );
    }
    if (body.statusCode === 503) void reply.header('retry-after', '5');
    // A limit that knows when it frees up says so (429s of per-user caps).
    const retryAfter = (exception as { retryAfterSeconds?: unknown } | null)?.retryAfterSeconds;
    if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
    void reply.status(body.statusCode).send(body);
  }
}
