import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const source = (pkg: string, file = 'index.ts') => fileURLToPath(new URL(`./packages/${pkg}/src/${file}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources of sibling packages, not their last build.
    alias: {
      '@threadline/protocol': source('protocol'),
      '@threadline/tracing': source('tracing'),
      // The subpath first: an alias also matches its key followed by `/...`.
      '@threadline/openai/fake-server': source('openai', 'testing/fake-openai-server.ts'),
      '@threadline/openai': source('openai'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'bench/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Browser tests poll the page; 1 s (vitest's default) is too short on a loaded 2-core CI machine.
    expect: { poll: { timeout: 10_000 } },
    // Two cores: files that start servers and databases run two at a time.
    maxWorkers: 2,
  },
});
