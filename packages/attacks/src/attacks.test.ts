import { getOrCreateValidator } from '@unlearn-bench/core';
import { describe, expect, it } from 'vitest';
import { attacksPlugin } from './index.ts';

describe('the attacks plugin', () => {
  it.each(attacksPlugin.attacks!.map((attack) => [attack.id, attack] as const))('%s: the schema compiles, {} gets a valid default for every option, and a wrong type is rejected', (_id, attack) => {
    const validate = getOrCreateValidator(attack.optionsSchema);
    const options: Record<string, unknown> = {};
    expect(validate(options)).toBe(true);
    expect(Object.keys(options).sort()).toEqual(Object.keys(attack.optionsSchema.properties).sort());
    for (const property of Object.values(attack.optionsSchema.properties)) expect(property).toHaveProperty('description');
    expect(validate({ ...options, count: 'many' })).toBe(Object.keys(options).includes('count') ? false : true);
    expect(validate({ ...options, unknownOption: 1 })).toBe(false);
  });

  it('declares the capabilities of the surrogate-based attacks', () => {
    const requires = Object.fromEntries(attacksPlugin.attacks!.map((a) => [a.id, a.requires ?? []]));
    expect(requires['witches-brew']).toEqual(['parameters', 'input-gradients']);
    expect(requires['gradient-canceling']).toEqual(['parameters', 'input-gradients']);
    expect(requires['backdoor-patch']).toEqual([]);
    expect(requires['label-flip']).toEqual([]);
  });
});
