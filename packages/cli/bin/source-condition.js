// Module resolution hook (node:module register) used in a source checkout: our own packages load
// from their src folders through the `@unlearn-bench/source` export condition. The condition is
// applied only where it resolves to a file inside this checkout; anything else (an installed
// @unlearn-bench/core in an outside plugin, which ships dist/ only, or a third-party package) is
// resolved as Node would.
import { realpathSync } from 'node:fs';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONDITION = '@unlearn-bench/source';
const ROOT = realpathSync(fileURLToPath(new URL('../../../', import.meta.url)));

/** Whether `url` is a file of this checkout (symlinks followed). */
function insideCheckout(url) {
  if (!url.startsWith('file:')) return false;
  try {
    const path = realpathSync(fileURLToPath(url));
    return path === ROOT || path.startsWith(ROOT.endsWith(sep) ? ROOT : ROOT + sep);
  } catch {
    return false;
  }
}

export async function resolve(specifier, context, nextResolve) {
  // Copied first: Node merges what a hook passes to nextResolve into the context it was given.
  const conditions = [...context.conditions];
  if (conditions.includes(CONDITION)) return nextResolve(specifier, context);
  try {
    const withSource = await nextResolve(specifier, { ...context, conditions: [CONDITION, ...conditions] });
    if (insideCheckout(withSource.url)) return withSource;
  } catch {
    // the condition points at a file that is not there (a published package): resolve as usual
  }
  return nextResolve(specifier, { ...context, conditions });
}
