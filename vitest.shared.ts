/**
 * Settings every workspace package's vitest config shares. Packages export their built files
 * (`dist/`) to the outside world and their TypeScript sources under the `@unlearn-bench/source`
 * condition; inside the workspace, tests resolve that condition so they never need a build.
 */
import { defaultServerConditions, type UserConfig } from 'vite';

/** The export condition under which our packages point at their TypeScript sources. */
export const SOURCE_CONDITION = '@unlearn-bench/source';

export const sharedConfig = {
  resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] } },
  test: {
    include: ['src/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
} satisfies UserConfig & { test: object };
