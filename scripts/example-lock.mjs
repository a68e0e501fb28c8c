// Lock-file steps of scripts/test-examples.sh, on an example's package-lock.json:
//   node scripts/example-lock.mjs retarget <lock> <tarball>   record <tarball>'s hash for nestjs-sessions
//   node scripts/example-lock.mjs same <before> <after>       exit 1, naming the entries, if they differ
// A lock keeps the hash of the tarball it was made with, and npm installs a file: tarball whose
// hash it has cached from its cache, not from the file: without `retarget` a rebuilt library
// would not be what the example runs.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';

const ENTRY = 'node_modules/nestjs-sessions';
const [command, first, second] = process.argv.slice(2);
const read = (file) => JSON.parse(readFileSync(file, 'utf8'));

if (command === 'retarget') {
  const lock = read(first);
  const entry = lock.packages?.[ENTRY];
  if (!entry) {
    console.error(`${first} has no ${ENTRY}: the example does not depend on the tarball`);
    process.exit(1);
  }
  entry.integrity = `sha512-${createHash('sha512').update(readFileSync(second)).digest('base64')}`;
  writeFileSync(first, `${JSON.stringify(lock, null, 2)}\n`);
} else if (command === 'same') {
  const before = read(first).packages ?? {};
  const after = read(second).packages ?? {};
  const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((key) => !isDeepStrictEqual(before[key], after[key]));
  if (changed.length > 0) {
    console.error(`npm install changed the lock: ${changed.map((key) => key || '(the root)').join(', ')}`);
    process.exit(1);
  }
} else {
  console.error('usage: node scripts/example-lock.mjs retarget <lock> <tarball> | same <before> <after>');
  process.exit(2);
}
