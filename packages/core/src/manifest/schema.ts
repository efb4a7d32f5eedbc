/** The experiment manifest's JSON Schema (the checked-in file `schema/experiment.schema.json`). */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The parsed schema object; compiled once by the shared ajv. */
export const experimentSchema: object = require('../../schema/experiment.schema.json') as object;
