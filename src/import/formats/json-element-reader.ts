import { Transform, type TransformCallback } from 'node:stream';
import { type ImportLimits, formatBytes } from './import-limits';
import { ImportReadError } from './import-read-error';
import { cutText } from './mapped-conversation';

/** What a JSON document holds at its top: ChatGPT's list of conversations, or our export. */
export type JsonRoot = 'chatgpt' | 'chat-backend.export';

export type JsonElementEvent =
  /** First, once the top of the document is known good (our export: format and version read). */
  | { kind: 'start'; root: JsonRoot }
  /** A conversation (or room) value, assembled. */
  | { kind: 'element'; value: unknown }
  /** A conversation that was not assembled (too large), with what could be read of its name. */
  | { kind: 'skipped'; reason: string; sourceId: string | null; title: string | null }
  /**
   * The document cannot be read further (an ImportReadError, or the error of the bytes'
   * stream): an event after the elements read before it, so that none of them is lost.
   */
  | { kind: 'error'; error: unknown };

/**
 * A token of stream-json's Parser with `packValues: false` (strings and numbers come in
 * chunks), or `error`: what stopped the tokens, written after the last of them.
 */
export interface Token {
  name: string;
  value?: string;
  error?: unknown;
}

const EXPORT_FORMAT = 'chat-backend.export';
const EXPORT_VERSION = 1;
// Most characters of a header field, or of a name kept for a skipped conversation's report.
const SHORT_TEXT = 256;
// The members of a conversation that name it in the report when it is skipped.
const NAMING_KEYS = new Set(['conversation_id', 'id', 'title']);

interface Scalar {
  kind: 'key' | 'string' | 'number';
  chunks: string[];
  length: number;
  /** Most characters kept: the rest is counted, never held. */
  keep: number;
}

interface Element {
  /** Assembles the value; null once the value is known not to be kept (too large). */
  builder: ValueBuilder | null;
  bytes: number;
  failure: string | null;
  /** The key of the member being read at the element's top level. */
  member: string | null;
  names: Map<string, string>;
}

/**
 * Reads the tokens of stream-json's Parser (`packValues: false`, so that no string, key or
 * number is ever held whole by the parser) and emits the elements of the document's list of
 * conversations one at a time: ChatGPT's top-level array, or the `rooms` of our export
 * document after its `format` (which must come first) and `version`. It keeps at most one
 * element (and one waiting to be read: readableHighWaterMark 1) and refuses, as it goes:
 * nesting deeper than `maxDepth` (the import stops: the parser itself would hold every level),
 * an element larger than `maxConversationBytes` (skipped, the others go on).
 *
 * Written instead of StreamArray + Pick: those hold every element whole, however large, and
 * Pick drops the header this reader must check first.
 */
export class JsonElementReader extends Transform {
  private depth = 0;
  private root: JsonRoot | null = null;
  private done = false;
  private failed = false;
  // our export document's header
  private topKey: string | null = null;
  private keysSeen = 0;
  private formatOk = false;
  private versionOk = false;
  private roomsSeen = false;
  private capture: 'format' | 'version' | null = null;
  /** The depth at which the elements are (1: ChatGPT's array; 2: `rooms`), -1 outside it. */
  private elementsDepth = -1;
  private element: Element | null = null;
  private scalar: Scalar | null = null;

  /**
   * @param accept 'any' for an uploaded JSON file (array or our export), 'chatgpt' for a ZIP's
   *   conversations.json (an array only)
   * @param label how messages name the document ("The file", "conversations-001.json")
   */
  constructor(
    private readonly accept: 'any' | 'chatgpt',
    private readonly limits: Pick<ImportLimits, 'maxConversationBytes' | 'maxDepth'>,
    private readonly label: string,
  ) {
    super({ writableObjectMode: true, readableObjectMode: true, readableHighWaterMark: 1 });
  }

  override _transform(token: Token, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (token.name === 'error') {
      this.fail(token.error);
    } else if (!this.failed) {
      try {
        this.onToken(token);
      } catch (error) {
        this.fail(error);
      }
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (!this.done) this.fail(new ImportReadError('malformed', `${this.label} is cut short.`));
    callback();
  }

  /**
   * Ends the document with an error event, after the elements already read (destroying the
   * stream would drop them), and reads no further token; 'failed' tells the owner of the
   * parser to stop it.
   */
  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.push({ kind: 'error', error } satisfies JsonElementEvent);
    this.emit('failed');
  }

  private onToken(token: Token): void {
    switch (token.name) {
      case 'startObject':
      case 'startArray':
        return this.openContainer(token.name === 'startArray');
      case 'endObject':
      case 'endArray':
        return this.closeContainer();
      case 'startKey':
        return this.startScalar('key');
      case 'startString':
        this.valueStarts('scalar');
        return this.startScalar('string');
      case 'startNumber':
        this.valueStarts('scalar');
        return this.startScalar('number');
      case 'stringChunk':
      case 'numberChunk':
        return this.chunk(token.value ?? '');
      case 'endKey':
        return this.endKey();
      case 'endString':
      case 'endNumber':
        return this.endScalar();
      case 'nullValue':
      case 'trueValue':
      case 'falseValue':
        this.valueStarts('scalar');
        return this.scalarValue(
          token.name === 'nullValue' ? null : token.name === 'trueValue',
          token.name.slice(0, -5),
        );
    }
  }

  private openContainer(isArray: boolean): void {
    this.valueStarts(isArray ? 'array' : 'object');
    this.depth += 1;
    if (this.depth > this.limits.maxDepth) {
      throw new ImportReadError(
        'too_deep',
        `${this.label} nests lists and objects more than ${this.limits.maxDepth} deep.`,
      );
    }
    if (this.element) {
      this.count(1);
      this.element.builder?.open(isArray);
    }
  }

  private closeContainer(): void {
    if (this.element) {
      this.count(1);
      this.element.builder?.close();
    }
    this.depth -= 1;
    if (this.depth < this.elementsDepth) this.elementsDepth = -1;
    this.valueEnded();
  }

  /** Where a value (a container, or a scalar) begins at the current depth. */
  private valueStarts(kind: 'object' | 'array' | 'scalar'): void {
    if (this.element) return;
    if (this.depth === 0) return this.documentStarts(kind);
    if (this.depth === this.elementsDepth) {
      this.element = {
        builder: new ValueBuilder(),
        bytes: 0,
        failure: null,
        member: null,
        names: new Map(),
      };
      return;
    }
    if (this.root !== EXPORT_FORMAT || this.depth !== 1) return; // inside a member we skip
    switch (this.topKey) {
      case 'format':
        if (kind !== 'scalar') throw this.notOurExport();
        this.capture = 'format';
        return;
      case 'version':
        if (kind !== 'scalar') throw this.notOurExport();
        this.capture = 'version';
        return;
      case 'rooms':
        if (!this.formatOk || !this.versionOk) {
          throw new ImportReadError(
            'unknown_format',
            `${this.label} is not an export document we read: its \`version\` must come before its \`rooms\`.`,
          );
        }
        if (kind !== 'array') {
          throw new ImportReadError(
            'unexpected_shape',
            `The \`rooms\` of ${this.label} is not a list.`,
          );
        }
        this.roomsSeen = true;
        this.elementsDepth = 2;
        return;
    }
  }

  private documentStarts(kind: 'object' | 'array' | 'scalar'): void {
    if (kind === 'array') {
      this.root = 'chatgpt';
      this.elementsDepth = 1;
      this.push({ kind: 'start', root: 'chatgpt' } satisfies JsonElementEvent);
    } else if (kind === 'object' && this.accept === 'any') {
      this.root = EXPORT_FORMAT;
    } else if (this.accept === 'chatgpt') {
      throw new ImportReadError(
        'unexpected_shape',
        `${this.label} does not hold a list of conversations.`,
      );
    } else {
      throw new ImportReadError('unknown_format', `${this.label} is not a format we read.`);
    }
  }

  /** After a value ended; the depth is back where it began. */
  private valueEnded(): void {
    if (this.element && this.depth === this.elementsDepth) {
      const element = this.element;
      this.element = null;
      const event: JsonElementEvent = element.builder
        ? { kind: 'element', value: element.builder.result }
        : {
            kind: 'skipped',
            reason: element.failure ?? 'The conversation could not be read.',
            sourceId: element.names.get('conversation_id') ?? element.names.get('id') ?? null,
            title: element.names.get('title') ?? null,
          };
      this.push(event);
      return;
    }
    if (this.depth !== 0) return;
    this.done = true;
    if (this.root === EXPORT_FORMAT) {
      if (!this.formatOk || !this.versionOk) throw this.notOurExport();
      if (!this.roomsSeen) {
        throw new ImportReadError('unexpected_shape', `${this.label} has no \`rooms\`.`);
      }
    }
  }

  private startScalar(kind: Scalar['kind']): void {
    let keep = 0;
    if (this.element) {
      keep = this.element.builder ? Infinity : this.names(kind) ? SHORT_TEXT : 0;
      if (kind === 'key') this.count(2);
    } else if (this.capture !== null || (kind === 'key' && this.depth === 1)) {
      keep = SHORT_TEXT;
    }
    this.scalar = { kind, chunks: [], length: 0, keep };
  }

  /**
   * Whether a scalar of this kind, here, can name the element in the report: the keys of its
   * top level, and the string values of conversation_id, id and title there.
   */
  private names(kind: Scalar['kind']): boolean {
    if (this.depth !== this.elementsDepth + 1) return false;
    return kind === 'key' || (kind === 'string' && NAMING_KEYS.has(this.element!.member ?? ''));
  }

  private chunk(text: string): void {
    const scalar = this.scalar!;
    if (this.element) this.count(Buffer.byteLength(text));
    if (scalar.length < scalar.keep) {
      scalar.chunks.push(text);
      scalar.length += text.length;
    }
  }

  private endKey(): void {
    const key = this.scalar!.chunks.join('');
    this.scalar = null;
    if (this.element) {
      this.element.builder?.key(key);
      if (this.depth === this.elementsDepth + 1) this.element.member = key;
      return;
    }
    if (this.root === EXPORT_FORMAT && this.depth === 1) {
      this.topKey = key;
      this.keysSeen += 1;
      // Our export writes `format` first: a file is known to be one from its first bytes.
      if (this.keysSeen === 1 && key !== 'format') throw this.notOurExport();
    }
  }

  private endScalar(): void {
    const scalar = this.scalar!;
    this.scalar = null;
    const text = scalar.chunks.join('');
    this.scalarValue(scalar.kind === 'number' ? Number(text) : text, scalar.kind, text);
  }

  private scalarValue(value: unknown, kind: string, text = ''): void {
    if (this.element) {
      this.count(kind === 'string' ? 2 : kind === 'number' ? 0 : kind.length);
      this.element.builder?.value(value);
      if (kind === 'string' && this.names('string')) {
        this.element.names.set(this.element.member!, cutText(text, 200).text);
      }
    } else if (this.capture === 'format') {
      this.capture = null;
      if (value !== EXPORT_FORMAT) throw this.notOurExport();
      this.formatOk = true;
    } else if (this.capture === 'version') {
      this.capture = null;
      if (value !== EXPORT_VERSION || !this.formatOk) {
        throw new ImportReadError(
          'unknown_format',
          `${this.label} is an export document of a version we do not read (we read version ${EXPORT_VERSION}).`,
        );
      }
      if (!this.versionOk)
        this.push({ kind: 'start', root: EXPORT_FORMAT } satisfies JsonElementEvent);
      this.versionOk = true;
    }
    this.valueEnded();
  }

  /** Counts bytes of the element being read; past the bound it stops assembling it. */
  private count(bytes: number): void {
    const element = this.element!;
    element.bytes += bytes;
    if (element.builder && element.bytes > this.limits.maxConversationBytes) {
      element.builder = null;
      element.failure = `The conversation is larger than ${formatBytes(this.limits.maxConversationBytes)} of JSON.`;
      if (this.scalar) {
        this.scalar.keep = this.names(this.scalar.kind) ? SHORT_TEXT : 0;
        if (this.scalar.keep === 0) this.scalar.chunks = [];
      }
    }
  }

  private notOurExport(): ImportReadError {
    return new ImportReadError(
      'unknown_format',
      `${this.label} is not a format we read: an export document starts with \`"format": "${EXPORT_FORMAT}"\`.`,
    );
  }
}

/** Builds one JSON value from its tokens; `__proto__` keys become plain own properties. */
class ValueBuilder {
  result: unknown = undefined;
  private readonly stack: (Record<string, unknown> | unknown[])[] = [];
  private pendingKey: string | null = null;

  open(isArray: boolean): void {
    const container = isArray ? [] : {};
    this.value(container);
    this.stack.push(container);
  }

  close(): void {
    this.stack.pop();
  }

  key(key: string): void {
    this.pendingKey = key;
  }

  value(value: unknown): void {
    const top = this.stack.at(-1);
    if (top === undefined) {
      this.result = value;
    } else if (Array.isArray(top)) {
      top.push(value);
    } else {
      const key = this.pendingKey!;
      this.pendingKey = null;
      if (key === '__proto__') {
        Object.defineProperty(top, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        top[key] = value;
      }
    }
  }
}
