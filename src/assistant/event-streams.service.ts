import { Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { TokenCaller } from '../auth/auth-user';
import { EventStreamSlots } from './event-stream-slots';
import { GenerationFollower } from './generation-follower';
import { SseStream } from './sse-stream';

/**
 * Answers a request with a generation's event stream: a slot under the caps on open streams
 * (or their 429), then the `text/event-stream` on the reply (SseStream), fed by
 * GenerationFollower until `done`. The slot is released when the stream closes, however it
 * closes; at shutdown the stream is ended (its client resumes on another instance).
 */
@Injectable()
export class EventStreamsService {
  constructor(
    private readonly slots: EventStreamSlots,
    private readonly follower: GenerationFollower,
  ) {}

  /**
   * Streams the caller's generation that `generation` resolves to, from the event after
   * `after`. `generation` runs once the slot is taken: when it starts one, nothing is started
   * past a cap. The reply is answered whatever happens, or this throws before anything is sent.
   */
  async open(
    caller: TokenCaller,
    reply: FastifyReply,
    generation: () => Promise<string>,
    after = 0,
  ): Promise<void> {
    const release = await this.slots.open(caller);
    let sse: SseStream;
    let id: string;
    try {
      id = await generation();
      sse = new SseStream(reply, this.slots.limits);
    } catch (error) {
      release();
      throw error;
    }
    let stop = () => {};
    const untrack = this.slots.track(() => sse.end(true));
    sse.onClose(() => {
      stop();
      untrack();
      release();
    });
    stop = this.follower.follow(caller.id, id, after, {
      replay: (events) => sse.replay(events),
      next: (event) => {
        if (event) sse.send(event);
        if (!event || event.event === 'done') sse.end();
      },
      idle: () => sse.idle(),
    });
    if (sse.closed) stop();
  }
}
