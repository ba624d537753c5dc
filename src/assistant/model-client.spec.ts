import { boundedBody, ResponseTooLarge } from './model-client';

/** The chunks `input` comes out as, or the error the bounded stream ends with. */
async function pass(
  input: string[],
  limits: { maxEventBytes: number; maxBodyBytes: number },
): Promise<string[] | Error> {
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of input) controller.enqueue(new TextEncoder().encode(chunk));
      controller.close();
    },
  });
  const out: string[] = [];
  try {
    for await (const chunk of source.pipeThrough(boundedBody(limits))) {
      out.push(new TextDecoder().decode(chunk));
    }
  } catch (error) {
    return error as Error;
  }
  return out;
}

describe('boundedBody', () => {
  // An event's bytes count its line ends (all but the byte that ends it).
  const limits = { maxEventBytes: 10, maxBodyBytes: 1000 };

  it('passes events under the bound, their ends (\\n\\n, \\r\\r, \\r\\n\\r\\n) split across chunks', async () => {
    const input = ['data: 1\n', '\ndata: 2\r', '\rdata: 3\r\n\r', '\ndata: 4\n\n'];
    expect(await pass(input, limits)).toEqual(input);
  });

  it('fails past the bound without an event’s end, single newlines included', async () => {
    expect(await pass(['data: 1234', '5'], limits)).toBeInstanceOf(ResponseTooLarge);
    expect(await pass(['data:\n', '1\n2\n3'], limits)).toBeInstanceOf(ResponseTooLarge);
    // \n\r\n is no event's end to the SDK.
    expect(await pass(['data:\n\r\n12345'], limits)).toBeInstanceOf(ResponseTooLarge);
  });

  it('fails past the body’s total bound', async () => {
    const events = Array.from({ length: 10 }, () => 'data: 1\n\n');
    expect(await pass(events, { maxEventBytes: 10, maxBodyBytes: 89 })).toBeInstanceOf(
      ResponseTooLarge,
    );
    expect(await pass(events, { maxEventBytes: 10, maxBodyBytes: 90 })).toEqual(events);
  });
});
