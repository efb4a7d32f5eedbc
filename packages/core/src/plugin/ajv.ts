/**
 * The one shared ajv instance (allErrors, useDefaults, strict) and a per-definition validator
 * cache, as ESLint does for rule schemas.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { ManifestIssue } from '../errors.ts';
import { closestMatch } from '../suggest.ts';

/** The shared ajv instance. */
export const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true, verbose: true });

const validators = new WeakMap<object, ValidateFunction>();

/** Compiles `schema` once per schema object. Throws ajv's error if the schema is invalid. */
export function getOrCreateValidator(schema: object): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    validators.set(schema, validate);
  }
  return validate;
}

/** `/unlearners/1/options/lr` → `unlearners[1].options.lr`, prefixed by `base`. */
export function jsonPointerToPath(pointer: string, base = ''): string {
  let path = base;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) path += `[${part}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(part)) path += path ? `.${part}` : part;
    else path += `[${JSON.stringify(part)}]`;
  }
  return path;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function valueAt(root: unknown, pointer: string): unknown {
  let value: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return value;
}

function propertiesOf(schema: unknown): string[] {
  const properties = (schema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return properties ? Object.keys(properties) : [];
}

/**
 * Turns ajv errors into readable issues: what is wrong, where (manifest path), and how to fix it.
 * `data` is the validated value, `base` the manifest path it sits at.
 */
export function formatAjvErrors(errors: readonly ErrorObject[], data: unknown, base = ''): ManifestIssue[] {
  const issues: ManifestIssue[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    const path = jsonPointerToPath(error.instancePath, base);
    const value = valueAt(data, error.instancePath);
    let message: string;
    let where = path;
    switch (error.keyword) {
      case 'additionalProperty':
      case 'additionalProperties': {
        const extra = (error.params as { additionalProperty: string }).additionalProperty;
        const expected = propertiesOf(error.parentSchema);
        const guess = closestMatch(extra, expected);
        where = jsonPointerToPath(`${error.instancePath}/${extra}`, base);
        message = `unknown property '${extra}'.${guess ? ` Did you mean '${guess}'?` : ''} Expected properties: ${expected.join(', ') || '(none)'}.`;
        break;
      }
      case 'required': {
        const missing = (error.params as { missingProperty: string }).missingProperty;
        where = jsonPointerToPath(`${error.instancePath}/${missing}`, base);
        message = `missing required property '${missing}'.`;
        break;
      }
      case 'type':
        message = `expected ${String((error.params as { type: string | string[] }).type).split(',').join(' or ')}, got ${describeValue(value)}.`;
        break;
      case 'enum': {
        const allowed = (error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v));
        const guess = typeof value === 'string' ? closestMatch(value, allowed.map((a) => JSON.parse(a) as string).filter((a) => typeof a === 'string')) : undefined;
        message = `must be one of ${allowed.join(', ')}, got ${describeValue(value)}.${guess ? ` Did you mean '${guess}'?` : ''}`;
        break;
      }
      case 'const':
        message = `must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}, got ${describeValue(value)}.`;
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum': {
        const { comparison, limit } = error.params as { comparison: string; limit: number };
        message = `must be ${comparison} ${limit}, got ${describeValue(value)}.`;
        break;
      }
      case 'minItems':
        message = `must have at least ${(error.params as { limit: number }).limit} item(s).`;
        break;
      case 'maxItems':
        message = `must have at most ${(error.params as { limit: number }).limit} item(s).`;
        break;
      case 'uniqueItems':
        message = `must not contain duplicates (items ${(error.params as { j: number; i: number }).j} and ${(error.params as { i: number }).i} are equal).`;
        break;
      case 'pattern':
        message = `${describeValue(value)} does not match the pattern ${(error.params as { pattern: string }).pattern}.`;
        break;
      case 'minLength':
        message = `must not be shorter than ${(error.params as { limit: number }).limit} character(s).`;
        break;
      default:
        message = `${error.message ?? 'is invalid'}.`;
    }
    if (error.parentSchema && typeof error.parentSchema === 'object' && 'description' in error.parentSchema && error.keyword !== 'additionalProperties' && error.keyword !== 'required') {
      message += ` (${String((error.parentSchema as { description: unknown }).description)})`;
    }
    const key = `${where}|${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push({ path: where, message });
    }
  }
  return issues;
}
