// The emulator's persistent state: SQLite (sql.js, SQLite compiled to WebAssembly: installs with
// plain `npm ci`, no compiler, no prebuilt binary download). One table per kind of CloudStack
// object: a public uuid, CloudStack's internal numeric id, and the object as JSON. The database
// is written to its file (temp + rename, so a crash leaves the previous state) after every
// command that changed something, before the answer goes out: a restart keeps templates, VMs and jobs.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Database } from 'sql.js';
import { EnvironmentError } from '../../common/index.js';

export const KINDS = ['zones', 'pods', 'clusters', 'hosts', 'pools', 'offerings', 'ostypes', 'accounts', 'users', 'templates', 'template_pools', 'vms', 'jobs', 'tags', 'secrets', 'images', 'settings'] as const;
export type Kind = (typeof KINDS)[number];

export interface Row<T> {
  id: string;
  seq: number;
  data: T;
}

export class StateDb {
  private dirty = false;

  private constructor(
    private readonly db: Database,
    readonly file: string | null,
  ) {}

  /** Opens (or creates) the database at `file`; null keeps it in memory only (tests). */
  static async open(file: string | null): Promise<StateDb> {
    // loaded on first use: the CLI imports every plane, and only the emulator needs SQLite
    const { default: initSqlJs } = await import('sql.js');
    const SQL = await initSqlJs();
    let db: Database;
    try {
      db = file && existsSync(file) ? new SQL.Database(readFileSync(file)) : new SQL.Database();
      db.exec('PRAGMA foreign_keys = ON');
      for (const kind of KINDS) db.exec(`CREATE TABLE IF NOT EXISTS ${kind} (id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, data TEXT NOT NULL)`);
    } catch (err) {
      throw new EnvironmentError(`cloudstack emulator: cannot open its database ${file}: ${(err as Error).message}`);
    }
    return new StateDb(db, file);
  }

  all<T>(kind: Kind): Row<T>[] {
    const stmt = this.db.prepare(`SELECT id, seq, data FROM ${kind} ORDER BY seq`);
    const rows: Row<T>[] = [];
    while (stmt.step()) {
      const r = stmt.get();
      rows.push({ id: String(r[0]), seq: Number(r[1]), data: JSON.parse(String(r[2])) as T });
    }
    stmt.free();
    return rows;
  }

  get<T>(kind: Kind, id: string): Row<T> | null {
    const stmt = this.db.prepare(`SELECT id, seq, data FROM ${kind} WHERE id = ?`);
    stmt.bind([id]);
    const row = stmt.step() ? stmt.get() : null;
    stmt.free();
    return row ? { id: String(row[0]), seq: Number(row[1]), data: JSON.parse(String(row[2])) as T } : null;
  }

  /** Inserts (the next internal id) or replaces the object; returns its internal id. */
  put<T>(kind: Kind, id: string, data: T): number {
    const existing = this.get(kind, id);
    const seq = existing?.seq ?? this.nextSeq(kind);
    this.db.run(`INSERT OR REPLACE INTO ${kind} (id, seq, data) VALUES (?, ?, ?)`, [id, seq, JSON.stringify(data)]);
    this.dirty = true;
    return seq;
  }

  delete(kind: Kind, id: string): void {
    this.db.run(`DELETE FROM ${kind} WHERE id = ?`, [id]);
    this.dirty = true;
  }

  count(kind: Kind): number {
    const r = this.db.exec(`SELECT COUNT(*) FROM ${kind}`);
    return Number(r[0]?.values[0]?.[0] ?? 0);
  }

  private nextSeq(kind: Kind): number {
    const r = this.db.exec(`SELECT COALESCE(MAX(seq), 0) + 1 FROM ${kind}`);
    return Number(r[0]!.values[0]![0]);
  }

  /** Writes the database to its file when something changed (temp file + rename). */
  flush(): void {
    if (!this.dirty || this.file === null) return;
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, this.db.export());
    renameSync(tmp, this.file);
    this.dirty = false;
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}
