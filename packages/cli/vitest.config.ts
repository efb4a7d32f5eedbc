import { defineConfig } from 'vitest/config';
import { sharedConfig } from '../../vitest.shared.ts';

export default defineConfig({
  ...sharedConfig,
  test: {
    ...sharedConfig.test,
    globalSetup: ['tests/build-packages.ts'],
    // The processes the end-to-end tests start run the compiled CLI (which the global setup builds),
    // as an installed one does: it starts in about half the time of the source checkout's, whose tsx
    // hooks slow every import. tests/e2e/source-checkout.test.ts runs the source path.
    env: { UNLEARN_BENCH_USE_DIST: '1' },
  },
});
