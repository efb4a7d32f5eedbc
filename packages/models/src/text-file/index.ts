/**
 * `text-file`: labelled texts from local JSONL or CSV files (exports of IMDb, SST-2, …). Each JSONL
 * line is an object, each CSV row (RFC 4180, header row first) a record; `textField` and
 * `labelField` name the columns. Labels are integers 0..n−1, or strings mapped to class ids by
 * `labels` (index = class id; default: the distinct strings in sorted order). Without a `test`
 * file the `train` file is split by `testFraction`, seeded by `splitSeed`. Relative paths resolve
 * against the manifest's folder (the working directory outside a run).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { createRng, createTextExamples, defineDataset, resolveOptionPath, selectExamples, type Examples } from '@unlearn-bench/core';

/** Options of `text-file`. */
export interface TextFileOptions {
  /** Training file (.jsonl or .csv). @default null */
  readonly train: string | null;
  /** Test file; null splits the training file by `testFraction`. @default null */
  readonly test: string | null;
  /** File format; `auto` decides by extension (.csv → csv, otherwise jsonl). @default "auto" */
  readonly format: 'auto' | 'jsonl' | 'csv';
  /** Field holding the text. @default "text" */
  readonly textField: string;
  /** Field holding the label. @default "label" */
  readonly labelField: string;
  /** Class names in class-id order for string labels; null: integer labels as is, string labels sorted. @default null */
  readonly labels: readonly string[] | null;
  /** Share of the training file held out as test set when `test` is null. @default 0.2 */
  readonly testFraction: number;
  /** Seed of that split. @default 0 */
  readonly splitSeed: number;
  /** Keep the first `maxChars` characters of each text (0: all). @default 0 */
  readonly maxChars: number;
}

type RawRecord = Readonly<Record<string, unknown>>;

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF) into records keyed by the header row. */
export function parseCsv(source: string): RawRecord[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (quoted) {
      if (c === '"' && source[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && source[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  const [header, ...body] = rows.filter((r) => r.length > 1 || r[0] !== '');
  if (!header) return [];
  return body.map((cells) => Object.fromEntries(header.map((name, j) => [name, cells[j] ?? ''])));
}

function readRecords(absolute: string, format: TextFileOptions['format']): RawRecord[] {
  let source: string;
  try {
    source = readFileSync(absolute, 'utf8').replace(/^\uFEFF/, ''); // spreadsheet exports often start with a BOM
  } catch (error) {
    throw new Error(`text-file: cannot read ${absolute}: ${(error as Error).message}`, { cause: error });
  }
  const csv = format === 'csv' || (format === 'auto' && extname(absolute).toLowerCase() === '.csv');
  if (csv) return parseCsv(source);
  return source.split(/\r?\n/).flatMap((line, i) => {
    if (line.trim() === '') return [];
    try {
      return [JSON.parse(line) as RawRecord];
    } catch (error) {
      throw new Error(`text-file: ${absolute} line ${i + 1} is not JSON: ${(error as Error).message}`, { cause: error });
    }
  });
}

/** `text-file`: labelled texts from local JSONL or CSV files. */
export const textFileDataset = defineDataset<TextFileOptions>({
  id: 'text-file',
  description: 'Labelled texts from local JSONL or CSV files (text and label fields), e.g. IMDb or SST-2 exports.',
  modality: 'text',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      train: { type: ['string', 'null'], default: null, description: 'Training file (.jsonl or .csv), relative to the manifest; required.' },
      test: { type: ['string', 'null'], default: null, description: 'Test file; null splits the training file by testFraction.' },
      format: { enum: ['auto', 'jsonl', 'csv'], default: 'auto', description: 'File format; auto: .csv is CSV, anything else JSONL.' },
      textField: { type: 'string', minLength: 1, default: 'text', description: 'Field holding the text.' },
      labelField: { type: 'string', minLength: 1, default: 'label', description: 'Field holding the label.' },
      labels: {
        type: ['array', 'null'],
        items: { type: 'string' },
        minItems: 2,
        uniqueItems: true,
        default: null,
        description: 'Class names in class-id order, for string labels; null: integer labels are class ids, string labels are sorted.',
      },
      testFraction: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.2, description: 'Share of the training file held out as test set when test is null.' },
      splitSeed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0, description: 'Seed of the train/test split.' },
      maxChars: { type: 'integer', minimum: 0, default: 0, description: 'Keep the first maxChars characters of each text (0: all).' },
    },
  },
  create(options, ctx) {
    const { format, textField, labelField, maxChars } = options;
    const train = options.train && resolveOptionPath(ctx, options.train);
    const test = options.test && resolveOptionPath(ctx, options.test);
    if (!train) throw new Error('text-file needs options.train: the path of a .jsonl or .csv file with "text" and "label" fields');
    return {
      load() {
        const files = test ? [readRecords(train, format), readRecords(test, format)] : [readRecords(train, format)];
        const rawLabels = files.flat().map((record) => record[labelField]);
        const integers = options.labels === null && rawLabels.every((l) => typeof l === 'number' || (typeof l === 'string' && /^\d+$/.test(l.trim())));
        const names = options.labels ?? (integers ? null : [...new Set(rawLabels.map(String))].sort());
        const toExamples = (records: RawRecord[], path: string): Examples => {
          const texts: string[] = [];
          const labels = new Int32Array(records.length);
          records.forEach((record, i) => {
            const text = record[textField];
            const label = record[labelField];
            if (typeof text !== 'string') throw new Error(`text-file: record ${i + 1} of ${path} has no string field "${textField}"; set textField to the text column`);
            if (label === undefined || label === null || label === '') throw new Error(`text-file: record ${i + 1} of ${path} has no field "${labelField}"; set labelField to the label column`);
            const id = names ? names.indexOf(String(label)) : Number(label);
            if (names && id < 0) throw new Error(`text-file: record ${i + 1} of ${path} has label "${String(label)}", which is not in labels [${names.join(', ')}]`);
            if (!Number.isInteger(id) || id < 0) throw new Error(`text-file: record ${i + 1} of ${path} has label ${JSON.stringify(label)}; integer labels must be class ids 0, 1, …`);
            texts.push(maxChars > 0 ? text.slice(0, maxChars) : text);
            labels[i] = id;
          });
          return createTextExamples(texts, labels);
        };
        const trainExamples = toExamples(files[0], train);
        const numClasses = names ? names.length : Math.max(...rawLabels.map(Number)) + 1;
        if (numClasses < 2) throw new Error(`text-file: found ${numClasses} class; a classification dataset needs at least 2`);
        if (test) return { name: 'text-file', train: trainExamples, test: toExamples(files[1], test), numClasses };
        const order = createRng(options.splitSeed).permutation(trainExamples.count);
        const testCount = Math.round(options.testFraction * trainExamples.count);
        if (testCount < 1 || testCount >= trainExamples.count) {
          throw new RangeError(`text-file: testFraction ${options.testFraction} of ${trainExamples.count} records leaves an empty train or test set; give a test file or change testFraction`);
        }
        return {
          name: 'text-file',
          train: selectExamples(trainExamples, order.subarray(testCount)),
          test: selectExamples(trainExamples, order.subarray(0, testCount)),
          numClasses,
        };
      },
    };
  },
});
