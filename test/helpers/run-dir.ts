// The run's scratch directory, provided by the globalSetup (test/setup/build.ts). The declaration
// lives here, beside its only readers, so every project that type-checks the helpers (test, bench) sees it.
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A directory for this run only, removed when it ends. */
    runDir: string;
  }
}

export const runDir = (): string => inject('runDir');
