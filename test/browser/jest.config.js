// `npm run test:browser`: the browser tests (playwright-core driving Debian's chromium at
// CHROMIUM_PATH or /usr/bin/chromium) against the real app on an embedded PostgreSQL.
const { resolve } = require('node:path');
const base = require('../../jest.config.js');

const root = resolve(__dirname, '../..');
const e2e = base.projects.find((p) => p.displayName === 'e2e');

module.exports = {
  rootDir: root,
  testTimeout: 60000,
  projects: [
    {
      ...e2e,
      displayName: 'browser',
      rootDir: root,
      testMatch: ['<rootDir>/test/browser/**/*.browser-spec.ts'],
    },
  ],
};
