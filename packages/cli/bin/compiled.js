// Whether a source checkout's compiled packages (each package's dist/) are current: built after
// the last change to any of their sources. The bin then runs them instead of the TypeScript
// through tsx, whose module hooks cost about half a second of every process's start-up
// (bench/README.md, round 4). Anything newer than a package's build record (dist/.tsbuildinfo,
// written at the end of each `tsc -b`) sends the whole CLI back to the sources, so an edit is
// never run stale: a file or folder under src/ (tests excepted, which the build leaves out; a
// folder's time changes when a file is added or removed), the package's package.json and
// tsconfig.build.json, and the shared tsconfig files.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The packages the CLI runs, as folders of packages/. */
const PACKAGES = ['core', 'models', 'attacks', 'unlearners', 'metrics', 'cli'];
/** Build settings shared by every package, in the repository root. */
const SHARED = ['tsconfig.base.json', 'tsconfig.build.base.json'];

/** The latest modification time (ms) of `dir` and everything under it but tests. */
function newest(dir) {
  let latest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) latest = Math.max(latest, newest(path));
    else if (!entry.name.endsWith('.test.ts')) latest = Math.max(latest, statSync(path).mtimeMs);
  }
  return latest;
}

/** Whether every package under `repoRoot`/packages has a build newer than its sources; false on any doubt. */
export function compiledIsCurrent(repoRoot) {
  try {
    const shared = Math.max(...SHARED.map((file) => statSync(join(repoRoot, file)).mtimeMs));
    return PACKAGES.every((name) => {
      const folder = join(repoRoot, 'packages', name);
      const built = statSync(join(folder, 'dist', '.tsbuildinfo')).mtimeMs;
      const inputs = Math.max(shared, newest(join(folder, 'src')), statSync(join(folder, 'package.json')).mtimeMs, statSync(join(folder, 'tsconfig.build.json')).mtimeMs);
      return inputs < built;
    });
  } catch {
    return false;
  }
}
