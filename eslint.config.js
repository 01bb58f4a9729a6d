// ESLint flat config: the recommended JavaScript and typescript-eslint rules; formatting is Prettier's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'assets/', 'examples/', 'runs/', 'coverage/', 'node_modules/', '.work/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The dashboard page's script runs in the browser, with vega and vega-lite loaded before it.
    files: ['public/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        document: 'readonly',
        fetch: 'readonly',
        CSS: 'readonly',
        setTimeout: 'readonly',
        vega: 'readonly',
        vegaLite: 'readonly',
      },
    },
  },
  {
    // The playground page's script is a module (it imports the page's modules and grpovi's bundle).
    files: ['public/playground/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: { window: 'readonly', location: 'readonly', Blob: 'readonly', URLSearchParams: 'readonly' },
    },
  },
);
