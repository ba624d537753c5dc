import { readdirSync } from 'node:fs';
import { migrations } from '.';

describe('migrations index', () => {
  it('lists every migration file, in timestamp order', () => {
    const files = readdirSync(__dirname)
      .filter((f) => /^\d{13}-.+\.ts$/.test(f))
      .sort();
    const names = migrations.map((m) => m.name);
    expect(names).toEqual(files.map((f) => f.replace(/^(\d{13})-(.+)\.ts$/, '$2$1')));
  });
});
