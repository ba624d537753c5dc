/** One kept message of a generated conversation, as the room must hold it. */
export interface GeneratedMessage {
  /** Its key in `mapping`. */
  nodeId: string;
  role: 'user' | 'assistant';
  /** Unique in the whole file: the test finds a message (and its parent) by its text. */
  content: string;
  /** The content of the kept message it follows; null for the first one. */
  parentContent: string | null;
}

export interface GeneratedConversation {
  /** Its `conversation_id` (and `id`): distinct in the file, and across `seed`s. */
  id: string;
  title: string;
  /** The kept messages (the user's and the assistant's), in file order. */
  messages: GeneratedMessage[];
  /** The content of the message `current_node` names (the room's active message). */
  activeContent: string;
}

export interface GeneratedFile {
  /** ChatGPT's conversations.json. */
  json: string;
  conversations: GeneratedConversation[];
}

// Some text, so that a message weighs about what a short real one does.
const FILLER =
  'The quick brown fox jumps over the lazy dog while the baker checks the sourdough starter. ' +
  '서울의 날씨는 맑고, 커피는 따뜻합니다. ';

/**
 * A conversations.json of `count` conversations, built from its arguments only (the same call
 * gives the same file), in the structure of ChatGPT's data export: a message-less root, a
 * hidden system message (left out on import), then `turns` user/assistant turns with two
 * branches — a regenerated answer at turn 2 and an edited question (with its own answer) at
 * turn 5. Each conversation keeps 2 × turns + 3 messages; `current_node` is the last answer of
 * the main line, or for every fourth conversation the edited branch's answer.
 */
export function generateChatGptConversations(
  count: number,
  { seed = 0, turns = 9 }: { seed?: number; turns?: number } = {},
): GeneratedFile {
  if (turns < 6) throw new RangeError('turns must be at least 6 (the branches sit at 2 and 5)');
  const seedHex = seed.toString(16).padStart(4, '0');
  const conversations: GeneratedConversation[] = [];
  const elements: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `6a1b2c3d-${seedHex}-4000-8000-${i.toString(16).padStart(12, '0')}`;
    const title = `Generated ${seed}/${i}`;
    const start = 1_717_000_000 + i * 1000;
    const mapping: Record<string, unknown> = {};
    const kept: GeneratedMessage[] = [];
    const contentOf = new Map<string, string>();
    let time = start;

    const addNode = (
      nodeId: string,
      parentId: string | null,
      message: Record<string, unknown> | null,
    ) => {
      mapping[nodeId] = { id: nodeId, message, parent: parentId, children: [] };
      if (parentId !== null) {
        (mapping[parentId] as { children: string[] }).children.push(nodeId);
      }
    };
    const addMessage = (nodeId: string, parentId: string, role: 'user' | 'assistant') => {
      const content = `[${seed}/${i}/${nodeId.slice(id.length + 1)}] ${role} says: ${FILLER}`;
      time += 1.25;
      addNode(nodeId, parentId, {
        id: nodeId,
        author: { role, name: null, metadata: {} },
        create_time: time,
        content: { content_type: 'text', parts: [content] },
        status: 'finished_successfully',
        metadata: role === 'assistant' ? { model_slug: 'gpt-4o' } : {},
        recipient: 'all',
      });
      contentOf.set(nodeId, content);
      kept.push({
        nodeId,
        role,
        content,
        parentContent: contentOf.get(parentId) ?? null,
      });
    };

    const root = `${id}-root`;
    const system = `${id}-system`;
    addNode(root, null, null);
    addNode(system, root, {
      id: system,
      author: { role: 'system', name: null, metadata: {} },
      create_time: null,
      content: { content_type: 'text', parts: [''] },
      status: 'finished_successfully',
      metadata: { is_visually_hidden_from_conversation: true },
      recipient: 'all',
    });
    let parent = system;
    let edited = '';
    for (let turn = 0; turn < turns; turn++) {
      const user = `${id}-u${turn}`;
      const answer = `${id}-a${turn}`;
      addMessage(user, parent, 'user');
      addMessage(answer, user, 'assistant');
      if (turn === 2) addMessage(`${id}-a${turn}-regenerated`, user, 'assistant');
      if (turn === 5) {
        addMessage(`${id}-u${turn}-edited`, parent, 'user');
        edited = `${id}-a${turn}-edited`;
        addMessage(edited, `${id}-u${turn}-edited`, 'assistant');
      }
      parent = answer;
    }
    const current = i % 4 === 1 ? edited : parent;
    elements.push(
      JSON.stringify({
        title,
        create_time: start,
        update_time: time,
        mapping,
        moderation_results: [],
        current_node: current,
        conversation_id: id,
        id,
        default_model_slug: 'gpt-4o',
        is_archived: false,
      }),
    );
    conversations.push({ id, title, messages: kept, activeContent: contentOf.get(current)! });
  }
  return { json: `[${elements.join(',\n')}]\n`, conversations };
}
