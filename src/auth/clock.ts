import { Injectable } from '@nestjs/common';

/**
 * The time sessions are judged by (expiry, the refresh grace window). Injectable so that tests
 * can move it forward instead of waiting days or seconds.
 */
@Injectable()
export class Clock {
  now(): number {
    return Date.now();
  }
}
