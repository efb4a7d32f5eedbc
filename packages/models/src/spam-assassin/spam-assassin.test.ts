import { createBudgetMeter, createRng, getOrCreateValidator, silentLogger, type PluginContext } from '@unlearn-bench/core';
import { describe, expect, it } from 'vitest';
import { emailBody, spamAssassinDataset } from './index.ts';

const ctx: PluginContext = { rng: createRng(0), logger: silentLogger, engine: { backend: 'cpu', reason: 'test', threads: 1 }, meter: createBudgetMeter() };
const defaults = { trainSize: 4800, testSize: 1246, splitSeed: 0, headers: false, maxChars: 1000 };

describe('spam-assassin', () => {
  it('fills defaults from its schema and checks the sizes', () => {
    const options = {};
    expect(getOrCreateValidator(spamAssassinDataset.optionsSchema)(options)).toBe(true);
    expect(options).toEqual(defaults);
    expect(() => spamAssassinDataset.create({ ...defaults, trainSize: 6000 }, ctx)).toThrow(
      'spam-assassin has 6046 emails; trainSize + testSize = 7246 exceeds it; lower trainSize or testSize',
    );
  });

  it('gives all 6,046 emails (4,150 ham = 0, 1,896 spam = 1), a disjoint seeded split, bodies without headers', async () => {
    const data = await spamAssassinDataset.create(defaults, ctx).load();
    expect(spamAssassinDataset.modality).toBe('text');
    expect([data.train.count, data.test.count, data.numClasses]).toEqual([4800, 1246, 2]);
    const spam = [...data.train.labels, ...data.test.labels].filter((y) => y === 1).length;
    expect(spam).toBe(1896);
    expect(data.train.inputShape).toEqual([0]);
    const texts = [...data.train.texts!, ...data.test.texts!];
    expect(texts.every((t) => t.length <= 1000)).toBe(true);
    expect(texts.filter((t) => /^Return-Path:/m.test(t)).length).toBeLessThan(60); // forwarded mails quote headers in their bodies
    const again = await spamAssassinDataset.create(defaults, ctx).load();
    expect(again.test.texts).toEqual(data.test.texts);
    const other = await spamAssassinDataset.create({ ...defaults, splitSeed: 1 }, ctx).load();
    expect(other.test.texts).not.toEqual(data.test.texts);
    const withHeaders = await spamAssassinDataset.create({ ...defaults, trainSize: 10, testSize: 10, headers: true }, ctx).load();
    expect(withHeaders.train.texts!.every((t) => /^(From |Return-Path)/.test(t))).toBe(true);
  });

  it('takes the body after the first blank line', () => {
    expect(emailBody('From: a\r\nSubject: b\r\n\r\nHello\n\nworld')).toBe('Hello\n\nworld');
    expect(emailBody('no headers')).toBe('no headers');
  });
});
