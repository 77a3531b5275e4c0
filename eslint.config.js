// @ts-check
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.tap/**', 'data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/sdk/src/**',
                '**/server/src/**',
                '../../sdk/**',
                '../../server/**',
                '../../cli/**',
              ],
              message:
                'Import another package through its entry (@passage/sdk), never by relative path.',
            },
          ],
        },
      ],
    },
  },
  {
    // The portable core: what a React Native app loads. No Node built-ins, no native addons, no
    // Node adapters or test kit; ports (sockets, storage, keys, timers) come in from outside.
    files: ['sdk/src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'node:*',
                'better-sqlite3',
                'kysely',
                '@signalapp/libsignal-client',
                '**/node/**',
                '**/testing/**',
              ],
              message:
                'The portable core stays free of Node-only APIs and native addons: declare a port in sdk/src/core and put the adapter in sdk/src/node/.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'Buffer', message: 'The core uses Uint8Array (Bytes), never Buffer.' },
        { name: 'process', message: 'The core takes what it needs through ports.' },
        { name: 'setImmediate', message: 'Use the injected Timers.' },
      ],
    },
  },
)
