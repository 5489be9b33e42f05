// wasi:config/store@0.2.0-draft-2024-09-27 for the transpiled component (jco `--map`).
// The zip-pack export takes its store in its arguments and reads only optional tuning
// (`read_ranges`) from here, so this store is empty: no key has a value.

/** @param {string} _key */
export function get(_key) {
  return undefined;
}

/** @returns {Array<[string, string]>} */
export function getAll() {
  return [];
}
