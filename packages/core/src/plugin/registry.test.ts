import { describe, expect, it } from 'vitest';
import { API_VERSION, type Plugin } from './types.ts';
import { defineMetric, definePlugin } from './define.ts';
import { getOrCreateValidator } from './ajv.ts';
import { Registry } from './registry.ts';

const metric = (id: string) =>
  defineMetric({
    id,
    description: 'test metric',
    optionsSchema: { type: 'object', additionalProperties: false, properties: { k: { type: 'integer', default: 1, description: 'k' } } },
    create: () => ({ compute: () => ({ value: 1 }) }),
  });

const plugin = (namespace: string, ids: string[], apiVersion = API_VERSION): Plugin =>
  definePlugin({ meta: { name: `test-${namespace}`, version: '1.0.0', namespace, apiVersion }, metrics: ids.map(metric) });

describe('Registry', () => {
  it('registers contributions under namespace/id', () => {
    const registry = new Registry();
    registry.register(plugin('lab', ['alpha', 'beta']));
    expect(registry.list('metric').map((e) => e.key)).toEqual(['lab/alpha', 'lab/beta']);
    expect(registry.get('metric', 'lab/beta').definition.id).toBe('beta');
  });

  it('throws on a key registered twice, across plugins too', () => {
    const registry = new Registry();
    registry.register(plugin('lab', ['alpha']));
    expect(() => registry.register(plugin('lab', ['alpha']))).toThrowErrorMatchingInlineSnapshot(
      `[DuplicatePluginError: The metric 'lab/alpha' is registered twice. Ids must be unique within a namespace.]`,
    );
    expect(() => new Registry().register(plugin('lab', ['gamma', 'gamma']))).toThrow(/registered twice/);
  });

  it('suggests the closest key for a typo or a missing namespace', () => {
    const registry = new Registry();
    registry.register(plugin('core', ['accuracy', 'gus']));
    expect(() => registry.get('metric', 'core/acuracy')).toThrowErrorMatchingInlineSnapshot(
      `[UnknownPluginError: Unknown metric 'core/acuracy'. Did you mean 'core/accuracy'?]`,
    );
    expect(() => registry.get('metric', 'gus')).toThrow("Did you mean 'core/gus'?");
    expect(() => registry.get('metric', 'core/zzzzzzzzzz')).toThrow('Known metrics: core/accuracy, core/gus.');
  });

  it('rejects plugins for another API version, bad ids and option schemas without defaults', () => {
    expect(() => new Registry().register(plugin('lab', ['a'], 99))).toThrow(/targets plugin API version 99, but this core implements version 1/);
    expect(() => new Registry().register(plugin('lab', ['Bad_Id']))).toThrow(/id must be kebab-case/);
    const noDefault = definePlugin({
      meta: { name: 'x', version: '1', namespace: 'lab', apiVersion: API_VERSION },
      metrics: [
        defineMetric({
          id: 'm',
          description: 'd',
          optionsSchema: { type: 'object', additionalProperties: false, properties: { k: { type: 'integer', description: 'k' } } },
          create: () => ({ compute: () => ({ value: 0 }) }),
        }),
      ],
    });
    expect(() => new Registry().register(noDefault)).toThrow("option 'k' needs a default");
  });

  it('compiles option schemas at registration, or at first use with compileSchemas: false', () => {
    const misspelt = () =>
      definePlugin({
        meta: { name: 'x', version: '1', namespace: 'lab', apiVersion: API_VERSION },
        metrics: [
          defineMetric({
            id: 'm',
            description: 'd',
            // 'minimun' is not a keyword: ajv's strict mode refuses it when it compiles the schema.
            optionsSchema: { type: 'object', additionalProperties: false, properties: { k: { type: 'integer', minimun: 1, default: 1, description: 'k' } as never } },
            create: () => ({ compute: () => ({ value: 0 }) }),
          }),
        ],
      });
    expect(() => new Registry().register(misspelt())).toThrow(/Plugin 'x', metric "m": optionsSchema does not compile: .*minimun/);
    const deferred = new Registry();
    const late = misspelt();
    deferred.register(late, { compileSchemas: false });
    expect(deferred.get('metric', 'lab/m').definition.id).toBe('m');
    expect(() => getOrCreateValidator(late.metrics![0].optionsSchema)).toThrow(/minimun/);
    // The structural checks still run.
    expect(() => new Registry().register(plugin('lab', ['Bad_Id']), { compileSchemas: false })).toThrow(/id must be kebab-case/);
  });

  it('registers nothing from a plugin with one invalid contribution', () => {
    const registry = new Registry();
    expect(() => registry.register(plugin('lab', ['ok', 'Not OK']))).toThrow();
    expect(registry.has('metric', 'lab/ok')).toBe(false);
  });
});
