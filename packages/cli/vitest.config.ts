import { defineConfig } from 'vitest/config';
import { sharedConfig } from '../../vitest.shared.ts';

export default defineConfig({ ...sharedConfig, test: { ...sharedConfig.test, globalSetup: ['tests/build-packages.ts'] } });
