import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The conversations of test/fixtures/chatgpt, written from the structure of ChatGPT's data
 * export (one element of conversations.json each), in the order a test file lists them.
 */
export const CHATGPT_FIXTURES = [
  'plain',
  'hidden-system-root',
  'regenerate',
  'edit',
  'multimodal-image',
  'code-tool-reply',
  'missing-metadata',
  'korean-emoji',
  'dangling-parent',
  'over-long',
  'no-mapping',
  'empty-assistant',
] as const;
export type ChatGptFixture = (typeof CHATGPT_FIXTURES)[number];

const DIR = join(__dirname, '..', 'fixtures', 'chatgpt');

/** The fixture's conversation, parsed afresh (tests may change it); untyped, as JSON is. */
export function chatGptFixture(name: ChatGptFixture) {
  return JSON.parse(chatGptFixtureText(name));
}

/** The fixture's JSON text as written. */
export function chatGptFixtureText(name: ChatGptFixture): string {
  return readFileSync(join(DIR, `${name}.json`), 'utf8');
}

/** A conversations.json holding `names`, in that order. */
export function conversationsJson(names: readonly ChatGptFixture[] = CHATGPT_FIXTURES): string {
  return `[${names.map((name) => chatGptFixtureText(name).trim()).join(',\n')}]\n`;
}
