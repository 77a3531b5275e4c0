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
    files: ['sdk/src/**/*.ts'],
    ignores: ['sdk/src/node/**', 'sdk/src/store/sqlite-*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'better-sqlite3'],
              message:
                'The protocol core stays free of Node-only APIs: put Node adapters in sdk/src/node/.',
            },
          ],
        },
      ],
    },
  },
)
