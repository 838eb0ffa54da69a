// Lint rules: typescript-eslint's recommended type-aware set, the project's import boundaries
// (ARCHITECTURE.md §2) and a few project rules. test/unit/lint-boundaries.test.ts plants
// violations and checks that these rules catch them.
import tseslint from 'typescript-eslint';

const message = (why) => `${why} (see ARCHITECTURE.md, section 2)`;
/** Node's modules and npm packages: anything that is not a relative path. */
const notRelative = { regex: '^(?!\\.{1,2}/)', message: message('the raft core does no I/O') };

/** Folders that may not be imported from the files that match `files`. */
function forbid(files, folders, why) {
  const patterns = folders.map((folder) => ({
    group: [`**/${folder}`, `**/${folder}/**`, `../${folder}/**`],
    message: message(why),
  }));
  return { files, rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'fleet-data/**', '.test-tmp/**', 'eslint.config.js'],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test() and describe() return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
      // A switch over a union either names every case or says what its default stands for.
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      // Async methods that implement a promise-returning interface need no await of their own.
      '@typescript-eslint/require-await': 'off',
      'no-console': 'off',
    },
  },
  forbid(['manager/**/*.ts'], ['agent'], 'manager/ never imports agent/'),
  forbid(['agent/**/*.ts'], ['manager'], 'agent/ never imports manager/'),
  forbid(['shared/**/*.ts'], ['manager', 'agent'], 'shared/ imports neither manager/ nor agent/'),
  forbid(
    ['firmware-images/**/*.ts'],
    ['manager', 'agent'],
    'firmware-images/ imports only shared/',
  ),
  {
    files: ['manager/raft/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            notRelative,
            { regex: '^\\.\\./', message: message('the raft core imports only itself') },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'performance'].map(
          (name) => ({ name, message: message('the raft core takes time only through tick()') }),
        ),
      ],
      // Roles swap whole step and tick functions, always called as this.stepFn(...) (etcd's shape).
      '@typescript-eslint/unbound-method': 'off',
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: message('the raft core has no clock') },
      ],
    },
  },
);
