/**
 * The results store: an embedded SQLite database (`results.db`) in the output folder, written one
 * cell per transaction, and a long-format export (`results.jsonl`): each finished cell's rows are
 * appended to it (appendJsonl), and a run rewrites it whole, atomically, when it starts and when it
 * ends (exportJsonl). A cell present in the store is finished and is never recomputed.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '../errors.ts';
import type { MetricDetails, ModelRole } from '../plugin/types.ts';
import { appendFileChecked, writeFileAtomic } from './files.ts';

/** Identity of one cell (one model of one seed × attack, and unlearner × budget). */
export interface CellIdentity {
  readonly key: string;
  readonly groupKey: string;
  readonly seed: number;
  readonly attack: string;
  readonly unlearner: string;
  readonly budget: number | null;
  readonly role: ModelRole;
  /**
   * Hash (sha256 hex) of what defines the experiment's setup apart from the seed, the unlearners,
   * the budgets and the metrics: dataset, model, training recipe, backend and attack. Records of one
   * setup are comparable across seeds; records of different setups must not be pooled.
   */
  readonly setup: string;
  /**
   * The versions of the plugins that produce this cell (canonical JSON `{ package: version }`). A
   * stored cell made by other versions is not finished: it is recomputed and replaced.
   */
  readonly versions: string;
}

/** One metric value of a finished cell. */
export interface MetricRow {
  readonly metric: string;
  readonly value: number;
  readonly details?: MetricDetails;
}

/** Compute used to produce a cell's model. */
export interface CellCost {
  /** Examples through forward+backward. */
  readonly examples: number;
  readonly seconds: number;
  /** The budget's limit in examples (unlearned models), else null. */
  readonly budgetExamples: number | null;
}

/** One line of `results.jsonl`. */
export interface ResultRecord {
  readonly experiment: string;
  readonly cell: string;
  readonly seed: number;
  readonly attack: string;
  readonly unlearner: string;
  readonly budget: number | null;
  readonly role: ModelRole;
  readonly metric: string;
  readonly value: number | null;
  readonly details: MetricDetails | null;
  readonly examples: number;
  readonly seconds: number;
  readonly budgetExamples: number | null;
  readonly backend: string;
  readonly manifestHash: string;
  /** Forward+backward examples and seconds the attack itself used (same for a whole group). */
  readonly attackExamples: number;
  readonly attackSeconds: number;
  /** See CellIdentity.setup: records pool over seeds only within one setup. */
  readonly setup: string;
  /**
   * Null for a healthy model; for a diverged one the reason (e.g. `non-finite weights after
   * unlearning`), and then `value` and `details` are null: no metric is computed on it.
   */
  readonly diverged: string | null;
  /** Something the reader of the tables should know about this model (e.g. `returned a model identical to the poisoned one`), or null. */
  readonly warning: string | null;
  /** The cell's group key (see CellIdentity.groupKey); with `versions`, what rebuilding the store from results.jsonl needs. Absent in files of earlier versions. */
  readonly group?: string;
  /** See CellIdentity.versions. Absent in files of earlier versions. */
  readonly versions?: string;
}

/**
 * A finished cell with everything the store holds about it, as plain JSON (non-finite values are
 * null): what a queue worker sends back to the coordinator, whose store writes it unchanged.
 */
export interface StoredCell {
  readonly key: string;
  readonly meta: CellMeta;
  readonly cost: CellCost;
  readonly rows: readonly { readonly metric: string; readonly value: number | null; readonly details: MetricDetails | null }[];
  readonly diverged: string | null;
  readonly warning: string | null;
}

/** Facts shared by every cell of a group. */
export interface CellMeta {
  readonly experiment: string;
  readonly backend: string;
  readonly manifestHash: string;
  readonly attackExamples: number;
  readonly attackSeconds: number;
}

/** A trained reference model cached in the output folder. */
export interface StoredModel {
  readonly path: string;
  readonly examples: number;
  readonly seconds: number;
  /** sha256 of the weights file. */
  readonly sha256: string;
  /** Every parameter's shape, in `parameters()` order. */
  readonly shapes: readonly (readonly number[])[];
  /** Mean loss of the last training epoch (null if it was not finite). */
  readonly finalLoss: number | null;
}

/** Format of results.db; bump when the tables change. */
const STORE_VERSION = 2;
/** What each format added, for the message that refuses an older folder. */
const STORE_CHANGES: Readonly<Record<number, string>> = {
  2: 'format 2 stores the setup hash, the plugin versions, divergence and warnings with every cell, and a checksum with every cached model',
};

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  experiment TEXT NOT NULL,
  manifest_hash TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  info TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
  key TEXT PRIMARY KEY,
  group_key TEXT NOT NULL,
  run_id INTEGER NOT NULL,
  experiment TEXT NOT NULL,
  seed INTEGER NOT NULL,
  attack TEXT NOT NULL,
  unlearner TEXT NOT NULL,
  budget REAL,
  role TEXT NOT NULL,
  examples INTEGER NOT NULL,
  seconds REAL NOT NULL,
  budget_examples INTEGER,
  attack_examples INTEGER NOT NULL,
  attack_seconds REAL NOT NULL,
  backend TEXT NOT NULL,
  manifest_hash TEXT NOT NULL,
  setup TEXT NOT NULL,
  versions TEXT NOT NULL,
  diverged TEXT,
  warning TEXT,
  finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
  cell_key TEXT NOT NULL REFERENCES cells(key),
  metric TEXT NOT NULL,
  value REAL,
  details TEXT,
  PRIMARY KEY (cell_key, metric)
);
CREATE TABLE IF NOT EXISTS models (
  group_key TEXT NOT NULL,
  role TEXT NOT NULL,
  path TEXT NOT NULL,
  examples INTEGER NOT NULL,
  seconds REAL NOT NULL,
  sha256 TEXT NOT NULL,
  shapes TEXT NOT NULL,
  versions TEXT NOT NULL,
  final_loss REAL,
  PRIMARY KEY (group_key, role)
);
CREATE TABLE IF NOT EXISTS failures (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL,
  cell_key TEXT NOT NULL,
  message TEXT NOT NULL,
  stack TEXT,
  at TEXT NOT NULL
);
`;

/** How to open a store. */
export interface StoreOpenOptions {
  /**
   * Read only (`report`): the database must exist, nothing in the folder is written, and a
   * read-only folder works.
   */
  readonly readonly?: boolean;
}

/** Opens (creating if needed) the store in `dir`; with `readonly`, opens an existing one for reading only. */
export class ResultsStore {
  readonly dir: string;
  private readonly db: Database.Database;

  constructor(dir: string, options: StoreOpenOptions = {}) {
    this.dir = dir;
    try {
      if (options.readonly) {
        this.db = openReadonly(join(dir, 'results.db'));
        checkVersion(this.db, dir);
        return;
      }
      mkdirSync(dir, { recursive: true });
      this.db = new Database(join(dir, 'results.db'));
      this.db.pragma('busy_timeout = 30000'); // worker processes share the database
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      // IMMEDIATE: take the write lock up front, so worker processes opening the store together
      // wait for each other (busy_timeout) instead of failing on a lock upgrade.
      this.db.transaction(() => {
        if (!checkVersion(this.db, dir)) {
          this.db.exec(SCHEMA);
          this.db.pragma(`user_version = ${STORE_VERSION}`);
        }
      }).immediate();
    } catch (error) {
      if (error instanceof StoreError) throw error;
      const code = (error as { code?: string }).code;
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
        throw new StoreError(
          `'${join(dir, 'results.db')}' is damaged (${(error as Error).message}). The finished cells are also in '${join(dir, 'results.jsonl')}' (one line per cell × metric): 'unlearn-bench repair ${dir}' rebuilds the store from it (the damaged file is kept aside), or use another --out folder.`,
          { cause: error },
        );
      }
      throw new StoreError(`Cannot open the results store in '${dir}': ${(error as Error).message}`, { cause: error });
    }
  }

  /** Records the start of a run and returns its id. */
  startRun(experiment: string, manifestHash: string, info: object): number {
    const result = this.db
      .prepare('INSERT INTO runs (experiment, manifest_hash, started_at, info) VALUES (?, ?, ?, ?)')
      .run(experiment, manifestHash, new Date().toISOString(), JSON.stringify(info));
    return Number(result.lastInsertRowid);
  }

  /** Marks a run finished. */
  finishRun(runId: number): void {
    this.db.prepare('UPDATE runs SET finished_at = ? WHERE id = ?').run(new Date().toISOString(), runId);
  }

  /** Whether the cell is finished, by the same plugin versions (another version's cell is not). */
  hasCell(cell: Pick<CellIdentity, 'key' | 'versions'>): boolean {
    return this.storedVersions(cell.key) === cell.versions;
  }

  /** The plugin versions a stored cell was computed with (undefined if it is not stored). */
  storedVersions(key: string): string | undefined {
    return (this.db.prepare('SELECT versions FROM cells WHERE key = ?').get(key) as { versions: string } | undefined)?.versions;
  }

  /**
   * Writes a finished cell and its metric rows in one transaction, replacing a stored cell of the
   * same key made by other plugin versions. A diverged cell (`diverged` set) has null rows.
   */
  writeCell(runId: number, cell: CellIdentity, meta: CellMeta, cost: CellCost, rows: readonly MetricRow[], diverged: string | null = null, warning: string | null = null): void {
    const insertCell = this.db.prepare(
      `INSERT INTO cells (key, group_key, run_id, experiment, seed, attack, unlearner, budget, role, examples, seconds, budget_examples,
                          attack_examples, attack_seconds, backend, manifest_hash, setup, versions, diverged, warning, finished_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertResult = this.db.prepare('INSERT INTO results (cell_key, metric, value, details) VALUES (?, ?, ?, ?)');
    const write = this.db.transaction(() => {
      this.db.prepare('DELETE FROM results WHERE cell_key = ?').run(cell.key);
      this.db.prepare('DELETE FROM cells WHERE key = ?').run(cell.key);
      insertCell.run(
        cell.key, cell.groupKey, runId, meta.experiment, cell.seed, cell.attack, cell.unlearner, cell.budget, cell.role,
        cost.examples, cost.seconds, cost.budgetExamples, meta.attackExamples, meta.attackSeconds, meta.backend, meta.manifestHash,
        cell.setup, cell.versions, diverged, warning, new Date().toISOString(),
      );
      for (const row of rows) {
        insertResult.run(cell.key, row.metric, Number.isFinite(row.value) ? row.value : null, row.details ? JSON.stringify(row.details) : null);
      }
    });
    try {
      write.immediate();
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_FULL') {
        throw new StoreError(`disk full (SQLITE_FULL) while writing '${join(this.dir, 'results.db')}'; the cells stored before are kept. Free some space and rerun to continue.`, { cause: error });
      }
      throw error;
    }
  }

  /** A finished cell as stored (undefined if it is not), to move it into another store: see StoredCell. */
  storedCell(key: string): StoredCell | undefined {
    const cell = this.db
      .prepare(
        `SELECT experiment, backend, manifest_hash AS manifestHash, attack_examples AS attackExamples, attack_seconds AS attackSeconds,
                examples, seconds, budget_examples AS budgetExamples, diverged, warning FROM cells WHERE key = ?`,
      )
      .get(key) as (CellMeta & CellCost & { diverged: string | null; warning: string | null }) | undefined;
    if (!cell) return undefined;
    const rows = (this.db.prepare('SELECT metric, value, details FROM results WHERE cell_key = ? ORDER BY metric').all(key) as { metric: string; value: number | null; details: string | null }[]).map(
      (row) => ({ metric: row.metric, value: row.value, details: row.details === null ? null : (JSON.parse(row.details) as MetricDetails) }),
    );
    const { experiment, backend, manifestHash, attackExamples, attackSeconds, examples, seconds, budgetExamples, diverged, warning } = cell;
    return { key, meta: { experiment, backend, manifestHash, attackExamples, attackSeconds }, cost: { examples, seconds, budgetExamples }, rows, diverged, warning };
  }

  /** Writes a cell taken from another store (storedCell) under `identity`; like writeCell, one transaction. */
  writeStoredCell(runId: number, identity: CellIdentity, cell: StoredCell): void {
    const rows = cell.rows.map((row) => ({ metric: row.metric, value: row.value ?? Number.NaN, ...(row.details ? { details: row.details } : {}) }));
    this.writeCell(runId, identity, cell.meta, cell.cost, rows, cell.diverged, cell.warning);
  }

  /** Records a failed cell (it stays unfinished and is retried on the next run), with its stack trace. */
  recordFailure(runId: number, cellKey: string, message: string, stack?: string): void {
    this.db.prepare('INSERT INTO failures (run_id, cell_key, message, stack, at) VALUES (?, ?, ?, ?, ?)').run(runId, cellKey, message, stack ?? null, new Date().toISOString());
  }

  /**
   * A cached reference model of a group, if one was saved by the same plugin `versions` (a model
   * trained by other versions is not returned: it is retrained and replaced).
   */
  getModel(groupKey: string, role: ModelRole, versions: string): StoredModel | undefined {
    const row = this.db
      .prepare('SELECT path, examples, seconds, sha256, shapes, versions, final_loss AS finalLoss FROM models WHERE group_key = ? AND role = ?')
      .get(groupKey, role) as (Omit<StoredModel, 'shapes'> & { shapes: string; versions: string }) | undefined;
    if (!row || row.versions !== versions || !existsSync(join(this.dir, row.path))) return undefined;
    return { path: join(this.dir, row.path), examples: row.examples, seconds: row.seconds, sha256: row.sha256, shapes: JSON.parse(row.shapes) as number[][], finalLoss: row.finalLoss };
  }

  /** Remembers a reference model saved at `model.path` (relative to the store's folder). */
  putModel(groupKey: string, role: ModelRole, model: StoredModel, versions: string): void {
    this.db
      .prepare('INSERT OR REPLACE INTO models (group_key, role, path, examples, seconds, sha256, shapes, versions, final_loss) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(groupKey, role, model.path, model.examples, model.seconds, model.sha256, JSON.stringify(model.shapes), versions, model.finalLoss);
  }

  /** Cells that failed and are not finished now, each with its latest failure message. */
  unfinishedFailures(): { cell: string; message: string }[] {
    return this.db
      .prepare(
        `SELECT f.cell_key AS cell, f.message FROM failures f
         WHERE f.id = (SELECT MAX(id) FROM failures g WHERE g.cell_key = f.cell_key) AND f.cell_key NOT IN (SELECT key FROM cells)
         ORDER BY f.cell_key`,
      )
      .all() as { cell: string; message: string }[];
  }

  /** Every stored result (or those of the cell `cellKey`), in a stable order in which each cell's rows are contiguous. */
  records(cellKey?: string): ResultRecord[] {
    const rows = this.db
      .prepare(
        `SELECT c.experiment, c.key AS cell, c.seed, c.attack, c.unlearner, c.budget, c.role, r.metric, r.value, r.details,
                c.examples, c.seconds, c.budget_examples AS budgetExamples, c.backend, c.manifest_hash AS manifestHash,
                c.attack_examples AS attackExamples, c.attack_seconds AS attackSeconds, c.setup, c.diverged, c.warning,
                c.group_key AS "group", c.versions
         FROM results r JOIN cells c ON c.key = r.cell_key
         ${cellKey === undefined ? '' : 'WHERE c.key = ?'}
         ORDER BY c.attack, c.seed, CASE c.role WHEN 'poisoned' THEN 0 WHEN 'retrained' THEN 1 ELSE 2 END, c.unlearner, c.budget, c.key, r.metric`,
      )
      .all(...(cellKey === undefined ? [] : [cellKey])) as (Omit<ResultRecord, 'details'> & { details: string | null })[];
    return rows.map((row) => ({ ...row, details: row.details ? (JSON.parse(row.details) as MetricDetails) : null }));
  }

  /**
   * Rewrites `results.jsonl` from the database, atomically: every stored cell once, in records()'
   * order. Runs call it when they start (which also drops a line torn by a crash during an append)
   * and when they end.
   */
  exportJsonl(): string {
    const path = join(this.dir, 'results.jsonl');
    const records = this.records();
    writeFileAtomic(path, records.length === 0 ? '' : records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    return path;
  }

  /**
   * Appends the rows of the cell `cellKey` (just written) to `results.jsonl` in one write, so that
   * the file holds every finished cell while a run goes on without being rewritten after each one:
   * a whole rewrite costs time in proportion to the cells stored (about 0.3 s at the 1,032 cells of
   * the paper's Gaussian manifest), which made a run's exports grow with the square of its cells.
   * A cell stored again (by other plugin versions) is in the file twice until the next rewrite;
   * `rebuild` keeps the last of its blocks. Nothing is appended for a cell with no stored rows.
   */
  appendJsonl(cellKey: string): void {
    const records = this.records(cellKey);
    if (records.length === 0) return;
    appendFileChecked(join(this.dir, 'results.jsonl'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }

  close(): void {
    this.db.close();
  }

  /**
   * Rebuilds `dir`'s store from its `results.jsonl` (`unlearn-bench repair`): the old results.db
   * (damaged, say) and its -wal/-shm files are renamed aside with a `.damaged-<time>` suffix, and a new
   * store gets every cell of the export. Cells exported by earlier versions, without their plugin
   * versions, are kept for `report` but recomputed by the next run. Cached models are not in the
   * export: the next run retrains those it needs. The caller holds the folder's lock.
   */
  static rebuild(dir: string): RebuildReport {
    const jsonl = join(dir, 'results.jsonl');
    if (!existsSync(jsonl)) throw new StoreError(`No '${jsonl}' to rebuild the store from.`);
    // A cell's rows are one block of consecutive lines (an export, or one append); a cell appended
    // again after being stored anew has a later block, which replaces the earlier one.
    const cells = new Map<string, ResultRecord[]>();
    const text = readFileSync(jsonl, 'utf8');
    const lines = text.split('\n');
    let previous: string | undefined;
    let tornLastLine = false;
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      let record: ResultRecord;
      try {
        record = JSON.parse(line) as ResultRecord;
      } catch (error) {
        // A crash during an append can leave the file's last line cut short (no newline after it).
        if (i === lines.length - 1 && !text.endsWith('\n')) {
          tornLastLine = true;
          return;
        }
        throw new StoreError(`'${jsonl}' line ${i + 1} is not JSON (${(error as Error).message}); fix or remove that line and repair again.`);
      }
      if (typeof record.cell !== 'string' || typeof record.metric !== 'string') throw new StoreError(`'${jsonl}' line ${i + 1} is not a result record (no cell or metric).`);
      const block = record.cell === previous ? (cells.get(record.cell) ?? []) : [];
      cells.delete(record.cell); // re-inserted last: the order of the cells' last blocks
      cells.set(record.cell, [...block, record]);
      previous = record.cell;
    });
    // The cut line may end the block of the cell before it (one append writes a cell's lines at
    // once): leave that cell out too, so that it is recomputed whole rather than kept without a row.
    if (tornLastLine && previous !== undefined) cells.delete(previous);
    const database = join(dir, 'results.db');
    const aside = `${database}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(database + suffix)) renameSync(database + suffix, aside + suffix);
    const store = new ResultsStore(dir);
    let withoutVersions = 0;
    try {
      const first = [...cells.values()][0]?.[0];
      const runId = store.startRun(first?.experiment ?? '', first?.manifestHash ?? '', { rebuiltFrom: jsonl });
      for (const [key, records] of cells) {
        const r = records[0];
        if (r.versions === undefined || r.group === undefined) withoutVersions += 1;
        const identity: CellIdentity = { key, groupKey: r.group ?? '', seed: r.seed, attack: r.attack, unlearner: r.unlearner, budget: r.budget, role: r.role, setup: r.setup, versions: r.versions ?? '' };
        const meta: CellMeta = { experiment: r.experiment, backend: r.backend, manifestHash: r.manifestHash, attackExamples: r.attackExamples, attackSeconds: r.attackSeconds };
        const rows = records.map((m) => ({ metric: m.metric, value: m.value ?? Number.NaN, ...(m.details ? { details: m.details } : {}) }));
        store.writeCell(runId, identity, meta, { examples: r.examples, seconds: r.seconds, budgetExamples: r.budgetExamples }, rows, r.diverged ?? null, r.warning ?? null);
      }
      store.finishRun(runId);
    } finally {
      store.close();
    }
    return { cells: cells.size, withoutVersions, movedAside: existsSync(aside) ? aside : undefined, tornLastLine };
  }
}

/** What `ResultsStore.rebuild` did. */
export interface RebuildReport {
  /** Cells written into the new store. */
  readonly cells: number;
  /** Of those, cells exported without their plugin versions (by an earlier version): the next run recomputes them. */
  readonly withoutVersions: number;
  /** Where the old results.db went (undefined if there was none). */
  readonly movedAside: string | undefined;
  /** The file's last line was cut short (a crash during an append) and was left out, with the cell whose lines ended before it. */
  readonly tornLastLine: boolean;
}

/**
 * Whether `db` holds the store's tables; throws if they are of another format than this version's.
 */
function checkVersion(db: Database.Database, dir: string): boolean {
  const version = db.pragma('user_version', { simple: true }) as number;
  const hasTables = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cells'").get() !== undefined;
  if (hasTables && version !== STORE_VERSION) {
    throw new StoreError(
      `'${join(dir, 'results.db')}' was written by another version of unlearn-bench (store format ${version}, this one reads ${STORE_VERSION}${version < STORE_VERSION && STORE_CHANGES[STORE_VERSION] ? `; ${STORE_CHANGES[STORE_VERSION]}` : ''}). Use a new --out folder, or move the old one away (its results.jsonl stays readable).`,
    );
  }
  return hasTables;
}

/**
 * Opens `path` for reading only, writing nothing next to it. A store whose writers all closed it
 * has no `-wal` file and all its content in the main file; SQLite would still create `-wal` and
 * `-shm` files to read it in WAL mode (and fail in a read-only folder), so it is read from a copy
 * in memory instead, whose header bytes 18–19 (the read/write format versions: 2 for WAL, 1 for a
 * rollback journal; sqlite.org/fileformat2.html, section 1.3) are set to 1, since an in-memory
 * database has no WAL. With a `-wal` file (a run in progress, or one that was killed), the store
 * is opened read-only in place (`{ readonly: true, fileMustExist: true }`), sharing the files
 * that exist.
 */
function openReadonly(path: string): Database.Database {
  if (!existsSync(path)) throw new StoreError(`No results store '${path}'.`);
  if (!existsSync(`${path}-wal`)) {
    const bytes = readFileSync(path);
    if (bytes.length > 19 && bytes[18] === 2 && bytes[19] === 2) bytes.fill(1, 18, 20);
    return new Database(bytes, { readonly: true });
  }
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 30000');
    return db;
  } catch (error) {
    throw new StoreError(`Cannot read '${path}' with its write-ahead log '${path}-wal' (left by a run in progress or one that did not finish) here: ${(error as Error).message}. Copy the folder somewhere writable and report on the copy.`, { cause: error });
  }
}
