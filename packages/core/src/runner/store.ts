/**
 * The results store: an embedded SQLite database (`results.db`) in the output folder, written one
 * cell per transaction, and a long-format export (`results.jsonl`) rewritten atomically after each
 * cell. A cell present in the store is finished and is never recomputed.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '../errors.ts';
import type { MetricDetails, ModelRole } from '../plugin/types.ts';
import { writeFileAtomic } from './files.ts';

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

/** Opens (creating if needed) the store in `dir`. */
export class ResultsStore {
  readonly dir: string;
  private readonly db: Database.Database;

  constructor(dir: string) {
    this.dir = dir;
    try {
      mkdirSync(dir, { recursive: true });
      this.db = new Database(join(dir, 'results.db'));
      this.db.pragma('busy_timeout = 30000'); // worker processes share the database
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      // IMMEDIATE: take the write lock up front, so worker processes opening the store together
      // wait for each other (busy_timeout) instead of failing on a lock upgrade.
      this.db.transaction(() => {
        const version = this.db.pragma('user_version', { simple: true }) as number;
        const hasTables = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cells'").get() !== undefined;
        if (hasTables && version !== STORE_VERSION) {
          throw new StoreError(
            `'${join(dir, 'results.db')}' was written by another version of unlearn-bench (store format ${version}, this one reads ${STORE_VERSION}${version < STORE_VERSION && STORE_CHANGES[STORE_VERSION] ? `; ${STORE_CHANGES[STORE_VERSION]}` : ''}). Use a new --out folder, or move the old one away (its results.jsonl stays readable).`,
          );
        }
        if (!hasTables) {
          this.db.exec(SCHEMA);
          this.db.pragma(`user_version = ${STORE_VERSION}`);
        }
      }).immediate();
    } catch (error) {
      if (error instanceof StoreError) throw error;
      const code = (error as { code?: string }).code;
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
        throw new StoreError(
          `'${join(dir, 'results.db')}' is damaged (${(error as Error).message}). The finished cells are also in '${join(dir, 'results.jsonl')}' (one line per cell × metric); move results.db away to start a new store in this folder, or use another --out folder.`,
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

  /** Every stored result, in a stable order. */
  records(): ResultRecord[] {
    const rows = this.db
      .prepare(
        `SELECT c.experiment, c.key AS cell, c.seed, c.attack, c.unlearner, c.budget, c.role, r.metric, r.value, r.details,
                c.examples, c.seconds, c.budget_examples AS budgetExamples, c.backend, c.manifest_hash AS manifestHash,
                c.attack_examples AS attackExamples, c.attack_seconds AS attackSeconds, c.setup, c.diverged, c.warning
         FROM results r JOIN cells c ON c.key = r.cell_key
         ORDER BY c.attack, c.seed, CASE c.role WHEN 'poisoned' THEN 0 WHEN 'retrained' THEN 1 ELSE 2 END, c.unlearner, c.budget, r.metric`,
      )
      .all() as (Omit<ResultRecord, 'details'> & { details: string | null })[];
    return rows.map((row) => ({ ...row, details: row.details ? (JSON.parse(row.details) as MetricDetails) : null }));
  }

  /** Rewrites `results.jsonl` from the database, atomically. */
  exportJsonl(): string {
    const path = join(this.dir, 'results.jsonl');
    writeFileAtomic(path, this.records().map((r) => JSON.stringify(r)).join('\n') + '\n');
    return path;
  }

  close(): void {
    this.db.close();
  }
}
