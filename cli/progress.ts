// A progress bar on a TTY, shown only once a run has taken longer than a second.
import cliProgress from 'cli-progress';

export class ProgressReporter {
  private bar: cliProgress.SingleBar | null = null;
  private label = '';
  private readonly startedAt = performance.now();

  constructor(private readonly enabled: boolean) {}

  update(label: string, done: number, total: number): void {
    if (!this.enabled) return;
    if (!this.bar) {
      if (performance.now() - this.startedAt < 1000) return;
      this.bar = new cliProgress.SingleBar({ format: '{label} [{bar}] {value}/{total} nodes | {eta_formatted} left', hideCursor: true, clearOnComplete: true, etaBuffer: 200 }, cliProgress.Presets.shades_classic);
      this.bar.start(total, done, { label });
      this.label = label;
    }
    if (label !== this.label) {
      this.label = label;
      this.bar.setTotal(total);
    }
    this.bar.update(done, { label });
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
