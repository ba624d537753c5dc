/**
 * Memory and CPU of a server process, from Linux /proc.
 *
 * Peak RSS per scenario: the kernel's high-water mark (VmHWM) is reset to the current RSS before
 * the measured run (`echo 5 > /proc/<pid>/clear_refs`) and read after it, so short spikes between
 * samples are not missed. VmRSS is also sampled every 100 ms as a fallback for kernels that refuse
 * the reset. The overall peak is tracked by the harness across all phases.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export class ProcessProbe {
  private timer: NodeJS.Timeout | undefined;
  private sampledPeakKb = 0;
  private hwmResettable = true;
  /** Highest RSS seen over the probe's lifetime (KiB). */
  overallPeakKb = 0;

  constructor(readonly pid: number) {}

  static supported(): boolean {
    try {
      readFileSync('/proc/self/status');
      return true;
    } catch {
      return false;
    }
  }

  /** Current RSS and high-water mark in KiB (0 when unavailable). */
  memory(): { rssKb: number; hwmKb: number } {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const field = (name: string) =>
        Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
      const memory = { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
      this.overallPeakKb = Math.max(this.overallPeakKb, memory.hwmKb, memory.rssKb);
      return memory;
    } catch {
      return { rssKb: 0, hwmKb: 0 };
    }
  }

  /** User + system CPU seconds consumed so far. */
  cpuSeconds(): number {
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      // Fields after the parenthesised command name (which may contain spaces).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
    } catch {
      return 0;
    }
  }

  /** Starts a measurement window: resets the high-water mark and starts sampling. */
  beginWindow(): void {
    this.memory(); // fold the pre-reset peak into overallPeakKb
    if (this.hwmResettable) {
      try {
        writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      } catch {
        this.hwmResettable = false;
      }
    }
    this.sampledPeakKb = this.memory().rssKb;
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      this.sampledPeakKb = Math.max(this.sampledPeakKb, this.memory().rssKb);
    }, 100);
    this.timer.unref();
  }

  /** Ends the window; returns its peak RSS in KiB. */
  endWindow(): number {
    clearInterval(this.timer);
    this.timer = undefined;
    const { rssKb, hwmKb } = this.memory();
    return Math.max(this.sampledPeakKb, rssKb, this.hwmResettable ? hwmKb : 0);
  }
}
