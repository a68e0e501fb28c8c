import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type DataSource, InstanceChecker } from 'typeorm';
import { errorText, SessionsCliError } from './errors.js';

const TYPESCRIPT = /\.[cm]?ts$/;

const TS_HINT =
  ' A .ts DataSource needs a loader that emits decorator metadata, e.g. NODE_OPTIONS="--import @swc-node/register/esm-register" (not tsx, which emits none); or compile it (tsc) and give the .js file.';

/**
 * The DataSource of a module as the TypeORM CLI's `-d` takes it: the default export, else the
 * only named export that is a DataSource (or a promise of one). A CommonJS module's
 * `exports.default` counts as its default export.
 */
export async function loadDataSourceFile(file: string, cwd: string): Promise<DataSource> {
  const path = resolve(cwd, file);
  const isTs = TYPESCRIPT.test(path);
  if (!existsSync(path)) {
    throw new SessionsCliError(`--data-source ${file}: no such file (${path}). Give the module your TypeORM CLI takes with -d, e.g. --data-source dist/data-source.js (compiled by tsc).`);
  }

  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new SessionsCliError(`--data-source ${file}: could not load it: ${errorText(error).replace(/\.+$/, '')}.${isTs ? TS_HINT : ''}`);
  }

  const found = new Map<DataSource, string>();
  const consider = async (name: string, value: unknown) => {
    let awaited: unknown;
    try {
      awaited = await value;
    } catch (error) {
      throw new SessionsCliError(`--data-source ${file}: its export ${name} is a promise that failed: ${errorText(error)}`, 1);
    }
    if (InstanceChecker.isDataSource(awaited) && !found.has(awaited)) found.set(awaited, name);
  };
  const main = await module.default;
  if (InstanceChecker.isDataSource(main)) return main;
  for (const [name, value] of Object.entries(module)) if (name !== 'default') await consider(name, value);
  // CommonJS: Node gives module.exports as the default export; tsc puts `export default` at exports.default.
  if (found.size === 0 && main !== null && typeof main === 'object') {
    const cjsDefault = await (main as Record<string, unknown>).default;
    if (InstanceChecker.isDataSource(cjsDefault)) return cjsDefault;
    for (const [name, value] of Object.entries(main)) await consider(name, value);
  }

  if (found.size === 1) return [...found.keys()][0];
  if (found.size > 1) {
    throw new SessionsCliError(`--data-source ${file}: it exports several DataSources (${[...found.values()].join(', ')}); export one, as default, as the TypeORM CLI also requires.`);
  }
  throw new SessionsCliError(
    `--data-source ${file}: it exports no DataSource. Export one, e.g. export default new DataSource({ type: 'postgres', url: process.env.DATABASE_URL, … }).`,
  );
}
