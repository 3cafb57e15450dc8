// Browser globals for the Node tests (*.test.mjs): set per test, put back after it.
import { beforeEach, afterEach } from 'node:test';

/**
 * Saves the named globals before each test of the calling file and puts them
 * back (or deletes them) after it, so a fake browser never leaks into another test.
 * @param {string[]} names
 */
export function restoreGlobalsAfterEach(names) {
  let saved;
  beforeEach(() => {
    saved = names.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)]);
  });
  afterEach(() => {
    for (const [name, descriptor] of saved) {
      if (descriptor) Object.defineProperty(globalThis, name, descriptor);
      else delete globalThis[name];
    }
  });
}

/** defineProperty, not assignment: newer Node versions have a read-only navigator. */
export function setGlobal(name, value) {
  Object.defineProperty(globalThis, name, { value, configurable: true, writable: true, enumerable: true });
}
