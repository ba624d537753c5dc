import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** The media types an upload may have: JSON, and a ZIP as browsers name it. */
export const UPLOAD_MEDIA_TYPES = [
  'application/json',
  'application/zip',
  'application/x-zip-compressed',
];

/** Route config (`@RouteConfig(STREAMED_BODY)`): the body reaches the handler as a stream. */
export const STREAMED_BODY = { streamedBody: true };

// A media type no client sends: requests of a streamed route are renamed to it, so that only
// this parser sees them (Fastify picks parsers by media type alone, for every route).
const STREAMED_TYPE = 'application/x.chat-backend.upload';
const ORIGINAL_TYPE = Symbol('uploadMediaType');

type UploadRequest = FastifyRequest & { [ORIGINAL_TYPE]?: string };

/**
 * Lets routes configured with STREAMED_BODY take their body as the raw stream, in the media
 * types of UPLOAD_MEDIA_TYPES, without the JSON parser holding it (a 256 MiB file) in memory
 * and without the bodyLimit of the API's small bodies: the route bounds the size itself.
 */
export function streamUploads(fastify: FastifyInstance): void {
  fastify.addContentTypeParser(STREAMED_TYPE, (_request, payload, done) => done(null, payload));
  fastify.addHook('onRequest', (request: UploadRequest, _reply, done) => {
    const config = request.routeOptions.config as { streamedBody?: boolean } | undefined;
    if (config?.streamedBody) {
      const type = mediaType(request.headers['content-type']);
      if (type !== null && UPLOAD_MEDIA_TYPES.includes(type)) {
        request[ORIGINAL_TYPE] = type;
        request.headers['content-type'] = STREAMED_TYPE;
      }
    }
    done();
  });
}

/** The upload's media type and body stream; null: another type, or no body (415). */
export function uploadOf(request: FastifyRequest): { type: string; body: Readable } | null {
  const type = (request as UploadRequest)[ORIGINAL_TYPE];
  const body = request.body as Readable | undefined;
  return type !== undefined && body !== undefined && typeof body.pipe === 'function'
    ? { type, body }
    : null;
}

function mediaType(header: string | undefined): string | null {
  if (header === undefined) return null;
  const type = header.split(';', 1)[0].trim().toLowerCase();
  return type === '' ? null : type;
}
