import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBudgetMeter, createRng, getOrCreateValidator, silentLogger, type PluginContext } from '@unlearn-bench/core';
import { describe, expect, it } from 'vitest';
import { parseCsv, textFileDataset, type TextFileOptions } from './index.ts';

const ctx: PluginContext = { rng: createRng(0), logger: silentLogger, engine: { backend: 'cpu', reason: 'test', threads: 1 }, meter: createBudgetMeter() };
const defaults: TextFileOptions = { train: null, test: null, format: 'auto', textField: 'text', labelField: 'label', labels: null, testFraction: 0.2, splitSeed: 0, maxChars: 0 };

function write(name: string, content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'ub-text-file-')), name);
  writeFileSync(path, content);
  return path;
}

describe('text-file', () => {
  it('fills defaults from its schema', () => {
    const options = {};
    expect(getOrCreateValidator(textFileDataset.optionsSchema)(options)).toBe(true);
    expect(options).toEqual(defaults);
    expect(() => textFileDataset.create(defaults, ctx)).toThrowErrorMatchingInlineSnapshot(
      `[Error: text-file needs options.train: the path of a .jsonl or .csv file with "text" and "label" fields]`,
    );
  });

  it('reads JSONL with integer labels and a separate test file', async () => {
    const lines = (rows: [string, number][]) => rows.map(([text, label]) => JSON.stringify({ text, label, extra: 1 })).join('\n') + '\n';
    const train = write('train.jsonl', lines([['great film', 1], ['dull plot', 0], ['loved it', 1]]));
    const test = write('test.jsonl', lines([['boring', 0], ['superb', 1]]));
    const data = await textFileDataset.create({ ...defaults, train, test }, ctx).load();
    expect(data.numClasses).toBe(2);
    expect(data.train.texts).toEqual(['great film', 'dull plot', 'loved it']);
    expect(Array.from(data.train.labels)).toEqual([1, 0, 1]);
    expect(data.test.texts).toEqual(['boring', 'superb']);
    expect(data.train.inputShape).toEqual([0]);
  });

  it('reads RFC 4180 CSV, maps string labels, and splits by testFraction with a seed', async () => {
    expect(parseCsv('review,sentiment\r\n"Say ""hi"", then, leave",pos\nplain,neg\n')).toEqual([
      { review: 'Say "hi", then, leave', sentiment: 'pos' },
      { review: 'plain', sentiment: 'neg' },
    ]);
    const rows = Array.from({ length: 20 }, (_, i) => `"text ${i}, with comma",${i % 3 === 0 ? 'neg' : 'pos'}`);
    const train = write('data.csv', `\uFEFFreview,sentiment\n${rows.join('\n')}\n`);
    const options = { ...defaults, train, textField: 'review', labelField: 'sentiment', labels: ['neg', 'pos'], testFraction: 0.25 };
    const data = await textFileDataset.create(options, ctx).load();
    expect([data.train.count, data.test.count, data.numClasses]).toEqual([15, 5, 2]);
    const all = [...data.train.texts!, ...data.test.texts!].sort();
    expect(all).toEqual(Array.from({ length: 20 }, (_, i) => `text ${i}, with comma`).sort());
    const labelOf = (text: string) => (Number(text.split(' ')[1].replace(',', '')) % 3 === 0 ? 0 : 1);
    data.train.texts!.forEach((t, i) => expect(data.train.labels[i]).toBe(labelOf(t)));
    const sorted = await textFileDataset.create({ ...options, labels: null }, ctx).load(); // 'neg' < 'pos'
    expect(sorted.test.texts).toEqual(data.test.texts);
    expect(Array.from(sorted.test.labels)).toEqual(Array.from(data.test.labels));
  });

  it('says which record and field are wrong', async () => {
    const train = write('bad.jsonl', '{"text":"a","label":"x"}\n{"body":"b","label":"y"}\n');
    await expect(async () => textFileDataset.create({ ...defaults, train }, ctx).load()).rejects.toThrow(`text-file: record 2 of ${train} has no string field "text"; set textField to the text column`);
    await expect(async () => textFileDataset.create({ ...defaults, train, textField: 'body', labels: ['y', 'z'] }, ctx).load()).rejects.toThrow(
      `text-file: record 1 of ${train} has no string field "body"`,
    );
    const mapped = write('m.jsonl', '{"text":"a","label":"x"}\n{"text":"b","label":"y"}\n');
    await expect(async () => textFileDataset.create({ ...defaults, train: mapped, labels: ['y', 'z'] }, ctx).load()).rejects.toThrow(
      `text-file: record 1 of ${mapped} has label "x", which is not in labels [y, z]`,
    );
    const broken = write('broken.jsonl', '{"text":"a","label":0}\n{oops\n');
    await expect(async () => textFileDataset.create({ ...defaults, train: broken }, ctx).load()).rejects.toThrow(`text-file: ${broken} line 2 is not JSON`);
  });
});
