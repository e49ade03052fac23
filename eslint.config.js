// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // images/ and the JSR fixtures are Deno code (jsr: imports, .ts extensions), checked by Deno itself.
  { ignores: ['dist/', 'node_modules/', 'images/', 'coverage/', 'test/fixtures/jsr-mirror/', 'playbooks/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // stdout carries JSON-RPC in stdio mode: server code never writes to the console.
  { files: ['src/**/*.ts'], rules: { 'no-console': 'error' } },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
);
