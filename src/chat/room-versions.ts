import {
  BadRequestException,
  ConflictException,
  createParamDecorator,
  ExecutionContext,
  NotFoundException,
  PreconditionFailedException,
  UnauthorizedException,
} from '@nestjs/common';
import { ApiHeader, ApiPreconditionFailedResponse } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorResponseDto } from '../common/dto/error-response.dto';

/**
 * Room versions (contract: "Room versions and If-Match"). A room's `version` grows by one with
 * every change of its structure or settings, in the statement that makes the change; single-room
 * answers carry it as `ETag: "<version>"`, and every room write takes `If-Match`.
 */

/** Largest version a tag may name (PostgreSQL integer). */
const MAX_VERSION = 2 ** 31 - 1;
/** One entity-tag, RFC 9110 §8.8.3: optionally weak, then a quoted string of etagc. */
const ENTITY_TAG = /(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"/y;
/** What may come between list elements (RFC 9110 §5.6.1: empty elements are allowed). */
const SEPARATORS = /[ \t]*(?:,[ \t]*)*/y;

const malformed = () =>
  new BadRequestException('If-Match must be * or a list of entity tags, e.g. "7"');

/**
 * The versions an `If-Match` header names; null without the header or with `*` (any current
 * room). Comparison is strong (RFC 9110 §13.1.1): a weak tag, or one that is not a version of
 * ours, matches nothing, so a list of only those is `[]` (412). Anything that is not a list of
 * entity-tags is a 400.
 */
export function parseIfMatch(header: string | string[] | undefined): number[] | null {
  if (header === undefined) return null;
  const value = Array.isArray(header) ? header.join(', ') : header;
  if (value.trim() === '*') return null;
  const versions: number[] = [];
  let tags = 0;
  let at = 0;
  for (;;) {
    SEPARATORS.lastIndex = at;
    SEPARATORS.exec(value);
    at = SEPARATORS.lastIndex;
    if (at === value.length) break;
    // A tag must follow the start or a comma: `"7" "8"` is not a list.
    if (tags > 0 && !value.slice(0, at).trimEnd().endsWith(',')) throw malformed();
    ENTITY_TAG.lastIndex = at;
    const match = ENTITY_TAG.exec(value);
    if (!match) throw malformed();
    at = ENTITY_TAG.lastIndex;
    tags++;
    const [, weak, opaque] = match;
    if (!weak && /^(0|[1-9]\d{0,9})$/.test(opaque) && Number(opaque) <= MAX_VERSION) {
      versions.push(Number(opaque));
    }
  }
  if (tags === 0) throw malformed();
  return versions;
}

/** The `If-Match` of the request as parseIfMatch reads it. */
export const IfMatch = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): number[] | null =>
    parseIfMatch(ctx.switchToHttp().getRequest<FastifyRequest>().headers['if-match']),
);

/** Sets `ETag: "<version>"` on a single-room answer. */
export function sendVersion(reply: FastifyReply, version: number): void {
  void reply.header('etag', `"${version}"`);
}

/**
 * A tree-changing statement found that another change of the room committed while it waited
 * for the room's lock: its snapshot is stale, it changed nothing, and it is run again.
 */
export class RoomChangedMeanwhile extends Error {}

/** How often a write is run again after RoomChangedMeanwhile before answering 409. */
const ATTEMPTS = 10;

/** Runs `write`, again when the room changed meanwhile (see RoomChangedMeanwhile). */
export async function retryingRoomWrite<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!(error instanceof RoomChangedMeanwhile)) throw error;
      if (attempt >= ATTEMPTS) {
        throw new ConflictException('The chat room is changing too often; try again');
      }
    }
  }
}

/** What a room write that changed nothing found (one more statement, on that path only). */
export interface RoomWriteRefusal {
  live: boolean;
  /** The room's version; null: no such room of the caller. */
  version: number | null;
  /** Whether the message the write names (if any) is one of the room's. */
  messageFound: boolean;
}

/**
 * The answer to a room write that changed nothing, in the contract's order: 401 (session),
 * 404 (room), 412 (If-Match), then `missingMessage` when the message it names is not the
 * room's; otherwise the room changed meanwhile and the write is run again.
 */
export function refuseRoomWrite(
  refusal: RoomWriteRefusal,
  ifMatch: number[] | null,
  missingMessage: (() => Error) | null,
): never {
  if (!refusal.live) throw new UnauthorizedException('Unauthorized');
  if (refusal.version === null) throw new NotFoundException('Chat room not found');
  if (ifMatch !== null && !ifMatch.includes(refusal.version)) {
    throw new PreconditionFailedException(
      `The chat room has changed: it is at version ${refusal.version}, not one If-Match names`,
    );
  }
  if (missingMessage && !refusal.messageFound) throw missingMessage();
  throw new RoomChangedMeanwhile();
}

/** `ETag: "<version>"` on an answer that carries one room. */
export const ETAG = {
  ETag: {
    description: 'The room\'s version, `"<version>"`: send it back as If-Match',
    schema: { type: 'string', example: '"7"' },
  },
};

/** A room write's `If-Match` and its 412. */
export function RoomWrite(): MethodDecorator {
  return (target, key, descriptor) => {
    ApiHeader({
      name: 'If-Match',
      required: false,
      description:
        'The room\'s version as its ETag gave it (`"7"`), a list of them, or `*`. When the room is at another version the write changes nothing: 412. Without it the write applies whatever the version.',
      schema: { type: 'string', example: '"7"' },
    })(target, key, descriptor);
    ApiPreconditionFailedResponse({
      type: ErrorResponseDto,
      description: "If-Match names none of the room's current version: nothing changed",
    })(target, key, descriptor);
  };
}
