// Watches a VM's console output for its boot marker, keeping a short tail for error messages.

const TAIL_CHARS = 4000;

export class ConsoleWatch {
  private tailText = '';
  private seen = false;
  private readonly waiters: (() => void)[] = [];
  private readonly pattern: RegExp;

  constructor(readonly marker: string) {
    // the marker must end its line, so "app@1" is not taken for "app@10"
    this.pattern = new RegExp(`${marker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\r?\\n`);
  }

  feed(chunk: Buffer | string): void {
    this.tailText = (this.tailText + chunk.toString()).slice(-TAIL_CHARS);
    if (!this.seen && this.pattern.test(this.tailText)) {
      this.seen = true;
      for (const w of this.waiters.splice(0)) w();
    }
  }

  get markerSeen(): boolean {
    return this.seen;
  }

  onMarker(cb: () => void): void {
    if (this.seen) cb();
    else this.waiters.push(cb);
  }

  /** the last console lines, for error details */
  tail(lines = 15): string[] {
    return this.tailText
      .split(/\r?\n/)
      .filter((l) => l.trim() !== '')
      .slice(-lines);
  }
}
