import type { Provider } from '@nestjs/common';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { SessionOptionsError } from '../../core/session.exceptions.js';
import { SESSION_OPTIONS } from '../../session.constants.js';
import type { ResolvedSessionOptions } from '../../options/resolve-options.js';
import { show } from '../../options/option-checks.js';
import { SessionEntity } from './session.entity.js';

/** Injection token of the module's `SessionDataSource` (internal). */
export const SESSION_DATA_SOURCE = Symbol('SESSION_DATA_SOURCE');

const IN_POSTGRES = {
  database: "storage.type 'database' keeps sessions in PostgreSQL through TypeORM",
  memcached: "storage.type 'memcached' keeps sessions in PostgreSQL through TypeORM (Memcached only caches them)",
};

/**
 * The app's TypeORM DataSource, when it has one. Only the PostgreSQL pieces need it (storage
 * 'database' and 'memcached', the LISTEN/NOTIFY bus, `userEntity`); each asks through
 * `require`, so a Redis-only app or one with its own store starts without TypeORM at all, and
 * one that does need it fails at startup saying which option needs it and how to provide it.
 */
export class SessionDataSource {
  constructor(
    /** The @nestjs/typeorm name, undefined for the default DataSource. */
    readonly name: string | undefined,
    readonly dataSource: DataSource | null,
  ) {}

  /** The DataSource of the PostgreSQL store of `storage.type` (the LISTEN/NOTIFY bus asks for the same). */
  forStorage(type: 'database' | 'memcached'): DataSource {
    return this.require('storage.type', `${IN_POSTGRES[type]} (or choose storage: { type: 'redis', url }, or a store of your own)`);
  }

  /** The DataSource, or a SessionOptionsError naming `option`, which is what needs it (`purpose`). */
  require(option: string, purpose: string): DataSource {
    if (this.dataSource) return this.dataSource;
    if (this.name !== undefined) {
      throw new SessionOptionsError(
        'dataSource',
        `got ${show(this.name)}, but no TypeORM DataSource of that name is registered, and ${purpose}. Register it with TypeOrmModule.forRoot({ name: ${show(this.name)}, type: 'postgres', … }), or leave dataSource out to use the default one.`,
      );
    }
    throw new SessionOptionsError(
      option,
      `${purpose}, and the app has no TypeORM DataSource. Import TypeOrmModule.forRoot({ type: 'postgres', url, autoLoadEntities: true }) in the app module, or, if yours is a named one, give SessionModule dataSource: '<its name>'.`,
    );
  }
}

/** The @nestjs/typeorm name, undefined for the default DataSource; throws on anything but a name. */
export function dataSourceName(value: unknown): string | undefined {
  if (value === undefined || value === 'default') return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new SessionOptionsError('dataSource', `got ${show(value)}; expected the name given to TypeOrmModule.forRoot({ name }), or leave it out for the default DataSource.`);
  }
  return value;
}

/**
 * The providers that depend on which DataSource the module uses; made when the module is
 * defined, because an injection token has to be known by then (forRoot's options carry the
 * name; forRootAsync takes it beside useFactory, as an extra).
 *
 * The DataSource is injected as an optional dependency straight from TypeORM's global core
 * module. `TypeOrmModule.forFeature([SessionEntity])` is deliberately not imported: its
 * repository provider requires the DataSource, so a Redis-only app would fail with Nest's
 * "can't resolve dependencies" before any option could explain itself, and the store does not
 * use a repository anyway. forFeature's other effect, registering the entity for
 * `autoLoadEntities`, happens when it is called, so it is called for that alone (see below).
 */
export function sessionDataSourceProviders(name: string | undefined): Provider[] {
  return [
    {
      provide: SESSION_DATA_SOURCE,
      useFactory: (options: ResolvedSessionOptions, dataSource: DataSource | undefined) => {
        // forRootAsync's factory runs after the tokens were chosen: a name it returns would be ignored.
        const resolved = dataSourceName(options.dataSource);
        if (options.dataSource !== undefined && resolved !== name) {
          throw new SessionOptionsError(
            'dataSource',
            `got ${show(resolved ?? 'default')} from forRootAsync's useFactory, but the module was defined with ${show(name ?? 'default')}. The DataSource is chosen when the module is defined: give it beside useFactory, SessionModule.forRootAsync({ dataSource: ${show(resolved ?? 'default')}, useFactory }).`,
          );
        }
        return new SessionDataSource(name, dataSource ?? null);
      },
      inject: [SESSION_OPTIONS, { token: getDataSourceToken(name), optional: true }],
    },
  ];
}

/**
 * Registers SessionEntity for `autoLoadEntities` of that DataSource (the README promises it,
 * and without it `migration:generate` would drop the table), unless the options show the
 * sessions live elsewhere (forRoot with storage 'redis' or a store of the app's: its
 * migrations should not grow a table nobody uses). forRootAsync's storage is unknown here, so
 * there it is always registered. Must run when the module is defined: TypeORM's factory reads
 * the registry when it creates the DataSource, possibly before any provider of ours runs.
 */
export function registerSessionEntity(name: string | undefined, storage: unknown): void {
  const type = storage === undefined ? 'database' : (storage as { type?: unknown } | null)?.type;
  if (type !== 'database' && type !== 'memcached') return;
  // Called for its side effect only; the module it returns (a repository provider) is not imported.
  TypeOrmModule.forFeature([SessionEntity], name);
}
