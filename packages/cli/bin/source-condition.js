// Module resolution hook (node:module register) used in a source checkout: every import resolves
// with the `@unlearn-bench/source` export condition, so our packages load from their src folders.
const CONDITION = '@unlearn-bench/source';

export async function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions.includes(CONDITION) ? context.conditions : [CONDITION, ...context.conditions];
  return nextResolve(specifier, { ...context, conditions });
}
